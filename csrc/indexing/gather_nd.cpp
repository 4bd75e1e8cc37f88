// ONNX GatherND: slices of data picked by index tuples (the last axis of indices), after
// batch_dims leading axes both share; any element type, int64 indices checked on every run.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

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
#include "indexing/index_tuples.h"

namespace py = pybind11;

namespace pyinfer {

PreparedPtr prepare_gather_nd(const std::vector<int64_t>& data_shape, DType dtype,
                              const std::vector<int64_t>& indices_shape, int64_t batch_dims) {
  check_dims(data_shape, "gather_nd");
  check_dims(indices_shape, "gather_nd");
  const int64_t dr = static_cast<int64_t>(data_shape.size()), ir = static_cast<int64_t>(indices_shape.size());
  const int64_t b = batch_dims;
  PYINFER_CHECK(ir >= 1 && b >= 0 && b < std::min(dr, ir),
                "gather_nd: batch_dims=" << b << " is invalid for data rank " << dr << " and indices rank " << ir);
  const int64_t k = indices_shape[ir - 1];
  PYINFER_CHECK(k <= dr - b, "gather_nd: the index tuples (" << k << ") are longer than data's rank less batch_dims");
  int64_t batch = 1, tuples = 1, slice = 1;
  for (int64_t d = 0; d < b; ++d) {
    PYINFER_CHECK(data_shape[d] == indices_shape[d], "gather_nd: batch dimensions differ");
    batch *= data_shape[d];
  }
  for (int64_t d = b; d < ir - 1; ++d) tuples *= indices_shape[d];
  for (int64_t d = b + k; d < dr; ++d) slice *= data_shape[d];
  std::vector<int64_t> out(indices_shape.begin(), indices_shape.end() - 1);
  out.insert(out.end(), data_shape.begin() + b + k, data_shape.end());
  const std::vector<int64_t> strides = contiguous_strides(data_shape);
  const int64_t batch_stride = b ? strides[b - 1] : 0, bytes = dtype_size(dtype) * slice;
  return KernelBuilder("gather_nd").input("data", data_shape, dtype).input("indices", indices_shape, DType::Int64)
      .output("y", out, dtype)
      .remake([dtype, batch_dims](const Shapes& s) { return prepare_gather_nd(s[0], dtype, s[1], batch_dims); })
      .run([=](const void* const* in, void* const* o, int threads) {
        const char* data = static_cast<const char*>(in[0]);
        const int64_t* idx = static_cast<const int64_t*>(in[1]);
        std::vector<int64_t> offsets(static_cast<size_t>(batch * tuples));
        for (int64_t t = 0; t < batch * tuples; ++t)
          offsets[t] = (t / tuples) * batch_stride + tuple_offset(idx + t * k, k, data_shape, strides, b, "gather_nd");
        char* y = static_cast<char*>(o[0]);
        const int64_t esize = dtype_size(dtype);
        // The cost model (common/thread_pool.h): each slice's bytes read and written.
        parallel_for(batch * tuples, threads_for_work(bytes_ns(2.0 * double(batch * tuples) * double(bytes)), batch * tuples,
                                                      threads),
                     [&](int64_t t0, int64_t t1) {
          for (int64_t t = t0; t < t1; ++t) std::memcpy(y + t * bytes, data + offsets[t] * esize, bytes);
        });
      });
}

PYINFER_BINDINGS(gather_nd, 10) {
  m.def(
      "prepare_gather_nd",
      [](const std::vector<int64_t>& data_shape, const std::string& dtype, const std::vector<int64_t>& indices_shape,
         int64_t batch_dims) {
        return prepare_gather_nd(data_shape, dtype_from_name(dtype, "gather_nd"), indices_shape, batch_dims);
      },
      py::arg("data_shape"), py::arg("dtype"), py::arg("indices_shape"), py::arg("batch_dims") = 0,
      "prepare_gather_nd(data_shape, dtype, indices_shape, batch_dims=0) -> PreparedKernel: inputs data,\n"
      "indices (int64); ONNX GatherND.");
}

}  // namespace pyinfer
