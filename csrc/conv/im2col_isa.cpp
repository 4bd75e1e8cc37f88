// im2col into packed-B panels (see im2col.h), compiled once per ISA tier.
// The inner step copies one line segment of an input row at a column stride, with zeros
// where the taps fall into the padding. AVX-512 does it with fault-suppressing masked loads
// (stride 1), loads + an even-lane permute (stride 2) or a masked gather (larger strides);
// AVX2 uses masked loads for stride 1; everything else is a plain loop.
#include "common/simd.h"
#include "conv/im2col.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// dst[t] = row[i0 + t*s] where 0 <= i0 + t*s < W, else 0, for t in [0, n).
inline void line_plain(float* dst, const float* row, int64_t i0, int64_t n, int64_t s, int64_t W) {
  for (int64_t t = 0; t < n; ++t) {
    const int64_t i = i0 + t * s;
    dst[t] = (i >= 0 && i < W) ? row[i] : 0.f;
  }
}

#if defined(PYINFER_ISA_AVX512)
// Lanes l in [lo, hi) of a 16-lane mask (clamped to [0, 16]).
inline __mmask16 lane_range(int64_t lo, int64_t hi) {
  lo = max64(lo, 0);
  hi = min64(hi, 16);
  if (hi <= lo) return 0;
  const unsigned up = hi >= 16 ? 0xffffu : ((1u << hi) - 1u);
  return static_cast<__mmask16>(up & ~((1u << lo) - 1u));
}

inline void line(float* dst, const float* row, int64_t i0, int64_t n, int64_t s, int64_t W) {
  if (s == 1) {
    if (i0 >= 0 && i0 + n <= W) {  // all inside the row: plain loads, a masked tail
      int64_t t = 0;
      for (; t + 16 <= n; t += 16) _mm512_storeu_ps(dst + t, _mm512_loadu_ps(row + i0 + t));
      if (t < n) {
        const __mmask16 m = lane_range(0, n - t);
        _mm512_mask_storeu_ps(dst + t, m, _mm512_maskz_loadu_ps(m, row + i0 + t));
      }
      return;
    }
    for (int64_t t = 0; t < n; t += 16) {
      const int64_t b = i0 + t;  // input column of lane 0
      const __mmask16 m = lane_range(-b, min64(W - b, n - t));
      // Masked-off lanes are not read (no fault) even where they fall outside the row.
      const __m512 v = _mm512_maskz_loadu_ps(m, row + b);
      _mm512_mask_storeu_ps(dst + t, lane_range(0, n - t), v);
    }
  } else if (s == 2) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t t = 0; t < n; t += 16) {
      const int64_t b = i0 + 2 * t;
      const int64_t hi = min64(W - b, 2 * (n - t));
      const __m512 lo_v = _mm512_maskz_loadu_ps(lane_range(-b, hi), row + b);
      const __m512 hi_v = _mm512_maskz_loadu_ps(lane_range(-b - 16, hi - 16), row + b + 16);
      _mm512_mask_storeu_ps(dst + t, lane_range(0, n - t), _mm512_permutex2var_ps(lo_v, even, hi_v));
    }
  } else if (W <= (int64_t(1) << 30) && s <= (int64_t(1) << 20)) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_mullo_epi32(lane, _mm512_set1_epi32(static_cast<int>(s)));
    for (int64_t t = 0; t < n; t += 16) {
      const int64_t b = i0 + t * s;
      if (b >= W) {  // past the row's end: the rest is padding
        for (int64_t u = t; u < n; ++u) dst[u] = 0.f;
        return;
      }
      // Offsets relative to row + b stay in int32: |b| and 15*s are far below 2^31 here.
      const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(b)), step);
      __mmask16 m = _mm512_cmpge_epi32_mask(idx, _mm512_setzero_si512()) &
                    _mm512_cmplt_epi32_mask(idx, _mm512_set1_epi32(static_cast<int>(W)));
      m &= lane_range(0, n - t);
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, row, 4);
      _mm512_mask_storeu_ps(dst + t, lane_range(0, n - t), v);
    }
  } else {
    line_plain(dst, row, i0, n, s, W);
  }
}
#elif defined(PYINFER_ISA_AVX2)
inline void line(float* dst, const float* row, int64_t i0, int64_t n, int64_t s, int64_t W) {
  if (s != 1) return line_plain(dst, row, i0, n, s, W);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t t = 0;
  // Interior (every lane inside the row and the segment): plain loads.
  const int64_t a = min64(n, max64(0, -i0)), z = max64(a, min64(n, W - i0));
  for (; t < a; ++t) dst[t] = 0.f;
  for (; t + 8 <= z; t += 8) _mm256_storeu_ps(dst + t, _mm256_loadu_ps(row + i0 + t));
  for (; t < n; t += 8) {
    const int64_t b = i0 + t;
    const int64_t hi = min64(W - b, n - t);  // lanes [0, hi) valid (b >= 0 here)
    const int h = hi <= 0 ? 0 : (hi >= 8 ? 8 : static_cast<int>(hi));
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(h), lane);
    const __m256 v = _mm256_maskload_ps(row + b, m);
    const int keep = n - t >= 8 ? 8 : static_cast<int>(n - t);
    _mm256_maskstore_ps(dst + t, _mm256_cmpgt_epi32(_mm256_set1_epi32(keep), lane), v);
  }
}
#else
inline void line(float* dst, const float* row, int64_t i0, int64_t n, int64_t s, int64_t W) {
  line_plain(dst, row, i0, n, s, W);
}
#endif

// Kernel column kw of a phased input reads phase f, at phase column ow + q, of which wf exist.
inline void tap_phase(const Im2colShape& g, int64_t kw, int64_t& f, int64_t& q, int64_t& wf) {
  const int64_t d0 = kw * g.dw - g.pw;
  f = ((d0 % g.sw) + g.sw) % g.sw;
  q = (d0 - f) / g.sw;
  wf = (g.W - f + g.sw - 1) / g.sw;
}

void pack(const Im2colShape& g, const float* x, int64_t p0, int64_t n, int64_t nr, float* out) {
  const int64_t K = g.C * g.KH * g.KW, plane = g.H * g.W;
  // A panel's positions as output-line segments (t, len, oh, ow): the same for every row r,
  // so they are found once per panel (nr is at most a few vectors: a fixed array suffices).
  constexpr int kMaxSeg = 130;
  int64_t seg_t[kMaxSeg], seg_len[kMaxSeg], seg_ih[kMaxSeg], seg_iw[kMaxSeg], seg_ow[kMaxSeg];
  // Phase, phase column offset and valid phase columns of each kernel column (phased x):
  // divisions hoisted out of the panel loops.
  constexpr int64_t kMaxTaps = 64;
  int64_t tap_f[kMaxTaps], tap_q[kMaxTaps], tap_wf[kMaxTaps];
  if (g.phased)
    for (int64_t kw = 0; kw < g.KW && kw < kMaxTaps; ++kw) tap_phase(g, kw, tap_f[kw], tap_q[kw], tap_wf[kw]);
  for (int64_t q = 0; q * nr < n; ++q) {
    const int64_t cnt = min64(nr, n - q * nr);
    float* panel = out + q * nr * K;
    int64_t pq = p0 + q * nr, nseg = 0;
    for (int64_t t = 0; t < cnt;) {
      const int64_t oh = pq / g.OW, ow = pq % g.OW, len = min64(g.OW - ow, cnt - t);
      if (nseg == kMaxSeg) {  // very narrow output rows: flush through the plain path below
        nseg = -1;
        break;
      }
      seg_t[nseg] = t, seg_len[nseg] = len, seg_ih[nseg] = oh * g.sh - g.ph;
      seg_iw[nseg] = ow * g.sw - g.pw;
      seg_ow[nseg] = ow;
      ++nseg;
      t += len;
      pq += len;
    }
    float* dst = panel;
    for (int64_t c = 0; c < g.C; ++c) {
      const float* src = x + c * plane;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t hoff = kh * g.dh;
        for (int64_t kw = 0; kw < g.KW; ++kw, dst += nr) {
          const int64_t woff = kw * g.dw;
          if (g.phased && nseg >= 0) {
            // Input column ow*sw + d0 = (ow + q)*sw + f: phase f, column ow + q of it.
            int64_t f, q, wf;
            if (kw < kMaxTaps) {
              f = tap_f[kw], q = tap_q[kw], wf = tap_wf[kw];
            } else {
              tap_phase(g, kw, f, q, wf);
            }
            for (int64_t i = 0; i < nseg; ++i) {
              const int64_t ih = seg_ih[i] + hoff;
              if (ih < 0 || ih >= g.H) {
                for (int64_t u = 0; u < seg_len[i]; ++u) dst[seg_t[i] + u] = 0.f;
              } else {
                const float* row = x + ((c * g.H + ih) * g.sw + f) * g.phase_w;
                line(dst + seg_t[i], row, seg_ow[i] + q, seg_len[i], 1, wf);
              }
            }
          } else if (nseg >= 0) {
            for (int64_t i = 0; i < nseg; ++i) {
              const int64_t ih = seg_ih[i] + hoff;
              if (ih < 0 || ih >= g.H) {
                for (int64_t u = 0; u < seg_len[i]; ++u) dst[seg_t[i] + u] = 0.f;
              } else {
                line(dst + seg_t[i], src + ih * g.W, seg_iw[i] + woff, seg_len[i], g.sw, g.W);
              }
            }
          } else {
            for (int64_t t = 0; t < cnt; ++t) {
              const int64_t p = p0 + q * nr + t, oh = p / g.OW, ow = p % g.OW;
              const int64_t ih = oh * g.sh - g.ph + hoff, iw = ow * g.sw - g.pw + woff;
              const bool in = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
              if (!in)
                dst[t] = 0.f;
              else if (g.phased)
                dst[t] = x[((c * g.H + ih) * g.sw + iw % g.sw) * g.phase_w + iw / g.sw];
              else
                dst[t] = src[ih * g.W + iw];
            }
          }
          for (int64_t u = cnt; u < nr; ++u) dst[u] = 0.f;
        }
      }
    }
  }
}

void split_phases(const float* row, int64_t W, int64_t s, int64_t phase_w, float* out) {
  int64_t j = 0;
#if defined(PYINFER_ISA_AVX512)
  if (s == 2) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (; 2 * j + 32 <= W; j += 16) {
      const __m512 a = _mm512_loadu_ps(row + 2 * j), b = _mm512_loadu_ps(row + 2 * j + 16);
      _mm512_storeu_ps(out + j, _mm512_permutex2var_ps(a, ie, b));
      _mm512_storeu_ps(out + phase_w + j, _mm512_permutex2var_ps(a, io, b));
    }
  }
#endif
  for (int64_t f = 0; f < s; ++f)
    for (int64_t i = j; i * s + f < W; ++i) out[f * phase_w + i] = row[i * s + f];
}

}  // namespace

extern const Im2colKernels im2col_table = {pack, split_phases};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
