// ONNX CumSum along one axis (exclusive / reverse), adding in the element type in order along
// the axis, as numpy.cumsum(dtype=x.dtype) does; the inner axes run as contiguous rows.
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
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class T>
void cumsum(const T* x, T* y, const AxisView& v, bool exclusive, bool reverse, int threads) {
  // The cost model (common/thread_pool.h): every element read and written once.
  const double bytes = 2.0 * sizeof(T) * double(v.outer) * double(v.n) * double(v.inner);
  parallel_for(v.outer, threads_for_work(bytes_ns(bytes), v.outer, threads), [&](int64_t o0, int64_t o1) {
    std::vector<T> acc(static_cast<size_t>(v.inner));
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(acc.begin(), acc.end(), T(0));
      for (int64_t s = 0; s < v.n; ++s) {
        const int64_t i = reverse ? v.n - 1 - s : s;
        const T* xr = x + (o * v.n + i) * v.inner;
        T* yr = y + (o * v.n + i) * v.inner;
        for (int64_t j = 0; j < v.inner; ++j) {
          const T before = acc[j];
          acc[j] = static_cast<T>(acc[j] + xr[j]);
          yr[j] = exclusive ? before : acc[j];
        }
      }
    }
  });
}

}  // namespace

// Inputs x and axis (int64 or int32, one value, read on every run); output y.
PreparedPtr prepare_cumsum(const std::vector<int64_t>& shape, DType dtype, const std::vector<int64_t>& axis_shape,
                           DType axis_dtype, bool exclusive, bool reverse) {
  check_dims(shape, "cumsum");
  PYINFER_CHECK(check_dims(axis_shape, "cumsum") == 1, "cumsum: axis must hold one value");
  PYINFER_CHECK(axis_dtype == DType::Int64 || axis_dtype == DType::Int32, "cumsum: axis must be an integer");
  const int64_t rank = static_cast<int64_t>(shape.size());
  const bool wide = axis_dtype == DType::Int64;
  return dispatch_real(dtype, "cumsum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return KernelBuilder("cumsum").input("x", shape, dtype).input("axis", axis_shape, axis_dtype).output("y", shape, dtype)
        .remake([dtype, axis_dtype, exclusive, reverse](const Shapes& s) {
          return prepare_cumsum(s[0], dtype, s[1], axis_dtype, exclusive, reverse);
        })
        .run([=](const void* const* in, void* const* o, int threads) {
          const int64_t a = wide ? *static_cast<const int64_t*>(in[1]) : *static_cast<const int32_t*>(in[1]);
          cumsum(static_cast<const T*>(in[0]), static_cast<T*>(o[0]), axis_view(shape, checked_axis(a, rank, "cumsum")),
                 exclusive, reverse, threads);
        });
  });
}

PYINFER_BINDINGS(cumsum, 10) {
  m.def(
      "prepare_cumsum",
      [](const std::vector<int64_t>& shape, const std::string& dtype, const std::vector<int64_t>& axis_shape,
         const std::string& axis_dtype, bool exclusive, bool reverse) {
        return prepare_cumsum(shape, dtype_from_name(dtype, "cumsum"), axis_shape, dtype_from_name(axis_dtype, "cumsum"),
                              exclusive, reverse);
      },
      py::arg("shape"), py::arg("dtype"), py::arg("axis_shape") = std::vector<int64_t>{}, py::arg("axis_dtype") = "int64",
      py::arg("exclusive") = false, py::arg("reverse") = false,
      "prepare_cumsum(shape, dtype, axis_shape=(), axis_dtype='int64', exclusive=False, reverse=False) ->\n"
      "PreparedKernel: inputs x and the axis (read on every run); ONNX CumSum.");
}

}  // namespace pyinfer
