// X of the ai.onnx.ml predictors: [N, F] rows, or [F], one row (as onnxruntime reads a 1-D X).
#pragma once
#include <cstdint>
#include <vector>

#include "common/check.h"

namespace pyinfer {
namespace ml {

struct FeatureRows {
  int64_t rows, cols;
};

inline FeatureRows feature_rows(const std::vector<int64_t>& x_shape, const char* op) {
  PYINFER_CHECK(x_shape.size() == 1 || x_shape.size() == 2,
                op << ": X must be [N, F] or [F] (one row), got rank " << x_shape.size());
  for (int64_t d : x_shape) PYINFER_CHECK(d >= 0, op << ": negative dimension in X's shape");
  return {x_shape.size() == 2 ? x_shape[0] : 1, x_shape.back()};
}

// Row r of X (float or double) as double, into buf (cols entries).
template <class T>
inline const double* row_as_double(const void* x, int64_t r, int64_t cols, double* buf) {
  const T* src = static_cast<const T*>(x) + r * cols;
  for (int64_t f = 0; f < cols; ++f) buf[f] = static_cast<double>(src[f]);
  return buf;
}

}  // namespace ml
}  // namespace pyinfer
