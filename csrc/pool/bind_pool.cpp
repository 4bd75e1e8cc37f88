// Python bindings of the pooling family (public API: pyinfer.kernels.*pool*).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "pool/pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// None -> `fill` repeated; an int -> repeated; a sequence -> exactly `count` values.
std::vector<int64_t> list_or(const py::handle& obj, const char* what, size_t count, int64_t fill) {
  if (obj.is_none()) return std::vector<int64_t>(count, fill);
  return bind::int_list(obj, what, count);
}

struct Prepared {
  bind::FloatArray x;
  std::vector<int64_t> x_shape;
  PoolGeom geom;
};

Prepared prepare(const char* op, py::handle x_obj, py::handle kernel, py::handle strides, py::handle pads,
                 py::handle dilations, bool ceil_mode) {
  std::string what = std::string(op) + ": x";
  Prepared p{bind::float_array(x_obj, what.c_str(), 3, 5), {}, {}};
  p.x_shape = bind::shape_of(p.x);
  const size_t r = p.x_shape.size() - 2;
  p.geom = make_pool_geom(op, p.x_shape, bind::int_list(kernel, "kernel_shape", r), list_or(strides, "strides", r, 1),
                          list_or(pads, "pads", 2 * r, 0), list_or(dilations, "dilations", r, 1), ceil_mode);
  return p;
}

bind::FloatArray run_pool(PoolKind kind, const Prepared& p, int num_threads) {
  auto y = bind::new_float_array(pool_output_shape(p.x_shape, p.geom));
  const float* xp = p.x.data();
  float* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  pool_forward(kind, p.geom, xp, yp, num_threads);
  return y;
}

bind::FloatArray run_lp(const Prepared& p, float pw, int num_threads) {
  PYINFER_CHECK(pw > 0 && std::isfinite(pw), "lp_pool: p must be a positive number, got " << pw);
  auto y = bind::new_float_array(pool_output_shape(p.x_shape, p.geom));
  const float* xp = p.x.data();
  float* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  lp_pool_forward(p.geom, pw, xp, yp, num_threads);
  return y;
}

py::object run_max(const Prepared& p, int storage_order, bool return_indices, int num_threads) {
  PYINFER_CHECK(storage_order == 0 || storage_order == 1,
                "max_pool: storage_order must be 0 (row-major) or 1 (column-major), got " << storage_order);
  const auto shape = pool_output_shape(p.x_shape, p.geom);
  auto y = bind::new_float_array(shape);
  const float* xp = p.x.data();
  float* yp = y.mutable_data();
  if (!return_indices) {
    py::gil_scoped_release nogil;
    pool_forward(PoolKind::Max, p.geom, xp, yp, num_threads);
    return std::move(y);
  }
  py::array_t<int64_t, py::array::c_style> idx(std::vector<py::ssize_t>(shape.begin(), shape.end()));
  int64_t* ip = idx.mutable_data();
  {
    py::gil_scoped_release nogil;
    max_pool_indices(p.geom, xp, yp, ip, storage_order == 1, num_threads);
  }
  return py::make_tuple(y, idx);
}

// PyTorch-style 2-D arguments: (N, C, H, W) or (C, H, W); ints or pairs; symmetric padding.
struct Torch2d {
  py::object x4;  // the input viewed as 4-D
  bool batched;
  std::vector<int64_t> kernel, strides, pads, dilations;
};

Torch2d torch2d(const char* op, py::handle x_obj, py::handle kernel_size, py::handle stride, py::handle padding,
                py::handle dilation) {
  std::string what = std::string(op) + ": x";
  auto x = bind::float_array(x_obj, what.c_str(), 3, 4);
  Torch2d t;
  t.batched = x.ndim() == 4;
  t.x4 = t.batched ? py::object(x) : py::object(x.attr("reshape")(py::make_tuple(1, x.shape(0), x.shape(1), x.shape(2))));
  t.kernel = bind::int_list(kernel_size, "kernel_size", 2);
  t.strides = stride.is_none() ? t.kernel : bind::int_list(stride, "stride", 2);
  auto pad = bind::int_list(padding, "padding", 2);
  t.pads = {pad[0], pad[1], pad[0], pad[1]};
  t.dilations = bind::int_list(dilation, "dilation", 2);
  return t;
}

py::object unbatch(const Torch2d& t, py::object y) {
  if (t.batched) return y;
  py::array a = y;
  return a.attr("reshape")(py::make_tuple(a.shape(1), a.shape(2), a.shape(3)));
}

py::object list_of(const std::vector<int64_t>& v) { return py::cast(v); }

const char* kWindowDoc =
    "x: float32 (N, C, D1[, D2[, D3]]); kernel_shape: one int per spatial axis; strides, dilations: "
    "ints per axis (None = 1); pads: [begin..., end...] (ONNX order, None = 0) or one int for all; "
    "ceil_mode: round the output size up (a window starting in the right padding is dropped). "
    "Output size per axis: floor or ceil((in + pads - ((k - 1) * d + 1)) / s) + 1.";

}  // namespace

void bind_pool(py::module_& m) {
  m.def(
      "pool_output_shape",
      [](py::handle input_shape, py::handle kernel_shape, py::handle strides, py::handle pads, py::handle dilations,
         bool ceil_mode) {
        std::vector<int64_t> xs;
        for (auto v : input_shape) xs.push_back(v.cast<int64_t>());
        PYINFER_CHECK(xs.size() >= 3 && xs.size() <= 5,
                      "pool_output_shape: input_shape must be (N, C, spatial...) with 1 to 3 spatial axes");
        const size_t r = xs.size() - 2;
        auto g = make_pool_geom("pool_output_shape", xs, bind::int_list(kernel_shape, "kernel_shape", r),
                                list_or(strides, "strides", r, 1), list_or(pads, "pads", 2 * r, 0),
                                list_or(dilations, "dilations", r, 1), ceil_mode);
        return py::tuple(list_of(pool_output_shape(xs, g)));
      },
      py::arg("input_shape"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false,
      "Output shape (N, C, out...) of a windowed pool: the single output-size rule every pool uses "
      "(raises KernelArgumentError on bad parameters or an empty output).");

  m.def(
      "max_pool",
      [](py::handle x, py::handle kernel_shape, py::handle strides, py::handle pads, py::handle dilations,
         bool ceil_mode, int storage_order, bool return_indices, int num_threads) {
        auto p = prepare("max_pool", x, kernel_shape, strides, pads, dilations, ceil_mode);
        return run_max(p, storage_order, return_indices, num_threads);
      },
      py::arg("x"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false, py::arg("storage_order") = 0,
      py::arg("return_indices") = false, py::arg("num_threads") = 0,
      (std::string("max_pool(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, "
                   "storage_order=0, return_indices=False, num_threads=0) -> y or (y, indices)\n"
                   "ONNX MaxPool. Padding never wins; a NaN in a window gives NaN (like numpy.max). "
                   "indices (int64, same shape as y) is the flattened index into x of the first maximum "
                   "(N and C offsets included), the spatial part row-major (storage_order=0) or column-major "
                   "(storage_order=1); a window with no input tap gives -inf and index -1.\n") + kWindowDoc)
          .c_str());

  m.def(
      "avg_pool",
      [](py::handle x, py::handle kernel_shape, py::handle strides, py::handle pads, py::handle dilations,
         bool ceil_mode, bool count_include_pad, int num_threads) {
        auto p = prepare("avg_pool", x, kernel_shape, strides, pads, dilations, ceil_mode);
        return run_pool(count_include_pad ? PoolKind::AvgIncludePad : PoolKind::AvgExcludePad, p, num_threads);
      },
      py::arg("x"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false, py::arg("count_include_pad") = false,
      py::arg("num_threads") = 0,
      (std::string("avg_pool(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, "
                   "count_include_pad=False, num_threads=0) -> y\n"
                   "ONNX AveragePool: the mean of the window's taps inside x; with count_include_pad the "
                   "divisor also counts taps in the pads (not those past the end pad that a ceil_mode "
                   "window reaches).\n") + kWindowDoc)
          .c_str());

  m.def(
      "sum_pool",
      [](py::handle x, py::handle kernel_shape, py::handle strides, py::handle pads, py::handle dilations,
         bool ceil_mode, int num_threads) {
        auto p = prepare("sum_pool", x, kernel_shape, strides, pads, dilations, ceil_mode);
        return run_pool(PoolKind::Sum, p, num_threads);
      },
      py::arg("x"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false, py::arg("num_threads") = 0,
      (std::string("sum_pool(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, "
                   "num_threads=0) -> y\nThe unnormalised sum of each window (padding adds 0).\n") + kWindowDoc)
          .c_str());

  m.def(
      "lp_pool",
      [](py::handle x, py::handle kernel_shape, py::handle strides, py::handle pads, py::handle dilations,
         bool ceil_mode, float pw, int num_threads) {
        auto p = prepare("lp_pool", x, kernel_shape, strides, pads, dilations, ceil_mode);
        return run_lp(p, pw, num_threads);
      },
      py::arg("x"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false, py::arg("p") = 2.0f,
      py::arg("num_threads") = 0,
      (std::string("lp_pool(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, p=2.0, "
                   "num_threads=0) -> y\nONNX LpPool: (sum over the window of |x|^p)^(1/p), p > 0.\n") +
       kWindowDoc)
          .c_str());

  auto global = [](const char* op, GlobalKind kind, py::handle x_obj, float pw, int num_threads) {
    std::string what = std::string(op) + ": x";
    auto x = bind::float_array(x_obj, what.c_str(), 2, 32);
    auto xs = bind::shape_of(x);
    int64_t plane = 1;
    for (size_t i = 2; i < xs.size(); ++i) plane *= xs[i];
    std::vector<int64_t> ys(xs.size(), 1);
    ys[0] = xs[0];
    ys[1] = xs[1];
    auto y = bind::new_float_array(ys);
    const float* xp = x.data();
    float* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    global_pool(kind, xs[0] * xs[1], plane, pw, xp, yp, num_threads);
    return y;
  };
  m.def(
      "global_avg_pool",
      [global](py::handle x, int num_threads) { return global("global_avg_pool", GlobalKind::Avg, x, 1.f, num_threads); },
      py::arg("x"), py::arg("num_threads") = 0,
      "global_avg_pool(x, num_threads=0) -> y: mean over all spatial axes of (N, C, ...); y is (N, C, 1, ...).");
  m.def(
      "global_max_pool",
      [global](py::handle x, int num_threads) { return global("global_max_pool", GlobalKind::Max, x, 1.f, num_threads); },
      py::arg("x"), py::arg("num_threads") = 0,
      "global_max_pool(x, num_threads=0) -> y: max over all spatial axes of (N, C, ...) (NaN propagates); "
      "y is (N, C, 1, ...).");
  m.def(
      "global_lp_pool",
      [global](py::handle x, float p, int num_threads) {
        PYINFER_CHECK(p > 0 && std::isfinite(p), "global_lp_pool: p must be a positive number, got " << p);
        return global("global_lp_pool", GlobalKind::Lp, x, p, num_threads);
      },
      py::arg("x"), py::arg("p") = 2.0f, py::arg("num_threads") = 0,
      "global_lp_pool(x, p=2.0, num_threads=0) -> y: (sum over all spatial axes of |x|^p)^(1/p); y is (N, C, 1, ...).");

  // PyTorch-style 2-D conveniences.
  m.def(
      "max_pool2d",
      [](py::handle x, py::handle kernel_size, py::handle stride, py::handle padding, py::handle dilation,
         bool ceil_mode, int num_threads) {
        auto t = torch2d("max_pool2d", x, kernel_size, stride, padding, dilation);
        auto p = prepare("max_pool2d", t.x4, list_of(t.kernel), list_of(t.strides), list_of(t.pads),
                         list_of(t.dilations), ceil_mode);
        return unbatch(t, run_max(p, 0, false, num_threads));
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("dilation") = 1, py::arg("ceil_mode") = false, py::arg("num_threads") = 0,
      "max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, num_threads=0) -> y\n"
      "Like torch.nn.functional.max_pool2d: x is (N, C, H, W) or (C, H, W); kernel_size, stride (default "
      "kernel_size), padding (both sides) and dilation are ints or (h, w) pairs.");
  m.def(
      "avg_pool2d",
      [](py::handle x, py::handle kernel_size, py::handle stride, py::handle padding, bool ceil_mode,
         bool count_include_pad, int num_threads) {
        auto t = torch2d("avg_pool2d", x, kernel_size, stride, padding, py::int_(1));
        auto p = prepare("avg_pool2d", t.x4, list_of(t.kernel), list_of(t.strides), list_of(t.pads),
                         list_of(t.dilations), ceil_mode);
        return unbatch(t, run_pool(count_include_pad ? PoolKind::AvgIncludePad : PoolKind::AvgExcludePad, p,
                                   num_threads));
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("ceil_mode") = false, py::arg("count_include_pad") = true, py::arg("num_threads") = 0,
      "avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, "
      "num_threads=0) -> y\nLike torch.nn.functional.avg_pool2d (x is (N, C, H, W) or (C, H, W)).");
  m.def(
      "sum_pool2d",
      [](py::handle x, py::handle kernel_size, py::handle stride, py::handle padding, int num_threads) {
        auto t = torch2d("sum_pool2d", x, kernel_size, stride, padding, py::int_(1));
        auto p = prepare("sum_pool2d", t.x4, list_of(t.kernel), list_of(t.strides), list_of(t.pads),
                         list_of(t.dilations), false);
        return unbatch(t, run_pool(PoolKind::Sum, p, num_threads));
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("num_threads") = 0,
      "sum_pool2d(x, kernel_size, stride=None, padding=0, num_threads=0) -> y\n"
      "The sum of each kernel_size window (stride defaults to kernel_size; zero padding on both sides).");
  m.def(
      "lp_pool2d",
      [](py::handle x, float pw, py::handle kernel_size, py::handle stride, bool ceil_mode, int num_threads) {
        auto t = torch2d("lp_pool2d", x, kernel_size, stride, py::int_(0), py::int_(1));
        auto p = prepare("lp_pool2d", t.x4, list_of(t.kernel), list_of(t.strides), list_of(t.pads),
                         list_of(t.dilations), ceil_mode);
        return unbatch(t, run_lp(p, pw, num_threads));
      },
      py::arg("x"), py::arg("p"), py::arg("kernel_size"), py::arg("stride") = py::none(),
      py::arg("ceil_mode") = false, py::arg("num_threads") = 0,
      "lp_pool2d(x, p, kernel_size, stride=None, ceil_mode=False, num_threads=0) -> y\n"
      "(sum of |x|^p over each window)^(1/p), like torch.nn.functional.lp_pool2d for non-negative x "
      "(PyTorch raises x to the p-th power without abs).");
}

}  // namespace pyinfer
