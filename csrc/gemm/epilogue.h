// What GEMM (and conv, through it) may apply to an output tile while it is still in cache:
//   y = act(alpha * op(A) op(B) + beta * C + row_bias[i] + col_bias[j] + residual[i, j])
// act is one of the activations a fused epilogue applies (activation/act.h).
// Plain data only: this header is included by the *_isa.cpp copies (see common/simd.h on ODR).
#pragma once
#include <cstdint>

#include "activation/act.h"

namespace pyinfer {

struct Epilogue {
  const float* row_bias = nullptr;  // [M] or null: added to every column of row i
  const float* col_bias = nullptr;  // [N] or null: added to every row of column j
  const float* residual = nullptr;  // [M, N] with row stride ld_residual, or null
  int64_t ld_residual = 0;
  ActParams act;  // one of the epilogue activations (act.h); Act::None: none
};

}  // namespace pyinfer
