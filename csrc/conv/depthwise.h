// Direct 2-D depthwise convolution (one input channel per group), vectorized along output
// columns: cheaper than im2col + GEMM, whose GEMM would have a single row per group.
// Kernels per ISA tier live in depthwise_isa.cpp; depthwise_kernels() picks the active one.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// One channel plane; the caller (conv_forward) has checked the geometry.
struct DepthwisePlane {
  int64_t H, W;    // input plane
  int64_t OH, OW;  // output plane
  int64_t KH, KW, sh, sw, dh, dw, ph, pw;  // kernel, strides, dilations, begin pads
};

struct DepthwiseKernels {
  // y[OH, OW] = bias + sum_{kh, kw} w[kh, kw] * x[oh * sh - ph + kh * dh, ow * sw - pw + kw * dw]
  // (taps outside x read zero). scratch: room for W floats.
  void (*plane)(const DepthwisePlane& p, const float* x, const float* w, float bias, float* y, float* scratch);
  // The same for square 3x3 / 5x5 kernels, dilation 1, strides 1 or 2 (dw_fast_applies):
  // the plane is copied once into zero-bordered scratch (stride 2: split into even / odd
  // columns), then output rows are computed in register blocks with the taps' weights held
  // in registers. scratch: dw_fast_scratch_floats(p) floats.
  void (*plane_fast)(const DepthwisePlane& p, const float* x, const float* w, float bias, float* y,
                     float* scratch);
};

inline bool dw_fast_applies(const DepthwisePlane& p) {
  return p.KH == p.KW && (p.KH == 3 || p.KH == 5) && p.dh == 1 && p.dw == 1 &&
         (p.sh == 1 || p.sh == 2) && (p.sw == 1 || p.sw == 2);
}
// Source rows the fast kernel reads and their length (the loads never go past it: vector
// tails are masked); stride 2 keeps two planes (even and odd columns) and one padded row.
inline int64_t dw_fast_rows(const DepthwisePlane& p) { return (p.OH - 1) * p.sh + p.KH; }
inline int64_t dw_fast_stride(const DepthwisePlane& p) {
  return p.sw == 1 ? p.OW + p.KW - 1 : p.OW + p.KW / 2;
}
inline int64_t dw_fast_scratch_floats(const DepthwisePlane& p) {
  return dw_fast_rows(p) * dw_fast_stride(p) * p.sw + 2 * dw_fast_stride(p) + 2;
}

PYINFER_DECLARE_ISA_TABLE(DepthwiseKernels, depthwise_table)

inline const DepthwiseKernels& depthwise_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(depthwise_table);
}

}  // namespace pyinfer
