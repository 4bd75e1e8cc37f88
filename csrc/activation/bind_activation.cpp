// Python bindings of the activation family: the Activation enum (act.h, the one vocabulary of
// activations), the elementwise activations, (log)softmax and inference batch normalization,
// as prepared kernels (prepare_*) and as one-call conveniences that prepare and run.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cctype>
#include <optional>
#include <string>

#include "activation/act_names.h"
#include "activation/activation.h"
#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "gemm/bind_epilogue.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

constexpr int kMaxRank = 64;

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::optional<float> opt(const py::object& o) {
  if (o.is_none()) return std::nullopt;
  return o.cast<float>();
}

py::object run_activation(const char* name, const ActParams& act, py::handle x_obj, int num_threads) {
  auto x = bind::float_array(x_obj, (std::string(name) + ": x").c_str(), 0, kMaxRank);
  return bind::call(*prepare_activation(act, bind::shape_of(x)), {x}, num_threads);
}

// kernels.<name>(x, [params,] num_threads=0) for an activation with `count` parameters.
void def_activation(py::module_& m, Act act, const char* doc) {
  const std::string name = act_kernel_name(act);
  const ActParams d = act_defaults(act);
  switch (act_param_count(act)) {
    case 0:
      m.def(
          name.c_str(),
          [act](py::handle x, int num_threads) {
            return run_activation(act_kernel_name(act), make_act(act_kernel_name(act), act, {}, {}), x, num_threads);
          },
          py::arg("x"), py::arg("num_threads") = 0, doc);
      break;
    case 1:
      m.def(
          name.c_str(),
          [act](py::handle x, float a, int num_threads) {
            return run_activation(act_kernel_name(act), make_act(act_kernel_name(act), act, a, {}), x, num_threads);
          },
          py::arg("x"), py::arg("alpha") = d.a, py::arg("num_threads") = 0, doc);
      break;
    default:
      m.def(
          name.c_str(),
          [act](py::handle x, float a, float b, int num_threads) {
            return run_activation(act_kernel_name(act), make_act(act_kernel_name(act), act, a, b), x, num_threads);
          },
          py::arg("x"), py::arg(act == Act::Selu ? "alpha" : "alpha") = d.a,
          py::arg(act == Act::Selu ? "gamma" : "beta") = d.b, py::arg("num_threads") = 0, doc);
  }
}

py::object run_softmax(const char* name, py::handle x_obj, int64_t axis, bool log, int num_threads) {
  auto x = bind::float_array(x_obj, (std::string(name) + ": x").c_str(), 1, kMaxRank);
  return bind::call(*prepare_softmax(bind::shape_of(x), axis, log), {x}, num_threads);
}

}  // namespace

PYINFER_BINDINGS(activation, 0) {
  py::enum_<Act> act_enum(m, "Activation", R"doc(The activations pyinfer's kernels apply (csrc/activation/act.h).

One vocabulary for the elementwise activation kernels, the fused epilogues of gemm / matmul /
conv / batch_norm (activation=..., which also takes the kernel name: 'leaky_relu') and the
gates of lstm / gru / rnn. .name is the upper-case name (LEAKY_RELU), .onnx_name ONNX's op
type (LeakyRelu), .kernel_name the kernel API's ('leaky_relu'). Parameters a, b: LeakyRelu
alpha | Clip lo, hi | HardSigmoid alpha, beta | Elu alpha | Selu alpha, gamma | Celu alpha |
ThresholdedRelu alpha | Affine alpha, beta | ScaledTanh alpha, beta.)doc");
  for (int i = 0; i < kActCount; ++i) {
    const Act a = static_cast<Act>(i);
    act_enum.value(upper(act_kernel_name(a)).c_str(), a);
  }
  act_enum.def_property_readonly("onnx_name", [](Act a) { return std::string(act_name(a)); })
      .def_property_readonly("kernel_name", [](Act a) { return std::string(act_kernel_name(a)); })
      .def_property_readonly("param_count", [](Act a) { return act_param_count(a); })
      .def_property_readonly("defaults", [](Act a) { return py::make_tuple(act_defaults(a).a, act_defaults(a).b); },
                             "(a, b): the default parameters.")
      .def_property_readonly("fuses", [](Act a) { return act_fuses(a); },
                             "Whether a fused epilogue (gemm, matmul, conv, batch_norm) applies it.")
      .def_static(
          "from_onnx",
          [](const std::string& name) {
            for (int i = 0; i < kActCount; ++i)
              if (name == act_name(static_cast<Act>(i))) return static_cast<Act>(i);
            PYINFER_CHECK(false, "no activation is called '" << name << "'");
            return Act::None;
          },
          py::arg("name"), "The activation whose ONNX op type is `name` ('LeakyRelu').");

  m.def(
      "prepare_activation",
      [](py::handle activation, const std::vector<int64_t>& shape, py::object alpha, py::object beta) {
        const ActParams act = py::isinstance<py::str>(activation)
                                  ? make_act("activation", activation.cast<std::string>(), opt(alpha), opt(beta))
                                  : make_act("activation", activation.cast<Act>(), opt(alpha), opt(beta));
        return prepare_activation(act, shape);
      },
      py::arg("activation"), py::arg("shape"), py::arg("alpha") = py::none(), py::arg("beta") = py::none(),
      "prepare_activation(activation, shape, alpha=None, beta=None) -> PreparedKernel: y = activation(x)\n"
      "for x of `shape`; activation: an Activation or its kernel name, alpha / beta its parameters\n"
      "(None: the defaults).");
  m.def(
      "prepare_prelu",
      [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& slope_shape) {
        return prepare_prelu(x_shape, slope_shape);
      },
      py::arg("x_shape"), py::arg("slope_shape"), "prelu() prepared for these shapes; the kernel takes (x, slope).");
  m.def(
      "prepare_softmax",
      [](const std::vector<int64_t>& shape, int64_t axis, bool log, bool flatten) {
        return prepare_softmax(shape, axis, log, flatten);
      },
      py::arg("shape"), py::arg("axis") = -1, py::arg("log") = false, py::arg("flatten") = false,
      "prepare_softmax(shape, axis=-1, log=False, flatten=False) -> PreparedKernel: (log)softmax along axis;\n"
      "flatten: over the axis and every one after it (ONNX Softmax before opset 13).");
  m.def(
      "prepare_batch_norm",
      [](const std::vector<int64_t>& x_shape, float epsilon, py::handle activation, py::object act_alpha,
         py::object act_beta, py::object clip_min, py::object clip_max) {
        const ActParams act =
            bind::parse_activation("batch_norm", activation, act_alpha, act_beta, clip_min, clip_max);
        return prepare_batch_norm(x_shape, epsilon, act);
      },
      py::arg("x_shape"), py::arg("epsilon") = 1e-5f, py::kw_only(), py::arg("activation") = "none",
      py::arg("activation_alpha") = py::none(), py::arg("activation_beta") = py::none(),
      py::arg("clip_min") = py::none(), py::arg("clip_max") = py::none(),
      "batch_norm() prepared for x_shape; the kernel takes (x, scale, bias, mean, var).");

  def_activation(m, Act::Relu, "relu(x, num_threads=0): max(x, 0) elementwise (NaN stays NaN).");
  def_activation(m, Act::Sigmoid,
                 "sigmoid(x, num_threads=0): 1 / (1 + exp(-x)); exactly 0 / 1 for large negative / positive x.");
  def_activation(m, Act::Tanh, "tanh(x, num_threads=0): hyperbolic tangent (relative error ~3e-7).");
  def_activation(m, Act::HardSwish,
                 "hard_swish(x, num_threads=0): x * clip(x / 6 + 1/2, 0, 1) (ONNX HardSwish); 0 at x = -inf.");
  def_activation(m, Act::Softplus,
                 "softplus(x, num_threads=0): log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) (no "
                 "overflow).");
  def_activation(m, Act::Softsign, "softsign(x, num_threads=0): x / (1 + |x|); +-1 at +-inf.");
  def_activation(m, Act::Erf, "erf(x, num_threads=0): the error function (max error ~2 ulp).");
  def_activation(m, Act::Mish, "mish(x, num_threads=0): x * tanh(softplus(x)).");
  def_activation(m, Act::Silu, "silu(x, num_threads=0): x * sigmoid(x) (swish); 0 at x = -inf.");
  def_activation(m, Act::LeakyRelu, "leaky_relu(x, alpha=0.01, num_threads=0): x if x >= 0 else alpha * x.");
  def_activation(m, Act::HardSigmoid,
                 "hard_sigmoid(x, alpha=0.2, beta=0.5, num_threads=0): clip(alpha * x + beta, 0, 1).");
  def_activation(m, Act::Elu,
                 "elu(x, alpha=1.0, num_threads=0): x if x > 0 else alpha * (exp(x) - 1) (expm1: exact near 0).");
  def_activation(m, Act::Selu,
                 "selu(x, alpha=1.6732632, gamma=1.0507010, num_threads=0): gamma * (x if x > 0 else alpha * "
                 "(exp(x) - 1)).");
  def_activation(m, Act::Celu,
                 "celu(x, alpha=1.0, num_threads=0): max(0, x) + min(0, alpha * (exp(x / alpha) - 1)); alpha != 0.");
  def_activation(m, Act::ThresholdedRelu,
                 "thresholded_relu(x, alpha=1.0, num_threads=0): x if x > alpha else 0 (NaN stays NaN).");
  m.def(
      "clip",
      [](py::handle x, float lo, float hi, int num_threads) {
        return run_activation("clip", make_act("clip", Act::Clip, lo, hi), x, num_threads);
      },
      py::arg("x"), py::arg("min") = -INFINITY, py::arg("max") = INFINITY, py::arg("num_threads") = 0,
      "clip(x, min=-inf, max=inf, num_threads=0): min(max(x, min), max); if min > max every value "
      "becomes max (ONNX Clip). NaN stays NaN.");
  m.def(
      "gelu",
      [](py::handle x, const std::string& approximate, int num_threads) {
        PYINFER_CHECK(approximate == "none" || approximate == "tanh",
                      "gelu: approximate must be 'none' or 'tanh', got '" << approximate << "'");
        const ActParams act{approximate == "none" ? Act::Gelu : Act::GeluTanh, 0.f, 0.f};
        return run_activation("gelu", act, x, num_threads);
      },
      py::arg("x"), py::arg("approximate") = "none", py::arg("num_threads") = 0,
      "gelu(x, approximate='none', num_threads=0): x * Phi(x) with Phi the normal CDF ('none': "
      "exact, via erf/erfc), or x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) ('tanh').");

  m.def(
      "prelu",
      [](py::handle x_obj, py::handle slope_obj, int num_threads) {
        auto x = bind::float_array(x_obj, "prelu: x", 0, kMaxRank);
        auto slope = bind::float_array(slope_obj, "prelu: slope", 0, kMaxRank);
        return bind::call(*prepare_prelu(bind::shape_of(x), bind::shape_of(slope)), {x, slope}, num_threads);
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
      [](py::handle x_obj, py::handle scale, py::handle bias, py::handle mean, py::handle var, float epsilon,
         int num_threads, py::handle activation, py::object activation_alpha, py::object activation_beta,
         py::object clip_min, py::object clip_max) {
        const ActParams act =
            bind::parse_activation("batch_norm", activation, activation_alpha, activation_beta, clip_min, clip_max);
        auto x = bind::float_array(x_obj, "batch_norm: x", 2, kMaxRank);
        std::vector<py::handle> in{x};
        std::vector<bind::FloatArray> params;
        for (auto [obj, what] : {std::pair{scale, "batch_norm: scale"}, std::pair{bias, "batch_norm: bias"},
                                 std::pair{mean, "batch_norm: mean"}, std::pair{var, "batch_norm: var"}})
          params.push_back(bind::float_array(obj, what, 1, 1));
        for (auto& p : params) in.push_back(p);
        return bind::call(*prepare_batch_norm(bind::shape_of(x), epsilon, act), in, num_threads);
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
      "gelu, gelu_tanh, silu) applied in the same pass.");
}

}  // namespace pyinfer
