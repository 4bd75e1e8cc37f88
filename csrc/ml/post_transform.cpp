// Post-transforms of the ai.onnx.ml predictors (post_transform.h).
#include "ml/post_transform.h"

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
// (double precision; onnxruntime stops at the approximation, ~1e-4 off near 0 and 1).
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

}  // namespace

PostTransform parse_post_transform(const std::string& name, const char* op) {
  if (name == "NONE") return PostTransform::None;
  if (name == "SOFTMAX") return PostTransform::Softmax;
  if (name == "LOGISTIC") return PostTransform::Logistic;
  if (name == "SOFTMAX_ZERO") return PostTransform::SoftmaxZero;
  if (name == "PROBIT") return PostTransform::Probit;
  PYINFER_CHECK(false, op << ": unknown post_transform '" << name << "'");
  return PostTransform::None;
}

double probit(double s) { return std::sqrt(2.0) * erfinv(2.0 * s - 1.0); }
double logistic(double s) { return 1.0 / (1.0 + std::exp(-s)); }

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

void expand_binary(double s, PostTransform post, int mode, double* out) {
  if (post == PostTransform::Probit) {
    out[0] = probit(s), out[1] = 0.0;
  } else if (mode < 0) {
    out[0] = s, out[1] = 0.0;
  } else if (mode <= 1) {
    out[0] = 1.0 - s, out[1] = s;
  } else if (post == PostTransform::Logistic) {
    out[0] = logistic(-s), out[1] = logistic(s);
  } else {
    out[0] = -s, out[1] = s;
  }
}

int64_t argmax(const double* s, int64_t k) {
  int64_t best = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (std::isnan(s[i])) return i;
    if (s[i] > s[best]) best = i;
  }
  return best;
}

}  // namespace ml
}  // namespace pyinfer
