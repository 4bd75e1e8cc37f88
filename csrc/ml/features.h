// X of the ai.onnx.ml predictors: [N, F] rows, or [F], one row (as onnxruntime reads a 1-D X).
#pragma once
#include <cstdint>
#include <vector>

#include "common/check.h"
#include "common/prepared.h"

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

// The kernel of a linear model or SVM: X (float32 or float64) with exactly `features` columns
// (`what`: where that count comes from, for the message); outputs label int64 [N] and scores
// float32 [N, width] (a classifier), or y float32 [N, width]. rows: N.
inline KernelBuilder predictor_kernel(const char* op, const std::vector<int64_t>& x_shape, DType x_dtype,
                                      int64_t features, const char* what, bool classifier, int64_t width,
                                      int64_t& rows) {
  PYINFER_CHECK(x_dtype == DType::Float32 || x_dtype == DType::Float64, op << ": X must be float32 or float64");
  const FeatureRows shape = feature_rows(x_shape, op);
  PYINFER_CHECK(shape.cols == features, op << ": X has " << shape.cols << " features; " << what << " " << features);
  rows = shape.rows;
  KernelBuilder b(op);
  b.input("x", x_shape, x_dtype);
  if (classifier) b.output("label", {rows}, DType::Int64);
  b.output(classifier ? "scores" : "y", {rows, width});
  return b;
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
