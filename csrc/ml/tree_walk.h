// Walking trees: lanes of (row, tree) pairs stepping down together (internal to csrc/ml).
//
// A lane is one row walking one tree. kLanes lanes step together, one level per step, for a fixed
// number of steps (the deepest of their trees): leaves step to themselves (tree_layout.h), so no
// lane needs a branch of its own, and the kLanes chains of dependent loads (node -> feature ->
// comparison -> child) overlap in the CPU instead of waiting one after the other. Many rows: the
// lanes are kLanes rows of one tree (the tree stays in L1). One row: kLanes consecutive trees.
//
// Scalar code on purpose: a vector of lanes needs four gathers per step (threshold, feature, the
// feature's value, the child). An AVX-512 version of the same walk measured 2.2x slower than
// these 16 independent scalar chains (100 trees of depth 10, 1024 rows; AMD EPYC Zen 4, whose
// gathers are slow), so there is no per-ISA copy of this file.
#pragma once
#include <cstdint>

#include "ml/tree_layout.h"

namespace pyinfer {
namespace ml {

constexpr int kLanes = 16;

template <NodeMode M, class T>
inline bool holds(T x, T t) {
  if constexpr (M == NodeMode::Leq) return x <= t;
  if constexpr (M == NodeMode::Lt) return x < t;
  if constexpr (M == NodeMode::Gte) return x >= t;
  if constexpr (M == NodeMode::Gt) return x > t;
  if constexpr (M == NodeMode::Eq) return x == t;
  return false;
}

// Lanes l = 0..kLanes-1 start at node start[l] and read the row x0 + l * lane_stride; after
// `steps` steps each stands on its leaf, whose slot goes to slots[l * slot_stride]. stop_early:
// check every few steps whether every lane stands on a leaf already (for unbalanced trees).
template <class T, NodeMode M, bool CheckNaN>
inline void step_lanes(const WalkNode<T>* nodes, int32_t* at, const T* x0, int64_t lane_stride) {
#pragma GCC unroll 16
  for (int l = 0; l < kLanes; ++l) {
    const WalkNode<T>& node = nodes[at[l]];
    const uint32_t bits = node.feature;
    const T v = x0[l * lane_stride + (bits & kFeatureMask)];
    bool go_true = holds<M>(v, node.threshold);
    if (CheckNaN) go_true |= (bits >> 31) & (v != v);
    at[l] = node.next[go_true];
  }
}

// Lanes l = 0..kLanes-1 start at node start[l] and read the row x0 + l * lane_stride; after
// `steps` steps each stands on its leaf, whose slot goes to slots[l * slot_stride]. stop_early:
// unbalanced trees (LightGBM's leaf-wise growth) are much deeper than most of their paths, so
// every 4 steps the walk stops if every lane stands on a leaf (its own false child) already.
// CheckNaN: the rows hold NaN and some branch sends it to its true child (else NaN compares false,
// which is the false child: rows without NaN skip the check).
template <class T, NodeMode M, bool CheckNaN>
void walk_lanes(const WalkNode<T>* nodes, const int32_t* start, const T* x0, int64_t lane_stride, int steps,
                bool stop_early, int32_t* slots, int64_t slot_stride) {
  int32_t at[kLanes];
  for (int l = 0; l < kLanes; ++l) at[l] = start[l];
  if (!stop_early) {
    for (int s = 0; s < steps; ++s) step_lanes<T, M, CheckNaN>(nodes, at, x0, lane_stride);
  } else {
    for (int s = 0; s < steps; s += 4) {
      const int chunk = steps - s < 4 ? steps - s : 4;
      for (int i = 0; i < chunk; ++i) step_lanes<T, M, CheckNaN>(nodes, at, x0, lane_stride);
      bool all_leaves = true;
      for (int l = 0; l < kLanes; ++l) all_leaves &= nodes[at[l]].next[0] == at[l];
      if (all_leaves) break;
    }
  }
  for (int l = 0; l < kLanes; ++l) slots[l * slot_stride] = nodes[at[l]].next[1];
}

// The walk for ensembles the fast walks do not cover (several modes, BRANCH_NEQ, BRANCH_MEMBER):
// one (row, tree) pair at a time, the node's mode read at each step. Rows are double.
int32_t walk_generic(const TreeLayout& layout, const WalkNode<double>* nodes, int32_t at, const double* x);

}  // namespace ml
}  // namespace pyinfer
