// Dispatch table of the pooling family (see common/isa_probe.h for the pattern); the
// per-tier instances live in pool_kernels_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"
#include "pool/pool.h"

namespace pyinfer {

// Scratch layout of window_rows() (pool_kernels_isa.cpp), one per calling thread. It reduces
// a batch of output rows' window rows into `batch` reduced input rows of `stride` floats:
// `left` neutral values (the begin pad), the W reduced columns, `right` neutral values (end
// pad and ceil_mode overhang), so every window lies inside its row. Margins beyond
// kPoolMaxMargin (absurd pads) or strides past kPoolMaxVectorStride get no margins; those
// windows clipped by the row ends then go one by one. After the rows: slack for vector reads
// past the last one, `batch` per-row divisor counts, out[2] per-column divisor factors.
constexpr int64_t kPoolRowBatchFloats = 4096;
constexpr int64_t kPoolMaxMargin = 64;
constexpr int64_t kPoolMaxVectorStride = int64_t(1) << 26;  // lane index * stride fits int32
struct PoolRowLayout {
  bool margins;  // the margins hold every window
  int64_t left, right, stride, batch;
  int64_t counts_at, width_scale_at, total;  // float offsets into the scratch, its size
};
inline PoolRowLayout pool_row_layout(const PoolGeom& g) {
  PoolRowLayout l;
  const int64_t W = g.in[2], s = g.stride[2];
  const int64_t extent = (g.out[2] - 1) * s + (g.kernel[2] - 1) * g.dilation[2] + 1;  // from -pad_begin
  const int64_t right = extent - g.pad_begin[2] - W;
  l.left = g.pad_begin[2];
  l.right = right > 0 ? right : 0;
  l.margins = l.left + l.right <= kPoolMaxMargin && s <= kPoolMaxVectorStride;
  if (!l.margins) l.left = l.right = 0;
  l.stride = l.left + W + l.right;
  l.batch = l.stride >= kPoolRowBatchFloats ? 1 : kPoolRowBatchFloats / (l.stride > 0 ? l.stride : 1);
  l.counts_at = l.batch * l.stride + 64;  // slack: stride-2 vector reads run 2 vectors of 16 past a row
  l.width_scale_at = l.counts_at + l.batch;
  l.total = l.width_scale_at + g.out[2];
  return l;
}

struct PoolKernels {
  // Output rows [row_begin, row_end) of pool kind `kind`; row r is (plane, od, oh) flattened,
  // i.e. y + r * out[2] gets out[2] values. row_buf: scratch of pool_row_layout(g).total floats,
  // owned by the calling thread.
  void (*window_rows)(const PoolGeom& g, int kind, const float* x, float* y, int64_t row_begin,
                      int64_t row_end, float* row_buf);
  // Planes [p0, p1) of a 2-D 3x3 pool with stride 1, dilation 1 and padding 1 on every side
  // (is_plane_3x3, pool.cpp) for kinds Max / Sum / AvgIncludePad / AvgExcludePad. scratch:
  // plane_3x3_scratch(g) floats owned by the calling thread.
  void (*planes_3x3)(const PoolGeom& g, int kind, const float* x, float* y, int64_t p0, int64_t p1,
                     float* scratch);
  // y[i] = |x[i]|^p for i < n.
  void (*abs_pow)(const float* x, float* y, int64_t n, float p);
  // y[i] = y[i]^(1/p) for i < n.
  void (*root)(float* y, int64_t n, float p);
  // Reduction of one plane: kind 0 sum, 1 max (NaN propagates; -inf if n == 0), 2 sum of |x|^p.
  float (*plane_reduce)(const float* x, int64_t n, int kind, float p);
};

// 2-D, 3x3, stride 1, dilation 1, padding 1 on all sides: the output plane is the input's.
inline bool is_plane_3x3(const PoolGeom& g) {
  bool r = g.in[0] == 1 && g.out[0] == 1 && g.kernel[0] == 1 && g.pad_begin[0] == 0 && g.pad_end[0] == 0;
  for (int i = 1; i < 3; ++i)
    r = r && g.kernel[i] == 3 && g.stride[i] == 1 && g.dilation[i] == 1 && g.pad_begin[i] == 1 &&
        g.pad_end[i] == 1 && g.out[i] == g.in[i];
  return r;
}
inline int64_t plane_3x3_scratch(const PoolGeom& g) { return 3 * (g.in[1] * g.in[2] + 64); }

PYINFER_DECLARE_ISA_TABLE(PoolKernels, pool_kernels_table)

inline const PoolKernels& pool_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(pool_kernels_table);
}

}  // namespace pyinfer
