// Flat depthwise kernel (see DwFlatLayout in depthwise.h), compiled once per ISA tier.
//
// Output j = oh * OW + ow, tap (kh, kw): with kh dh - ph = s * dr + a and kw dw - pw = s * dc + b,
// it reads row oh + dr, column ow + dc of the input's (a, b) parity plane, i.e. flat index
// j + dr * OW + dc of a plane with rows OW wide. Stride 1: the plane is x itself (W == OW)
// and loads that reach outside it (padding rows) are masked per lane. Stride 2: the four
// parity planes are split into scratch, with zero rows above and below the data rows. A
// column offset dc != 0 wraps into the neighbouring row, so each kernel column sums into its
// own accumulator and lanes whose ow + dc is outside [0, OW) drop it (a select, not a
// multiply by 0: an Inf in the wrapped value must not turn into NaN). Scratch after the
// planes: one 0/1 mask run per kernel column, one period (mask_period vectors) long.
#include "common/simd.h"
#include "conv/depthwise.h"
#include "gemm/epilogue_simd.h"

// The per-vector helpers must inline: called out of line, their accumulator arrays go
// through memory.
#if defined(__GNUC__)
#define DW_INLINE inline __attribute__((always_inline))
#else
#define DW_INLINE inline
#endif

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

inline int64_t floor_div(int64_t a, int64_t s) { return a >= 0 ? a / s : -((-a + s - 1) / s); }

// Lanes i in [lo, hi) get p[i], the others 0; p[i] is read for those lanes only.
DW_INLINE VecF load_lanes(const float* p, int64_t lo, int64_t hi) {
  constexpr int N = VecF::N;
  lo = lo < 0 ? 0 : lo;
  hi = hi > N ? N : hi;
  if (lo >= hi) return VecF::zero();
#if defined(PYINFER_ISA_AVX512)
  const unsigned m = ((1u << hi) - 1) & ~((1u << lo) - 1);
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>(m), p);
#elif defined(PYINFER_ISA_AVX2)
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(static_cast<int>(lo) - 1)),
                                     _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(hi)), idx));
  return _mm256_maskload_ps(p, m);
#else
  return *p;  // N == 1: lo == 0, hi == 1 here
#endif
}

// even[j] = src[2j], odd[j] = src[2j + 1] for j < n (src holds 2n floats).
inline void split_row(const float* src, int64_t n, float* even, float* odd) {
  int64_t j = 0;
#if defined(PYINFER_ISA_AVX512)
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (; j < n; j += 16) {
    const int m = n - j < 16 ? static_cast<int>(n - j) : 16;  // pairs in this chunk
    const int fa = 2 * m < 16 ? 2 * m : 16, fb = 2 * m - fa;   // floats from each half
    const __m512 a = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << fa) - 1), src + 2 * j);
    const __m512 b = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << fb) - 1), src + 2 * j + 16);
    const __mmask16 mm = static_cast<__mmask16>((1u << m) - 1);
    _mm512_mask_storeu_ps(even + j, mm, _mm512_permutex2var_ps(a, ie, b));
    _mm512_mask_storeu_ps(odd + j, mm, _mm512_permutex2var_ps(a, io, b));
  }
#else
  for (; j < n; ++j) {
    even[j] = src[2 * j];
    odd[j] = src[2 * j + 1];
  }
#endif
}

// Input channel xc into the data rows of the planes (rows past `rows` are never read).
// Stride 1: one contiguous copy (W == OW). Stride 2: each row split into its even and odd
// columns, rows alternating between the even-row and odd-row planes.
void load_planes(const DepthwisePlane& p, const DwFlatLayout& l, const float* xc, int64_t rows, float* planes) {
  constexpr int N = VecF::N;
  const int64_t OW = p.OW, PS = l.plane_rows * OW;
  if (p.sh == 1) {
    const int64_t n = (p.H < rows ? p.H : rows) * p.W;
    float* dst = planes + l.zero_top * OW;
    int64_t i = 0;
    for (; i + N <= n; i += N) VecF::load(xc + i).store(dst + i);
    if (i < n) VecF::load_partial(xc + i, static_cast<int>(n - i)).store_partial(dst + i, static_cast<int>(n - i));
    return;
  }
  const int64_t H = p.H < 2 * rows ? p.H : 2 * rows;
#if defined(PYINFER_ISA_AVX512)
  if (p.W <= 16) {  // a row is one vector: one permute puts evens in lanes [0, OW), odds after
    alignas(64) int32_t idx[16];
    for (int i = 0; i < 16; ++i) idx[i] = i < OW ? 2 * i : (i < 2 * OW ? 2 * (i - static_cast<int>(OW)) + 1 : 0);
    const __m512i perm = _mm512_load_si512(idx);
    const __mmask16 in = static_cast<__mmask16>((1u << p.W) - 1), lo = static_cast<__mmask16>((1u << OW) - 1);
    const __mmask16 hi = static_cast<__mmask16>(in & ~lo);
    for (int64_t r = 0; r < H; ++r) {
      float* even = planes + 2 * (r & 1) * PS + (l.zero_top + (r >> 1)) * OW;
      const __m512 v = _mm512_permutexvar_ps(perm, _mm512_maskz_loadu_ps(in, xc + r * p.W));
      _mm512_mask_storeu_ps(even, lo, v);
      _mm512_mask_storeu_ps(even + PS - OW, hi, v);  // lanes [OW, 2 OW) to odd[0, OW)
    }
    return;
  }
#endif
  for (int64_t r = 0; r < H; ++r) {
    float* even = planes + 2 * (r & 1) * PS + (l.zero_top + (r >> 1)) * OW;
    split_row(xc + r * p.W, OW, even, even + PS);
  }
}

// Sum of the taps of output vector j, one accumulator per kernel column. Checked: lanes
// whose flat index falls outside [0, n) of src read 0 (stride 1 padding rows).
template <int K, bool Checked>
DW_INLINE void taps(const float* src, const int64_t* off, const VecF* wv, int64_t j, int64_t n, VecF* acc) {
#pragma GCC unroll 7
  for (int kw = 0; kw < K; ++kw) acc[kw] = VecF::zero();
#pragma GCC unroll 7
  for (int kh = 0; kh < K; ++kh)
#pragma GCC unroll 7
    for (int kw = 0; kw < K; ++kw) {
      const int64_t o = off[kh * K + kw] + j;
      const VecF v = Checked ? load_lanes(src + o, -o, n - o) : VecF::load(src + o);
      acc[kw] = fmadd(wv[kh * K + kw], v, acc[kw]);
    }
}

// Output rows oh and oh + 1 at once (stride 1): input row i of the pair serves kernel row
// i of the first and i - 1 of the second, so K + 1 rows of loads feed 2 K rows of taps.
// off: tap offsets of kernel row 0; rows are OW apart.
template <int K, bool Checked>
DW_INLINE void taps_pair(const float* src, const int64_t* off, int64_t OW, const VecF* wv, int64_t j, int64_t n,
                      VecF* acc1, VecF* acc2) {
#pragma GCC unroll 7
  for (int kw = 0; kw < K; ++kw) acc1[kw] = acc2[kw] = VecF::zero();
#pragma GCC unroll 8
  for (int i = 0; i <= K; ++i)
#pragma GCC unroll 7
    for (int kw = 0; kw < K; ++kw) {
      const int64_t o = off[kw] + i * OW + j;
      const VecF v = Checked ? load_lanes(src + o, -o, n - o) : VecF::load(src + o);
      if (i < K) acc1[kw] = fmadd(wv[i * K + kw], v, acc1[kw]);
      if (i > 0) acc2[kw] = fmadd(wv[(i - 1) * K + kw], v, acc2[kw]);
    }
}

// out + acc on the lanes whose mask value is not 0 (mask: N floats, 0 or 1).
DW_INLINE VecF add_where(VecF out, VecF acc, const float* mask) {
#if defined(PYINFER_ISA_AVX512)
  const __mmask16 k = _mm512_cmp_ps_mask(_mm512_loadu_ps(mask), _mm512_setzero_ps(), _CMP_NEQ_OQ);
  return _mm512_mask_add_ps(out.v, k, out.v, acc.v);
#else
  return out + vselect_gt(VecF::load(mask), VecF::zero(), acc, VecF::zero());
#endif
}

// Bias + the kernel columns' sums (masked ones on their valid lanes) + residual, activated,
// stored to y[0, n).
template <int K, Act A>
DW_INLINE void finish(const VecF* acc, const bool* masked, const float* mask, int64_t mask_stride, VecF bias,
                   const float* res, const Epilogue& ep, float* y, int n) {
  constexpr int N = VecF::N;
  VecF out = bias;
#pragma GCC unroll 7
  for (int kw = 0; kw < K; ++kw) out = masked[kw] ? add_where(out, acc[kw], mask + kw * mask_stride) : out + acc[kw];
  if (res) out = out + (n == N ? VecF::load(res) : VecF::load_partial(res, n));
  out = ep_activate<A>(out, ep);
  if (n == N)
    out.store(y);
  else
    out.store_partial(y, n);
}

template <int K, int S, Act A>
void flat_k(const DepthwisePlane& p, const DwFlatLayout& l, const float* x, const float* w, int64_t mult,
            int64_t m0, int64_t m1, float* y, const Epilogue& ep, float* scratch) {
  constexpr int N = VecF::N;
  const int64_t OW = p.OW, P = p.OH * OW, HW = p.H * p.W;
  // Stride 1 reads x in place, masking the loads that reach into padding rows; on small
  // maps most vectors do, and one copy into zero-bordered scratch is cheaper.
  const bool copy = S == 2 || P < 32 * N;
  const int64_t PS = copy ? l.plane_rows * OW : 0;
  const int64_t period = l.mask_period * N;
  // Stride 1 on wide rows: output rows in pairs, row-local masks (see taps_pair; kernel rows
  // one input row apart, so not dilated ones).
  const bool pairs = S == 1 && p.dh == 1 && 2 * OW >= 3 * N;
  const int64_t row_span = (OW + N - 1) / N * N;
  // Two sets of planes: the next input channel is loaded while this one is computed, so its
  // stores have long reached the cache when its taps load them (a load that spans two
  // recent stores cannot be forwarded from them and stalls).
  float* cur = scratch;
  float* nxt = scratch + S * S * PS;
  float* masks = scratch + 2 * S * S * PS;  // [K][period] flat; [K][row_span] pairs
  const int64_t mask_stride = pairs ? row_span : period;
  // Zero rows stay zero for every channel of this call; data rows are rewritten per channel.
  for (int64_t i = 0; i < 2 * S * S * PS; i += N)
    VecF::zero().store_partial(scratch + i, 2 * S * S * PS - i < N ? int(2 * S * S * PS - i) : N);
  int64_t off[K * K];
  bool masked[K];
  for (int kw = 0; kw < K; ++kw) {
    const int64_t dc = floor_div(kw * p.dw - p.pw, S);
    masked[kw] = dc != 0;
    for (int64_t i = 0; i < mask_stride; ++i) {
      const int64_t c = i % OW + dc;
      masks[kw * mask_stride + i] = c >= 0 && c < OW ? 1.f : 0.f;
    }
  }
  int64_t lo_off = 0, hi_off = 0;  // extreme tap offsets (stride 1: which vectors need masks)
  for (int kh = 0; kh < K; ++kh)
    for (int kw = 0; kw < K; ++kw) {
      const int64_t dr = floor_div(kh * p.dh - p.ph, S), a = kh * p.dh - p.ph - S * dr;
      const int64_t dc = floor_div(kw * p.dw - p.pw, S), b = kw * p.dw - p.pw - S * dc;
      const int64_t o = (a * S + b) * PS + ((copy ? l.zero_top : 0) + dr) * OW + dc;
      off[kh * K + kw] = o;
      lo_off = o < lo_off ? o : lo_off;
      hi_off = o > hi_off ? o : hi_off;
    }
  const int64_t rows = p.OH + ((K - 1) * p.dh - p.ph) / S;  // plane rows any tap reads
  int64_t c = m0 / mult, c_next = (c + 1) * mult;  // input channel of m; where it changes
  if (copy) load_planes(p, l, x + c * HW, rows, cur);
  for (int64_t m = m0; m < m1; ++m) {
    if (m == c_next) {
      ++c, c_next += mult;
      float* t = cur;
      cur = nxt, nxt = t;
    }
    if (copy && m + 1 == c_next && m + 1 < m1) load_planes(p, l, x + (c + 1) * HW, rows, nxt);
    const float* src = copy ? cur : x + c * HW;
    VecF wv[K * K];
    for (int t = 0; t < K * K; ++t) wv[t] = VecF::set1(w[m * K * K + t]);
    const VecF bv = VecF::set1(ep.row_bias ? ep.row_bias[m] : 0.f);
    const float* res = ep.residual ? ep.residual + m * ep.ld_residual : nullptr;
    float* yp = y + m * P;
    if (pairs) {
      int64_t oh = 0;
      for (; oh + 1 < p.OH; oh += 2)
        for (int64_t q = 0; q < OW; q += N) {
          const int64_t j = oh * OW + q;
          const int n = OW - q < N ? static_cast<int>(OW - q) : N;
          VecF acc1[K], acc2[K];
          if (!copy && (j + lo_off < 0 || j + OW + N + hi_off > HW))
            taps_pair<K, true>(src, off, OW, wv, j, HW, acc1, acc2);
          else
            taps_pair<K, false>(src, off, OW, wv, j, HW, acc1, acc2);
          finish<K, A>(acc1, masked, masks + q, mask_stride, bv, res ? res + j : nullptr, ep, yp + j, n);
          finish<K, A>(acc2, masked, masks + q, mask_stride, bv, res ? res + j + OW : nullptr, ep, yp + j + OW, n);
        }
      for (; oh < p.OH; ++oh)
        for (int64_t q = 0; q < OW; q += N) {
          const int64_t j = oh * OW + q;
          const int n = OW - q < N ? static_cast<int>(OW - q) : N;
          VecF acc[K];
          if (!copy && (j + lo_off < 0 || j + N + hi_off > HW))
            taps<K, true>(src, off, wv, j, HW, acc);
          else
            taps<K, false>(src, off, wv, j, HW, acc);
          finish<K, A>(acc, masked, masks + q, mask_stride, bv, res ? res + j : nullptr, ep, yp + j, n);
        }
      continue;
    }
    int64_t pm = 0;  // position in the mask period
    for (int64_t j = 0; j < P; j += N) {
      VecF acc[K];
      if (!copy && (j + lo_off < 0 || j + N + hi_off > HW))
        taps<K, true>(src, off, wv, j, HW, acc);
      else
        taps<K, false>(src, off, wv, j, HW, acc);
      const int n = P - j < N ? static_cast<int>(P - j) : N;
      finish<K, A>(acc, masked, masks + pm, mask_stride, bv, res ? res + j : nullptr, ep, yp + j, n);
      pm += N;
      if (pm == period) pm = 0;
    }
  }
}

template <int K, int S>
void flat_act(const DepthwisePlane& p, const DwFlatLayout& l, const float* x, const float* w, int64_t mult,
              int64_t m0, int64_t m1, float* y, const Epilogue& ep, float* scratch) {
  with_epilogue_act(ep.act.kind, [&](auto tag) {
    flat_k<K, S, decltype(tag)::value>(p, l, x, w, mult, m0, m1, y, ep, scratch);
  });
}

}  // namespace

void dw_flat_channels(const DepthwisePlane& p, const DwFlatLayout& l, const float* x, const float* w,
                      int64_t mult, int64_t m0, int64_t m1, float* y, const Epilogue& ep, float* scratch) {
  const bool s1 = p.sh == 1;
  if (p.KH == 3)
    s1 ? flat_act<3, 1>(p, l, x, w, mult, m0, m1, y, ep, scratch) : flat_act<3, 2>(p, l, x, w, mult, m0, m1, y, ep, scratch);
  else if (p.KH == 5)
    s1 ? flat_act<5, 1>(p, l, x, w, mult, m0, m1, y, ep, scratch) : flat_act<5, 2>(p, l, x, w, mult, m0, m1, y, ep, scratch);
  else
    s1 ? flat_act<7, 1>(p, l, x, w, mult, m0, m1, y, ep, scratch) : flat_act<7, 2>(p, l, x, w, mult, m0, m1, y, ep, scratch);
}

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
