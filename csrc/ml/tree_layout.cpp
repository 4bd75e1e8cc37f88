// Checking a TreeEnsembleDef and laying its trees out for walking (tree_layout.h).
#include "ml/tree_layout.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "common/check.h"

namespace pyinfer {
namespace ml {
namespace {

bool is_leaf(const TreeEnsembleDef& d, int64_t i) { return d.mode[i] == static_cast<int8_t>(NodeMode::Leaf); }

void check_arrays(const TreeEnsembleDef& d) {
  const size_t n = d.feature.size();
  PYINFER_CHECK(n > 0, "tree_ensemble: the ensemble has no nodes");
  PYINFER_CHECK(n < static_cast<size_t>(std::numeric_limits<int32_t>::max()), "tree_ensemble: too many nodes");
  PYINFER_CHECK(d.threshold.size() == n && d.mode.size() == n && d.true_next.size() == n &&
                    d.false_next.size() == n && d.missing_true.size() == n,
                "tree_ensemble: the node arrays must all have " << n << " entries");
  PYINFER_CHECK(!d.roots.empty(), "tree_ensemble: the ensemble has no trees");
  for (int64_t r : d.roots)
    PYINFER_CHECK(r >= 0 && r < static_cast<int64_t>(n), "tree_ensemble: root " << r << " is not a node");
  PYINFER_CHECK(d.member_offsets.empty() || d.member_offsets.size() == n + 1,
                "tree_ensemble: member_offsets must have one entry per node + 1");
  for (size_t i = 0; i < n; ++i) {
    const int8_t m = d.mode[i];
    PYINFER_CHECK(m >= 0 && m <= static_cast<int8_t>(NodeMode::Member), "tree_ensemble: node " << i
                                                                             << " has unknown mode " << int(m));
    if (m == static_cast<int8_t>(NodeMode::Leaf)) continue;
    PYINFER_CHECK(d.feature[i] >= 0 && d.feature[i] <= static_cast<int64_t>(kFeatureMask),
                  "tree_ensemble: node " << i << " compares feature " << d.feature[i]);
    for (int64_t c : {d.true_next[i], d.false_next[i]})
      PYINFER_CHECK(c >= 0 && c < static_cast<int64_t>(n) && c != static_cast<int64_t>(i),
                    "tree_ensemble: node " << i << " has child " << c << " (nodes are 0.." << n - 1
                                           << ", and a node cannot be its own child)");
    if (m == static_cast<int8_t>(NodeMode::Member)) {
      PYINFER_CHECK(!d.member_offsets.empty() && d.member_offsets[i] >= 0 &&
                        d.member_offsets[i] <= d.member_offsets[i + 1] &&
                        d.member_offsets[i + 1] <= static_cast<int64_t>(d.member_values.size()),
                    "tree_ensemble: BRANCH_MEMBER node " << i << " has no valid set");
    }
  }
  const size_t k = d.weight_node.size();
  PYINFER_CHECK(d.weight_target.size() == k && d.weight_value.size() == k,
                "tree_ensemble: weight_node, weight_target and weight_value must have the same length");
  PYINFER_CHECK(d.n_targets >= 1 && d.n_targets < (int64_t(1) << 31), "tree_ensemble: n_targets must be positive");
  for (size_t j = 0; j < k; ++j) {
    PYINFER_CHECK(d.weight_node[j] >= 0 && d.weight_node[j] < static_cast<int64_t>(n),
                  "tree_ensemble: a weight names node " << d.weight_node[j] << ", which does not exist");
    PYINFER_CHECK(d.weight_target[j] >= 0 && d.weight_target[j] < d.n_targets,
                  "tree_ensemble: a weight names target " << d.weight_target[j] << " of " << d.n_targets);
  }
}

// Steps from each node reachable from a root to its deepest leaf; a cycle is refused. Iterative
// depth-first search: a degenerate tree may be a chain as long as the node count.
std::vector<int32_t> depths_below(const TreeEnsembleDef& d) {
  const int64_t n = static_cast<int64_t>(d.feature.size());
  std::vector<int32_t> depth(n, -1);
  std::vector<uint8_t> open(n, 0);
  std::vector<std::pair<int64_t, int>> stack;  // node, children visited so far
  for (int64_t root : d.roots) {
    if (depth[root] >= 0) continue;
    stack.push_back({root, 0});
    open[root] = 1;
    while (!stack.empty()) {
      auto& [v, visited] = stack.back();
      if (is_leaf(d, v)) {
        depth[v] = 0;
      } else if (visited < 2) {
        const int64_t c = visited++ == 0 ? d.false_next[v] : d.true_next[v];
        PYINFER_CHECK(!open[c], "tree_ensemble: the trees have a cycle: following the true / false children "
                                "from node " << c << " leads back to it, never to a leaf");
        if (depth[c] < 0) {
          open[c] = 1;
          stack.push_back({c, 0});
        }
        continue;
      } else {
        depth[v] = 1 + std::max(depth[d.false_next[v]], depth[d.true_next[v]]);
      }
      open[v] = 0;
      stack.pop_back();
    }
  }
  return depth;
}

// Walk indices, breadth-first per tree (-1 for nodes no root reaches), and the mean level of each
// tree's leaves (a leaf shared with an earlier tree counts there).
std::vector<int32_t> breadth_first(const TreeEnsembleDef& d, std::vector<int32_t>& position,
                                   std::vector<double>& mean_leaf_level) {
  std::vector<int32_t> index(d.feature.size(), -1), level;
  auto place = [&](int64_t v, int32_t at_level) {
    if (index[v] >= 0) return;
    index[v] = static_cast<int32_t>(position.size());
    position.push_back(static_cast<int32_t>(v));
    level.push_back(at_level);
  };
  for (int64_t root : d.roots) {
    size_t head = position.size();
    int64_t leaves = 0, level_sum = 0;
    place(root, 0);
    for (; head < position.size(); ++head) {
      const int32_t v = position[head];
      if (is_leaf(d, v)) {
        ++leaves, level_sum += level[head];
      } else {
        place(d.false_next[v], level[head] + 1);
        place(d.true_next[v], level[head] + 1);
      }
    }
    mean_leaf_level.push_back(leaves ? static_cast<double>(level_sum) / leaves : 0.0);
  }
  return index;
}

// The leaves' weights per slot; weights on branches (old onnxmltools wrote some) and on
// unreachable leaves are ignored, as onnxruntime does.
LeafTable leaf_table(const TreeEnsembleDef& d, const std::vector<int32_t>& slot_of_node, int32_t n_slots) {
  struct Entry {
    int32_t slot, target;
    double value;
  };
  std::vector<Entry> entries;
  for (size_t j = 0; j < d.weight_node.size(); ++j) {
    const int32_t slot = slot_of_node[d.weight_node[j]];
    if (slot >= 0) entries.push_back({slot, static_cast<int32_t>(d.weight_target[j]), d.weight_value[j]});
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.slot != b.slot ? a.slot < b.slot : a.target < b.target;
  });
  LeafTable t;
  t.offsets.assign(n_slots + 1, 0);
  for (size_t j = 0; j < entries.size(); ++j) {
    const Entry& e = entries[j];
    if (j > 0 && e.slot == entries[j - 1].slot && e.target == entries[j - 1].target) {
      double& v = t.value.back();
      if (d.aggregate == Aggregate::Min) v = std::min(v, e.value);
      else if (d.aggregate == Aggregate::Max) v = std::max(v, e.value);
      else v += e.value;
      continue;
    }
    t.target.push_back(e.target);
    t.value.push_back(e.value);
    t.offsets[e.slot + 1] = static_cast<int32_t>(t.target.size());
  }
  for (int32_t s = 0; s < n_slots; ++s) t.offsets[s + 1] = std::max(t.offsets[s + 1], t.offsets[s]);
  return t;
}

}  // namespace

TreeLayout plan_layout(const TreeEnsembleDef& d) {
  check_arrays(d);
  const std::vector<int32_t> depth = depths_below(d);
  TreeLayout L;
  std::vector<double> mean_leaf_level;
  const std::vector<int32_t> index = breadth_first(d, L.position, mean_leaf_level);
  const int32_t n = static_cast<int32_t>(L.position.size());
  std::vector<int32_t> slot_of_node(d.feature.size(), -1);
  int32_t n_slots = 0;
  bool first_branch = true;
  L.modes.resize(n);
  for (int32_t i = 0; i < n; ++i) {
    const int32_t v = L.position[i];
    L.modes[i] = d.mode[v];
    if (is_leaf(d, v)) {
      slot_of_node[v] = n_slots++;
      continue;
    }
    const auto m = static_cast<NodeMode>(d.mode[v]);
    if (first_branch) L.mode = m;
    L.single_mode = L.single_mode && m == L.mode;
    first_branch = false;
    L.n_features = std::max(L.n_features, d.feature[v] + 1);
    L.has_missing = L.has_missing || d.missing_true[v];
    const double t = d.threshold[v];
    L.float_thresholds = L.float_thresholds && (std::isnan(t) || static_cast<double>(static_cast<float>(t)) == t);
  }
  if (!d.member_offsets.empty()) {
    L.member_offsets.assign(n + 1, 0);
    for (int32_t i = 0; i < n; ++i) {
      const int32_t v = L.position[i];
      if (d.mode[v] == static_cast<int8_t>(NodeMode::Member)) {
        const size_t begin = L.members.size();
        L.members.insert(L.members.end(), d.member_values.begin() + d.member_offsets[v],
                         d.member_values.begin() + d.member_offsets[v + 1]);
        std::sort(L.members.begin() + begin, L.members.end());
      }
      L.member_offsets[i + 1] = static_cast<int32_t>(L.members.size());
    }
  }
  for (size_t t = 0; t < d.roots.size(); ++t) {
    const int32_t tree_depth = depth[d.roots[t]];
    L.trees.push_back({index[d.roots[t]], tree_depth, tree_depth >= 8 && 1.5 * mean_leaf_level[t] < tree_depth});
    L.max_depth = std::max(L.max_depth, tree_depth);
  }
  L.leaves = leaf_table(d, slot_of_node, n_slots);
  return L;
}

template <class T>
std::vector<WalkNode<T>> walk_nodes(const TreeEnsembleDef& d, const TreeLayout& L) {
  const int32_t n = static_cast<int32_t>(L.position.size());
  // walk index of every node position (the children below are positions)
  std::vector<int32_t> index(d.feature.size(), -1);
  for (int32_t i = 0; i < n; ++i) index[L.position[i]] = i;
  std::vector<WalkNode<T>> nodes(n);
  int32_t slot = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t v = L.position[i];
    WalkNode<T>& w = nodes[i];
    if (is_leaf(d, v)) {
      w = {std::numeric_limits<T>::quiet_NaN(), 0u, {i, slot++}};
    } else {
      w.threshold = static_cast<T>(d.threshold[v]);
      w.feature = static_cast<uint32_t>(d.feature[v]) | (d.missing_true[v] ? kMissingTracksTrue : 0u);
      w.next[0] = index[d.false_next[v]];
      w.next[1] = index[d.true_next[v]];
    }
  }
  return nodes;
}

template std::vector<WalkNode<float>> walk_nodes<float>(const TreeEnsembleDef&, const TreeLayout&);
template std::vector<WalkNode<double>> walk_nodes<double>(const TreeEnsembleDef&, const TreeLayout&);

}  // namespace ml
}  // namespace pyinfer
