// The generic walk (tree_walk.h): any mix of modes, BRANCH_NEQ and BRANCH_MEMBER.
#include "ml/tree_walk.h"

#include <algorithm>
#include <cmath>

namespace pyinfer {
namespace ml {

int32_t walk_generic(const TreeLayout& layout, const WalkNode<double>* nodes, int32_t at, const double* x) {
  for (;;) {
    const auto mode = static_cast<NodeMode>(layout.modes[at]);
    const WalkNode<double>& node = nodes[at];
    if (mode == NodeMode::Leaf) return node.next[1];
    const double v = x[node.feature & kFeatureMask], t = node.threshold;
    bool go_true = false;
    switch (mode) {
      case NodeMode::Leq: go_true = v <= t; break;
      case NodeMode::Lt: go_true = v < t; break;
      case NodeMode::Gte: go_true = v >= t; break;
      case NodeMode::Gt: go_true = v > t; break;
      case NodeMode::Eq: go_true = v == t; break;
      case NodeMode::Neq: go_true = v != t; break;
      case NodeMode::Member: {
        const double* first = layout.members.data() + layout.member_offsets[at];
        const double* last = layout.members.data() + layout.member_offsets[at + 1];
        go_true = !std::isnan(v) && std::binary_search(first, last, v);  // NaN is in no set
        break;
      }
      case NodeMode::Leaf: break;
    }
    if ((node.feature & kMissingTracksTrue) && std::isnan(v)) go_true = true;
    at = node.next[go_true];
  }
}

}  // namespace ml
}  // namespace pyinfer
