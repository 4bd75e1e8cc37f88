// Dispatch table of the squeeze-and-excitation step (squeeze_excite.cpp); the per-tier
// instances live in squeeze_excite_isa.cpp. Its maps are small (7 x 7 .. 56 x 56 planes of
// hundreds of channels), so each entry takes a run of planes per call instead of one.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

struct SqueezeExciteKernels {
  // y[p] = the mean of x[p * n, p * n + n) for p < planes.
  void (*plane_means)(const float* x, int64_t planes, int64_t n, float* y);
  // y[o] = b[o] + sum over i < in of x[i] * wt[i * out + o], o < out (wt: [in][out]).
  void (*matvec)(const float* wt, const float* b, const float* x, int64_t in, int64_t out, float* y);
  // y[p * n + i] = z[p * n + i] * g[p] for p < planes, i < n; y may be z.
  void (*scale_planes)(const float* z, const float* g, int64_t planes, int64_t n, float* y);
};

PYINFER_DECLARE_ISA_TABLE(SqueezeExciteKernels, squeeze_excite_table)

inline const SqueezeExciteKernels& squeeze_excite_kernels() { return PYINFER_ACTIVE_ISA_TABLE(squeeze_excite_table); }

}  // namespace pyinfer
