// Tree ensemble outputs from summed scores (tree_outputs.h). The rules are onnxruntime's (its
// tree_ensemble_aggregator.h), whose results the tests compare against; where the ONNX spec leaves
// the two-class case open, the comments say what onnxruntime does.
#include "ml/tree_outputs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"

namespace pyinfer {
namespace ml {
namespace {

double polynomial(const double* c, int n, double x) {  // c[0] x^(n-1) + ... + c[n-1]
  double r = c[0];
  for (int i = 1; i < n; ++i) r = r * x + c[i];
  return r;
}

// Inverse error function: Giles' single-precision approximation refined by two Newton steps
// (double precision), as pyinfer.ops.ml_common.erfinv.
double erfinv(double y) {
  if (y == 1.0) return std::numeric_limits<double>::infinity();
  if (y == -1.0) return -std::numeric_limits<double>::infinity();
  if (!(std::fabs(y) < 1.0)) return std::numeric_limits<double>::quiet_NaN();
  static const double small[] = {2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                                 -0.00125372503, -0.00417768164, 0.246640727, 1.50140941};
  static const double large[] = {-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                                 -0.0076224613, 0.00943887047, 1.00167406, 2.83297682};
  const double w = -std::log((1.0 - y) * (1.0 + y));
  double x = (w < 5.0 ? polynomial(small, 9, w - 2.5) : polynomial(large, 9, std::sqrt(w) - 3.0)) * y;
  const double two_over_sqrt_pi = 2.0 / std::sqrt(M_PI);
  for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (two_over_sqrt_pi * std::exp(-x * x));
  return x;
}

double probit(double s) { return std::sqrt(2.0) * erfinv(2.0 * s - 1.0); }
double logistic(double s) { return 1.0 / (1.0 + std::exp(-s)); }

// The post-transform over one row of k scores, in place.
void transform_row(double* s, int64_t k, PostTransform post) {
  switch (post) {
    case PostTransform::None:
      return;
    case PostTransform::Logistic:
      for (int64_t i = 0; i < k; ++i) s[i] = logistic(s[i]);
      return;
    case PostTransform::Probit:
      for (int64_t i = 0; i < k; ++i) s[i] = probit(s[i]);
      return;
    case PostTransform::Softmax: {
      const double top = *std::max_element(s, s + k);
      double total = 0;
      for (int64_t i = 0; i < k; ++i) total += s[i] = std::exp(s[i] - top);
      for (int64_t i = 0; i < k; ++i) s[i] /= total;
      return;
    }
    case PostTransform::SoftmaxZero: {
      // onnxruntime: a score within 1e-7 of zero is scaled by exp(-max) instead of exponentiated
      // and takes no share of the total.
      const double top = *std::max_element(s, s + k);
      double total = 0;
      for (int64_t i = 0; i < k; ++i) {
        if (std::fabs(s[i]) <= 1e-7) {
          s[i] *= std::exp(-top);
        } else {
          total += s[i] = std::exp(s[i] - top);
        }
      }
      for (int64_t i = 0; i < k; ++i) s[i] /= total;
      return;
    }
  }
}

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
  int mode = -1;  // -1: [s, 0]; 0, 1: [1 - s, s]; 2, 3: [-s, s] (LOGISTIC: logistic of both)
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
  } else if (post_ == PostTransform::Probit) {
    s[0] = probit(s0), s[1] = 0.0;
  } else if (mode < 0) {
    s[0] = s0, s[1] = 0.0;
  } else if (mode <= 1) {
    s[0] = 1.0 - s0, s[1] = s0;
  } else if (post_ == PostTransform::Logistic) {
    s[0] = logistic(-s0), s[1] = logistic(s0);
  } else {
    s[0] = -s0, s[1] = s0;
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
