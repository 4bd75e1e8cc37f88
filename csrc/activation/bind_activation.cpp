// Python bindings of the activation family: elementwise activations, (log)softmax and
// inference batch normalization. Every kernel checks its arguments, returns a new float32
// array and releases the GIL while it computes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "activation/activation.h"
#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "gemm/bind_epilogue.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

constexpr int kMaxRank = 64;

py::array run_unary(const char* name, Unary op, py::handle x_obj, float a, float b, int num_threads) {
  const std::string what = std::string(name) + ": x";
  auto x = bind::float_array(x_obj, what.c_str(), 0, kMaxRank);
  auto y = bind::new_float_array(bind::shape_of(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    unary(op, xp, yp, n, a, b, num_threads);
  }
  return y;
}

void check_finite(const char* kernel, const char* param, float v) {
  PYINFER_CHECK(std::isfinite(v), kernel << ": " << param << " must be finite, got " << v);
}

// (outer, axis_len, inner) of x around `axis` (negative counts from the end).
void split_at_axis(const char* kernel, const std::vector<int64_t>& shape, int64_t axis, int64_t& outer,
                   int64_t& len, int64_t& inner) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  PYINFER_CHECK(axis >= -rank && axis < rank,
                kernel << ": axis " << axis << " is out of range for an input of shape " << bind::shape_str(shape));
  if (axis < 0) axis += rank;
  outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= shape[i];
  for (int64_t i = axis + 1; i < rank; ++i) inner *= shape[i];
  len = shape[axis];
}

py::array run_softmax(const char* name, py::handle x_obj, int64_t axis, bool log, int num_threads) {
  const std::string what = std::string(name) + ": x";
  auto x = bind::float_array(x_obj, what.c_str(), 1, kMaxRank);
  const auto shape = bind::shape_of(x);
  int64_t outer, len, inner;
  split_at_axis(name, shape, axis, outer, len, inner);
  auto y = bind::new_float_array(shape);
  const float* xp = x.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    softmax(xp, yp, outer, len, inner, log, num_threads);
  }
  return y;
}

}  // namespace

void bind_activation(py::module_& m) {
  auto simple = [&m](const char* name, Unary op, const char* doc) {
    m.def(
        name, [name, op](py::handle x, int num_threads) { return run_unary(name, op, x, 0.f, 0.f, num_threads); },
        py::arg("x"), py::arg("num_threads") = 0, doc);
  };
  simple("relu", Unary::Relu, "relu(x, num_threads=0): max(x, 0) elementwise (NaN stays NaN).");
  simple("sigmoid", Unary::Sigmoid,
         "sigmoid(x, num_threads=0): 1 / (1 + exp(-x)); exactly 0 / 1 for large negative / positive x.");
  simple("tanh", Unary::Tanh, "tanh(x, num_threads=0): hyperbolic tangent (relative error ~3e-7).");
  simple("hard_swish", Unary::HardSwish,
         "hard_swish(x, num_threads=0): x * clip(x / 6 + 1/2, 0, 1) (ONNX HardSwish); 0 at x = -inf.");
  simple("softplus", Unary::Softplus,
         "softplus(x, num_threads=0): log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) (no overflow).");
  simple("softsign", Unary::Softsign, "softsign(x, num_threads=0): x / (1 + |x|); +-1 at +-inf.");
  simple("erf", Unary::Erf, "erf(x, num_threads=0): the error function (max error ~2 ulp).");
  simple("mish", Unary::Mish, "mish(x, num_threads=0): x * tanh(softplus(x)).");

  m.def(
      "leaky_relu",
      [](py::handle x, float alpha, int num_threads) {
        check_finite("leaky_relu", "alpha", alpha);
        return run_unary("leaky_relu", Unary::LeakyRelu, x, alpha, 0.f, num_threads);
      },
      py::arg("x"), py::arg("alpha") = 0.01f, py::arg("num_threads") = 0,
      "leaky_relu(x, alpha=0.01, num_threads=0): x if x >= 0 else alpha * x.");
  m.def(
      "clip",
      [](py::handle x, float lo, float hi, int num_threads) {
        PYINFER_CHECK(!std::isnan(lo) && !std::isnan(hi), "clip: min and max must not be NaN");
        return run_unary("clip", Unary::Clip, x, lo, hi, num_threads);
      },
      py::arg("x"), py::arg("min") = -INFINITY, py::arg("max") = INFINITY, py::arg("num_threads") = 0,
      "clip(x, min=-inf, max=inf, num_threads=0): min(max(x, min), max); if min > max every value "
      "becomes max (ONNX Clip). NaN stays NaN.");
  m.def(
      "hard_sigmoid",
      [](py::handle x, float alpha, float beta, int num_threads) {
        check_finite("hard_sigmoid", "alpha", alpha);
        check_finite("hard_sigmoid", "beta", beta);
        return run_unary("hard_sigmoid", Unary::HardSigmoid, x, alpha, beta, num_threads);
      },
      py::arg("x"), py::arg("alpha") = 0.2f, py::arg("beta") = 0.5f, py::arg("num_threads") = 0,
      "hard_sigmoid(x, alpha=0.2, beta=0.5, num_threads=0): clip(alpha * x + beta, 0, 1).");
  m.def(
      "elu",
      [](py::handle x, float alpha, int num_threads) {
        check_finite("elu", "alpha", alpha);
        return run_unary("elu", Unary::Elu, x, alpha, 0.f, num_threads);
      },
      py::arg("x"), py::arg("alpha") = 1.0f, py::arg("num_threads") = 0,
      "elu(x, alpha=1.0, num_threads=0): x if x > 0 else alpha * (exp(x) - 1) (expm1: exact near 0).");
  m.def(
      "selu",
      [](py::handle x, float alpha, float gamma, int num_threads) {
        check_finite("selu", "alpha", alpha);
        check_finite("selu", "gamma", gamma);
        return run_unary("selu", Unary::Selu, x, alpha, gamma, num_threads);
      },
      py::arg("x"), py::arg("alpha") = 1.67326319217681884765625f, py::arg("gamma") = 1.05070102214813232421875f,
      py::arg("num_threads") = 0,
      "selu(x, alpha=1.6732632, gamma=1.0507010, num_threads=0): gamma * (x if x > 0 else alpha * (exp(x) - 1)).");
  m.def(
      "celu",
      [](py::handle x, float alpha, int num_threads) {
        check_finite("celu", "alpha", alpha);
        PYINFER_CHECK(alpha != 0.0f, "celu: alpha must be non-zero");
        return run_unary("celu", Unary::Celu, x, alpha, 0.f, num_threads);
      },
      py::arg("x"), py::arg("alpha") = 1.0f, py::arg("num_threads") = 0,
      "celu(x, alpha=1.0, num_threads=0): max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); alpha != 0.");
  m.def(
      "thresholded_relu",
      [](py::handle x, float alpha, int num_threads) {
        check_finite("thresholded_relu", "alpha", alpha);
        return run_unary("thresholded_relu", Unary::ThresholdedRelu, x, alpha, 0.f, num_threads);
      },
      py::arg("x"), py::arg("alpha") = 1.0f, py::arg("num_threads") = 0,
      "thresholded_relu(x, alpha=1.0, num_threads=0): x if x > alpha else 0 (NaN stays NaN).");
  m.def(
      "gelu",
      [](py::handle x, const std::string& approximate, int num_threads) {
        PYINFER_CHECK(approximate == "none" || approximate == "tanh",
                      "gelu: approximate must be 'none' or 'tanh', got '" << approximate << "'");
        return run_unary("gelu", approximate == "none" ? Unary::GeluErf : Unary::GeluTanh, x, 0.f, 0.f, num_threads);
      },
      py::arg("x"), py::arg("approximate") = "none", py::arg("num_threads") = 0,
      "gelu(x, approximate='none', num_threads=0): x * Phi(x) with Phi the normal CDF ('none': "
      "exact, via erf/erfc), or x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) ('tanh').");

  m.def(
      "prelu",
      [](py::handle x_obj, py::handle slope_obj, int num_threads) {
        auto x = bind::float_array(x_obj, "prelu: x", 0, kMaxRank);
        auto slope = bind::float_array(slope_obj, "prelu: slope", 0, kMaxRank);
        const auto xs = bind::shape_of(x), ss = bind::shape_of(slope);
        check_prelu_shapes(xs, ss);
        auto y = bind::new_float_array(xs);
        const float *xp = x.data(), *sp = slope.data();
        float* yp = y.mutable_data();
        {
          py::gil_scoped_release nogil;
          prelu(xp, xs, sp, ss, yp, num_threads);
        }
        return y;
      },
      py::arg("x"), py::arg("slope"), py::arg("num_threads") = 0,
      "prelu(x, slope, num_threads=0): x if x >= 0 else slope * x, slope broadcast to x "
      "unidirectionally (numpy rules, e.g. (C, 1, 1) per channel of (N, C, H, W), or x's full shape).");

  m.def(
      "softmax",
      [](py::handle x, int64_t axis, int num_threads) { return run_softmax("softmax", x, axis, false, num_threads); },
      py::arg("x"), py::arg("axis") = -1, py::arg("num_threads") = 0,
      "softmax(x, axis=-1, num_threads=0): exp(x - max) / sum(exp(x - max)) along one axis "
      "(numerically stable; a NaN in a slice makes that slice NaN).");
  m.def(
      "log_softmax",
      [](py::handle x, int64_t axis, int num_threads) { return run_softmax("log_softmax", x, axis, true, num_threads); },
      py::arg("x"), py::arg("axis") = -1, py::arg("num_threads") = 0,
      "log_softmax(x, axis=-1, num_threads=0): x - max - log(sum(exp(x - max))) along one axis.");

  m.def(
      "batch_norm",
      [](py::handle x_obj, py::handle scale_obj, py::handle bias_obj, py::handle mean_obj, py::handle var_obj,
         float epsilon, int num_threads, const std::string& activation, py::object activation_alpha,
         py::object activation_beta, py::object clip_min, py::object clip_max) {
        Epilogue ep;
        bind::parse_activation("batch_norm", activation, activation_alpha, activation_beta, clip_min, clip_max, ep);
        const NormActivation act = norm_activation(ep.act, ep.alpha, ep.beta, ep.lo, ep.hi);
        auto x = bind::float_array(x_obj, "batch_norm: x", 2, kMaxRank);
        const auto xs = bind::shape_of(x);
        const int64_t n = xs[0], c = xs[1];
        int64_t spatial = 1;
        for (size_t i = 2; i < xs.size(); ++i) spatial *= xs[i];
        auto per_channel = [c](py::handle obj, const char* what) {
          auto a = bind::float_array(obj, what, 1, 1);
          PYINFER_CHECK(a.shape(0) == c, what << ": expected shape (" << c << ",) to match the input's "
                                              << c << " channels, got (" << a.shape(0) << ",)");
          return a;
        };
        auto scale = per_channel(scale_obj, "batch_norm: scale");
        auto bias = per_channel(bias_obj, "batch_norm: bias");
        auto mean = per_channel(mean_obj, "batch_norm: mean");
        auto var = per_channel(var_obj, "batch_norm: var");
        PYINFER_CHECK(std::isfinite(epsilon) && epsilon >= 0.0f,
                      "batch_norm: epsilon must be finite and >= 0, got " << epsilon);
        auto y = bind::new_float_array(xs);
        const float *xp = x.data(), *sp = scale.data(), *bp = bias.data(), *mp = mean.data(), *vp = var.data();
        float* yp = y.mutable_data();
        {
          py::gil_scoped_release nogil;
          batch_norm(xp, yp, n, c, spatial, sp, bp, mp, vp, epsilon, num_threads, act);
        }
        return y;
      },
      py::arg("x"), py::arg("scale"), py::arg("bias"), py::arg("mean"), py::arg("var"), py::arg("epsilon") = 1e-5f,
      py::arg("num_threads") = 0, py::kw_only(), py::arg("activation") = "none",
      py::arg("activation_alpha") = py::none(), py::arg("activation_beta") = py::none(),
      py::arg("clip_min") = py::none(), py::arg("clip_max") = py::none(),
      "batch_norm(x, scale, bias, mean, var, epsilon=1e-5, num_threads=0, *, activation='none', "
      "activation_alpha=None, activation_beta=None, clip_min=None, clip_max=None): inference batch "
      "normalization of x (N, C, ...) with per-channel vectors of length C: "
      "act((x - mean) / sqrt(var + epsilon) * scale + bias), the activation (the conv / gemm "
      "epilogue names: none, relu, relu6, clip, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish, "
      "gelu, gelu_tanh) applied in the same pass.");
}

}  // namespace pyinfer
