// Python bindings of the convolution kernels: ONNX-style conv / conv_transpose and the
// PyTorch-style conv1d / conv2d / conv3d conveniences.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "conv/conv.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// Spatial rank implied by x, checked before any list is parsed against it.
size_t spatial_rank_of(const bind::FloatArray& x, const char* op) {
  PYINFER_CHECK(x.ndim() >= 3, op << ": x must have rank >= 3 ([N, C, spatial...]), got shape "
                                  << bind::shape_str(bind::shape_of(x)));
  return static_cast<size_t>(x.ndim() - 2);
}

std::vector<int64_t> list_or_default(const py::handle& obj, const char* what, size_t count, int64_t dflt) {
  if (obj.is_none()) return std::vector<int64_t>(count, dflt);
  return bind::int_list(obj, what, count);
}

struct ConvArrays {
  bind::FloatArray x, w, b;
  bool has_bias = false;
};

ConvArrays load_arrays(const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                       const char* op) {
  ConvArrays a;
  std::string name = op;
  a.x = bind::float_array(x_obj, (name + ": x").c_str(), 3, 32);
  a.w = bind::float_array(w_obj, (name + ": w").c_str(), 1, 32);
  if (!b_obj.is_none()) {
    a.b = bind::float_array(b_obj, (name + ": bias").c_str(), 1, 1);
    a.has_bias = true;
  }
  return a;
}

py::array run_conv(const ConvArrays& a, const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                   const std::vector<int64_t>& dilations, int64_t group, int num_threads) {
  ConvGeometry g = make_conv_geometry(bind::shape_of(a.x), bind::shape_of(a.w), a.has_bias ? a.b.shape(0) : -1,
                                      strides, pads, dilations, group);
  auto y = bind::new_float_array(g.y_shape);
  const float* bp = a.has_bias ? a.b.data() : nullptr;
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    conv_forward(g, a.x.data(), a.w.data(), bp, yp, num_threads);
  }
  return std::move(y);
}

// PyTorch-style conv{1,2,3}d: symmetric padding, groups.
py::array torch_style_conv(size_t nd, const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                           const py::handle& stride, const py::handle& padding, const py::handle& dilation,
                           int64_t groups, int num_threads) {
  const std::string op = "conv" + std::to_string(nd) + "d";
  ConvArrays a = load_arrays(x_obj, w_obj, b_obj, op.c_str());
  PYINFER_CHECK(static_cast<size_t>(a.x.ndim()) == nd + 2,
                op << ": x must have rank " << nd + 2 << " ([N, C, " << nd << " spatial dims]), got shape "
                   << bind::shape_str(bind::shape_of(a.x)));
  auto strides = bind::int_list(stride, (op + ": stride").c_str(), nd);
  auto pad = bind::int_list(padding, (op + ": padding").c_str(), nd);
  auto dilations = bind::int_list(dilation, (op + ": dilation").c_str(), nd);
  std::vector<int64_t> pads(pad);
  pads.insert(pads.end(), pad.begin(), pad.end());
  return run_conv(a, strides, pads, dilations, groups, num_threads);
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def(
      "conv",
      [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle strides, py::handle pads,
         py::handle dilations, int64_t group, int num_threads) {
        ConvArrays a = load_arrays(x_obj, w_obj, b_obj, "conv");
        const size_t nd = spatial_rank_of(a.x, "conv");
        return run_conv(a, list_or_default(strides, "conv: strides", nd, 1),
                        list_or_default(pads, "conv: pads", 2 * nd, 0),
                        list_or_default(dilations, "conv: dilations", nd, 1), group, num_threads);
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("group") = 1,
      py::arg("num_threads") = 0,
      R"doc(N-d convolution with ONNX Conv semantics (float32).

x: [N, C, D1..Dk]; w: [M, C/group, K1..Kk]; bias: [M] or None.
strides, dilations: k ints (or one int for all; None = 1).
pads: 2k ints [begin_1..begin_k, end_1..end_k] (or one int; None = 0).
group: channel groups (group == C == M is a depthwise convolution).
Returns y: [N, M, O1..Ok] with O = (D + begin + end - ((K - 1) * dilation + 1)) // stride + 1.
Raises KernelArgumentError on inconsistent shapes or parameters, or an empty output.)doc");

  m.def(
      "conv_transpose",
      [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle strides, py::handle pads,
         py::handle dilations, int64_t group, py::handle output_padding, int num_threads) {
        ConvArrays a = load_arrays(x_obj, w_obj, b_obj, "conv_transpose");
        const size_t nd = spatial_rank_of(a.x, "conv_transpose");
        ConvGeometry g = make_conv_transpose_geometry(
            bind::shape_of(a.x), bind::shape_of(a.w), a.has_bias ? a.b.shape(0) : -1,
            list_or_default(strides, "conv_transpose: strides", nd, 1),
            list_or_default(pads, "conv_transpose: pads", 2 * nd, 0),
            list_or_default(dilations, "conv_transpose: dilations", nd, 1), group,
            list_or_default(output_padding, "conv_transpose: output_padding", nd, 0));
        auto y = bind::new_float_array(g.y_shape);
        const float* bp = a.has_bias ? a.b.data() : nullptr;
        float* yp = y.mutable_data();
        {
          py::gil_scoped_release nogil;
          conv_transpose_forward(g, a.x.data(), a.w.data(), bp, yp, num_threads);
        }
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("group") = 1,
      py::arg("output_padding") = py::none(), py::arg("num_threads") = 0,
      R"doc(N-d transposed convolution with ONNX ConvTranspose semantics (float32).

x: [N, C, D1..Dk]; w: [C, M/group, K1..Kk]; bias: [M] or None.
strides, dilations: k ints (or one int; None = 1). pads: 2k ints [begins..., ends...] (None = 0).
output_padding: k ints added at the end of each output dimension, each smaller than the
stride or the dilation (None = 0).
Returns y: [N, M, O1..Ok] with O = stride * (D - 1) + output_padding + (K - 1) * dilation + 1
- begin - end. Raises KernelArgumentError on inconsistent shapes or parameters.)doc");

  // Shape-only entry points: every check of conv / conv_transpose, no data. The graph ops
  // use them to validate inputs they compute without the float32 kernels (float64).
  m.def(
      "conv_output_shape",
      [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape, py::handle strides,
         py::handle pads, py::handle dilations, int64_t group, int64_t bias_len) {
        PYINFER_CHECK(x_shape.size() >= 3, "conv: x must have rank >= 3 ([N, C, spatial...]), got shape "
                                               << bind::shape_str(x_shape));
        const size_t nd = x_shape.size() - 2;
        return make_conv_geometry(x_shape, w_shape, bias_len, list_or_default(strides, "conv: strides", nd, 1),
                                  list_or_default(pads, "conv: pads", 2 * nd, 0),
                                  list_or_default(dilations, "conv: dilations", nd, 1), group)
            .y_shape;
      },
      py::arg("x_shape"), py::arg("w_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("group") = 1, py::arg("bias_len") = -1,
      "Output shape conv() would return for these shapes and parameters (bias_len -1: no bias);\n"
      "raises KernelArgumentError exactly where conv() would.");
  m.def(
      "conv_transpose_output_shape",
      [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape, py::handle strides,
         py::handle pads, py::handle dilations, int64_t group, py::handle output_padding, int64_t bias_len) {
        PYINFER_CHECK(x_shape.size() >= 3, "conv_transpose: x must have rank >= 3 ([N, C, spatial...]), got shape "
                                               << bind::shape_str(x_shape));
        const size_t nd = x_shape.size() - 2;
        return make_conv_transpose_geometry(
                   x_shape, w_shape, bias_len, list_or_default(strides, "conv_transpose: strides", nd, 1),
                   list_or_default(pads, "conv_transpose: pads", 2 * nd, 0),
                   list_or_default(dilations, "conv_transpose: dilations", nd, 1), group,
                   list_or_default(output_padding, "conv_transpose: output_padding", nd, 0))
            .y_shape;
      },
      py::arg("x_shape"), py::arg("w_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("group") = 1, py::arg("output_padding") = py::none(),
      py::arg("bias_len") = -1,
      "Output shape conv_transpose() would return (bias_len -1: no bias); raises KernelArgumentError\n"
      "exactly where conv_transpose() would.");

  const char* torch_doc = R"doc(PyTorch-style convolution over %s spatial dimension(s) (float32).

Like torch.nn.functional.conv%sd: x [N, C, ...], w [M, C/groups, ...], bias [M] or None;
stride, padding (symmetric, both sides), dilation: an int or one int per spatial dimension.
Raises KernelArgumentError on inconsistent shapes or parameters.)doc";
  for (size_t nd = 1; nd <= 3; ++nd) {
    std::string doc = torch_doc;
    for (int i = 0; i < 2; ++i) doc.replace(doc.find("%s"), 2, std::to_string(nd));
    const std::string name = "conv" + std::to_string(nd) + "d";
    m.def(
        name.c_str(),
        [nd](py::handle x, py::handle w, py::handle b, py::handle stride, py::handle padding, py::handle dilation,
             int64_t groups, int num_threads) {
          return torch_style_conv(nd, x, w, b, stride, padding, dilation, groups, num_threads);
        },
        py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("stride") = 1, py::arg("padding") = 0,
        py::arg("dilation") = 1, py::arg("groups") = 1, py::arg("num_threads") = 0, doc.c_str());
  }
}

}  // namespace pyinfer
