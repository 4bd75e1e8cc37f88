// Dispatch table of the pooling family (see common/isa_probe.h for the pattern); the
// per-tier instances live in pool_kernels_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"
#include "pool/pool.h"

namespace pyinfer {

// Floats of scratch window_rows() needs: one input row plus room for full-vector reads past
// its end (2 vectors of 16 for the stride-2 loads).
inline int64_t pool_row_buf_size(const PoolGeom& g) { return g.in[2] + 64; }

struct PoolKernels {
  // Output rows [row_begin, row_end) of pool kind `kind`; row r is (plane, od, oh) flattened,
  // i.e. y + r * out[2] gets out[2] values. row_buf: scratch of pool_row_buf_size(g) floats,
  // owned by the calling thread.
  void (*window_rows)(const PoolGeom& g, int kind, const float* x, float* y, int64_t row_begin,
                      int64_t row_end, float* row_buf);
  // y[i] = |x[i]|^p for i < n.
  void (*abs_pow)(const float* x, float* y, int64_t n, float p);
  // y[i] = y[i]^(1/p) for i < n.
  void (*root)(float* y, int64_t n, float p);
  // Reduction of one plane: kind 0 sum, 1 max (NaN propagates; -inf if n == 0), 2 sum of |x|^p.
  float (*plane_reduce)(const float* x, int64_t n, int kind, float p);
};

PYINFER_DECLARE_ISA_TABLE(PoolKernels, pool_kernels_table)

inline const PoolKernels& pool_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(pool_kernels_table);
}

}  // namespace pyinfer
