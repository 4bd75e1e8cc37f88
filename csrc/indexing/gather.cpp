// ONNX Gather as a prepared kernel: y = take(data, indices, axis). Rows of the inner block are
// copied whole (any element type), so it serves embeddings (float32 rows picked by int64 token
// ids) and index bookkeeping alike. Kernel, prepare and binding in one file: the example of
// docs/ARCHITECTURE.md "Adding a native op".
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/check.h"
#include "common/prepared.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

DType parse_dtype(const std::string& name) { return dtype_from_name(name, "gather"); }

template <class Index>
void gather_rows(const char* data, const Index* idx, char* y, int64_t outer, int64_t n_idx, int64_t axis_len,
                 int64_t row_bytes, int num_threads) {
  // Data, not shape: every index is checked on every run (ONNX allows negative ones).
  for (int64_t i = 0; i < n_idx; ++i)
    PYINFER_CHECK(idx[i] >= -axis_len && idx[i] < axis_len,
                  "gather: index " << static_cast<int64_t>(idx[i]) << " is out of range for an axis of " << axis_len);
  const int64_t rows = outer * n_idx;
  // The cost model (common/thread_pool.h): each row's bytes read and written.
  const int threads = threads_for_work(bytes_ns(2.0 * double(rows) * double(row_bytes)), rows, num_threads);
  parallel_for(rows, threads, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / n_idx, i = r % n_idx;
      const int64_t k = idx[i] < 0 ? idx[i] + axis_len : idx[i];
      std::memcpy(y + r * row_bytes, data + (o * axis_len + k) * row_bytes, row_bytes);
    }
  });
}

}  // namespace

// Inputs data (data_shape, dtype), indices (indices_shape, int32 or int64); output y of
// data_shape[:axis] + indices_shape + data_shape[axis+1:].
PreparedPtr prepare_gather(const std::vector<int64_t>& data_shape, DType dtype,
                           const std::vector<int64_t>& indices_shape, DType index_dtype, int64_t axis) {
  const int64_t rank = static_cast<int64_t>(data_shape.size());
  PYINFER_CHECK(rank >= 1, "gather: data must have rank >= 1");
  PYINFER_CHECK(axis >= -rank && axis < rank, "gather: axis " << axis << " is out of range for rank " << rank);
  PYINFER_CHECK(index_dtype == DType::Int64 || index_dtype == DType::Int32, "gather: indices must be int32 or int64");
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1, n_idx = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= data_shape[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= data_shape[d];
  for (int64_t d : indices_shape) n_idx *= d;
  std::vector<int64_t> y_shape(data_shape.begin(), data_shape.begin() + axis);
  y_shape.insert(y_shape.end(), indices_shape.begin(), indices_shape.end());
  y_shape.insert(y_shape.end(), data_shape.begin() + axis + 1, data_shape.end());
  const int64_t axis_len = data_shape[axis], row_bytes = inner * dtype_size(dtype);
  const bool wide = index_dtype == DType::Int64;
  return KernelBuilder("gather").input("data", data_shape, dtype).input("indices", indices_shape, index_dtype)
      .output("y", y_shape, dtype)
      .remake([dtype, index_dtype, axis](const Shapes& s) { return prepare_gather(s[0], dtype, s[1], index_dtype, axis); })
      .run([=](const void* const* in, void* const* out, int threads) {
        const char* data = static_cast<const char*>(in[0]);
        char* y = static_cast<char*>(out[0]);
        if (wide)
          gather_rows(data, static_cast<const int64_t*>(in[1]), y, outer, n_idx, axis_len, row_bytes, threads);
        else
          gather_rows(data, static_cast<const int32_t*>(in[1]), y, outer, n_idx, axis_len, row_bytes, threads);
      });
}

PYINFER_BINDINGS(gather, 10) {
  m.def(
      "prepare_gather",
      [](const std::vector<int64_t>& data_shape, const std::string& dtype, const std::vector<int64_t>& indices_shape,
         const std::string& index_dtype, int64_t axis) {
        return prepare_gather(data_shape, parse_dtype(dtype), indices_shape, parse_dtype(index_dtype), axis);
      },
      py::arg("data_shape"), py::arg("dtype"), py::arg("indices_shape"), py::arg("index_dtype") = "int64",
      py::arg("axis") = 0,
      "prepare_gather(data_shape, dtype, indices_shape, index_dtype='int64', axis=0) -> PreparedKernel\n"
      "gather() prepared for these shapes and dtypes; the kernel takes (data, indices).");
  m.def(
      "gather",
      [](py::handle data_obj, py::handle indices_obj, int64_t axis, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(data_obj) && py::isinstance<py::array>(indices_obj),
                      "gather: data and indices must be numpy arrays");
        auto data = py::reinterpret_borrow<py::array>(data_obj);
        auto indices = py::reinterpret_borrow<py::array>(indices_obj);
        auto k = prepare_gather(bind::shape_of(data), parse_dtype(py::str(data.dtype())), bind::shape_of(indices),
                                parse_dtype(py::str(indices.dtype())), axis);
        return bind::call(*k, {data, indices}, num_threads);
      },
      py::arg("data"), py::arg("indices"), py::arg("axis") = 0, py::arg("num_threads") = 0,
      "gather(data, indices, axis=0, num_threads=0): numpy.take(data, indices, axis) with ONNX Gather's\n"
      "index rule: negative indices count from the end, others out of range raise. data: float32, uint8,\n"
      "int32, int64 or bool; indices: int32 or int64.");
}

}  // namespace pyinfer
