// The tree ensemble kernel (tree_ensemble.h): rows in blocks, trees in order, lanes walking
// together (tree_walk.h), leaf weights summed per row in tree order, then the output rules
// (tree_outputs.h).
//
// Summation order: every row adds its trees' weights in the trees' order, in double, whatever
// the batch size or thread count (threads split rows, or for one row the walks only), so a row's
// result never depends on the rows around it or on the threads.
#include "ml/tree_ensemble.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

#include "common/check.h"
#include "common/thread_pool.h"
#include "ml/features.h"
#include "ml/tree_layout.h"
#include "ml/tree_outputs.h"
#include "ml/tree_walk.h"

namespace pyinfer {
namespace ml {

// Rows a thread takes at a time (their scores stay in L1 / L2 while every tree is walked), and
// trees walked before their leaves are added up (bounds the slot buffer to 16 KiB).
constexpr int64_t kBlockRows = 64;
constexpr int64_t kTreeChunk = 64;
// Below this many rows a row walks kLanes trees at a time instead (lanes of rows would idle).
constexpr int64_t kRowLaneMin = 4;

// kLanes walks: start nodes, the row of lane 0, the distance between lanes' rows, steps, and
// where lane l's leaf slot goes (slots + l * slot_stride).
using LaneWalk = void (*)(const void* nodes, const int32_t* start, const void* x0, int64_t lane_stride, int steps,
                          bool stop_early, int32_t* slots, int64_t slot_stride);

struct Walk {
  LaneWalk lanes = nullptr;      // rows without NaN
  LaneWalk lanes_nan = nullptr;  // rows with NaN (the same walk unless a branch sends NaN to its true child)
  const void* nodes = nullptr;  // WalkNode<float or double>[], or the generic walk's context
  bool double_rows = false;     // the walk reads double rows (a float32 X is converted first)
  std::string name;
};

class TreeEnsemble {
 public:
  explicit TreeEnsemble(TreeEnsembleDef def);
  Walk walk_for(DType x_dtype) const;
  void run(const Walk& walk, const void* x, bool x_double, int64_t rows, int64_t cols, void* const* out,
           int threads) const;

  TreeLayout layout;
  OutputRules rules;

 private:
  struct GenericContext {
    const TreeLayout* layout;
    const WalkNode<double>* nodes;
  };
  const std::vector<WalkNode<double>>& double_nodes() const;
  template <class T>
  void run_block(const Walk& w, const T* x, int64_t n, int64_t cols, double* score, uint8_t* has) const;
  template <class T>
  void run_row(const Walk& w, const T* x, double* score, uint8_t* has, int threads) const;
  void add_leaves(const int32_t* slots, int64_t count, double* score, uint8_t* has) const;

  std::vector<WalkNode<float>> float_nodes_;  // when every threshold is a float32 value
  mutable std::once_flag double_once_;        // double nodes: made when first needed
  mutable std::vector<WalkNode<double>> double_nodes_;
  GenericContext generic_{};
  int64_t total_depth_ = 0;
};

namespace {

template <class T, NodeMode M, bool CheckNaN>
void lanes_fast(const void* nodes, const int32_t* start, const void* x0, int64_t lane_stride, int steps,
                bool stop_early, int32_t* slots, int64_t slot_stride) {
  walk_lanes<T, M, CheckNaN>(static_cast<const WalkNode<T>*>(nodes), start, static_cast<const T*>(x0), lane_stride,
                            steps, stop_early, slots, slot_stride);
}

template <class T, bool CheckNaN>
LaneWalk fast_walk(NodeMode m) {
  switch (m) {
    case NodeMode::Leq: return lanes_fast<T, NodeMode::Leq, CheckNaN>;
    case NodeMode::Lt: return lanes_fast<T, NodeMode::Lt, CheckNaN>;
    case NodeMode::Gte: return lanes_fast<T, NodeMode::Gte, CheckNaN>;
    case NodeMode::Gt: return lanes_fast<T, NodeMode::Gt, CheckNaN>;
    case NodeMode::Eq: return lanes_fast<T, NodeMode::Eq, CheckNaN>;
    default: return nullptr;
  }
}

const char* mode_name(NodeMode m) {
  static const char* names[] = {"leq", "lt", "gte", "gt", "eq", "neq", "leaf", "member"};
  return names[static_cast<int>(m)];
}

struct Scratch {
  std::vector<int32_t> slots;
  std::vector<double> score, rows;
  std::vector<uint8_t> has;
  std::vector<float> tail_f;
  std::vector<double> tail_d;
};

// Per thread, grow-only: a call allocates nothing once the buffers are large enough.
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

template <class V>
typename V::value_type* at_least(V& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

template <class T>
bool any_nan(const T* x, int64_t n) {
  bool nan = false;
  for (int64_t i = 0; i < n; ++i) nan |= x[i] != x[i];
  return nan;
}

// The walk for these rows: the NaN check only where a row holds NaN.
template <class T>
LaneWalk lanes_for(const Walk& w, const T* x, int64_t n) {
  return w.lanes_nan != w.lanes && any_nan(x, n) ? w.lanes_nan : w.lanes;
}

template <class T>
std::vector<T>& tail_buffer(Scratch& s);
template <>
std::vector<float>& tail_buffer<float>(Scratch& s) { return s.tail_f; }
template <>
std::vector<double>& tail_buffer<double>(Scratch& s) { return s.tail_d; }

}  // namespace

TreeEnsemble::TreeEnsemble(TreeEnsembleDef def)
    : layout(plan_layout(def)), rules(def, static_cast<int64_t>(def.roots.size())) {
  if (layout.float_thresholds && layout.fast_walk()) float_nodes_ = walk_nodes<float>(def, layout);
  else double_nodes_ = walk_nodes<double>(def, layout);
  generic_ = {&layout, double_nodes_.data()};
  for (const TreeRoot& t : layout.trees) total_depth_ += t.depth;
}

const std::vector<WalkNode<double>>& TreeEnsemble::double_nodes() const {
  std::call_once(double_once_, [this] {
    if (!double_nodes_.empty()) return;
    double_nodes_.resize(float_nodes_.size());  // float thresholds are exact in double
    for (size_t i = 0; i < float_nodes_.size(); ++i) {
      const WalkNode<float>& f = float_nodes_[i];
      double_nodes_[i] = {static_cast<double>(f.threshold), f.feature, {f.next[0], f.next[1]}};
    }
  });
  return double_nodes_;
}

Walk TreeEnsemble::walk_for(DType x_dtype) const {
  Walk w;
  if (!layout.fast_walk()) {
    w.lanes = [](const void* ctx, const int32_t* start, const void* x0, int64_t lane_stride, int, bool,
                 int32_t* slots, int64_t slot_stride) {
      const auto* g = static_cast<const GenericContext*>(ctx);
      for (int l = 0; l < kLanes; ++l)
        slots[l * slot_stride] = walk_generic(*g->layout, g->nodes, start[l], static_cast<const double*>(x0) +
                                                                                   l * lane_stride);
    };
    w.lanes_nan = w.lanes;
    w.nodes = &generic_;
    w.double_rows = true;
    w.name = "generic";
    return w;
  }
  const bool as_float = x_dtype == DType::Float32 && layout.float_thresholds;
  if (as_float) {
    w.lanes = fast_walk<float, false>(layout.mode);
    w.lanes_nan = layout.has_missing ? fast_walk<float, true>(layout.mode) : w.lanes;
    w.nodes = float_nodes_.data();
  } else {
    w.lanes = fast_walk<double, false>(layout.mode);
    w.lanes_nan = layout.has_missing ? fast_walk<double, true>(layout.mode) : w.lanes;
    w.nodes = double_nodes().data();
    w.double_rows = true;
  }
  w.name = std::string("lanes_") + mode_name(layout.mode) + (as_float ? "_float" : "_double") +
           (layout.has_missing ? "_missing" : "");
  return w;
}

void TreeEnsemble::add_leaves(const int32_t* slots, int64_t count, double* score, uint8_t* has) const {
  const LeafTable& t = layout.leaves;
  const int32_t* off = t.offsets.data();
  const int32_t* target = t.target.data();
  const double* value = t.value.data();
  const Aggregate agg = rules.aggregate();
  for (int64_t i = 0; i < count; ++i) {
    const int32_t s = slots[i];
    for (int32_t k = off[s]; k < off[s + 1]; ++k) {
      const int32_t j = target[k];
      const double v = value[k];
      if (agg == Aggregate::Min) {
        if (!has[j] || v < score[j]) score[j] = v;
      } else if (agg == Aggregate::Max) {
        if (!has[j] || v > score[j]) score[j] = v;
      } else {
        score[j] += v;
      }
      has[j] = 1;
    }
  }
}

// n (<= kBlockRows) rows: every tree in order, kLanes rows per walk, leaves added per row after
// each chunk of trees.
template <class T>
void TreeEnsemble::run_block(const Walk& w, const T* x, int64_t n, int64_t cols, double* score, uint8_t* has) const {
  Scratch& s = scratch();
  int32_t* slots = at_least(s.slots, kBlockRows * kTreeChunk);
  const int64_t full = n / kLanes * kLanes;
  const T* tail = nullptr;
  if (full < n) {  // the last lanes repeat the last row, so every lane reads a real row
    T* t = at_least(tail_buffer<T>(s), kLanes * cols);
    for (int64_t l = 0; l < kLanes; ++l) std::memcpy(t + l * cols, x + std::min(full + l, n - 1) * cols, cols * sizeof(T));
    tail = t;
  }
  int32_t tail_slots[kLanes * kTreeChunk];
  const LaneWalk lanes = lanes_for(w, x, n * cols);
  const int64_t n_trees = static_cast<int64_t>(layout.trees.size());
  for (int64_t t0 = 0; t0 < n_trees; t0 += kTreeChunk) {
    const int64_t t1 = std::min(n_trees, t0 + kTreeChunk);
    for (int64_t t = t0; t < t1; ++t) {
      const TreeRoot& root = layout.trees[t];
      int32_t start[kLanes];
      std::fill(start, start + kLanes, root.node);
      for (int64_t g = 0; g < full; g += kLanes)
        lanes(w.nodes, start, x + g * cols, cols, root.depth, root.unbalanced, slots + g * kTreeChunk + (t - t0),
              kTreeChunk);
      if (tail) lanes(w.nodes, start, tail, cols, root.depth, root.unbalanced, tail_slots + (t - t0), kTreeChunk);
    }
    if (tail)
      std::memcpy(slots + full * kTreeChunk, tail_slots, (n - full) * kTreeChunk * sizeof(int32_t));
    const int64_t targets = rules.targets();
    for (int64_t r = 0; r < n; ++r) add_leaves(slots + r * kTreeChunk, t1 - t0, score + r * targets, has + r * targets);
  }
}

// One row: kLanes consecutive trees per walk (the deepest of them sets the steps); a large
// ensemble's walks are split between threads, the sum stays in tree order.
template <class T>
void TreeEnsemble::run_row(const Walk& w, const T* x, double* score, uint8_t* has, int threads) const {
  const int64_t n_trees = static_cast<int64_t>(layout.trees.size());
  const int64_t groups = (n_trees + kLanes - 1) / kLanes;
  int32_t* slots = at_least(scratch().slots, groups * kLanes);  // the caller's: workers fill their groups
  const LaneWalk lanes = lanes_for(w, x, layout.n_features);
  auto walk_groups = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      int32_t start[kLanes];
      int steps = 0;
      bool unbalanced = false;
      for (int l = 0; l < kLanes; ++l) {
        const TreeRoot& root = layout.trees[std::min(g * kLanes + l, n_trees - 1)];
        start[l] = root.node;
        steps = std::max(steps, static_cast<int>(root.depth));
        unbalanced |= root.unbalanced;
      }
      lanes(w.nodes, start, x, 0, steps, unbalanced, slots + g * kLanes, 1);
    }
  };
  // The cost model (common/thread_pool.h): each step a dependent load of a node, counted as a line.
  const int split = threads > 1 ? threads_for_work(bytes_ns(64.0 * double(total_depth_)), groups, threads) : 1;
  if (split > 1) parallel_for(groups, split, walk_groups);
  else walk_groups(0, groups);
  add_leaves(slots, n_trees, score, has);
}

void TreeEnsemble::run(const Walk& w, const void* x, bool x_double, int64_t rows, int64_t cols, void* const* out,
                       int threads) const {
  if (rows == 0) return;
  const int64_t targets = rules.targets(), width = rules.width();
  const bool classifier = rules.rule() == OutputRule::Classifier;
  int64_t* labels = classifier ? static_cast<int64_t*>(out[0]) : nullptr;
  void* y = out[classifier ? 1 : 0];
  const bool y_double = rules.rule() == OutputRule::Ensemble && x_double;
  // rows [r0, r1): walk (converting float rows when the walk reads double), add up, finish
  auto rows_task = [&](int64_t r0, int64_t r1, int inner_threads) {
    Scratch& s = scratch();
    const int64_t n = r1 - r0;
    double* score = at_least(s.score, n * targets);
    uint8_t* has = at_least(s.has, n * targets);
    std::fill(score, score + n * targets, 0.0);
    std::fill(has, has + n * targets, uint8_t(0));
    if (w.double_rows) {
      const double* xd;
      if (x_double) {
        xd = static_cast<const double*>(x) + r0 * cols;
      } else {
        double* conv = at_least(s.rows, n * cols);
        const float* xf = static_cast<const float*>(x) + r0 * cols;
        for (int64_t i = 0; i < n * cols; ++i) conv[i] = xf[i];
        xd = conv;
      }
      if (n < kRowLaneMin) for (int64_t r = 0; r < n; ++r) run_row(w, xd + r * cols, score + r * targets, has + r * targets, inner_threads);
      else run_block(w, xd, n, cols, score, has);
    } else {
      const float* xf = static_cast<const float*>(x) + r0 * cols;
      if (n < kRowLaneMin) for (int64_t r = 0; r < n; ++r) run_row(w, xf + r * cols, score + r * targets, has + r * targets, inner_threads);
      else run_block(w, xf, n, cols, score, has);
    }
    for (int64_t r = 0; r < n; ++r) {
      int64_t* label = labels ? labels + r0 + r : nullptr;
      if (y_double)
        rules.finish(score + r * targets, has + r * targets, static_cast<double*>(y) + (r0 + r) * width, label);
      else
        rules.finish(score + r * targets, has + r * targets, static_cast<float*>(y) + (r0 + r) * width, label);
    }
  };
  if (rows < kRowLaneMin) {
    rows_task(0, rows, threads);
    return;
  }
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows;
  parallel_for(blocks, std::max<int64_t>(1, std::min<int64_t>(threads, blocks)), [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) rows_task(b * kBlockRows, std::min(rows, (b + 1) * kBlockRows), 1);
  });
}

std::shared_ptr<const TreeEnsemble> make_tree_ensemble(TreeEnsembleDef def) {
  return std::make_shared<const TreeEnsemble>(std::move(def));
}

PreparedPtr prepare_tree_ensemble(std::shared_ptr<const TreeEnsemble> e, const std::vector<int64_t>& x_shape,
                                  DType x_dtype) {
  PYINFER_CHECK(x_dtype == DType::Float32 || x_dtype == DType::Float64, "tree_ensemble: X must be float32 or float64");
  const FeatureRows shape = feature_rows(x_shape, "tree_ensemble");
  const int64_t rows = shape.rows, cols = shape.cols;
  PYINFER_CHECK(cols >= e->layout.n_features, "tree_ensemble: a tree reads feature " << e->layout.n_features - 1
                                                  << ", but X has " << cols << " features");
  const Walk walk = e->walk_for(x_dtype);
  const bool x_double = x_dtype == DType::Float64;
  const int64_t width = e->rules.width();
  KernelBuilder b("tree_ensemble");
  b.input("x", x_shape, x_dtype).algorithm(walk.name);
  switch (e->rules.rule()) {
    case OutputRule::Classifier:
      b.output("label", {rows}, DType::Int64).output("scores", {rows, width});
      break;
    case OutputRule::Regressor:
      b.output("y", {rows, width});
      break;
    case OutputRule::Ensemble:
      b.output("y", {rows, width}, x_dtype);
      break;
  }
  return b.run([e, walk, rows, cols, x_double](const void* const* in, void* const* out, int threads) {
    e->run(walk, in[0], x_double, rows, cols, out, threads);
  });
}

TreeEnsembleInfo describe(const TreeEnsemble& e) {
  const TreeLayout& L = e.layout;
  return {static_cast<int64_t>(L.trees.size()), static_cast<int64_t>(L.position.size()),
          static_cast<int64_t>(L.leaves.offsets.size()) - 1, L.n_features, L.max_depth, e.rules.width(),
          L.fast_walk() ? mode_name(L.mode) : "mixed"};
}

}  // namespace ml
}  // namespace pyinfer
