// ONNX ScatterND: a copy of data with the slices the index tuples address replaced by (or
// combined with: add, mul, max, min) the updates, in index order (a repeated index: the last
// update wins, or all of them combine). Any element type without a reduction; the numeric ones
// with. int64 indices, checked on every run.
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
#include "common/dtype_dispatch.h"
#include "common/prepared.h"
#include "common/strided_copy.h"
#include "indexing/index_tuples.h"
#include "indexing/scatter_combine.h"

namespace py = pybind11;

namespace pyinfer {

PreparedPtr prepare_scatter_nd(const std::vector<int64_t>& data_shape, DType dtype,
                               const std::vector<int64_t>& indices_shape, const std::vector<int64_t>& updates_shape,
                               const std::string& reduction) {
  check_dims(data_shape, "scatter_nd");
  check_dims(indices_shape, "scatter_nd");
  const Combine how = parse_combine(reduction, "scatter_nd");
  const int64_t dr = static_cast<int64_t>(data_shape.size()), ir = static_cast<int64_t>(indices_shape.size());
  PYINFER_CHECK(ir >= 1, "scatter_nd: indices must have rank >= 1");
  const int64_t k = indices_shape[ir - 1];
  PYINFER_CHECK(k <= dr, "scatter_nd: the index tuples (" << k << ") are longer than data's rank " << dr);
  std::vector<int64_t> want(indices_shape.begin(), indices_shape.end() - 1);
  want.insert(want.end(), data_shape.begin() + k, data_shape.end());
  PYINFER_CHECK(updates_shape == want, "scatter_nd: updates must be " << shape_str(want) << ", got "
                                                                      << shape_str(updates_shape));
  if (how != Combine::None)  // the numeric types only (throws for bool and the like)
    dispatch_real(dtype, "scatter_nd", [](auto) { return 0; });
  int64_t tuples = 1, slice = 1, total = 1;
  for (int64_t d = 0; d < ir - 1; ++d) tuples *= indices_shape[d];
  for (int64_t d = k; d < dr; ++d) slice *= data_shape[d];
  for (int64_t d : data_shape) total *= d;
  const std::vector<int64_t> strides = contiguous_strides(data_shape);
  const int64_t esize = dtype_size(dtype);
  return KernelBuilder("scatter_nd").input("data", data_shape, dtype).input("indices", indices_shape, DType::Int64)
      .input("updates", updates_shape, dtype).output("y", data_shape, dtype)
      .remake([dtype, reduction](const Shapes& s) { return prepare_scatter_nd(s[0], dtype, s[1], s[2], reduction); })
      .run([=](const void* const* in, void* const* o, int threads) {
        const int64_t* idx = static_cast<const int64_t*>(in[1]);
        std::vector<int64_t> offsets(static_cast<size_t>(tuples));
        for (int64_t t = 0; t < tuples; ++t)  // every index checked before anything is written
          offsets[t] = tuple_offset(idx + t * k, k, data_shape, strides, 0, "scatter_nd");
        char* y = static_cast<char*>(o[0]);
        const char* upd = static_cast<const char*>(in[2]);
        std::memcpy(y, in[0], static_cast<size_t>(total * esize));
        if (how == Combine::None) {
          for (int64_t t = 0; t < tuples; ++t)
            std::memcpy(y + offsets[t] * esize, upd + t * slice * esize, static_cast<size_t>(slice * esize));
          return;
        }
        dispatch_real(dtype, "scatter_nd", [&](auto tag) {
          using T = typename decltype(tag)::type;
          for (int64_t t = 0; t < tuples; ++t) {
            T* dst = reinterpret_cast<T*>(y) + offsets[t];
            const T* src = reinterpret_cast<const T*>(upd) + t * slice;
            for (int64_t i = 0; i < slice; ++i) dst[i] = combined(dst[i], src[i], how);
          }
          return 0;
        });
      });
}

PYINFER_BINDINGS(scatter_nd, 10) {
  m.def(
      "prepare_scatter_nd",
      [](const std::vector<int64_t>& data_shape, const std::string& dtype, const std::vector<int64_t>& indices_shape,
         const std::vector<int64_t>& updates_shape, const std::string& reduction) {
        return prepare_scatter_nd(data_shape, dtype_from_name(dtype, "scatter_nd"), indices_shape, updates_shape,
                                  reduction);
      },
      py::arg("data_shape"), py::arg("dtype"), py::arg("indices_shape"), py::arg("updates_shape"),
      py::arg("reduction") = "none",
      "prepare_scatter_nd(data_shape, dtype, indices_shape, updates_shape, reduction='none') -> PreparedKernel:\n"
      "inputs data, indices (int64), updates; ONNX ScatterND in index order.");
}

}  // namespace pyinfer
