// Direct 2-D depthwise convolution (one input channel per group), vectorized along output
// columns: cheaper than im2col + GEMM, whose GEMM would have a single row per group.
// Kernels per ISA tier live in depthwise_isa.cpp; depthwise_kernels() picks the active one.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"
#include "gemm/epilogue.h"

namespace pyinfer {

// One channel plane; the caller (prepare_conv) has checked the geometry.
struct DepthwisePlane {
  int64_t H, W;    // input plane
  int64_t OH, OW;  // output plane
  int64_t KH, KW, sh, sw, dh, dw, ph, pw;  // kernel, strides, dilations, begin pads
  int64_t pb = 0, pr = 0;                  // end pads (the lanes kernel's padded block)
};

// The lanes kernel's scratch: the zero-padded block [Hp][Wp][vec], the output tile
// [OH * OW][vec] and the weights [KH * KW][vec].
inline int64_t dw_lanes_padded_floats(const DepthwisePlane& p, int64_t vec) {
  return (p.H + p.ph + p.pb) * (p.W + p.pw + p.pr) * vec;
}
inline int64_t dw_lanes_scratch_floats(const DepthwisePlane& p, int64_t vec) {
  return dw_lanes_padded_floats(p, vec) + (p.OH * p.OW + p.KH * p.KW) * vec;
}

// Flat path: every output position oh * OW + ow of a plane is one run of vectors, whatever
// OW is (a 7x7 map is 4 vectors of 16, not 7 vectors of 7 lanes). Each tap then reads one
// contiguous run too: stride 1 needs input rows as wide as output rows (W == OW); stride 2
// splits the input into its 4 (row, column) parity planes, each OW wide (W == 2 * OW).
// Taps that step past a row's end (column offset != 0) are discarded per lane by masks.
// Square 3x3 / 5x5 / 7x7 (ConvNeXt), any dilation (DeepLab's atrous depthwise: a tap's offset
// is only (kh * dh - ph) rows and (kw * dw - pw) columns), begin / end pads below the dilated
// kernel's extent.
struct DwFlatLayout {
  int64_t zero_top = 0;     // zero rows above each parity plane
  int64_t plane_rows = 0;   // rows of each parity plane, zero rows included
  int64_t mask_period = 0;  // vectors after which the column pattern repeats
  int64_t vec = 0;          // lanes of the active tier's vectors
};
inline int64_t dw_extent(int64_t k, int64_t d) { return (k - 1) * d + 1; }
inline bool dw_flat_applies(const DepthwisePlane& p, int64_t pad_bottom, int64_t pad_right) {
  const int64_t K = p.KH, EH = dw_extent(K, p.dh), EW = dw_extent(K, p.dw);
  return p.KH == p.KW && (K == 3 || K == 5 || K == 7) && p.dh >= 1 && p.dw >= 1 && p.sh == p.sw &&
         (p.sh == 1 || p.sh == 2) && p.ph < EH && p.pw < EW && pad_bottom < EH && pad_right < EW &&
         p.W == p.sw * p.OW && p.OH * p.OW <= (int64_t(1) << 20);
}
inline DwFlatLayout dw_flat_layout(const DepthwisePlane& p, int64_t vec) {
  DwFlatLayout l;
  const int64_t s = p.sh, EH = dw_extent(p.KH, p.dh), EW = dw_extent(p.KW, p.dw);
  l.vec = vec;
  l.zero_top = (p.ph + s - 1) / s + 1;  // row offsets reach -ceil(ph / s); +1: columns before 0
  const int64_t dr_max = (EH - 1 - p.ph) / s;
  const int64_t data_rows = (p.H + s - 1) / s > p.OH + dr_max ? (p.H + s - 1) / s : p.OH + dr_max;
  // Below: the last vector's overrun past OH * OW plus the column offsets.
  l.plane_rows = l.zero_top + data_rows + (vec + EW) / p.OW + 2;
  int64_t a = p.OW, b = vec;  // gcd
  while (b) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  l.mask_period = p.OW / a;
  return l;
}
inline int64_t dw_flat_scratch_floats(const DepthwisePlane& p, const DwFlatLayout& l) {
  const int64_t row_span = (p.OW + l.vec - 1) / l.vec * l.vec;  // row-local masks (stride 1)
  const int64_t period = l.mask_period * l.vec;
  return 2 * p.sh * p.sw * l.plane_rows * p.OW + p.KW * (period > row_span ? period : row_span);
}

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
  // Flat path (dw_flat_applies) for output channels [m0, m1) of one image: channel m reads
  // input channel m / mult of x ([C, H, W]) and weights w + m * K * K, and writes
  // y + m * OH * OW = act(conv + ep.row_bias[m] + ep.residual[m * ld_residual ...]) with the
  // whole epilogue applied in registers (ep: the image's; ld_residual = OH * OW).
  // scratch: dw_flat_scratch_floats(p, l) floats.
  void (*flat)(const DepthwisePlane& p, const DwFlatLayout& l, const float* x, const float* w,
               int64_t mult, int64_t m0, int64_t m1, float* y, const Epilogue& ep, float* scratch);
  // Channels as lanes (one channel per input channel, any kernel, stride, dilation, padding): a
  // block of nc <= vec channels, x its first input plane (planes H * W apart), w its first
  // channel's weights (KH * KW each), bias its first bias (or null) -> y (planes OH * OW apart)
  // with ep's residual (ld_residual OH * OW) and activation. scratch: dw_lanes_scratch_floats(p,
  // vec) floats owned by the calling thread, its first dw_lanes_padded_floats(p, vec) zeroed
  // before the first block (the padded input's borders; blocks rewrite only the interior).
  void (*lanes)(const DepthwisePlane& p, const float* x, int nc, const float* w, const float* bias, float* y,
                const Epilogue& ep, float* scratch);
  int vec;  // VecF::N of this tier
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
