// ONNX Slice and Split as strided copies (common/strided_copy.h), any element type.
// Slice: starts / ends fixed at prepare, or read on every run (int32 / int64 inputs a plan
// computes from shapes: the output shape they give is checked against the prepared one);
// axes and steps fixed at prepare. Split: one block copy per output along the axis.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/strided_copy.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

struct SliceGeometry {
  std::vector<int64_t> out_shape, strides;  // source strides, in elements
  int64_t offset = 0;
};

// ONNX Slice's clamping on every sliced axis: negative starts / ends count from the end, then
// clamp into [0, dim] (step > 0) or [-1, dim - 1] (step < 0).
SliceGeometry slice_geometry(const std::vector<int64_t>& shape, const std::vector<int64_t>& starts,
                             const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                             const std::vector<int64_t>& steps) {
  SliceGeometry g;
  g.out_shape = shape;
  g.strides = contiguous_strides(shape);
  const std::vector<int64_t> base = g.strides;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = axes[i], dim = shape[a], step = steps[i];
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count;
    if (step > 0) {
      start = std::min(std::max<int64_t>(start, 0), dim);
      end = std::min(std::max<int64_t>(end, 0), dim);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::min(std::max<int64_t>(start, 0), dim - 1);
      end = std::min(std::max<int64_t>(end, -1), dim - 1);
      count = start > end ? (start - end - step - 1) / -step : 0;
    }
    g.out_shape[a] = count;
    g.strides[a] = base[a] * step;
    if (count > 0) g.offset += start * base[a];
  }
  return g;
}

}  // namespace

// Axes into [0, rank), none twice, no zero step.
static void check_slice_axes(const std::vector<int64_t>& shape, std::vector<int64_t>* axes, const std::vector<int64_t>& steps) {
  check_dims(shape, "slice");
  const int64_t rank = static_cast<int64_t>(shape.size());
  PYINFER_CHECK(steps.size() == axes->size(), "slice: axes and steps differ in length");
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < axes->size(); ++i) {
    int64_t& a = (*axes)[i];
    a = checked_axis(a, rank, "slice");
    PYINFER_CHECK(!seen[a], "slice: axis " << a << " is sliced twice");
    seen[a] = true;
    PYINFER_CHECK(steps[i] != 0, "slice: step 0 on axis " << a);
  }
}

// Inputs data, starts, ends (the last two unused: the bounds are fixed); output the slice.
PreparedPtr prepare_slice(const std::vector<int64_t>& shape, DType dtype, const std::vector<int64_t>& starts,
                          const std::vector<int64_t>& ends, std::vector<int64_t> axes, const std::vector<int64_t>& steps) {
  check_slice_axes(shape, &axes, steps);
  PYINFER_CHECK(starts.size() == axes.size() && ends.size() == axes.size(),
                "slice: starts, ends, axes and steps differ in length");
  const SliceGeometry g = slice_geometry(shape, starts, ends, axes, steps);
  const StridedView view = strided_view(g.out_shape, g.strides, g.offset, "slice");
  const int64_t elem = dtype_size(dtype);
  return KernelBuilder("slice").input("data", shape, dtype).unused_input("starts", {}, DType::Int64)
      .unused_input("ends", {}, DType::Int64).output("y", g.out_shape, dtype)
      .remake([dtype, starts, ends, axes, steps](const Shapes& s) { return prepare_slice(s[0], dtype, starts, ends, axes, steps); })
      .run([=](const void* const* in, void* const* o, int threads) { strided_copy(in[0], view, o[0], elem, threads); });
}

// Inputs data, starts, ends (index_dtype, one value per axis, read on every run); output the
// slice, whose shape the bounds must give as `out_shape` ("shape changed" otherwise).
PreparedPtr prepare_slice_dynamic(const std::vector<int64_t>& shape, DType dtype, std::vector<int64_t> axes,
                                  const std::vector<int64_t>& steps, const std::vector<int64_t>& out_shape,
                                  DType index_dtype) {
  check_slice_axes(shape, &axes, steps);
  PYINFER_CHECK(index_dtype == DType::Int64 || index_dtype == DType::Int32, "slice: starts / ends must be integers");
  PYINFER_CHECK(out_shape.size() == shape.size(), "slice: the output rank differs from the input's");
  const int64_t n = static_cast<int64_t>(axes.size()), elem = dtype_size(dtype);
  const bool wide = index_dtype == DType::Int64;
  // Another data shape or other bounds (a dynamic plan): the output shape they give.
  auto remake = [dtype, axes, steps, index_dtype, n](const Shapes& s, const Shapes& values) {
    PYINFER_CHECK(s[1] == std::vector<int64_t>{n} && s[2] == std::vector<int64_t>{n},
                  "slice: starts and ends must hold " << n << " values");
    const SliceGeometry g = slice_geometry(s[0], values[1], values[2], axes, steps);
    return prepare_slice_dynamic(s[0], dtype, axes, steps, g.out_shape, index_dtype);
  };
  return KernelBuilder("slice").input("data", shape, dtype).control_input("starts", {n}, index_dtype)
      .control_input("ends", {n}, index_dtype).output("y", out_shape, dtype)
      .remake_with_values(remake)
      .run([=](const void* const* in, void* const* o, int threads) {
        const SliceGeometry g = slice_geometry(shape, read_ints(in[1], wide, n), read_ints(in[2], wide, n), axes, steps);
        PYINFER_CHECK_SHAPE(g.out_shape == out_shape, "slice: the bounds give " << shape_str(g.out_shape)
                                                          << ", the plan has " << shape_str(out_shape));
        strided_copy(in[0], strided_view(g.out_shape, g.strides, g.offset, "slice"), o[0], elem, threads);
      });
}

// Input x; one output per size in `sizes` (summing to the axis), x's shape with that size on axis.
PreparedPtr prepare_split(const std::vector<int64_t>& shape, DType dtype, int64_t axis,
                          const std::vector<int64_t>& sizes) {
  check_dims(shape, "split");
  axis = checked_axis(axis, static_cast<int64_t>(shape.size()), "split");
  const AxisView v = axis_view(shape, axis);
  int64_t total = 0;
  for (int64_t s : sizes) {
    PYINFER_CHECK(s >= 0, "split: negative size");
    total += s;
  }
  PYINFER_CHECK(total == v.n, "split: sizes add up to " << total << ", the axis has " << v.n);
  const int64_t row = v.inner * dtype_size(dtype);  // bytes of one index along the axis
  KernelBuilder b("split");
  b.input("x", shape, dtype);
  for (size_t i = 0; i < sizes.size(); ++i) {
    std::vector<int64_t> out = shape;
    out[axis] = sizes[i];
    b.output("y" + std::to_string(i), out, dtype, false);
  }
  return b.run([=](const void* const* in, void* const* o, int threads) {
    const char* x = static_cast<const char*>(in[0]);
    // The cost model (common/thread_pool.h): the selected bytes read and written.
    parallel_for(v.outer, threads_for_work(bytes_ns(2.0 * double(v.outer) * double(v.n) * double(row)), v.outer, threads),
                 [&](int64_t o0, int64_t o1) {
      for (int64_t r = o0; r < o1; ++r) {
        int64_t at = 0;
        for (size_t i = 0; i < sizes.size(); ++i) {
          if (o[i]) std::memcpy(static_cast<char*>(o[i]) + r * sizes[i] * row, x + (r * v.n + at) * row,
                                static_cast<size_t>(sizes[i] * row));
          at += sizes[i];
        }
      }
    });
  });
}

PYINFER_BINDINGS(slice, 10) {
  m.def(
      "prepare_slice",
      [](const std::vector<int64_t>& shape, const std::string& dtype, const std::vector<int64_t>& starts,
         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes, const std::vector<int64_t>& steps) {
        return prepare_slice(shape, dtype_from_name(dtype, "slice"), starts, ends, axes, steps);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("starts"), py::arg("ends"), py::arg("axes"), py::arg("steps"),
      "prepare_slice(shape, dtype, starts, ends, axes, steps) -> PreparedKernel with inputs data, starts,\n"
      "ends (the last two unused: the bounds are fixed here).");
  m.def(
      "prepare_slice_dynamic",
      [](const std::vector<int64_t>& shape, const std::string& dtype, const std::vector<int64_t>& axes,
         const std::vector<int64_t>& steps, const std::vector<int64_t>& out_shape, const std::string& index_dtype) {
        return prepare_slice_dynamic(shape, dtype_from_name(dtype, "slice"), axes, steps, out_shape,
                                     dtype_from_name(index_dtype, "slice"));
      },
      py::arg("shape"), py::arg("dtype"), py::arg("axes"), py::arg("steps"), py::arg("out_shape"),
      py::arg("index_dtype") = "int64",
      "prepare_slice_dynamic(shape, dtype, axes, steps, out_shape, index_dtype='int64') -> PreparedKernel with\n"
      "inputs data, starts, ends, the bounds read on every run and checked to give out_shape.");
  m.def(
      "slice",
      [](py::handle x_obj, const std::vector<int64_t>& starts, const std::vector<int64_t>& ends,
         const std::vector<int64_t>& axes, const std::vector<int64_t>& steps, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(x_obj), "slice: x must be a numpy array");
        auto x = py::reinterpret_borrow<py::array>(x_obj);
        auto k = prepare_slice(bind::shape_of(x), dtype_from_name(py::str(x.dtype()), "slice"), starts, ends, axes,
                               steps);
        return bind::call(*k, {x, py::none(), py::none()}, num_threads);
      },
      py::arg("x"), py::arg("starts"), py::arg("ends"), py::arg("axes"), py::arg("steps"), py::arg("num_threads") = 0,
      "slice(x, starts, ends, axes, steps, num_threads=0): ONNX Slice (clamped bounds, negative steps) as a copy.");
  m.def(
      "prepare_split",
      [](const std::vector<int64_t>& shape, const std::string& dtype, int64_t axis, const std::vector<int64_t>& sizes) {
        return prepare_split(shape, dtype_from_name(dtype, "split"), axis, sizes);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("axis"), py::arg("sizes"),
      "prepare_split(shape, dtype, axis, sizes) -> PreparedKernel: input x, one output per size.");
}

}  // namespace pyinfer
