// How a TreeEnsemble keeps its trees for walking (internal to csrc/ml).
#pragma once
#include <cstdint>
#include <vector>

#include "ml/tree_ensemble.h"

namespace pyinfer {
namespace ml {

// Bit 31 of WalkNode::feature: a NaN feature takes the true branch (missing_value_tracks_true).
constexpr uint32_t kMissingTracksTrue = 0x80000000u;
constexpr uint32_t kFeatureMask = 0x7fffffffu;

// One node as a walk reads it: 16 bytes (float thresholds) or 24 (double), so a tree of a
// thousand nodes fits the L1 cache. A step: v = x[feature]; go to next[1] when the comparison holds
// (or v is NaN and the missing bit is set), else to next[0]: the comparison indexes the load, so
// the step has no branch to mispredict (a conditional move is what a compiler may turn into one).
//
// A leaf is its own false child and has a NaN threshold, so every comparison fails (<=, <, >=,
// >, ==: NaN compares false) and a walk that reached it stays there. A walk therefore takes a
// fixed number of steps, the tree's depth, without a branch that depends on the data: lanes of
// several rows (or trees) step together, and no step waits for a mispredicted branch. A leaf's
// next[1] holds its slot in the weight table.
template <class T>
struct WalkNode {
  T threshold;
  uint32_t feature;
  int32_t next[2];  // the false child, the true child
};

struct TreeRoot {
  int32_t node;   // walk index of the root
  int32_t depth;  // steps that bring every row from the root to its leaf
  // Most paths are much shorter than the depth (leaf-wise grown trees): walks check for leaves.
  bool unbalanced;
};

// What each leaf slot adds: targets[k] and values[k] for k in offsets[slot] .. offsets[slot + 1]
// (one entry per target, several weights for one target already merged).
struct LeafTable {
  std::vector<int32_t> offsets, target;
  std::vector<double> value;
};

// The trees in walk order: each tree breadth-first from its root (its top levels share cache
// lines), every reachable node once (ml opset 5 lets nodes share children), unreachable nodes
// dropped.
struct TreeLayout {
  std::vector<int32_t> position;  // walk index -> node position in the TreeEnsembleDef
  std::vector<TreeRoot> trees;    // in the def's order: the order scores are summed in
  int32_t max_depth = 0;
  int64_t n_features = 0;  // highest feature a reachable branch compares, + 1
  LeafTable leaves;
  // Every reachable branch compares with `mode` (when single_mode): the fast walks are
  // specialized per mode; other ensembles (mixed modes, BRANCH_NEQ, BRANCH_MEMBER) take the
  // generic walk, which reads `modes` and the member sets node by node.
  bool single_mode = true;
  NodeMode mode = NodeMode::Leq;
  bool has_missing = false;       // some branch sends NaN to its true child
  bool float_thresholds = true;   // every reachable threshold is a float32 value
  std::vector<int8_t> modes;      // per walk index
  std::vector<int32_t> member_offsets;  // per walk index + 1 (empty: no BRANCH_MEMBER)
  std::vector<double> members;          // each node's set, sorted

  bool fast_walk() const { return single_mode && mode != NodeMode::Neq && mode != NodeMode::Member; }
};

// Checks the def's nodes (lengths, modes, children in range, no cycles, weights on leaves and
// targets in range) and lays them out. Throws std::invalid_argument naming the fault.
TreeLayout plan_layout(const TreeEnsembleDef& def);

// The nodes in walk order, thresholds as T (float only when float_thresholds).
template <class T>
std::vector<WalkNode<T>> walk_nodes(const TreeEnsembleDef& def, const TreeLayout& layout);

}  // namespace ml
}  // namespace pyinfer
