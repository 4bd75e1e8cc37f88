// Python bindings of the pooling family (public API: pyinfer.kernels.*pool*).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "bindings/prepared.h"
#include "pool/pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// None -> `fill` repeated; an int -> repeated; a sequence -> exactly `count` values.
std::vector<int64_t> list_or(const py::handle& obj, const char* what, size_t count, int64_t fill) {
  if (obj.is_none()) return std::vector<int64_t>(count, fill);
  return bind::int_list(obj, what, count);
}

// The geometry arguments of a windowed pool on x (rank 3..5), parsed against x's rank.
struct Window {
  bind::FloatArray x;
  std::vector<int64_t> kernel, strides, pads, dilations;
};

Window window(const char* op, py::handle x_obj, py::handle kernel, py::handle strides, py::handle pads,
              py::handle dilations) {
  std::string what = std::string(op) + ": x";
  Window w{bind::float_array(x_obj, what.c_str(), 3, 5), {}, {}, {}, {}};
  const size_t r = static_cast<size_t>(w.x.ndim() - 2);
  w.kernel = bind::int_list(kernel, "kernel_shape", r);
  w.strides = list_or(strides, "strides", r, 1);
  w.pads = list_or(pads, "pads", 2 * r, 0);
  w.dilations = list_or(dilations, "dilations", r, 1);
  return w;
}

py::object run_pool(const char* op, PoolKind kind, const Window& w, bool ceil_mode, int num_threads) {
  auto k = prepare_pool(op, kind, bind::shape_of(w.x), w.kernel, w.strides, w.pads, w.dilations, ceil_mode);
  return bind::call(*k, {w.x}, num_threads);
}

py::object run_max(const Window& w, bool ceil_mode, int storage_order, bool return_indices, int num_threads) {
  PYINFER_CHECK(storage_order == 0 || storage_order == 1,
                "max_pool: storage_order must be 0 (row-major) or 1 (column-major), got " << storage_order);
  if (!return_indices) return run_pool("max_pool", PoolKind::Max, w, ceil_mode, num_threads);
  auto k = prepare_max_pool_with_indices(bind::shape_of(w.x), w.kernel, w.strides, w.pads, w.dilations, ceil_mode,
                                         storage_order == 1);
  return bind::call(*k, {w.x}, num_threads);
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

Window window_of(const Torch2d& t) {
  return {t.x4.cast<bind::FloatArray>(), t.kernel, t.strides, t.pads, t.dilations};
}

const char* kWindowDoc =
    "x: float32 (N, C, D1[, D2[, D3]]); kernel_shape: one int per spatial axis; strides, dilations: "
    "ints per axis (None = 1); pads: [begin..., end...] (ONNX order, None = 0) or one int for all; "
    "ceil_mode: round the output size up (a window starting in the right padding is dropped). "
    "Output size per axis: floor or ceil((in + pads - ((k - 1) * d + 1)) / s) + 1.";

}  // namespace

PYINFER_BINDINGS(pool, 10) {
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
        return py::tuple(py::cast(pool_output_shape(xs, g)));
      },
      py::arg("input_shape"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false,
      "Output shape (N, C, out...) of a windowed pool: the single output-size rule every pool uses "
      "(raises KernelArgumentError on bad parameters or an empty output).");

  m.def(
      "max_pool",
      [](py::handle x, py::handle kernel_shape, py::handle strides, py::handle pads, py::handle dilations,
         bool ceil_mode, int storage_order, bool return_indices, int num_threads) {
        return run_max(window("max_pool", x, kernel_shape, strides, pads, dilations), ceil_mode, storage_order,
                       return_indices, num_threads);
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
        return run_pool("avg_pool", count_include_pad ? PoolKind::AvgIncludePad : PoolKind::AvgExcludePad,
                        window("avg_pool", x, kernel_shape, strides, pads, dilations), ceil_mode, num_threads);
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
        return run_pool("sum_pool", PoolKind::Sum, window("sum_pool", x, kernel_shape, strides, pads, dilations),
                        ceil_mode, num_threads);
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
        const Window w = window("lp_pool", x, kernel_shape, strides, pads, dilations);
        auto k = prepare_lp_pool(bind::shape_of(w.x), w.kernel, w.strides, w.pads, w.dilations, ceil_mode, pw);
        return bind::call(*k, {w.x}, num_threads);
      },
      py::arg("x"), py::arg("kernel_shape"), py::arg("strides") = py::none(), py::arg("pads") = py::none(),
      py::arg("dilations") = py::none(), py::arg("ceil_mode") = false, py::arg("p") = 2.0f,
      py::arg("num_threads") = 0,
      (std::string("lp_pool(x, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, p=2.0, "
                   "num_threads=0) -> y\nONNX LpPool: (sum over the window of |x|^p)^(1/p), p > 0.\n") +
       kWindowDoc)
          .c_str());

  auto global = [](const char* op, GlobalKind kind, py::handle x_obj, float pw, int num_threads) {
    auto x = bind::float_array(x_obj, (std::string(op) + ": x").c_str(), 2, 32);
    return bind::call(*prepare_global_pool(op, kind, bind::shape_of(x), pw), {x}, num_threads);
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

  m.def(
      "prepare_pool",
      [](const std::string& kind, const std::vector<int64_t>& x_shape, py::handle kernel_shape, py::handle strides,
         py::handle pads, py::handle dilations, bool ceil_mode, float p, bool return_indices, int storage_order) {
        PYINFER_CHECK(x_shape.size() >= 3 && x_shape.size() <= 5,
                      "pool: x must be (N, C, spatial...) with 1 to 3 spatial axes, got shape "
                          << bind::shape_str(x_shape));
        const size_t r = x_shape.size() - 2;
        const auto k = bind::int_list(kernel_shape, "kernel_shape", r);
        const auto st = list_or(strides, "strides", r, 1), pd = list_or(pads, "pads", 2 * r, 0);
        const auto dl = list_or(dilations, "dilations", r, 1);
        PYINFER_CHECK(!return_indices || kind == "max", "pool: indices come with kind 'max' only");
        PYINFER_CHECK(storage_order == 0 || storage_order == 1,
                      "max_pool: storage_order must be 0 (row-major) or 1 (column-major), got " << storage_order);
        if (return_indices) return prepare_max_pool_with_indices(x_shape, k, st, pd, dl, ceil_mode, storage_order == 1);
        if (kind == "lp") return prepare_lp_pool(x_shape, k, st, pd, dl, ceil_mode, p);
        PoolKind pk;
        if (kind == "max") pk = PoolKind::Max;
        else if (kind == "sum") pk = PoolKind::Sum;
        else if (kind == "avg_include_pad") pk = PoolKind::AvgIncludePad;
        else if (kind == "avg") pk = PoolKind::AvgExcludePad;
        else PYINFER_CHECK(false, "pool: kind must be max, avg, avg_include_pad, sum or lp, got '" << kind << "'");
        return prepare_pool((kind + "_pool").c_str(), pk, x_shape, k, st, pd, dl, ceil_mode);
      },
      py::arg("kind"), py::arg("x_shape"), py::arg("kernel_shape"), py::arg("strides") = py::none(),
      py::arg("pads") = py::none(), py::arg("dilations") = py::none(), py::arg("ceil_mode") = false,
      py::arg("p") = 2.0f, py::arg("return_indices") = false, py::arg("storage_order") = 0,
      "prepare_pool(kind, x_shape, kernel_shape, strides=None, pads=None, dilations=None, ceil_mode=False, p=2.0,\n"
      "             return_indices=False, storage_order=0) -> PreparedKernel\n"
      "A windowed pool prepared for x_shape: kind max, avg (count_include_pad off), avg_include_pad, sum or\n"
      "lp (power p). With return_indices (max only) the kernel has a second, int64 output (max_pool).");
  m.def(
      "prepare_global_pool",
      [](const std::string& kind, const std::vector<int64_t>& x_shape, float p) {
        GlobalKind gk;
        if (kind == "avg") gk = GlobalKind::Avg;
        else if (kind == "max") gk = GlobalKind::Max;
        else if (kind == "lp") gk = GlobalKind::Lp;
        else PYINFER_CHECK(false, "global pool: kind must be avg, max or lp, got '" << kind << "'");
        return prepare_global_pool(("global_" + kind + "_pool").c_str(), gk, x_shape, p);
      },
      py::arg("kind"), py::arg("x_shape"), py::arg("p") = 2.0f,
      "prepare_global_pool(kind, x_shape, p=2.0) -> PreparedKernel: global_{kind}_pool prepared for x_shape.");

  // PyTorch-style 2-D conveniences.
  m.def(
      "max_pool2d",
      [](py::handle x, py::handle kernel_size, py::handle stride, py::handle padding, py::handle dilation,
         bool ceil_mode, int num_threads) {
        auto t = torch2d("max_pool2d", x, kernel_size, stride, padding, dilation);
        return unbatch(t, run_max(window_of(t), ceil_mode, 0, false, num_threads));
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
        return unbatch(t, run_pool("avg_pool2d", count_include_pad ? PoolKind::AvgIncludePad : PoolKind::AvgExcludePad,
                                   window_of(t), ceil_mode,
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
        return unbatch(t, run_pool("sum_pool2d", PoolKind::Sum, window_of(t), false, num_threads));
      },
      py::arg("x"), py::arg("kernel_size"), py::arg("stride") = py::none(), py::arg("padding") = 0,
      py::arg("num_threads") = 0,
      "sum_pool2d(x, kernel_size, stride=None, padding=0, num_threads=0) -> y\n"
      "The sum of each kernel_size window (stride defaults to kernel_size; zero padding on both sides).");
  m.def(
      "lp_pool2d",
      [](py::handle x, float pw, py::handle kernel_size, py::handle stride, bool ceil_mode, int num_threads) {
        auto t = torch2d("lp_pool2d", x, kernel_size, stride, py::int_(0), py::int_(1));
        const Window w = window_of(t);
        auto k = prepare_lp_pool(bind::shape_of(w.x), w.kernel, w.strides, w.pads, w.dilations, ceil_mode, pw);
        return unbatch(t, bind::call(*k, {w.x}, num_threads));
      },
      py::arg("x"), py::arg("p"), py::arg("kernel_size"), py::arg("stride") = py::none(),
      py::arg("ceil_mode") = false, py::arg("num_threads") = 0,
      "lp_pool2d(x, p, kernel_size, stride=None, ceil_mode=False, num_threads=0) -> y\n"
      "(sum of |x|^p over each window)^(1/p), like torch.nn.functional.lp_pool2d for non-negative x "
      "(PyTorch raises x to the p-th power without abs).");
}

}  // namespace pyinfer
