// Direct 2-D depthwise convolution, compiled once per ISA tier (see depthwise.h).
// Output columns whose every kernel tap lands inside the row ("interior") are computed a
// vector at a time when the column stride is 1; border columns and strided rows go
// through a plain loop with bounds checks.
#include "common/simd.h"
#include "conv/depthwise.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

// One output value with every tap checked against the input bounds.
inline float dw_point(const DepthwisePlane& p, const float* x, const float* w, float bias, int64_t kh0,
                      int64_t kh1, int64_t oh, int64_t ow) {
  float s = bias;
  for (int64_t kh = kh0; kh < kh1; ++kh) {
    const float* xr = x + (oh * p.sh - p.ph + kh * p.dh) * p.W;
    const float* wr = w + kh * p.KW;
    for (int64_t kw = 0; kw < p.KW; ++kw) {
      const int64_t iw = ow * p.sw - p.pw + kw * p.dw;
      if (iw >= 0 && iw < p.W) s += wr[kw] * xr[iw];
    }
  }
  return s;
}

// out[j] = bias + sum over kernel rows [kh0, kh1) and columns of w[kh, kw] * x[ih, col0 + j + kw * dw]
// for j in [0, n); the caller guarantees every column read is inside the row.
void vec_row(const DepthwisePlane& p, const float* x, const float* w, float bias, int64_t oh, int64_t kh0,
             int64_t kh1, int64_t col0, int64_t n, float* out) {
  const int N = VecF::N;
  int64_t j = 0;
  for (; j + 2 * N <= n; j += 2 * N) {  // two accumulators hide the FMA latency
    VecF a0 = VecF::set1(bias), a1 = VecF::set1(bias);
    for (int64_t kh = kh0; kh < kh1; ++kh) {
      const float* xr = x + (oh * p.sh - p.ph + kh * p.dh) * p.W + col0 + j;
      const float* wr = w + kh * p.KW;
      for (int64_t kw = 0; kw < p.KW; ++kw) {
        const VecF wv = VecF::set1(wr[kw]);
        a0 = fmadd(wv, VecF::load(xr + kw * p.dw), a0);
        a1 = fmadd(wv, VecF::load(xr + kw * p.dw + N), a1);
      }
    }
    a0.store(out + j);
    a1.store(out + j + N);
  }
  for (; j < n; j += N) {
    const int m = n - j < N ? static_cast<int>(n - j) : N;
    VecF a = VecF::set1(bias);
    for (int64_t kh = kh0; kh < kh1; ++kh) {
      const float* xr = x + (oh * p.sh - p.ph + kh * p.dh) * p.W + col0 + j;
      const float* wr = w + kh * p.KW;
      for (int64_t kw = 0; kw < p.KW; ++kw) a = fmadd(VecF::set1(wr[kw]), VecF::load_partial(xr + kw * p.dw, m), a);
    }
    a.store_partial(out + j, m);
  }
}

void dw_plane(const DepthwisePlane& p, const float* x, const float* w, float bias, float* y, float* scratch) {
  // Interior columns [lo, hi): ow * sw - pw >= 0 and ow * sw - pw + (KW - 1) * dw < W.
  int64_t lo = (p.pw + p.sw - 1) / p.sw;
  const int64_t last = p.W - 1 + p.pw - (p.KW - 1) * p.dw;
  int64_t hi = last < 0 ? 0 : last / p.sw + 1;
  if (lo > p.OW) lo = p.OW;
  if (hi > p.OW) hi = p.OW;
  if (hi < lo) hi = lo;
  // Small column strides on wide vectors: compute the row at stride 1 (sw times the work,
  // all of it vectorized) and keep every sw-th value; that beats a scalar strided loop.
  const bool subsample = p.sw > 1 && p.sw <= 4 && VecF::N >= 8;
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    // Kernel rows whose input row exists: [kh0, kh1).
    int64_t kh0 = 0, kh1 = p.KH;
    while (kh0 < kh1 && oh * p.sh - p.ph + kh0 * p.dh < 0) ++kh0;
    while (kh1 > kh0 && oh * p.sh - p.ph + (kh1 - 1) * p.dh >= p.H) --kh1;
    float* yr = y + oh * p.OW;
    for (int64_t ow = 0; ow < lo; ++ow) yr[ow] = dw_point(p, x, w, bias, kh0, kh1, oh, ow);
    for (int64_t ow = hi; ow < p.OW; ++ow) yr[ow] = dw_point(p, x, w, bias, kh0, kh1, oh, ow);
    if (hi == lo) continue;
    if (p.sw == 1) {
      vec_row(p, x, w, bias, oh, kh0, kh1, lo - p.pw, hi - lo, yr + lo);
    } else if (subsample) {
      // Full-resolution columns lo * sw .. (hi - 1) * sw: at most W of them (all inside).
      vec_row(p, x, w, bias, oh, kh0, kh1, lo * p.sw - p.pw, (hi - 1 - lo) * p.sw + 1, scratch);
      for (int64_t ow = lo; ow < hi; ++ow) yr[ow] = scratch[(ow - lo) * p.sw];
    } else {
      for (int64_t ow = lo; ow < hi; ++ow) {
        float s = bias;
        const float* xc = x + ow * p.sw - p.pw;
        for (int64_t kh = kh0; kh < kh1; ++kh) {
          const float* xr = xc + (oh * p.sh - p.ph + kh * p.dh) * p.W;
          const float* wr = w + kh * p.KW;
          for (int64_t kw = 0; kw < p.KW; ++kw) s += wr[kw] * xr[kw * p.dw];
        }
        yr[ow] = s;
      }
    }
  }
}


// --- fast path: 3x3 / 5x5, dilation 1, strides 1 / 2 ------------------------------------
//
// The source is a zero-bordered copy of the plane, so every tap is an in-bounds load: tap
// (kh, kw) of output (oh, ow) reads row oh*SH + kh of plane tap[kw] at column ow (tap[kw]
// already offset by its column). Stride 1: one padded plane, tap[kw] = S + kw. Stride 2:
// even / odd columns of the padded plane split apart (E, O), tap[kw] = (kw odd ? O : E) + kw/2,
// so a vector of outputs reads consecutive floats instead of subsampling.

#if defined(PYINFER_ISA_AVX512)
constexpr int kDwVecs = 4;  // vectors per register block: R x kDwVecs accumulators
#elif defined(PYINFER_ISA_AVX2)
constexpr int kDwVecs = 2;
#else
constexpr int kDwVecs = 2;
#endif

// Output rows [oh, oh + R) x V vectors of columns from ow; `lanes` < N: one masked vector.
template <int K, int SH, int R, int V>
inline void dw_block(const float* const* tap, int64_t rs, const VecF* wv, float bias, float* y,
                     int64_t OW, int64_t oh, int64_t ow, int lanes) {
  constexpr int N = VecF::N;
  VecF acc[R][V];
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v] = VecF::set1(bias);
  constexpr int rows_in = SH * (R - 1) + K;
#pragma GCC unroll 16
  for (int i = 0; i < rows_in; ++i) {
#pragma GCC unroll 8
    for (int kw = 0; kw < K; ++kw) {
      const float* src = tap[kw] + (oh * SH + i) * rs + ow;
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        const VecF xv = lanes < N ? VecF::load_partial(src + v * N, lanes) : VecF::load(src + v * N);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) {
          const int kh = i - r * SH;
          if (kh >= 0 && kh < K) acc[r][v] = fmadd(wv[kh * K + kw], xv, acc[r][v]);
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      float* out = y + (oh + r) * OW + ow + v * N;
      if (lanes < N)
        acc[r][v].store_partial(out, lanes);
      else
        acc[r][v].store(out);
    }
}

// All of output rows [oh, oh + R).
template <int K, int SH, int R>
inline void dw_rows(const float* const* tap, int64_t rs, const VecF* wv, float bias, float* y,
                    int64_t OW, int64_t oh) {
  constexpr int N = VecF::N;
  int64_t ow = 0;
  for (; ow + kDwVecs * N <= OW; ow += kDwVecs * N)
    dw_block<K, SH, R, kDwVecs>(tap, rs, wv, bias, y, OW, oh, ow, N);
  for (; ow + N <= OW; ow += N) dw_block<K, SH, R, 1>(tap, rs, wv, bias, y, OW, oh, ow, N);
  if (ow < OW) dw_block<K, SH, R, 1>(tap, rs, wv, bias, y, OW, oh, ow, static_cast<int>(OW - ow));
}

template <int K, int SH>
void dw_fast_rows_all(const float* const* tap, int64_t rs, const float* w, float bias, float* y,
                      int64_t OH, int64_t OW) {
  VecF wv[K * K];
  for (int i = 0; i < K * K; ++i) wv[i] = VecF::set1(w[i]);
  int64_t oh = 0;
  for (; oh + 2 <= OH; oh += 2) dw_rows<K, SH, 2>(tap, rs, wv, bias, y, OW, oh);
  if (oh < OH) dw_rows<K, SH, 1>(tap, rs, wv, bias, y, OW, oh);
}

// even[j] = src[2j], odd[j] = src[2j + 1] for j < n; src holds 2n + 2 readable floats.
void deinterleave(const float* src, int64_t n, float* even, float* odd) {
  int64_t j = 0;
#if defined(PYINFER_ISA_AVX512)
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (; j + 16 < n; j += 16) {  // reads src[2j, 2j + 32) <= 2n
    const __m512 a = _mm512_loadu_ps(src + 2 * j), b = _mm512_loadu_ps(src + 2 * j + 16);
    _mm512_storeu_ps(even + j, _mm512_permutex2var_ps(a, ie, b));
    _mm512_storeu_ps(odd + j, _mm512_permutex2var_ps(a, io, b));
  }
#endif
  for (; j < n; ++j) {
    even[j] = src[2 * j];
    odd[j] = src[2 * j + 1];
  }
}

void dw_plane_fast(const DepthwisePlane& p, const float* x, const float* w, float bias, float* y,
                   float* scratch) {
  const int64_t rows = dw_fast_rows(p), rs = dw_fast_stride(p);
  const int64_t cols = (p.OW - 1) * p.sw + p.KW;  // padded columns read
  float* src = scratch;                            // stride 1: S; stride 2: E then O
  float* row_buf = scratch + rows * rs * p.sw;     // stride 2: one padded row
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t ih = i - p.ph;
    float* dst = p.sw == 1 ? src + i * rs : row_buf;
    const int64_t lo = p.pw < cols ? p.pw : cols;  // [lo, hi): columns that come from x
    int64_t hi = p.pw + p.W < cols ? p.pw + p.W : cols;
    if (ih < 0 || ih >= p.H) hi = lo;
    if (hi == lo) {  // a padding row
      const int64_t fill = p.sw == 1 ? rs : 2 * rs + 2;
      int64_t c = 0;
      for (; c + VecF::N <= fill; c += VecF::N) VecF::zero().store(dst + c);
      for (; c < fill; ++c) dst[c] = 0.f;
      if (p.sw == 2) deinterleave(row_buf, rs, src + i * rs, src + (rows + i) * rs);
      continue;
    }
    for (int64_t c = 0; c < lo; ++c) dst[c] = 0.f;
    const float* xr = x + ih * p.W - p.pw;
    int64_t c = lo;
    for (; c + VecF::N <= hi; c += VecF::N) VecF::load(xr + c).store(dst + c);
    for (; c < hi; ++c) dst[c] = xr[c];
    const int64_t fill = p.sw == 1 ? rs : 2 * rs + 2;  // what the loads may touch
    for (; c < fill; ++c) dst[c] = 0.f;
    if (p.sw == 2) deinterleave(row_buf, rs, src + i * rs, src + (rows + i) * rs);
  }
  const float* tap[5];
  for (int kw = 0; kw < p.KW; ++kw)
    tap[kw] = p.sw == 1 ? src + kw : src + (kw % 2 ? rows * rs : 0) + kw / 2;
  if (p.KH == 3)
    p.sh == 1 ? dw_fast_rows_all<3, 1>(tap, rs, w, bias, y, p.OH, p.OW)
              : dw_fast_rows_all<3, 2>(tap, rs, w, bias, y, p.OH, p.OW);
  else
    p.sh == 1 ? dw_fast_rows_all<5, 1>(tap, rs, w, bias, y, p.OH, p.OW)
              : dw_fast_rows_all<5, 2>(tap, rs, w, bias, y, p.OH, p.OW);
}

}  // namespace

// depthwise_flat_isa.cpp
void dw_flat_channels(const DepthwisePlane& p, const DwFlatLayout& l, const float* x, const float* w,
                      int64_t mult, int64_t m0, int64_t m1, float* y, const Epilogue& ep, float* scratch);

// depthwise_lanes_isa.cpp
void dw_lanes_block(const DepthwisePlane& p, const float* x, int nc, const float* w, const float* bias, float* y,
                    const Epilogue& ep, float* scratch);

extern const DepthwiseKernels depthwise_table = {dw_plane, dw_plane_fast, dw_flat_channels, dw_lanes_block, VecF::N};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
