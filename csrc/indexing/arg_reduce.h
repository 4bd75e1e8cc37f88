// The vectorized part of ArgMax / ArgMin (arg_reduce_isa.cpp, one copy per SIMD tier).
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

struct ArgReduceKernels {
  // One [n, inner] float32 slice, reduced over n a row at a time: at[j] the winning row (as a
  // float: exact below 2^24) of column j, best[j] its value; nan[j] is NaN where column j holds a
  // NaN (those columns are the caller's to redo). Ties: the first row, or the last with `last`.
  void (*rows_f32)(const float* x, int64_t n, int64_t inner, bool largest, bool last, float* best, float* at,
                   float* nan);
};

PYINFER_DECLARE_ISA_TABLE(ArgReduceKernels, arg_reduce_kernels_table)

inline const ArgReduceKernels& arg_reduce_kernels() { return PYINFER_ACTIVE_ISA_TABLE(arg_reduce_kernels_table); }

}  // namespace pyinfer
