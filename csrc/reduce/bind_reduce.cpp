// Python bindings of the reduction family (public API: pyinfer.kernels.reduce).
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include <pybind11/stl.h>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "reduce/reduce.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

// None -> every axis; an int -> that axis; a sequence of ints (not a str) -> those axes.
std::vector<int64_t> parse_axes(const py::handle& obj, bool* all_axes) {
  std::vector<int64_t> axes;
  *all_axes = obj.is_none();
  if (*all_axes) return axes;
  if (py::isinstance<py::int_>(obj)) return {obj.cast<int64_t>()};
  PYINFER_CHECK(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj),
                "reduce: axes must be None, an int or a sequence of ints, got " << Py_TYPE(obj.ptr())->tp_name);
  for (auto item : obj) {
    PYINFER_CHECK(py::isinstance<py::int_>(item) || py::hasattr(item, "__index__"),
                  "reduce: axes must be ints, got " << Py_TYPE(item.ptr())->tp_name);
    axes.push_back(py::reinterpret_steal<py::int_>(PyNumber_Index(item.ptr())).cast<int64_t>());
  }
  return axes;
}

}  // namespace

PYINFER_BINDINGS(reduce, 10) {
  m.def(
      "prepare_reduce",
      [](const std::string& kind, const std::vector<int64_t>& shape, py::handle axes_obj, bool keepdims) {
        bool all_axes = false;
        const std::vector<int64_t> axes = parse_axes(axes_obj, &all_axes);
        return prepare_reduce(parse_reduce_kind(kind), shape, axes, all_axes, keepdims);
      },
      py::arg("kind"), py::arg("shape"), py::arg("axes"), py::arg("keepdims") = true,
      "prepare_reduce(kind, shape, axes, keepdims=True) -> PreparedKernel: reduce() prepared for x of `shape`.");
  m.def(
      "prepare_reduce_int",
      [](const std::string& kind, const std::vector<int64_t>& shape, py::handle axes_obj, bool keepdims,
         const std::string& dtype) {
        bool all_axes = false;
        const std::vector<int64_t> axes = parse_axes(axes_obj, &all_axes);
        return prepare_reduce_int(parse_reduce_kind(kind), shape, axes, all_axes, keepdims,
                                  dtype_from_name(dtype, "reduce_int"));
      },
      py::arg("kind"), py::arg("shape"), py::arg("axes"), py::arg("keepdims") = true, py::arg("dtype") = "int64",
      "prepare_reduce_int(kind, shape, axes, keepdims=True, dtype='int64') -> PreparedKernel: an int32 / int64\n"
      "reduction (max, min, sum or prod, wrapping like numpy) over any axes, for the shape arithmetic of graphs.");
  m.def(
      "reduce",
      [](py::handle x_obj, py::handle axes_obj, const std::string& kind_name, bool keepdims, int num_threads) {
        const ReduceKind kind = parse_reduce_kind(kind_name);
        auto x = bind::float_array(x_obj, "reduce: x", 0, 64);
        bool all_axes = false;
        const std::vector<int64_t> axes = parse_axes(axes_obj, &all_axes);
        return bind::call(*prepare_reduce(kind, bind::shape_of(x), axes, all_axes, keepdims), {x}, num_threads);
      },
      py::arg("x"), py::arg("axes"), py::arg("kind"), py::arg("keepdims") = true, py::arg("num_threads") = 0,
      "reduce(x, axes, kind, keepdims=True, num_threads=0): reduce a float32 array over `axes` like "
      "ONNX's Reduce<Kind>. kind: 'max', 'min', 'sum', 'mean' (sum / count), 'prod', 'sum_square', 'l1' "
      "(sum of |x|), 'l2' (sqrt of sum_square), 'log_sum', 'log_sum_exp' (max-shifted). axes: None (every "
      "axis), an int, or a sequence of distinct ints, negative ones counting from the end; any set of axes "
      "(each consecutive run of them is one pass, the last run first). max / min propagate NaN and reject "
      "an empty reduction; an empty sum is 0, product 1, mean NaN. Accumulates in float32 (several partial "
      "sums), in an order that does not depend on num_threads. Returns a new float32 array.");
}

}  // namespace pyinfer
