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
//
// The block moves in and out in registers: a vector's worth of channel planes is loaded a
// vector of positions at a time, transposed (transpose_block) and stored to its padded
// positions; the tile goes back the same way with the residual and activation applied before
// the store. (Calling a generic transpose once per input row, then an epilogue pass over the
// planes, cost 3.5x the taps themselves on a 7 x 7 map.)
#include <algorithm>

#include "common/simd.h"
#include "conv/depthwise.h"
#include "gemm/epilogue_simd.h"

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

// Rows [0, nc) of src (row stride ld, `cols` floats each) as lanes: column j's nc values (lanes
// past nc: 0) go to dst + (j / run * run_stride + j % run) * N, runs of `run` columns laid out
// run_stride vectors apart (the block's padded rows; the weights: one run).
inline void rows_to_lanes(const float* src, int64_t ld, int nc, int64_t cols, int64_t run, int64_t run_stride,
                          float* dst) {
  VecF r[N];
  int64_t row = 0, col = 0;  // of column j0 + i, kept by counting (a division per vector cost more than the copy)
  for (int64_t j0 = 0; j0 < cols; j0 += N) {
    const int nj = cols - j0 < N ? static_cast<int>(cols - j0) : N;
    for (int c = 0; c < N; ++c)
      r[c] = c >= nc ? VecF::zero() : nj == N ? VecF::load(src + c * ld + j0) : VecF::load_partial(src + c * ld + j0, nj);
    transpose_block(r);
    for (int i = 0; i < nj; ++i) {
      r[i].store(dst + (row * run_stride + col) * N);
      if (++col == run) col = 0, ++row;
    }
  }
}

// The tile [P][N] back to channel planes y + c * P, c < nc, with the residual and activation.
template <Act A>
void tile_to_planes(const float* tile, int64_t P, int nc, float* y, const Epilogue& ep) {
  VecF r[N];
  for (int64_t p0 = 0; p0 < P; p0 += N) {
    const int np = P - p0 < N ? static_cast<int>(P - p0) : N;
    for (int i = 0; i < N; ++i) r[i] = i < np ? VecF::load(tile + (p0 + i) * N) : VecF::zero();
    transpose_block(r);
    for (int c = 0; c < nc; ++c) {
      VecF v = r[c];
      if (ep.residual) {
        const float* res = ep.residual + c * ep.ld_residual + p0;
        v = v + (np == N ? VecF::load(res) : VecF::load_partial(res, np));
      }
      v = ep_activate<A>(v, ep);
      if (np == N)
        v.store(y + c * P + p0);
      else
        v.store_partial(y + c * P + p0, np);
    }
  }
}

}  // namespace

void dw_lanes_block(const DepthwisePlane& p, const float* x, int nc, const float* w, const float* bias,
                    float* y, const Epilogue& ep, float* scratch) {
  const int64_t Hp = p.H + p.ph + p.pb, Wp = p.W + p.pw + p.pr, taps = p.KH * p.KW, P = p.OH * p.OW;
  float* in = scratch;
  float* tile = in + Hp * Wp * N;
  float* wl = tile + P * N;
  // The planes into the padded block's interior (its borders are the caller's zeros).
  float* interior = in + (p.ph * Wp + p.pw) * N;
  rows_to_lanes(x, p.H * p.W, nc, p.H * p.W, p.W, Wp, interior);
  rows_to_lanes(w, taps, nc, taps, taps, 0, wl);  // [tap][channel]
  const VecF b = bias ? VecF::load_partial(bias, nc) : VecF::zero();
  const bool square_shape = p.KH == p.KW && p.dh == 1 && p.dw == 1 && p.OW >= 4;
  bool done = false;
  if (square_shape && p.KH == 3) done = square_k<3>(p, in, Wp, wl, b, tile);
  else if (square_shape && p.KH == 5) done = square_k<5>(p, in, Wp, wl, b, tile);
  else if (square_shape && p.KH == 7) done = square_k<7>(p, in, Wp, wl, b, tile);
  if (!done) general(p, in, Wp, wl, b, tile);
  with_epilogue_act(ep.act.kind, [&](auto tag) { tile_to_planes<decltype(tag)::value>(tile, P, nc, y, ep); });
}

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
