// Python bindings of the convolution kernels: ONNX-style conv / conv_transpose and the
// PyTorch-style conv1d / conv2d / conv3d conveniences.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "common/cpu_features.h"
#include "capi/pyinfer_capi.h"
#include "conv/conv.h"
#include "gemm/bind_epilogue.h"

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

// pyinfer.kernels.ConvWeights: conv weights packed once (see PackedConvWeights).
struct PyConvWeights {
  std::shared_ptr<const PackedConvWeights> w;
  std::string isa;
};

struct ConvArrays {
  bind::FloatArray x, w, b;
  bool has_bias = false;
  const PyConvWeights* packed = nullptr;  // set instead of w
  std::vector<int64_t> w_shape;
};

ConvArrays load_arrays(const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                       const char* op, bool allow_packed = false) {
  ConvArrays a;
  std::string name = op;
  a.x = bind::float_array(x_obj, (name + ": x").c_str(), 3, 32);
  if (allow_packed && py::isinstance<PyConvWeights>(w_obj)) {
    a.packed = w_obj.cast<const PyConvWeights*>();
    a.w_shape = a.packed->w->w_shape;
  } else {
    a.w = bind::float_array(w_obj, (name + ": w").c_str(), 1, 32);
    a.w_shape = bind::shape_of(a.w);
  }
  if (!b_obj.is_none()) {
    a.b = bind::float_array(b_obj, (name + ": bias").c_str(), 1, 1);
    a.has_bias = true;
  }
  return a;
}

// The fused-epilogue keyword arguments of conv.
struct ConvEpilogueArgs {
  py::object residual = py::none();
  std::string activation = "none";
  py::object alpha = py::none(), beta = py::none(), clip_min = py::none(), clip_max = py::none();
};

py::array run_conv(const ConvArrays& a, const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                   const std::vector<int64_t>& dilations, int64_t group, int num_threads,
                   const ConvEpilogueArgs& ea = ConvEpilogueArgs()) {
  ConvGeometry g = make_conv_geometry(bind::shape_of(a.x), a.w_shape, a.has_bias ? a.b.shape(0) : -1,
                                      strides, pads, dilations, group);
  if (a.packed)
    PYINFER_CHECK(a.packed->w->group == group,
                  "conv: the ConvWeights were packed for group " << a.packed->w->group << ", not " << group);
  Epilogue parsed;
  bind::parse_activation("conv", ea.activation, ea.alpha, ea.beta, ea.clip_min, ea.clip_max, parsed);
  ConvEpilogue ep;
  ep.act = parsed.act;
  ep.alpha = parsed.alpha, ep.beta = parsed.beta, ep.lo = parsed.lo, ep.hi = parsed.hi;
  bind::FloatArray residual;
  if (!ea.residual.is_none()) {
    residual = bind::float_array(ea.residual, "conv: residual", 1, 32);
    PYINFER_CHECK(bind::shape_of(residual) == g.y_shape,
                  "conv: residual must have the output's shape " << bind::shape_str(g.y_shape) << ", got "
                                                                 << bind::shape_str(bind::shape_of(residual)));
    ep.residual = residual.data();
  }
  auto y = bind::new_float_array(g.y_shape);
  const float* bp = a.has_bias ? a.b.data() : nullptr;
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    conv_forward(g, a.x.data(), a.packed ? nullptr : a.w.data(), bp, yp, num_threads,
                 a.packed ? a.packed->w.get() : nullptr, &ep);
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
  py::class_<PyConvWeights>(m, "ConvWeights", R"doc(ConvWeights(w, group=1, num_threads=0)

Convolution weights [M, C/group, K1..Kk] (float32) prepared once for conv(x, weights, ...):
each group's [M/group, C/group*K1*..*Kk] matrix packed into the GEMM micro-kernel's panel
layout (2-D depthwise weights, C/group == 1, are kept as they are for the direct kernel).
The packed copy does not refer to w. Its layout belongs to the SIMD tier active when it was
made; convolutions with it run that tier's GEMM kernels.)doc")
      .def(py::init([](py::handle w_obj, int64_t group, int num_threads) {
             auto w = bind::float_array(w_obj, "ConvWeights: w", 3, 18);
             const std::vector<int64_t> shape = bind::shape_of(w);
             PyConvWeights p;
             p.isa = isa_name(active_isa());
             py::gil_scoped_release nogil;
             p.w = std::make_shared<PackedConvWeights>(pack_conv_weights(shape, w.data(), group, num_threads));
             return p;
           }),
           py::arg("w"), py::arg("group") = 1, py::arg("num_threads") = 0)
      .def_property_readonly("shape", [](const PyConvWeights& p) { return p.w->w_shape; },
                             "Shape of the original weights.")
      .def_property_readonly("group", [](const PyConvWeights& p) { return p.w->group; })
      .def_property_readonly("isa", [](const PyConvWeights& p) { return p.isa; })
      .def_property_readonly(
          "_capsule",
          [](const PyConvWeights& p) {
            return py::capsule(static_cast<const void*>(p.w.get()), PYINFER_CONV_WEIGHTS_CAPSULE);
          },
          "The packed weights for pyinfer._runtime (valid while this object lives).")
      .def_property_readonly("nbytes", [](const PyConvWeights& p) { return packed_conv_weight_bytes(*p.w); },
                             "Bytes the packed weights hold now (one layout per layer, two for a "
                             "layer whose calls alternate between the direct kernels).");

  m.def(
      "conv",
      [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle strides, py::handle pads,
         py::handle dilations, int64_t group, int num_threads, py::object residual, std::string activation,
         py::object act_alpha, py::object act_beta, py::object clip_min, py::object clip_max) {
        ConvArrays a = load_arrays(x_obj, w_obj, b_obj, "conv", true);
        const size_t nd = spatial_rank_of(a.x, "conv");
        ConvEpilogueArgs ea;
        ea.residual = std::move(residual);
        ea.activation = std::move(activation);
        ea.alpha = std::move(act_alpha), ea.beta = std::move(act_beta);
        ea.clip_min = std::move(clip_min), ea.clip_max = std::move(clip_max);
        return run_conv(a, list_or_default(strides, "conv: strides", nd, 1),
                        list_or_default(pads, "conv: pads", 2 * nd, 0),
                        list_or_default(dilations, "conv: dilations", nd, 1), group, num_threads, ea);
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("group") = 1,
      py::arg("num_threads") = 0, py::kw_only(), py::arg("residual") = py::none(),
      py::arg("activation") = "none", py::arg("activation_alpha") = py::none(),
      py::arg("activation_beta") = py::none(), py::arg("clip_min") = py::none(),
      py::arg("clip_max") = py::none(),
      R"doc(N-d convolution with ONNX Conv semantics (float32), with an optional fused epilogue.

x: [N, C, D1..Dk]; w: [M, C/group, K1..Kk] float32, or a ConvWeights made from such weights
with the same group; bias: [M] or None.
strides, dilations: k ints (or one int for all; None = 1).
pads: 2k ints [begin_1..begin_k, end_1..end_k] (or one int; None = 0).
group: channel groups (group == C == M is a depthwise convolution).
Returns y: [N, M, O1..Ok] with O = (D + begin + end - ((K - 1) * dilation + 1)) // stride + 1.
Keyword-only epilogue, applied while each output tile is in cache:
  y = act(conv(x, w) + bias + residual)
residual: float32 of exactly y's shape, or None; activation: none, relu, relu6, clip,
leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish, gelu (erf form), gelu_tanh;
activation_alpha: leaky_relu slope (0.01) or hard_sigmoid alpha (0.2); activation_beta:
hard_sigmoid beta (0.5); clip_min / clip_max: clip bounds (-inf / +inf).
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

  m.def(
      "_set_conv_direct_mode", [](int mode) { set_conv_direct_mode(mode); }, py::arg("mode"),
      R"doc(_set_conv_direct_mode(mode) -> None
Testing / benchmarking switch (process-wide) for conv's direct kernels and Winograd: 0 =
pick by the measured rules (the default), 1 = positions-as-vectors kernel, 3 = output-
channels-as-vectors kernel (both wherever a direct kernel applies), 2 = never (im2col + GEMM),
4 = Winograd F(4x4, 3x3) wherever it applies (3x3, stride 1, dilation 1, one group; else as
0), 5 = as 0 without Winograd. The direct paths agree within float rounding; Winograd's error
is a few times larger (bounded by ~1e-5 of sum |x| |w| per output).)doc");

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
