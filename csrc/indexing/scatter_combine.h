// How ScatterND and ScatterElements combine an update with the element already there (ONNX's
// reduction attribute): replace, add, mul, max, min, in index order.
#pragma once
#include <cstdint>
#include <string>

#include "common/check.h"
#include "common/dtype_dispatch.h"

namespace pyinfer {

enum class Combine { None, Add, Mul, Max, Min };

inline Combine parse_combine(const std::string& r, const char* what) {
  if (r == "none") return Combine::None;
  if (r == "add") return Combine::Add;
  if (r == "mul") return Combine::Mul;
  if (r == "max") return Combine::Max;
  PYINFER_CHECK(r == "min", what << ": reduction must be none, add, mul, max or min, got '" << r << "'");
  return Combine::Min;
}

// dst = dst (how) src; max / min propagate NaN from either side (numpy.maximum.at).
template <class T>
inline T combined(T dst, T src, Combine how) {
  switch (how) {
    case Combine::None: return src;
    case Combine::Add: return static_cast<T>(dst + src);
    case Combine::Mul: return static_cast<T>(dst * src);
    case Combine::Max: return is_nan(dst) || dst >= src ? dst : src;
    default: return is_nan(dst) || dst <= src ? dst : src;
  }
}

}  // namespace pyinfer
