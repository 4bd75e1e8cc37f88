// Calling a template with the C++ type of a DType: fn(Tag<float>{}) for DType::Float32 ...
// Kernels that compute on values (comparisons, TopK, CumSum, casts) instantiate their loops
// once per numeric type this way; kernels that only move bytes dispatch on dtype_size().
#pragma once
#include <cstdint>

#include "common/check.h"
#include "common/prepared.h"

namespace pyinfer {

template <class T>
struct Tag {
  using type = T;
};

// The real-number types (float16 has no C++ arithmetic type here: not included). Throws
// std::invalid_argument naming `what` for any other DType.
template <class Fn>
decltype(auto) dispatch_real(DType t, const char* what, Fn&& fn) {
  switch (t) {
    case DType::Float32: return fn(Tag<float>{});
    case DType::Float64: return fn(Tag<double>{});
    case DType::Int64: return fn(Tag<int64_t>{});
    case DType::Int32: return fn(Tag<int32_t>{});
    case DType::Int16: return fn(Tag<int16_t>{});
    case DType::Int8: return fn(Tag<int8_t>{});
    case DType::UInt8: return fn(Tag<uint8_t>{});
    case DType::UInt16: return fn(Tag<uint16_t>{});
    default: break;
  }
  PYINFER_CHECK(false, what << ": dtype " << dtype_name(t) << " is not supported");
  return fn(Tag<float>{});
}

// dispatch_real plus bool (Equal, Where's values, casts).
template <class Fn>
decltype(auto) dispatch_real_or_bool(DType t, const char* what, Fn&& fn) {
  if (t == DType::Bool) return fn(Tag<bool>{});
  return dispatch_real(t, what, fn);
}

// An unsigned type of `bytes` bytes (1, 2, 4 or 8): for kernels that only move elements.
template <class Fn>
decltype(auto) dispatch_bytes(int64_t bytes, Fn&& fn) {
  switch (bytes) {
    case 1: return fn(Tag<uint8_t>{});
    case 2: return fn(Tag<uint16_t>{});
    case 4: return fn(Tag<uint32_t>{});
    default: return fn(Tag<uint64_t>{});
  }
}

// NaN-aware ordering helpers for the sorting kernels: NaN ranks above every number (as numpy's
// sort puts it last and its argmax picks it).
template <class T>
inline bool is_nan(T v) {
  return v != v;  // false for integers
}

}  // namespace pyinfer
