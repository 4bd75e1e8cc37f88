// ai.onnx.ml LinearClassifier / LinearRegressor as a prepared kernel: scores = X W^T + b in double,
// then onnxruntime's rules (post_transform.h). Kernel, prepare and binding in one file.
//
// What skl2onnx writes for logistic and linear regression, linear SVMs, SGD and ridge models:
// small W (classes x features), so a row's scores are a few dot products and the cost of a call
// at batch 1 is the call itself.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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

// Rows per thread task.
constexpr int64_t kRowsPerTask = 64;

struct LinearModel {
  std::vector<double> coef;  // [targets, features]
  std::vector<double> intercepts;
  int64_t targets = 0, features = 0;
  bool classifier = false;
  PostTransform post = PostTransform::None;
  // Classifier: the label written per class index (one target: index 0 negative, 1 positive);
  // two_labels: one score column for a two-class model, written as [1 - p, p].
  std::vector<int64_t> labels;
  bool two_labels = false;

  int64_t width() const { return targets == 1 && classifier && two_labels ? 2 : targets; }

  // One row: scores, then the outputs (y: width() values; label when a classifier).
  template <class T>
  void row(const T* x, double* s, float* y, int64_t* label) const {
    for (int64_t t = 0; t < targets; ++t) {
      // four partial sums: a single one would wait for each add to finish (latency-bound)
      const double* w = coef.data() + t * features;
      double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      int64_t f = 0;
      for (; f + 4 <= features; f += 4) {
        a0 += w[f] * static_cast<double>(x[f]), a1 += w[f + 1] * static_cast<double>(x[f + 1]);
        a2 += w[f + 2] * static_cast<double>(x[f + 2]), a3 += w[f + 3] * static_cast<double>(x[f + 3]);
      }
      for (; f < features; ++f) a0 += w[f] * static_cast<double>(x[f]);
      s[t] = intercepts[t] + ((a0 + a1) + (a2 + a3));
    }
    if (targets == 1) {
      if (classifier) *label = labels[s[0] > 0 ? 1 : 0];
      if (classifier && two_labels) {  // onnxruntime: [1 - p, p], p the logistic of s under LOGISTIC
        expand_binary(post == PostTransform::Logistic ? logistic(s[0]) : s[0], PostTransform::None, 1, s);
      } else if (post == PostTransform::Probit) {  // onnxruntime applies only PROBIT to one score
        s[0] = probit(s[0]);
      }
    } else {
      if (classifier) *label = labels[argmax(s, targets)];
      transform_row(s, targets, post);
    }
    for (int64_t k = 0; k < width(); ++k) y[k] = static_cast<float>(s[k]);
  }
};

struct PyLinearModel {
  std::shared_ptr<const LinearModel> m;
};

}  // namespace

PreparedPtr prepare_linear_model(std::shared_ptr<const LinearModel> m, const std::vector<int64_t>& x_shape,
                                 DType x_dtype) {
  int64_t rows = 0;
  KernelBuilder b = predictor_kernel(m->classifier ? "linear_classifier" : "linear_regressor", x_shape, x_dtype,
                                     m->features, "the coefficients are for", m->classifier, m->width(), rows);
  const bool x_double = x_dtype == DType::Float64;
  return b.run([m, rows, x_double](const void* const* in, void* const* out, int threads) {
    int64_t* labels = m->classifier ? static_cast<int64_t*>(out[0]) : nullptr;
    float* y = static_cast<float*>(out[m->classifier ? 1 : 0]);
    const int64_t F = m->features, W = m->width();
    auto task = [&](int64_t t0, int64_t t1) {
      std::vector<double> s(std::max<int64_t>(m->targets, 2));
      for (int64_t r = t0 * kRowsPerTask; r < std::min(rows, t1 * kRowsPerTask); ++r) {
        int64_t* label = labels ? labels + r : nullptr;
        if (x_double) m->row(static_cast<const double*>(in[0]) + r * F, s.data(), y + r * W, label);
        else m->row(static_cast<const float*>(in[0]) + r * F, s.data(), y + r * W, label);
      }
    };
    const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    // The cost model (common/thread_pool.h): a multiply-add per feature and target.
    parallel_for(tasks, threads_for_work(flops_ns(2.0 * double(rows) * double(F) * double(m->targets)), tasks, threads),
                 task);
  });
}

PYINFER_BINDINGS(linear_model, 10) {
  py::class_<PyLinearModel>(m, "LinearModel", R"doc(LinearModel(coefficients, intercepts, rule='regressor', post_transform='NONE',
            label_values=(), two_labels=False)

An ai.onnx.ml LinearClassifier / LinearRegressor for linear_model() / prepare_linear_model():
coefficients [targets, features], intercepts [targets] (any float dtype; kept as double).
rule 'classifier': label int64 [N] (label_values[class]; one target: [negative, positive], chosen
by the score's sign) and scores float32 [N, targets] (one target with two_labels: [1 - p, p]);
rule 'regressor': y float32 [N, targets]. Post-transforms as onnxruntime applies them (one score:
PROBIT only, or LOGISTIC for p).)doc")
      .def(py::init([](py::handle coefficients, py::handle intercepts, const std::string& rule,
                       const std::string& post, py::handle label_values, bool two_labels) {
             const char* op = "LinearModel";
             auto c = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(coefficients);
             PYINFER_CHECK(c && c.ndim() == 2 && c.shape(0) >= 1 && c.shape(1) >= 1,
                           op << ": coefficients must be [targets, features]");
             auto model = std::make_shared<LinearModel>();
             model->targets = c.shape(0), model->features = c.shape(1);
             model->coef.assign(c.data(), c.data() + c.size());
             model->intercepts = vector_of<double>(intercepts, op, "intercepts");
             PYINFER_CHECK(static_cast<int64_t>(model->intercepts.size()) == model->targets,
                           op << ": " << model->intercepts.size() << " intercepts for " << model->targets << " targets");
             PYINFER_CHECK(rule == "classifier" || rule == "regressor", op << ": unknown rule '" << rule << "'");
             model->classifier = rule == "classifier";
             model->post = parse_post_transform(post, op);
             model->labels = vector_of<int64_t>(label_values, op, "label_values");
             model->two_labels = two_labels;
             if (model->classifier)
               PYINFER_CHECK(static_cast<int64_t>(model->labels.size()) == std::max<int64_t>(model->targets, 2),
                             op << ": " << model->labels.size() << " label values for " << model->targets << " targets");
             return PyLinearModel{std::move(model)};
           }),
           py::arg("coefficients"), py::arg("intercepts"), py::arg("rule") = "regressor",
           py::arg("post_transform") = "NONE", py::arg("label_values") = py::tuple(), py::arg("two_labels") = false);
  bind_model_kernel<PyLinearModel>(
      m, "linear_model", [](const PyLinearModel& p, const std::vector<int64_t>& shape, DType t) {
        return prepare_linear_model(p.m, shape, t);
      },
      "(label, scores) of a classifier, y of a regressor");
}

}  // namespace ml
}  // namespace pyinfer
