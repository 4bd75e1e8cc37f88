// Dispatch table of the reduction family (see common/isa_probe.h for the pattern); the
// per-tier instances live in reduce_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"
#include "reduce/reduce.h"

namespace pyinfer {

struct ReduceKernels {
  // Contiguous rows (inner == 1): y[i] = kind over k < r of x[i * r + k], for i < rows.
  void (*rows)(ReduceKind kind, const float* x, float* y, int64_t rows, int64_t r);
  // Strided columns (inner > 1): y[j] = kind over k < r of x[k * stride + j], for j < count.
  void (*columns)(ReduceKind kind, const float* x, float* y, int64_t r, int64_t stride, int64_t count);
};

PYINFER_DECLARE_ISA_TABLE(ReduceKernels, reduce_kernels_table)

inline const ReduceKernels& reduce_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(reduce_kernels_table);
}

}  // namespace pyinfer
