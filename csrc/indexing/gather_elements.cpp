// ONNX GatherElements: out[i] = data[i with i[axis] replaced by indices[i]], indices of data's
// rank (any extent up to data's on the other axes), any element type, int32 / int64 indices
// (checked on every run; negative ones count from the end).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "bindings/prepared.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"
#include "common/strided_copy.h"
#include "common/thread_pool.h"
#include "indexing/elements.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class T, class Index>
void gather_elements(const T* data, const Index* idx, T* out, const std::vector<int64_t>& ishape,
                     const std::vector<int64_t>& dstrides, int64_t axis, int64_t axis_len, int threads) {
  const int64_t rank = static_cast<int64_t>(ishape.size()), inner = ishape[rank - 1];
  int64_t total = 1;
  for (int64_t d : ishape) total *= d;
  check_element_indices(idx, total, axis_len, "gather_elements");
  const int64_t rows = total / inner;
  // The cost model (common/thread_pool.h): an index and an element read, an element written.
  parallel_for(rows, threads_for_work(bytes_ns(16.0 * double(total)), rows, threads), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t base = element_row_base(r, ishape, dstrides, axis);
      const Index* ir = idx + r * inner;
      T* o = out + r * inner;
      const int64_t s = dstrides[axis];
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t k = ir[j] < 0 ? ir[j] + axis_len : ir[j];
        o[j] = data[base + (axis == rank - 1 ? 0 : j * dstrides[rank - 1]) + k * s];
      }
    }
  });
}

}  // namespace

void check_element_shapes(const std::vector<int64_t>& data_shape, const std::vector<int64_t>& indices_shape,
                          int64_t axis, const char* what) {
  check_dims(data_shape, what);
  check_dims(indices_shape, what);
  const int64_t rank = static_cast<int64_t>(data_shape.size());
  PYINFER_CHECK(rank >= 1 && indices_shape.size() == data_shape.size(),
                what << ": indices " << shape_str(indices_shape) << " must have the rank of data " << shape_str(data_shape));
  for (int64_t d = 0; d < rank; ++d)
    PYINFER_CHECK(d == axis || indices_shape[d] <= data_shape[d],
                  what << ": indices " << shape_str(indices_shape) << " exceed data " << shape_str(data_shape));
}

PreparedPtr prepare_gather_elements(const std::vector<int64_t>& data_shape, DType dtype,
                                    const std::vector<int64_t>& indices_shape, DType index_dtype, int64_t axis) {
  axis = checked_axis(axis, static_cast<int64_t>(data_shape.size()), "gather_elements");
  check_element_shapes(data_shape, indices_shape, axis, "gather_elements");
  PYINFER_CHECK(index_dtype == DType::Int64 || index_dtype == DType::Int32, "gather_elements: indices must be integers");
  const std::vector<int64_t> strides = contiguous_strides(data_shape);
  const int64_t axis_len = data_shape[axis];
  const bool wide = index_dtype == DType::Int64;
  return KernelBuilder("gather_elements").input("data", data_shape, dtype).input("indices", indices_shape, index_dtype)
      .output("y", indices_shape, dtype)
      .remake([dtype, index_dtype, axis](const Shapes& s) {
        return prepare_gather_elements(s[0], dtype, s[1], index_dtype, axis);
      })
      .run([=](const void* const* in, void* const* o, int threads) {
        dispatch_bytes(dtype_size(dtype), [&](auto tag) {
          using T = typename decltype(tag)::type;
          const T* data = static_cast<const T*>(in[0]);
          if (wide)
            gather_elements(data, static_cast<const int64_t*>(in[1]), static_cast<T*>(o[0]), indices_shape, strides,
                            axis, axis_len, threads);
          else
            gather_elements(data, static_cast<const int32_t*>(in[1]), static_cast<T*>(o[0]), indices_shape, strides,
                            axis, axis_len, threads);
        });
      });
}

PYINFER_BINDINGS(gather_elements, 10) {
  m.def(
      "prepare_gather_elements",
      [](const std::vector<int64_t>& data_shape, const std::string& dtype, const std::vector<int64_t>& indices_shape,
         const std::string& index_dtype, int64_t axis) {
        return prepare_gather_elements(data_shape, dtype_from_name(dtype, "gather_elements"), indices_shape,
                                       dtype_from_name(index_dtype, "gather_elements"), axis);
      },
      py::arg("data_shape"), py::arg("dtype"), py::arg("indices_shape"), py::arg("index_dtype") = "int64",
      py::arg("axis") = 0,
      "prepare_gather_elements(data_shape, dtype, indices_shape, index_dtype='int64', axis=0) -> PreparedKernel:\n"
      "inputs data, indices; output of indices' shape.");
  m.def(
      "gather_elements",
      [](py::handle d_obj, py::handle i_obj, int64_t axis, int num_threads) {
        PYINFER_CHECK(py::isinstance<py::array>(d_obj) && py::isinstance<py::array>(i_obj),
                      "gather_elements: data and indices must be numpy arrays");
        auto d = py::reinterpret_borrow<py::array>(d_obj);
        auto i = py::reinterpret_borrow<py::array>(i_obj);
        auto k = prepare_gather_elements(bind::shape_of(d), dtype_from_name(py::str(d.dtype()), "gather_elements"),
                                         bind::shape_of(i), dtype_from_name(py::str(i.dtype()), "gather_elements"),
                                         axis);
        return bind::call(*k, {d, i}, num_threads);
      },
      py::arg("data"), py::arg("indices"), py::arg("axis") = 0, py::arg("num_threads") = 0,
      "gather_elements(data, indices, axis=0, num_threads=0): numpy.take_along_axis with ONNX's index rule\n"
      "(negative indices count from the end, others out of range raise).");
}

}  // namespace pyinfer
