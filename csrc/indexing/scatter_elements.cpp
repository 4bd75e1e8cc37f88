// ONNX ScatterElements (and the deprecated Scatter): a copy of data where each update lands at its
// own position with the axis coordinate replaced by its index, in index order (a repeated
// position: the last update wins, or all of them combine: add, mul, max, min). Any element type
// without a reduction, the numeric ones with; int32 / int64 indices checked before anything is
// written.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"
#include "common/strided_copy.h"
#include "indexing/elements.h"
#include "indexing/scatter_combine.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class T, class Index>
void scatter_elements(T* out, const Index* idx, const T* upd, const std::vector<int64_t>& ishape,
                      const std::vector<int64_t>& dstrides, int64_t axis, int64_t axis_len, Combine how) {
  const int64_t rank = static_cast<int64_t>(ishape.size()), inner = ishape[rank - 1];
  int64_t total = 1;
  for (int64_t d : ishape) total *= d;
  check_element_indices(idx, total, axis_len, "scatter_elements");
  const int64_t s = dstrides[axis], last = dstrides[rank - 1];
  for (int64_t r = 0; r < total / inner; ++r) {
    const int64_t base = element_row_base(r, ishape, dstrides, axis);
    for (int64_t j = 0; j < inner; ++j) {
      const int64_t i = r * inner + j, k = idx[i] < 0 ? idx[i] + axis_len : idx[i];
      T& dst = out[base + (axis == rank - 1 ? 0 : j * last) + k * s];
      dst = combined(dst, upd[i], how);
    }
  }
}

}  // namespace

// Inputs data, indices, updates (indices' shape); output data's shape.
PreparedPtr prepare_scatter_elements(const std::vector<int64_t>& data_shape, DType dtype,
                                     const std::vector<int64_t>& indices_shape, DType index_dtype, int64_t axis,
                                     const std::string& reduction) {
  axis = checked_axis(axis, static_cast<int64_t>(data_shape.size()), "scatter_elements");
  check_element_shapes(data_shape, indices_shape, axis, "scatter_elements");
  PYINFER_CHECK(index_dtype == DType::Int64 || index_dtype == DType::Int32, "scatter_elements: indices must be integers");
  const Combine how = parse_combine(reduction, "scatter_elements");
  if (how != Combine::None) dispatch_real(dtype, "scatter_elements", [](auto) { return 0; });  // numeric only
  const std::vector<int64_t> strides = contiguous_strides(data_shape);
  const int64_t axis_len = data_shape[axis], bytes = check_dims(data_shape, "scatter_elements") * dtype_size(dtype);
  const bool wide = index_dtype == DType::Int64;
  auto run = [=](auto tag) {
    using T = typename decltype(tag)::type;
    return KernelBuilder("scatter_elements").input("data", data_shape, dtype).input("indices", indices_shape, index_dtype)
        .input("updates", indices_shape, dtype).output("y", data_shape, dtype)
        .remake([dtype, index_dtype, axis, reduction](const Shapes& s) {
          return prepare_scatter_elements(s[0], dtype, s[1], index_dtype, axis, reduction);
        })
        .run([=](const void* const* in, void* const* o, int) {
          std::memcpy(o[0], in[0], static_cast<size_t>(bytes));
          T* out = static_cast<T*>(o[0]);
          const T* upd = static_cast<const T*>(in[2]);
          if (wide)
            scatter_elements(out, static_cast<const int64_t*>(in[1]), upd, indices_shape, strides, axis, axis_len, how);
          else
            scatter_elements(out, static_cast<const int32_t*>(in[1]), upd, indices_shape, strides, axis, axis_len, how);
        });
  };
  // Without a reduction the elements are only moved: by size. With one: by numeric type.
  return how == Combine::None ? dispatch_bytes(dtype_size(dtype), run) : dispatch_real(dtype, "scatter_elements", run);
}

PYINFER_BINDINGS(scatter_elements, 10) {
  m.def(
      "prepare_scatter_elements",
      [](const std::vector<int64_t>& data_shape, const std::string& dtype, const std::vector<int64_t>& indices_shape,
         const std::string& index_dtype, int64_t axis, const std::string& reduction) {
        return prepare_scatter_elements(data_shape, dtype_from_name(dtype, "scatter_elements"), indices_shape,
                                        dtype_from_name(index_dtype, "scatter_elements"), axis, reduction);
      },
      py::arg("data_shape"), py::arg("dtype"), py::arg("indices_shape"), py::arg("index_dtype") = "int64",
      py::arg("axis") = 0, py::arg("reduction") = "none",
      "prepare_scatter_elements(data_shape, dtype, indices_shape, index_dtype='int64', axis=0, reduction='none') ->\n"
      "PreparedKernel: inputs data, indices, updates; ONNX ScatterElements in index order.");
}

}  // namespace pyinfer
