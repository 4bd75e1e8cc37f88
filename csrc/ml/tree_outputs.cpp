// Tree ensemble outputs from summed scores (tree_outputs.h). The rules are onnxruntime's (its
// tree_ensemble_aggregator.h), whose results the tests compare against; where the ONNX spec leaves
// the two-class case open, the comments say what onnxruntime does.
#include "ml/tree_outputs.h"

#include <cmath>
#include <limits>

#include "common/check.h"
#include "ml/post_transform.h"

namespace pyinfer {
namespace ml {
namespace {

// numpy.argmax of the scores that some leaf (or base value) set, the others counting as -inf;
// a NaN wins, as in numpy.
int64_t argmax_scored(const double* s, const uint8_t* has, int64_t k) {
  int64_t best = 0;
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < k; ++i) {
    const double v = has[i] ? s[i] : -std::numeric_limits<double>::infinity();
    if (std::isnan(v)) return i;
    if (v > top) top = v, best = i;
  }
  return best;
}

}  // namespace

OutputRules::OutputRules(const TreeEnsembleDef& d, int64_t n_trees)
    : rule_(d.rule), aggregate_(d.aggregate), post_(d.post), n_targets_(d.n_targets), n_trees_(n_trees),
      base_(d.base_values), labels_(d.label_values), binary_case_(d.binary_case),
      weights_all_positive_(d.weights_all_positive) {
  width_ = n_targets_;
  if (rule_ == OutputRule::Classifier) {
    PYINFER_CHECK(n_targets_ >= 2, "tree_ensemble: a classifier needs at least two classes");
    PYINFER_CHECK(static_cast<int64_t>(labels_.size()) == n_targets_,
                  "tree_ensemble: " << labels_.size() << " label values for " << n_targets_ << " classes");
    PYINFER_CHECK(n_targets_ == 2 || static_cast<int64_t>(base_.size()) <= n_targets_,
                  "tree_ensemble: " << base_.size() << " base values for " << n_targets_ << " classes");
    PYINFER_CHECK(aggregate_ == Aggregate::Sum, "tree_ensemble: a classifier sums its trees");
  }
}

void OutputRules::regressor(double* s, const uint8_t* has) const {
  if (n_targets_ == 1) {  // onnxruntime: a single base value only, and PROBIT the only transform
    s[0] += base_.size() == 1 ? base_[0] : 0.0;
    if (post_ == PostTransform::Probit) s[0] = probit(s[0]);
    return;
  }
  const bool with_base = static_cast<int64_t>(base_.size()) == n_targets_;
  for (int64_t k = 0; k < n_targets_; ++k) s[k] = has[k] ? s[k] + (with_base ? base_[k] : 0.0) : 0.0;
  transform_row(s, n_targets_, post_);
}

int64_t OutputRules::classifier(double* s, uint8_t* has) const {
  if (n_targets_ == 2) return two_classes(s, has);
  for (size_t k = 0; k < base_.size(); ++k) {  // a base value counts as a score
    s[k] += base_[k];
    has[k] = 1;
  }
  const int64_t best = argmax_scored(s, has, n_targets_);
  for (int64_t k = 0; k < n_targets_; ++k) s[k] = has[k] ? s[k] : 0.0;
  transform_row(s, n_targets_, post_);
  return labels_[best];
}

// onnxruntime's binary rules: which score is the positive one depends on the base values and on
// which classes the leaves weigh; when only one score is written, it becomes two columns by the
// "add second class" mode.
int64_t OutputRules::two_classes(double* s, const uint8_t* has) const {
  double s0 = s[0], s1 = s[1];
  const bool h0 = has[0], h1 = has[1];
  int mode = -1;  // how one score becomes two columns (expand_binary)
  bool two = true;
  if (base_.size() == 2) {
    const double positive = h1 ? base_[1] + s0 : s1 + base_[1];
    s0 = h1 ? -positive : s0 + base_[0];
    s1 = positive;
  } else if (base_.size() == 1) {
    s0 += base_[0];
    two = h1;
  } else {
    mode = 3;
    two = h1;
  }
  const double pos = two && h1 ? s1 : (h0 ? s0 : 0.0);
  int64_t label;
  if (binary_case_) {
    const bool is_pos = pos > (weights_all_positive_ ? 0.5 : 0.0);
    mode = weights_all_positive_ ? (is_pos ? 0 : 1) : (is_pos ? 2 : 3);
    label = labels_[is_pos ? 1 : 0];
  } else {  // onnxruntime answers the class index here (the caller's label values say so)
    label = labels_[pos > 0 ? 1 : 0];
  }
  s0 = h0 ? s0 : 0.0;  // a class no leaf (and no base value) weighed is written as 0
  s1 = h1 ? s1 : 0.0;
  if (two) {
    s[0] = s0, s[1] = s1;
    transform_row(s, 2, post_);
  } else {
    expand_binary(s0, post_, mode, s);
  }
  return label;
}

void OutputRules::ensemble(double* s, const uint8_t* has) const {
  if (aggregate_ == Aggregate::Average)
    for (int64_t k = 0; k < n_targets_; ++k) s[k] /= static_cast<double>(n_trees_);
  transform_row(s, n_targets_, post_);
}

template <class Out>
void OutputRules::finish(double* s, uint8_t* has, Out* y, int64_t* label) const {
  if (aggregate_ == Aggregate::Min || aggregate_ == Aggregate::Max)
    for (int64_t k = 0; k < n_targets_; ++k) s[k] = has[k] ? s[k] : 0.0;  // no leaf: 0, not +-inf
  switch (rule_) {
    case OutputRule::Regressor:
      if (aggregate_ == Aggregate::Average)
        for (int64_t k = 0; k < n_targets_; ++k) s[k] /= static_cast<double>(n_trees_);
      regressor(s, has);
      break;
    case OutputRule::Classifier:
      *label = classifier(s, has);
      break;
    case OutputRule::Ensemble:
      ensemble(s, has);
      break;
  }
  for (int64_t k = 0; k < width_; ++k) y[k] = static_cast<Out>(s[k]);
}

template void OutputRules::finish<float>(double*, uint8_t*, float*, int64_t*) const;
template void OutputRules::finish<double>(double*, uint8_t*, double*, int64_t*) const;

}  // namespace ml
}  // namespace pyinfer
