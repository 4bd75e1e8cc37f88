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
#include "bindings/prepared.h"
#include "conv/conv.h"
#include "gemm/bind_epilogue.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

std::vector<int64_t> list_or_default(const py::handle& obj, const char* what, size_t count, int64_t dflt) {
  if (obj.is_none()) return std::vector<int64_t>(count, dflt);
  return bind::int_list(obj, what, count);
}

// pyinfer.kernels.ConvWeights: conv weights packed once (see PackedConvWeights).
struct PyConvWeights {
  std::shared_ptr<const PackedConvWeights> w;
  std::string isa;
};

// The fused-epilogue keyword arguments (gemm/bind_epilogue.h), shared by conv and prepare_conv.
#define PYINFER_CONV_EPILOGUE_ARGS                                                               \
  py::arg("activation") = "none", py::arg("activation_alpha") = py::none(),                      \
      py::arg("activation_beta") = py::none(), py::arg("clip_min") = py::none(),                 \
      py::arg("clip_max") = py::none()

// w: an array's shape, or a ConvWeights (its shape and packed layouts).
PreparedPtr conv_kernel(const std::vector<int64_t>& x_shape, const py::handle& w, int64_t bias_len,
                        const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                        const std::vector<int64_t>& dilations, int64_t group, bool residual, const ActParams& act) {
  ConvParams p;
  std::shared_ptr<const PackedConvWeights> packed;
  if (py::isinstance<PyConvWeights>(w)) {
    packed = w.cast<const PyConvWeights&>().w;
    p.w_shape = packed->w_shape();
  } else {
    p.w_shape = w.cast<std::vector<int64_t>>();
  }
  p.x_shape = x_shape, p.bias_len = bias_len, p.strides = strides, p.pads = pads, p.dilations = dilations;
  p.group = group, p.has_residual = residual, p.act = act;
  py::gil_scoped_release nogil;  // choosing may make a layout of the packed weights
  return prepare_conv(p, std::move(packed));
}

py::object run_conv(py::handle x_obj, py::handle w_obj, py::handle b_obj, const std::vector<int64_t>& strides,
                    const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations, int64_t group,
                    int num_threads, const py::object& residual, const ActParams& act, const char* op) {
  const std::string name = op;
  auto x = bind::float_array(x_obj, (name + ": x").c_str(), 3, 32);
  const bool packed = py::isinstance<PyConvWeights>(w_obj);
  py::object w = packed ? py::reinterpret_borrow<py::object>(w_obj)
                        : py::object(bind::float_array(w_obj, (name + ": w").c_str(), 1, 32));
  py::object b = py::none();
  if (!b_obj.is_none()) b = bind::float_array(b_obj, (name + ": bias").c_str(), 1, 1);
  const int64_t bias_len = b.is_none() ? -1 : b.cast<py::array>().shape(0);
  auto k = conv_kernel(bind::shape_of(x), packed ? w : py::cast(bind::shape_of(w.cast<py::array>())), bias_len,
                       strides, pads, dilations, group, !residual.is_none(), act);
  return bind::call(*k, {x, packed ? py::none() : w, b, residual}, num_threads);
}

// PyTorch-style conv{1,2,3}d: symmetric padding, groups.
py::object torch_style_conv(size_t nd, const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                            const py::handle& stride, const py::handle& padding, const py::handle& dilation,
                            int64_t groups, int num_threads) {
  const std::string op = "conv" + std::to_string(nd) + "d";
  auto x = bind::float_array(x_obj, (op + ": x").c_str(), 3, 32);
  PYINFER_CHECK(static_cast<size_t>(x.ndim()) == nd + 2,
                op << ": x must have rank " << nd + 2 << " ([N, C, " << nd << " spatial dims]), got shape "
                   << bind::shape_str(bind::shape_of(x)));
  auto strides = bind::int_list(stride, (op + ": stride").c_str(), nd);
  auto pad = bind::int_list(padding, (op + ": padding").c_str(), nd);
  auto dilations = bind::int_list(dilation, (op + ": dilation").c_str(), nd);
  std::vector<int64_t> pads(pad);
  pads.insert(pads.end(), pad.begin(), pad.end());
  return run_conv(x, w_obj, b_obj, strides, pads, dilations, groups, num_threads, py::none(), ActParams(),
                  op.c_str());
}

ConvAlgorithmChoice parse_choice(const std::string& name) {
  if (name == "auto") return ConvAlgorithmChoice::Auto;
  if (name == "direct_positions") return ConvAlgorithmChoice::DirectPositions;
  if (name == "direct_channels") return ConvAlgorithmChoice::DirectChannels;
  if (name == "im2col") return ConvAlgorithmChoice::Im2col;
  if (name == "winograd") return ConvAlgorithmChoice::Winograd;
  if (name == "no_winograd") return ConvAlgorithmChoice::NoWinograd;
  if (name == "tap_gemm") return ConvAlgorithmChoice::TapGemm;
  if (name == "depthwise_flat") return ConvAlgorithmChoice::DepthwiseFlat;
  if (name == "depthwise_lanes") return ConvAlgorithmChoice::DepthwiseLanes;
  PYINFER_CHECK(false, "conv algorithm must be one of auto, direct_positions, direct_channels, im2col, winograd, "
                       "no_winograd, tap_gemm, depthwise_flat, depthwise_lanes, got '" << name << "'");
  return ConvAlgorithmChoice::Auto;
}

}  // namespace

PYINFER_BINDINGS(conv, 10) {
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
             p.w = std::make_shared<const PackedConvWeights>(shape, w.data(), group, num_threads);
             return p;
           }),
           py::arg("w"), py::arg("group") = 1, py::arg("num_threads") = 0)
      .def_property_readonly("shape", [](const PyConvWeights& p) { return p.w->w_shape(); },
                             "Shape of the original weights.")
      .def_property_readonly("group", [](const PyConvWeights& p) { return p.w->group(); })
      .def_property_readonly("isa", [](const PyConvWeights& p) { return p.isa; })
      .def_property_readonly("nbytes", [](const PyConvWeights& p) { return p.w->bytes(); },
                             "Bytes the packed weights hold now: the layouts the algorithms of the "
                             "kernels prepared with them read (usually one; conv.h).");

  m.def(
      "prepare_conv",
      [](const std::vector<int64_t>& x_shape, py::handle w, int64_t bias_len, py::handle strides, py::handle pads,
         py::handle dilations, int64_t group, bool residual, py::handle activation, py::object act_alpha,
         py::object act_beta, py::object clip_min, py::object clip_max) {
        PYINFER_CHECK(x_shape.size() >= 3, "conv: x must have rank >= 3 ([N, C, spatial...]), got shape "
                                               << bind::shape_str(x_shape));
        const size_t nd = x_shape.size() - 2;
        const ActParams act = bind::parse_activation("conv", activation, act_alpha, act_beta, clip_min, clip_max);
        return conv_kernel(x_shape, w, bias_len, list_or_default(strides, "conv: strides", nd, 1),
                           list_or_default(pads, "conv: pads", 2 * nd, 0),
                           list_or_default(dilations, "conv: dilations", nd, 1), group, residual, act);
      },
      py::arg("x_shape"), py::arg("w"), py::arg("bias_len") = -1, py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("group") = 1, py::kw_only(),
      py::arg("residual") = false, PYINFER_CONV_EPILOGUE_ARGS,
      R"doc(prepare_conv(x_shape, w, bias_len=-1, strides=None, pads=None, dilations=None, group=1, *,
             residual=False, activation='none', ...) -> PreparedKernel

conv() prepared for these shapes: w is the weights' shape, or a ConvWeights (whose packed
layout the kernel then reads); bias_len -1: no bias. The kernel's .algorithm says which
algorithm it chose (depthwise, direct_positions, direct_channels, winograd, im2col_packed,
im2col_gemm, tap_gemm; a 3-D convolution with ConvWeights: frames(<the 2-D algorithm of each
frame>)). It takes (x, w, bias, residual), None for the unused ones.)doc");
  m.def(
      "prepare_conv_transpose",
      [](const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape, int64_t bias_len,
         py::handle strides, py::handle pads, py::handle dilations, int64_t group, py::handle output_padding) {
        PYINFER_CHECK(x_shape.size() >= 3, "conv_transpose: x must have rank >= 3 ([N, C, spatial...]), got shape "
                                               << bind::shape_str(x_shape));
        const size_t nd = x_shape.size() - 2;
        ConvTransposeParams p;
        p.x_shape = x_shape, p.w_shape = w_shape, p.bias_len = bias_len, p.group = group;
        p.strides = list_or_default(strides, "conv_transpose: strides", nd, 1);
        p.pads = list_or_default(pads, "conv_transpose: pads", 2 * nd, 0);
        p.dilations = list_or_default(dilations, "conv_transpose: dilations", nd, 1);
        p.output_padding = list_or_default(output_padding, "conv_transpose: output_padding", nd, 0);
        return prepare_conv_transpose(p);
      },
      py::arg("x_shape"), py::arg("w_shape"), py::arg("bias_len") = -1, py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("group") = 1,
      py::arg("output_padding") = py::none(),
      "conv_transpose() prepared for these shapes; the kernel takes (x, w, bias).");

  m.def(
      "conv",
      [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle strides, py::handle pads,
         py::handle dilations, int64_t group, int num_threads, py::object residual, py::handle activation,
         py::object act_alpha, py::object act_beta, py::object clip_min, py::object clip_max) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "conv: x: expected a numpy.ndarray, got "
                                                            << Py_TYPE(x_obj.ptr())->tp_name);
        const int64_t rank = py::reinterpret_borrow<py::array>(x_obj).ndim();
        PYINFER_CHECK(rank >= 3, "conv: x must have rank >= 3 ([N, C, spatial...]), got shape "
                                     << bind::shape_str(bind::shape_of(py::reinterpret_borrow<py::array>(x_obj))));
        const size_t nd = static_cast<size_t>(rank - 2);
        const ActParams act = bind::parse_activation("conv", activation, act_alpha, act_beta, clip_min, clip_max);
        return run_conv(x_obj, w_obj, b_obj, list_or_default(strides, "conv: strides", nd, 1),
                        list_or_default(pads, "conv: pads", 2 * nd, 0),
                        list_or_default(dilations, "conv: dilations", nd, 1), group, num_threads, residual, act,
                        "conv");
      },
      py::arg("x"), py::arg("w"), py::arg("bias") = py::none(), py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("group") = 1,
      py::arg("num_threads") = 0, py::kw_only(), py::arg("residual") = py::none(), PYINFER_CONV_EPILOGUE_ARGS,
      R"doc(N-d convolution with ONNX Conv semantics (float32), with an optional fused epilogue.

x: [N, C, D1..Dk]; w: [M, C/group, K1..Kk] float32, or a ConvWeights made from such weights
with the same group; bias: [M] or None.
strides, dilations: k ints (or one int for all; None = 1).
pads: 2k ints [begin_1..begin_k, end_1..end_k] (or one int; None = 0).
group: channel groups (group == C == M is a depthwise convolution).
Returns y: [N, M, O1..Ok] with O = (D + begin + end - ((K - 1) * dilation + 1)) // stride + 1.
Keyword-only epilogue, applied while each output tile is in cache:
  y = act(conv(x, w) + bias + residual)
residual: float32 of exactly y's shape, or None; activation: a pyinfer.kernels.Activation or
its name: none, relu, relu6, clip, leaky_relu, sigmoid, tanh, hard_sigmoid, hard_swish, gelu
(erf form), gelu_tanh, silu;
activation_alpha: leaky_relu slope (0.01) or hard_sigmoid alpha (0.2); activation_beta:
hard_sigmoid beta (0.5); clip_min / clip_max: clip bounds (-inf / +inf).
Raises KernelArgumentError on inconsistent shapes or parameters, or an empty output.)doc");

  m.def(
      "conv_transpose",
      [](py::handle x_obj, py::handle w_obj, py::handle b_obj, py::handle strides, py::handle pads,
         py::handle dilations, int64_t group, py::handle output_padding, int num_threads) {
        auto x = bind::float_array(x_obj, "conv_transpose: x", 3, 32);
        auto w = bind::float_array(w_obj, "conv_transpose: w", 1, 32);
        py::object b = py::none();
        if (!b_obj.is_none()) b = bind::float_array(b_obj, "conv_transpose: bias", 1, 1);
        const size_t nd = static_cast<size_t>(x.ndim() - 2);
        ConvTransposeParams p;
        p.x_shape = bind::shape_of(x), p.w_shape = bind::shape_of(w), p.group = group;
        p.bias_len = b.is_none() ? -1 : b.cast<py::array>().shape(0);
        p.strides = list_or_default(strides, "conv_transpose: strides", nd, 1);
        p.pads = list_or_default(pads, "conv_transpose: pads", 2 * nd, 0);
        p.dilations = list_or_default(dilations, "conv_transpose: dilations", nd, 1);
        p.output_padding = list_or_default(output_padding, "conv_transpose: output_padding", nd, 0);
        return bind::call(*prepare_conv_transpose(p), {x, w, b}, num_threads);
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
      "_set_conv_algorithm", [](const std::string& name) { set_conv_algorithm_choice(parse_choice(name)); },
      py::arg("name"),
      R"doc(_set_conv_algorithm(name) -> None
Testing / benchmarking switch (process-wide, read when a conv kernel is prepared): which
algorithm conv takes where several apply. 'auto' (the measured rules, the default),
'direct_positions' / 'direct_channels' (that direct kernel wherever a direct kernel applies),
'im2col' (never a direct kernel), 'winograd' (Winograd F(4x4, 3x3) wherever it applies: 3x3,
stride 1, dilation 1, one group; else as auto), 'no_winograd' (auto without Winograd),
'tap_gemm' (one GEMM per kernel tap wherever that applies: 1-D / 2-D, not depthwise),
'depthwise_flat' / 'depthwise_lanes' (depthwise layers on that kernel wherever it applies,
read when they run; auto times the two once per 3x3 shape). The
direct paths agree within float rounding; Winograd's error is a few times larger (bounded by
~1e-5 of sum |x| |w| per output). Kernels prepared earlier (sessions' plans) keep theirs.)doc");

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
