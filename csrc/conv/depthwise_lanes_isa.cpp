// Depthwise kernel with channels as vector lanes (see DepthwiseKernels::lanes in depthwise.h),
// compiled once per ISA tier. The block's input is [Hp][Wp][N] (N channels per position, zero
// borders), so every tap of every output position is one aligned vector load, whatever the
// map's size, stride, dilation or padding: no lanes wasted on a 7 x 7 map, no masks, no loads
// straddling cache lines.
//
// Square 3x3 / 5x5 / 7x7 kernels, stride 1 or 2, dilation 1 (the common case) compute G output
// positions of a row at once with one kernel row's weights in registers: the G positions' taps
// on that kernel row read S * (G - 1) + K input vectors, each loaded once and used by every
// position that reads it (the offsets are constants, so the compiler shares the loads), instead
// of G * K loads. Other shapes take a plain loop, one position at a time.
#include <algorithm>

#include "common/simd.h"
#include "conv/depthwise.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int N = VecF::N;

// Positions [ow, ow + G) of output row `top` (the input row of kernel row 0 at column 0).
template <int K, int S, int G>
inline void group(const float* top, int64_t Wp, const float* wl, VecF b, int64_t ow, float* out) {
  VecF a[G];
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) a[i] = b;
  for (int kh = 0; kh < K; ++kh) {
    const float* row = top + (kh * Wp + ow * S) * N;
    VecF w[K];
#pragma GCC unroll 7
    for (int kw = 0; kw < K; ++kw) w[kw] = VecF::load(wl + (kh * K + kw) * N);
#pragma GCC unroll 7
    for (int kw = 0; kw < K; ++kw)
#pragma GCC unroll 8
      for (int i = 0; i < G; ++i) a[i] = fmadd(w[kw], VecF::load(row + (i * S + kw) * N), a[i]);
  }
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) a[i].store(out + (ow + i) * N);
}

// Rows of width >= 4: groups of G (8, then 4), the last one overlapping the one before when
// the width is not a multiple (those positions are computed twice, to the same values).
template <int K, int S>
void square(const DepthwisePlane& p, const float* in, int64_t Wp, const float* wl, VecF b, float* tile) {
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const float* top = in + oh * S * Wp * N;
    float* out = tile + oh * p.OW * N;
    if (p.OW >= 8) {
      for (int64_t g = 0; g < p.OW; g += 8) group<K, S, 8>(top, Wp, wl, b, std::min(g, p.OW - 8), out);
    } else {
      for (int64_t g = 0; g < p.OW; g += 4) group<K, S, 4>(top, Wp, wl, b, std::min(g, p.OW - 4), out);
    }
  }
}

// Any kernel, stride and dilation; positions one at a time.
void general(const DepthwisePlane& p, const float* in, int64_t Wp, const float* wl, VecF b, float* tile) {
  const int64_t step = p.sw * N;
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const float* top = in + oh * p.sh * Wp * N;
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      VecF a = b;
      const float* base = top + ow * step;
      for (int64_t kh = 0; kh < p.KH; ++kh) {
        const float* row = base + kh * p.dh * Wp * N;
        const float* wr = wl + kh * p.KW * N;
        for (int64_t kw = 0; kw < p.KW; ++kw) a = fmadd(VecF::load(wr + kw * N), VecF::load(row + kw * p.dw * N), a);
      }
      a.store(tile + (oh * p.OW + ow) * N);
    }
  }
}

template <int K>
bool square_k(const DepthwisePlane& p, const float* in, int64_t Wp, const float* wl, VecF b, float* tile) {
  if (p.sh == 1 && p.sw == 1) square<K, 1>(p, in, Wp, wl, b, tile);
  else if (p.sh == 2 && p.sw == 2) square<K, 2>(p, in, Wp, wl, b, tile);
  else return false;
  return true;
}

}  // namespace

void dw_lanes_block(const DepthwisePlane& p, const float* in, int64_t Wp, const float* wl, const float* bias,
                    float* tile) {
  const VecF b = VecF::load(bias);
  const bool square_shape = p.KH == p.KW && p.dh == 1 && p.dw == 1 && p.OW >= 4;
  bool done = false;
  if (square_shape && p.KH == 3) done = square_k<3>(p, in, Wp, wl, b, tile);
  else if (square_shape && p.KH == 5) done = square_k<5>(p, in, Wp, wl, b, tile);
  else if (square_shape && p.KH == 7) done = square_k<7>(p, in, Wp, wl, b, tile);
  if (!done) general(p, in, Wp, wl, b, tile);
}

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
