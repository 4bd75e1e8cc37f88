// What GEMM (and conv, through it) may apply to an output tile while it is still in cache:
//   y = act(alpha * op(A) op(B) + beta * C + row_bias[i] + col_bias[j] + residual[i, j])
// Plain data only: this header is included by the *_isa.cpp copies (see common/simd.h on ODR).
#pragma once
#include <cstdint>

namespace pyinfer {

enum class Act : int32_t {
  None,
  Relu,         // max(x, 0)
  Clip,         // min(max(x, lo), hi)        (relu6 = clip 0..6)
  LeakyRelu,    // x >= 0 ? x : alpha * x
  Sigmoid,      // 1 / (1 + exp(-x))
  Tanh,         // tanh(x)
  HardSigmoid,  // max(0, min(1, alpha * x + beta))     (ONNX HardSigmoid)
  HardSwish,    // x * max(0, min(1, x / 6 + 1 / 2))     (ONNX HardSwish)
  Gelu,         // x / 2 * (1 + erf(x / sqrt(2)))        (ONNX Gelu, approximate="none")
  GeluTanh,     // x / 2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (approximate="tanh")
};

struct Epilogue {
  const float* row_bias = nullptr;  // [M] or null: added to every column of row i
  const float* col_bias = nullptr;  // [N] or null: added to every row of column j
  const float* residual = nullptr;  // [M, N] with row stride ld_residual, or null
  int64_t ld_residual = 0;
  Act act = Act::None;
  float alpha = 0.f, beta = 0.f;  // LeakyRelu: alpha; HardSigmoid: alpha, beta
  float lo = 0.f, hi = 0.f;       // Clip bounds
};

}  // namespace pyinfer
