// From summed tree scores to a tree ensemble's outputs: base values, onnxruntime's binary-class
// rules, post-transforms and labels (internal to csrc/ml). Everything in double; the outputs are
// rounded once when stored.
#pragma once
#include <cstdint>
#include <vector>

#include "ml/tree_ensemble.h"

namespace pyinfer {
namespace ml {

class OutputRules {
 public:
  OutputRules(const TreeEnsembleDef& def, int64_t n_trees);

  // Columns of the score output (Classifier: 2 for two classes, else the classes; otherwise the targets).
  int64_t width() const { return width_; }
  OutputRule rule() const { return rule_; }
  Aggregate aggregate() const { return aggregate_; }
  int64_t targets() const { return n_targets_; }

  // One row: score / has (n_targets each: the trees' aggregate, and whether some leaf gave the
  // target a weight; both are used as scratch) -> y[width] (float or double), label (Classifier).
  template <class Out>
  void finish(double* score, uint8_t* has, Out* y, int64_t* label) const;

 private:
  void regressor(double* s, const uint8_t* has) const;
  int64_t classifier(double* s, uint8_t* has) const;  // returns the label
  int64_t two_classes(double* s, const uint8_t* has) const;
  void ensemble(double* s, const uint8_t* has) const;

  OutputRule rule_;
  Aggregate aggregate_;
  PostTransform post_;
  int64_t n_targets_, n_trees_, width_;
  std::vector<double> base_;
  std::vector<int64_t> labels_;
  bool binary_case_, weights_all_positive_;
};

}  // namespace ml
}  // namespace pyinfer
