// Tree ensembles: ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor (ml opsets 1-3) and
// TreeEnsemble (ml opset 5), as one prepared kernel family.
//
// The op (pyinfer/ops/ml_tree.py, ml.py) turns its attributes into a TreeEnsembleDef: nodes as
// positions in flat arrays (ids resolved, duplicates refused), the leaves' weights as
// (node, target, value) triples, and the rule that turns summed scores into outputs. A
// TreeEnsemble checks it (children in range, no cycles, weights on leaves) and lays the trees out
// once for walking (tree_layout.h); prepare_tree_ensemble makes the kernel for one input shape.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/prepared.h"
#include "ml/post_transform.h"

namespace pyinfer {
namespace ml {

// Values as pyinfer.ops.ml_tree.MODES (the order of the BRANCH_* names in the ONNX spec), then
// ml opset 5's set membership.
enum class NodeMode : int8_t { Leq = 0, Lt = 1, Gte = 2, Gt = 3, Eq = 4, Neq = 5, Leaf = 6, Member = 7 };
enum class Aggregate : int8_t { Sum, Average, Min, Max };

// How per-target scores become the op's outputs (tree_outputs.cpp), onnxruntime's rules:
//   Regressor    Y float32 [N, targets]: base values, then the post-transform (one target: PROBIT only)
//   Classifier   label int64 [N] and scores float32 [N, classes] (two classes: onnxruntime's binary
//                rules, always two columns)
//   Ensemble     Y [N, targets] in X's type (TreeEnsemble, ml opset 5: no base values)
enum class OutputRule : int8_t { Regressor, Classifier, Ensemble };

struct TreeEnsembleDef {
  // Per node (n): the compared feature, threshold, mode, children (positions), and whether a
  // NaN feature takes the true branch. A leaf's own fields are ignored.
  std::vector<int64_t> feature;
  std::vector<double> threshold;
  std::vector<int8_t> mode;
  std::vector<int64_t> true_next, false_next;
  std::vector<uint8_t> missing_true;
  // BRANCH_MEMBER nodes: the set of node i is member_values[member_offsets[i]:member_offsets[i+1]]
  // (member_offsets empty when no node is one).
  std::vector<int64_t> member_offsets;
  std::vector<double> member_values;
  std::vector<int64_t> roots;  // one per tree, in the order the scores are summed
  // Leaf weights: node position, target, value. Several for one (leaf, target) are merged as the
  // aggregate merges trees (summed, or their min / max).
  std::vector<int64_t> weight_node, weight_target;
  std::vector<double> weight_value;

  int64_t n_targets = 1;  // classes for a classifier
  Aggregate aggregate = Aggregate::Sum;
  PostTransform post = PostTransform::None;
  OutputRule rule = OutputRule::Regressor;
  std::vector<double> base_values;
  // Classifier: the int64 label written for each class index (for string labels the caller passes
  // 0..classes-1 and maps the indices itself); binary_case: two classes, weights for one of them
  // only; weights_all_positive: every class weight >= 0 (onnxruntime's threshold is then 0.5).
  std::vector<int64_t> label_values;
  bool binary_case = false;
  bool weights_all_positive = true;
};

class TreeEnsemble;

// The kernel for X of x_shape ([N, F] or [F]: one row) and x_dtype (float32 or float64).
// Outputs by rule: Regressor y float32 [N, targets]; Classifier label int64 [N], scores float32
// [N, classes]; Ensemble y [N, targets] of x_dtype.
PreparedPtr prepare_tree_ensemble(std::shared_ptr<const TreeEnsemble> ensemble, const std::vector<int64_t>& x_shape,
                                  DType x_dtype);

// The checked, laid-out ensemble (immutable: kernels prepared for several shapes share it).
std::shared_ptr<const TreeEnsemble> make_tree_ensemble(TreeEnsembleDef def);

// What the Python wrapper shows.
struct TreeEnsembleInfo {
  int64_t trees, nodes, leaves, features, max_depth, outputs;
  const char* walk;  // "leq", "lt", ... (one mode for every branch), or "mixed"
};
TreeEnsembleInfo describe(const TreeEnsemble& ensemble);

}  // namespace ml
}  // namespace pyinfer
