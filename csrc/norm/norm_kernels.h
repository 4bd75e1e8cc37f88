// Dispatch table of the normalization family (see common/isa_probe.h for the pattern); the
// per-tier instances live in norm_kernels_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// How lrn_columns raises v = bias + scale * sum to the power -beta: special exponents get
// exact square-root / division forms, the rest exp(-beta * log(v)).
enum class LrnPower : int { Zero, Half, ThreeQuarters, One, General };

struct LrnParams {
  int64_t channels = 0;  // C
  int64_t stride = 0;    // floats between channels (the spatial size)
  int64_t before = 0;    // channels in the window before c: floor((size-1)/2)
  int64_t after = 0;     // and after c: ceil((size-1)/2)
  float scale = 0.f;     // alpha / size
  float beta = 0.f;
  float bias = 0.f;
  LrnPower power = LrnPower::General;
};

struct NormKernels {
  // LRN of `count` columns of one image: x and y point at (channel 0, column s0); channel k of
  // column j is x[k * stride + j] for j < count.
  void (*lrn_columns)(const LrnParams& p, const float* x, float* y, int64_t count);
};

PYINFER_DECLARE_ISA_TABLE(NormKernels, norm_kernels_table)

inline const NormKernels& norm_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(norm_kernels_table);
}

}  // namespace pyinfer
