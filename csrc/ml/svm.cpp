// ai.onnx.ml SVMClassifier / SVMRegressor as a prepared kernel: skl2onnx's SVC / NuSVC / SVR /
// NuSVR / OneClassSVM (support vectors: libsvm's one-vs-one decisions, votes and Platt
// probabilities coupled pairwise) and LinearSVC-style models (coefficients per class), computed in
// double as libsvm does, with onnxruntime's output rules. Kernel, prepare and binding in one file.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/thread_pool.h"
#include "ml/features.h"
#include "ml/ml_bindings.h"
#include "ml/post_transform.h"

namespace py = pybind11;

namespace pyinfer {
namespace ml {
namespace {

constexpr int64_t kRowsPerTask = 16;

enum class SvmKernel { Linear, Poly, Rbf, Sigmoid };

struct SvmModel {
  bool classifier = false;
  SvmKernel kernel = SvmKernel::Linear;
  double gamma = 0, coef0 = 0, degree = 0;
  int64_t features = 0;
  // With support vectors ([n_vectors, features]); without, coef holds one row of feature weights
  // per class (a classifier) or one row (a regressor).
  std::vector<double> vectors;
  int64_t n_vectors = 0;
  std::vector<double> coef;  // vectors: classifier [classes - 1, n_vectors] (libsvm's layout), regressor [n_vectors]
  std::vector<double> rho, prob_a, prob_b;
  int64_t classes = 0;
  std::vector<int64_t> starts;  // classifier with vectors: class c's vectors are starts[c] .. starts[c + 1]
  PostTransform post = PostTransform::None;
  std::vector<int64_t> labels;  // the label written per class index
  bool all_positive = true;     // every coefficient >= 0 (the linear two-class threshold is then 0.5)
  bool one_class = false;       // regressor: y = +1 / -1 by the decision's sign

  int64_t pairs() const { return classes * (classes - 1) / 2; }
  bool probabilities() const { return !prob_a.empty(); }
  int64_t width() const {
    if (!classifier) return 1;
    if (vectors.empty() || probabilities()) return classes;
    return pairs() == 1 ? 2 : pairs();
  }

  // k[v] = K(x, vector v), four vectors at a time (independent sums overlap in the CPU).
  void kernel_row(const double* x, double* k) const {
    const int64_t F = features;
    int64_t v = 0;
    const bool rbf = kernel == SvmKernel::Rbf;
    for (; v + 4 <= n_vectors; v += 4) {
      const double* a = vectors.data() + v * F;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int64_t f = 0; f < F; ++f) {
        if (rbf) {
          const double d0 = x[f] - a[f], d1 = x[f] - a[F + f], d2 = x[f] - a[2 * F + f], d3 = x[f] - a[3 * F + f];
          s0 += d0 * d0, s1 += d1 * d1, s2 += d2 * d2, s3 += d3 * d3;
        } else {
          s0 += x[f] * a[f], s1 += x[f] * a[F + f], s2 += x[f] * a[2 * F + f], s3 += x[f] * a[3 * F + f];
        }
      }
      k[v] = s0, k[v + 1] = s1, k[v + 2] = s2, k[v + 3] = s3;
    }
    for (; v < n_vectors; ++v) {
      const double* a = vectors.data() + v * F;
      double s = 0;
      for (int64_t f = 0; f < F; ++f) s += rbf ? (x[f] - a[f]) * (x[f] - a[f]) : x[f] * a[f];
      k[v] = s;
    }
    for (v = 0; v < n_vectors; ++v) k[v] = finish_kernel(k[v]);
  }

  double finish_kernel(double s) const {  // s: the squared distance (RBF) or the dot product
    switch (kernel) {
      case SvmKernel::Linear: return s;
      case SvmKernel::Rbf: return std::exp(-gamma * s);
      case SvmKernel::Poly: return std::pow(gamma * s + coef0, degree);
      case SvmKernel::Sigmoid: return std::tanh(gamma * s + coef0);
    }
    return s;
  }

  static double dot(const double* a, const double* b, int64_t n) {  // four partial sums (not latency-bound)
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1], s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
    for (; i < n; ++i) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
  }

  // One row: x (features), scratch k (n_vectors + classes^2 + pairs + 2 * classes), outputs.
  void row(const double* x, double* k, float* y, int64_t* label) const;
  int64_t one_vs_one(const double* kv, double* dec, double* work, double* z) const;
  void couple(const double* dec, double* r, double* q, double* p, double* qp) const;
};

// libsvm's one-vs-one: the decision of pair (i, j) weighs class i's vectors with coefficient row
// j - 1 and class j's with row i; the pair votes for i when positive. Returns the class index;
// z: the probabilities, the two-class columns or the decisions.
int64_t SvmModel::one_vs_one(const double* kv, double* dec, double* work, double* z) const {
  const int64_t C = classes, V = n_vectors;
  std::vector<int64_t> votes(C, 0);
  int64_t p = 0;
  for (int64_t i = 0; i < C - 1; ++i) {
    for (int64_t j = i + 1; j < C; ++j, ++p) {
      double d = rho[p];
      for (int64_t v = starts[i]; v < starts[i + 1]; ++v) d += coef[(j - 1) * V + v] * kv[v];
      for (int64_t v = starts[j]; v < starts[j + 1]; ++v) d += coef[i * V + v] * kv[v];
      dec[p] = d;
      ++votes[d > 0 ? i : j];
    }
  }
  const int64_t best = std::max_element(votes.begin(), votes.end()) - votes.begin();
  if (probabilities()) {
    double* r = work;            // [C, C] pairwise probabilities
    double* q = r + C * C;       // [C, C]
    double* qp = q + C * C;      // [C]
    couple(dec, r, q, z, qp);
    transform_row(z, C, post);
  } else if (pairs() == 1) {
    expand_binary(dec[0], post, post == PostTransform::None ? 2 : 0, z);
  } else {
    std::copy(dec, dec + pairs(), z);
    transform_row(z, pairs(), post);
  }
  return best;
}

// Platt scaling of each pair's decision, then libsvm's multiclass_probability: the fixed-point
// iteration of Wu, Lin and Weng (2004) for the class probabilities p.
void SvmModel::couple(const double* dec, double* r, double* q, double* p, double* qp) const {
  const int64_t C = classes;
  int64_t pair = 0;
  for (int64_t i = 0; i < C - 1; ++i) {
    for (int64_t j = i + 1; j < C; ++j, ++pair) {
      const double v = dec[pair] * prob_a[pair] + prob_b[pair];
      // 1 - sigmoid(v), computed without overflow either way
      double pr = v >= 0 ? std::exp(-v) / (1.0 + std::exp(-v)) : 1.0 / (1.0 + std::exp(v));
      pr = std::min(std::max(pr, 1e-7), 1 - 1e-7);
      r[i * C + j] = pr, r[j * C + i] = 1.0 - pr;
    }
  }
  for (int64_t t = 0; t < C; ++t) {
    p[t] = 1.0 / C;
    q[t * C + t] = 0;
    for (int64_t j = 0; j < C; ++j) {
      if (j == t) continue;
      q[t * C + t] += r[j * C + t] * r[j * C + t];
      q[t * C + j] = -r[j * C + t] * r[t * C + j];
    }
  }
  const double eps = 0.005 / C;
  for (int iter = 0; iter < 100; ++iter) {
    double pqp = 0;
    for (int64_t t = 0; t < C; ++t) {
      qp[t] = dot(q + t * C, p, C);
      pqp += p[t] * qp[t];
    }
    double gap = 0;
    for (int64_t t = 0; t < C; ++t) gap = std::max(gap, std::fabs(qp[t] - pqp));
    if (gap < eps) break;
    for (int64_t t = 0; t < C; ++t) {
      const double diff = (-qp[t] + pqp) / q[t * C + t];
      p[t] += diff;
      pqp = (pqp + diff * (diff * q[t * C + t] + 2 * qp[t])) / (1 + diff) / (1 + diff);
      for (int64_t j = 0; j < C; ++j) {
        qp[j] = (qp[j] + diff * q[t * C + j]) / (1 + diff);
        p[j] /= 1 + diff;
      }
    }
  }
}

void SvmModel::row(const double* x, double* k, float* y, int64_t* label) const {
  const int64_t W = width();
  double* z = k + n_vectors;  // outputs in double, then the scratch of one_vs_one
  if (!classifier) {
    double s = rho[0];
    if (vectors.empty()) {
      s += dot(coef.data(), x, features);
    } else {
      kernel_row(x, k);
      s += dot(coef.data(), k, n_vectors);
    }
    y[0] = static_cast<float>(one_class ? (s > 0 ? 1.0 : -1.0) : s);
    return;
  }
  int64_t best;
  if (vectors.empty()) {  // one row of weights per class
    for (int64_t c = 0; c < classes; ++c) z[c] = dot(coef.data() + c * features, x, features) + rho[0];
    best = argmax(z, classes);
    if (pairs() == 1 && !probabilities()) {  // onnxruntime's two-class threshold
      const double top = z[best];
      if (all_positive ? top >= 0.5 : top > 0) best = 1;
    }
    if (classes > 1) transform_row(z, classes, post);
  } else {
    kernel_row(x, k);
    double* dec = z + std::max(classes, int64_t(2));
    best = one_vs_one(k, dec, dec + pairs(), z);
  }
  *label = labels[best];
  for (int64_t c = 0; c < W; ++c) y[c] = static_cast<float>(z[c]);
}

struct PySvmModel {
  std::shared_ptr<const SvmModel> m;
};

PreparedPtr prepare_svm(std::shared_ptr<const SvmModel> m, const std::vector<int64_t>& x_shape, DType x_dtype) {
  int64_t rows = 0;
  KernelBuilder b = predictor_kernel(m->classifier ? "svm_classifier" : "svm_regressor", x_shape, x_dtype,
                                     m->features, "the model's vectors have", m->classifier, m->width(), rows);
  b.algorithm(m->vectors.empty() ? "linear" : "support_vectors");
  const bool x_double = x_dtype == DType::Float64;
  return b.run([m, rows, x_double](const void* const* in, void* const* out, int threads) {
    int64_t* labels = m->classifier ? static_cast<int64_t*>(out[0]) : nullptr;
    float* y = static_cast<float*>(out[m->classifier ? 1 : 0]);
    const int64_t F = m->features, W = m->width(), C = std::max(m->classes, int64_t(2));
    const size_t scratch = m->n_vectors + 2 * C * C + m->pairs() + 3 * C + F;
    auto task = [&](int64_t t0, int64_t t1) {
      std::vector<double> work(scratch);
      double* xd = work.data() + scratch - F;
      for (int64_t r = t0 * kRowsPerTask; r < std::min(rows, t1 * kRowsPerTask); ++r) {
        const double* x = x_double ? static_cast<const double*>(in[0]) + r * F
                                   : row_as_double<float>(in[0], r, F, xd);
        m->row(x, work.data(), y + r * W, labels ? labels + r : nullptr);
      }
    };
    const int64_t work_per_row = std::max<int64_t>(1, m->n_vectors) * F;
    // The cost model (common/thread_pool.h): a multiply-add per feature and support vector, in double.
    const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    parallel_for(tasks, threads_for_work(flops_ns(4.0 * double(rows) * double(work_per_row)), tasks, threads), task);
  });
}

SvmKernel parse_kernel(const std::string& name) {
  if (name == "LINEAR") return SvmKernel::Linear;
  if (name == "POLY") return SvmKernel::Poly;
  if (name == "RBF") return SvmKernel::Rbf;
  PYINFER_CHECK(name == "SIGMOID", "SVMModel: kernel_type must be LINEAR, POLY, RBF or SIGMOID, got '" << name << "'");
  return SvmKernel::Sigmoid;
}

}  // namespace

PYINFER_BINDINGS(svm, 10) {
  py::class_<PySvmModel>(m, "SVMModel", R"doc(SVMModel(rule, features, coefficients, rho, kernel_type='LINEAR', kernel_params=(),
         support_vectors=(), vectors_per_class=(), prob_a=(), prob_b=(), post_transform='NONE',
         label_values=(), one_class=False)

An ai.onnx.ml SVMClassifier / SVMRegressor (rule 'classifier' / 'regressor') for svm() /
prepare_svm(). With support_vectors ([n_vectors * features]): libsvm's models, coefficients
[classes - 1, n_vectors] for a classifier (vectors_per_class: how many vectors each class has, in
order) or [n_vectors] for a regressor; rho one per class pair (a regressor: rho[0]); prob_a /
prob_b: Platt scaling per pair (probabilities coupled pairwise). Without: coefficients [classes,
features] (a regressor: [features]) and rho[0]. Kernel K(x, v): LINEAR x.v, POLY
(gamma x.v + coef0)^degree, RBF exp(-gamma |x - v|^2), SIGMOID tanh(gamma x.v + coef0), with
kernel_params = (gamma, coef0, degree). Classifier outputs: label int64 (label_values[class]) and
scores float32 [N, width]; regressor: y float32 [N, 1] (one_class: +1 / -1).)doc")
      .def(py::init([](const std::string& rule, int64_t features, py::handle coefficients, py::handle rho,
                       const std::string& kernel_type, py::handle kernel_params, py::handle support_vectors,
                       py::handle vectors_per_class, py::handle prob_a, py::handle prob_b, const std::string& post,
                       py::handle label_values, bool one_class) {
             const char* op = "SVMModel";
             auto s = std::make_shared<SvmModel>();
             PYINFER_CHECK(rule == "classifier" || rule == "regressor", op << ": unknown rule '" << rule << "'");
             s->classifier = rule == "classifier";
             s->kernel = parse_kernel(kernel_type);
             const std::vector<double> params = vector_of<double>(kernel_params, op, "kernel_params");
             s->gamma = params.size() > 0 ? params[0] : 0.0;
             s->coef0 = params.size() > 1 ? params[1] : 0.0;
             s->degree = params.size() > 2 ? params[2] : 0.0;
             PYINFER_CHECK(features >= 1, op << ": features must be positive");
             s->features = features;
             s->coef = vector_of<double>(coefficients, op, "coefficients");
             s->rho = vector_of<double>(rho, op, "rho");
             s->vectors = vector_of<double>(support_vectors, op, "support_vectors");
             s->prob_a = vector_of<double>(prob_a, op, "prob_a");
             s->prob_b = vector_of<double>(prob_b, op, "prob_b");
             s->post = parse_post_transform(post, op);
             s->labels = vector_of<int64_t>(label_values, op, "label_values");
             s->one_class = one_class;
             const auto coef_size = static_cast<int64_t>(s->coef.size());
             PYINFER_CHECK(!s->rho.empty() && coef_size > 0, op << ": coefficients and rho must not be empty");
             PYINFER_CHECK(s->vectors.size() % features == 0,
                           op << ": " << s->vectors.size() << " support_vectors values for " << features << " features");
             s->n_vectors = static_cast<int64_t>(s->vectors.size()) / features;
             PYINFER_CHECK(s->prob_a.size() == s->prob_b.size(), op << ": prob_a and prob_b must have the same length");
             for (double c : s->coef) s->all_positive = s->all_positive && c >= 0;
             if (!s->classifier) {
               PYINFER_CHECK(coef_size == (s->n_vectors ? s->n_vectors : features),
                             op << ": " << coef_size << " coefficients for " << s->n_vectors << " vectors and "
                                << features << " features");
               return PySvmModel{std::move(s)};
             }
             s->classes = static_cast<int64_t>(s->labels.size());
             PYINFER_CHECK(s->classes >= 1, op << ": a classifier needs its label values");
             if (s->n_vectors == 0) {
               PYINFER_CHECK(coef_size == s->classes * features,
                             op << ": " << coef_size << " coefficients for " << s->classes << " classes and "
                                << features << " features");
               return PySvmModel{std::move(s)};
             }
             const std::vector<int64_t> per_class = vector_of<int64_t>(vectors_per_class, op, "vectors_per_class");
             PYINFER_CHECK(static_cast<int64_t>(per_class.size()) == s->classes && s->classes >= 2,
                           op << ": vectors_per_class needs one count per class (" << s->classes << ")");
             s->starts.assign(1, 0);
             for (int64_t n : per_class) {
               PYINFER_CHECK(n >= 0, op << ": a negative count in vectors_per_class");
               s->starts.push_back(s->starts.back() + n);
             }
             PYINFER_CHECK(s->starts.back() == s->n_vectors && coef_size == (s->classes - 1) * s->n_vectors,
                           op << ": vectors_per_class, support_vectors and coefficients do not fit " << s->classes
                              << " classes of " << features << " features");
             PYINFER_CHECK(static_cast<int64_t>(s->rho.size()) >= s->pairs() &&
                               (!s->probabilities() || static_cast<int64_t>(s->prob_a.size()) >= s->pairs()),
                           op << ": rho / prob_a / prob_b need one value per class pair (" << s->pairs() << ")");
             return PySvmModel{std::move(s)};
           }),
           py::arg("rule"), py::arg("features"), py::arg("coefficients"), py::arg("rho"),
           py::arg("kernel_type") = "LINEAR", py::arg("kernel_params") = py::tuple(),
           py::arg("support_vectors") = py::tuple(), py::arg("vectors_per_class") = py::tuple(),
           py::arg("prob_a") = py::tuple(), py::arg("prob_b") = py::tuple(), py::arg("post_transform") = "NONE",
           py::arg("label_values") = py::tuple(), py::arg("one_class") = false)
      .def_property_readonly("width", [](const PySvmModel& p) { return p.m->width(); },
                             "Columns of the score output.");
  bind_model_kernel<PySvmModel>(
      m, "svm", [](const PySvmModel& p, const std::vector<int64_t>& shape, DType t) { return prepare_svm(p.m, shape, t); },
      "(label, scores) of a classifier, y of a regressor");
}

}  // namespace ml
}  // namespace pyinfer
