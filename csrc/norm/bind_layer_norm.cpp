// Python bindings of the layer-norm kernel (layer_norm.h): prepare_layer_norm for the plans and
// the one-call layer_norm.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "norm/layer_norm.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

LayerNormParams params_of(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& gamma_shape,
                          std::optional<std::vector<int64_t>> beta_shape, int64_t axis, float epsilon, bool rms,
                          std::optional<std::vector<int64_t>> skip_shape, bool bias, bool channel_params = false) {
  LayerNormParams p;
  p.channel_params = channel_params;
  p.x_shape = x_shape;
  p.gamma_shape = gamma_shape;
  p.has_beta = beta_shape.has_value();
  if (beta_shape) p.beta_shape = *beta_shape;
  p.axis = axis;
  p.epsilon = epsilon;
  p.rms = rms;
  p.has_skip = skip_shape.has_value();
  if (skip_shape) p.skip_shape = *skip_shape;
  p.has_bias = bias;
  return p;
}

}  // namespace

PYINFER_BINDINGS(layer_norm, 10) {
  m.def(
      "prepare_layer_norm",
      [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& gamma_shape,
         std::optional<std::vector<int64_t>> beta_shape, int64_t axis, float epsilon, bool rms,
         std::optional<std::vector<int64_t>> skip_shape, bool bias, bool channel_params) {
        return prepare_layer_norm(
            params_of(x_shape, gamma_shape, beta_shape, axis, epsilon, rms, skip_shape, bias, channel_params));
      },
      py::arg("x_shape"), py::arg("gamma_shape"), py::arg("beta_shape") = py::none(), py::kw_only(),
      py::arg("axis") = -1, py::arg("epsilon") = 1e-5f, py::arg("rms") = false, py::arg("skip_shape") = py::none(),
      py::arg("bias") = false, py::arg("channel_params") = false,
      "prepare_layer_norm(x_shape, gamma_shape, beta_shape=None, *, axis=-1, epsilon=1e-5, rms=False,\n"
      "                   skip_shape=None, bias=False, channel_params=False) -> PreparedKernel\n\n"
      "layer_norm() prepared for these shapes (beta_shape / skip_shape None: absent; bias: whether a\n"
      "[cols] bias is added with the skip). The kernel takes (x, gamma, beta, skip, bias) and writes\n"
      "(y, mean, inv_std, sum); the last three are optional outputs.");
  m.def(
      "layer_norm",
      [](py::handle x_obj, py::handle gamma_obj, py::object beta_obj, int64_t axis, float epsilon, bool rms,
         py::object skip_obj, py::object bias_obj, bool stats, bool channel_params, int num_threads) {
        auto x = bind::float_array(x_obj, "layer_norm: x", 1, 32);
        auto gamma = bind::float_array(gamma_obj, "layer_norm: gamma", 0, 32);
        py::object beta = beta_obj.is_none() ? py::none() : py::object(bind::float_array(beta_obj, "layer_norm: beta", 0, 32));
        py::object skip = skip_obj.is_none() ? py::none() : py::object(bind::float_array(skip_obj, "layer_norm: skip", 1, 32));
        py::object bias = bias_obj.is_none() ? py::none() : py::object(bind::float_array(bias_obj, "layer_norm: bias", 1, 1));
        auto shape = [](const py::object& a) -> std::optional<std::vector<int64_t>> {
          if (a.is_none()) return std::nullopt;
          return bind::shape_of(a.cast<py::array>());
        };
        auto k = prepare_layer_norm(params_of(bind::shape_of(x), bind::shape_of(gamma), shape(beta), axis, epsilon, rms,
                                              shape(skip), !bias.is_none(), channel_params));
        const bool sum = !skip.is_none() || !bias.is_none();
        py::object result = bind::call(*k, {x, gamma, beta, skip, bias}, num_threads, {},
                                       {false, !stats || rms, !stats, !(stats && sum)});
        return stats ? result : py::object(result.cast<py::tuple>()[0]);
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta") = py::none(), py::kw_only(), py::arg("axis") = -1,
      py::arg("epsilon") = 1e-5f, py::arg("rms") = false, py::arg("skip") = py::none(), py::arg("bias") = py::none(),
      py::arg("stats") = false, py::arg("channel_params") = false, py::arg("num_threads") = 0,
      "layer_norm(x, gamma, beta=None, *, axis=-1, epsilon=1e-5, rms=False, skip=None, bias=None, stats=False,\n"
      "           channel_params=False, num_threads=0)\n\n"
      "Layer normalization of float32 x over the axes from `axis` on: s = x + skip + bias, then\n"
      "y = (s - mean) / sqrt(var + epsilon) * gamma + beta (rms=True: y = s / sqrt(mean(s^2) + epsilon)\n"
      "* gamma + beta). gamma and beta hold the normalized shape (leading 1s allowed); skip has x's\n"
      "trailing dims and repeats over its leading rows; bias is [cols]. Statistics in float32 summed\n"
      "around the exact mean. Returns y, or with stats=True the tuple (y, mean, inv_std, sum): mean and\n"
      "inv_std shaped x.shape[:axis] + [1, ...] (mean None for rms), sum = s (None without skip / bias).\n"
      "channel_params: InstanceNormalization, x [N, C, ...] normalized from axis 2 with gamma / beta of C\n"
      "values, one per channel.");
}

}  // namespace pyinfer
