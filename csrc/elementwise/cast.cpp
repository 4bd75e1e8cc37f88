// ONNX Cast between float32, float64, the integer types and bool, numpy's astype: float to
// integer truncates toward zero; NaN and values outside int32 (outside int64 for int64) give the
// type's minimum through int32 / int64, then narrow by wrapping (what x86 numpy gives); to bool
// is != 0. float16, strings and the float8 types stay on the NumPy path.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "bindings/bindings.h"
#include "common/axis.h"
#include "common/check.h"
#include "common/dtype_dispatch.h"
#include "common/prepared.h"
#include "common/thread_pool.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

template <class To, class From>
inline To convert(From v) {
  if constexpr (std::is_same<To, bool>::value) {
    return v != From(0);
  } else if constexpr (std::is_floating_point<From>::value && std::is_integral<To>::value) {
    if constexpr (sizeof(To) == 8) {
      if (!(v >= -9.2233720368547758e18 && v < 9.2233720368547758e18)) return std::numeric_limits<To>::min();
      return static_cast<To>(static_cast<int64_t>(v));
    } else {
      if (!(v >= -2147483648.0 && v < 2147483648.0)) return static_cast<To>(std::numeric_limits<int32_t>::min());
      return static_cast<To>(static_cast<int32_t>(v));  // wraps into the narrower type
    }
  } else {
    return static_cast<To>(v);
  }
}

template <class To, class From>
void cast_all(const void* x, void* y, int64_t n, int threads) {
  const From* s = static_cast<const From*>(x);
  To* d = static_cast<To*>(y);
  // The cost model (common/thread_pool.h): every element read and written.
  const int64_t chunks = (n + 65535) / 65536;
  parallel_for(chunks, threads_for_work(bytes_ns(double(sizeof(From) + sizeof(To)) * double(n)), chunks, threads),
               [&](int64_t c0, int64_t c1) {
    for (int64_t i = c0 * 65536; i < std::min(n, c1 * 65536); ++i) d[i] = convert<To>(s[i]);
  });
}

}  // namespace

PreparedPtr prepare_cast(const std::vector<int64_t>& shape, DType from, DType to) {
  const int64_t n = check_dims(shape, "cast");
  using CastFn = void (*)(const void*, void*, int64_t, int);
  const CastFn fn = dispatch_real_or_bool(from, "cast", [&](auto f) {
    return dispatch_real_or_bool(to, "cast", [&](auto t) -> CastFn {
      return cast_all<typename decltype(t)::type, typename decltype(f)::type>;
    });
  });
  const bool same = from == to;
  const int64_t bytes = n * dtype_size(from);
  return KernelBuilder("cast").input("x", shape, from).output("y", shape, to)
      .remake([from, to](const Shapes& s) { return prepare_cast(s[0], from, to); })
      .run([=](const void* const* in, void* const* o, int threads) {
        if (same) std::memcpy(o[0], in[0], static_cast<size_t>(bytes));
        else fn(in[0], o[0], n, threads);
      });
}

PYINFER_BINDINGS(cast, 10) {
  m.def(
      "prepare_cast",
      [](const std::vector<int64_t>& shape, const std::string& from, const std::string& to) {
        return prepare_cast(shape, dtype_from_name(from, "cast"), dtype_from_name(to, "cast"));
      },
      py::arg("shape"), py::arg("from_dtype"), py::arg("to_dtype"),
      "prepare_cast(shape, from_dtype, to_dtype) -> PreparedKernel: y = x.astype(to_dtype) between float32,\n"
      "float64, int8/16/32/64, uint8/16 and bool (float to integer truncates; NaN and out-of-range values\n"
      "give the type's minimum through int32 / int64, as x86 numpy does).");
}

}  // namespace pyinfer
