// Pooling inner loops, compiled once per SIMD tier (see CMakeLists.txt and common/simd.h).
//
// window_rows() computes whole output rows. For each (plane, od, oh) it first reduces the
// window's input rows that lie inside the input into one row buffer (full vectors along the
// width), then slides the width window over that buffer: edge outputs (window clipped by the
// row ends) one at a time with clipping, interior outputs (all taps inside) VecF::N at a time,
// stride 1 by plain loads, stride 2 by even-lane deinterleaves, other strides by gathers
// (pool_simd.h).
// Everything here stays in this tier's namespace and uses no std:: templates (ODR).
#include "common/simd.h"
#include "pool/pool_kernels.h"
#include "pool/pool_simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
// ceil(a / b) for b > 0 and any sign of a.
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Taps k in [lo, hi) of a window starting at `start` land inside [0, in).
inline void tap_range(int64_t start, int64_t in, int64_t kernel, int64_t dil, int64_t* lo, int64_t* hi) {
  *lo = start < 0 ? ceil_div(-start, dil) : 0;
  *hi = min64(kernel, max64(int64_t(0), ceil_div(in - start, dil)));
  if (*hi < *lo) *hi = *lo;
}

// Taps inside [-pad_begin, in + pad_end): every tap is >= -pad_begin, so only the end clips.
inline int64_t padded_tap_count(int64_t start, int64_t in, int64_t pad_end, int64_t kernel, int64_t dil) {
  return min64(kernel, max64(int64_t(0), ceil_div(in + pad_end - start, dil)));
}

const float kNegInf = -__builtin_inff();

inline float scalar_max(float v, float acc) { return (v != v || v > acc) ? v : acc; }  // NaN sticks

// Row reduction: buf[w] = max (NaN sticks) or sum over the window's valid input rows
// (depth taps [d0, d1) x height taps [h0, h1)) of input column w, for w in [0, W).
// Full vectors along the row, one store per vector; no valid row gives the neutral value.
template <bool IsMax>
void reduce_rows(const PoolGeom& g, const float* xp, int64_t sd, int64_t sh, int64_t d0, int64_t d1, int64_t h0,
                 int64_t h1, float* buf) {
  const int64_t H = g.in[1], W = g.in[2];
  const int64_t dd = g.dilation[0], dh = g.dilation[1];
  const VecF init = VecF::set1(IsMax ? kNegInf : 0.f);
  for (int64_t w = 0; w < W; w += VecF::N) {
    const int n = int(min64(VecF::N, W - w));
    VecF acc = init;
    for (int64_t kd = d0; kd < d1; ++kd) {
      const float* plane_rows = xp + (sd + kd * dd) * H * W + w;
      for (int64_t kh = h0; kh < h1; ++kh) {
        const float* p = plane_rows + (sh + kh * dh) * W;
        const VecF v = n == VecF::N ? VecF::load(p) : VecF::load_partial(p, n);
        acc = IsMax ? vmax_nan(v, acc) : acc + v;
      }
    }
    if (n == VecF::N) acc.store(buf + w); else acc.store_partial(buf + w, n);
  }
}

// One output of the reduced row whose taps may be clipped by the row ends (edge outputs).
template <bool IsMax>
inline float edge_value(const float* buf, int64_t sw, int64_t w0, int64_t w1, int64_t dw) {
  float acc = IsMax ? kNegInf : 0.f;
  for (int64_t kw = w0; kw < w1; ++kw) {
    const float v = buf[sw + kw * dw];
    acc = IsMax ? scalar_max(v, acc) : acc + v;
  }
  return acc;
}

// Width taps of VecF::N consecutive interior outputs starting at reduced-row position p
// (output ow reads p[ow * s + k * dw]): n lanes are wanted, the others may hold anything.
inline VecF tap_vector(const float* p, int64_t s, int n) {
  if (s == 1) return VecF::load(p);
  if (s == 2) return pool_simd::load_stride2(p);
  return pool_simd::load_strided(p, s, n);
}

template <bool IsMax>
void window_rows_impl(const PoolGeom& g, int kind, const float* x, float* y, int64_t row_begin, int64_t row_end,
                      float* buf) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t Do = g.out[0], Ho = g.out[1], Wo = g.out[2];
  const int64_t Kd = g.kernel[0], Kh = g.kernel[1], Kw = g.kernel[2];
  const int64_t dd = g.dilation[0], dh = g.dilation[1], dw = g.dilation[2];
  const int64_t s_w = g.stride[2], pb_w = g.pad_begin[2];
  const bool is_avg = kind == int(PoolKind::AvgIncludePad) || kind == int(PoolKind::AvgExcludePad);
  const bool include_pad = kind == int(PoolKind::AvgIncludePad);

  // Interior outputs along the width: first tap >= 0 and last tap < W.
  const int64_t span_w = (Kw - 1) * dw;
  int64_t ow_lo = min64(Wo, ceil_div(pb_w, s_w));
  int64_t ow_hi = W - 1 - span_w + pb_w < 0 ? 0 : min64(Wo, (W - 1 - span_w + pb_w) / s_w + 1);
  if (ow_hi < ow_lo) ow_hi = ow_lo;  // no interior: everything goes through the edge path
  // Strides the vector loads cannot index go through the edge path too (scalar, still correct).
  if (s_w > pool_simd::max_gather_stride) ow_hi = ow_lo;

  // Vector reads of the last interior outputs run up to 2 vectors past the row: keep that
  // slack defined (its lanes are never stored).
  for (int64_t i = W; i < W + 2 * VecF::N; ++i) buf[i] = 0.f;

  // Row index r = (plane, od, oh), advanced incrementally (no divisions per row).
  int64_t plane = row_begin / (Do * Ho), od = (row_begin / Ho) % Do, oh = row_begin % Ho;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* xp = x + plane * g.in_plane();
    float* yp = y + r * Wo;
    const int64_t sd = od * g.stride[0] - g.pad_begin[0], sh = oh * g.stride[1] - g.pad_begin[1];
    int64_t d0, d1, h0, h1;
    tap_range(sd, D, Kd, dd, &d0, &d1);
    tap_range(sh, H, Kh, dh, &h0, &h1);
    const int64_t rows_valid = (d1 - d0) * (h1 - h0);
    const int64_t rows_padded = padded_tap_count(sd, D, g.pad_end[0], Kd, dd) *
                                padded_tap_count(sh, H, g.pad_end[1], Kh, dh);
    if (++oh == Ho) {
      oh = 0;
      if (++od == Do) od = 0, ++plane;
    }

    // Reduce the window's rows first, then slide along the one reduced row: Kd*Kh + Kw
    // reads per output instead of Kd*Kh*Kw.
    reduce_rows<IsMax>(g, xp, sd, sh, d0, d1, h0, h1, buf);

    // Edge outputs (and everything when the window never fits inside).
    for (int64_t ow = 0; ow < Wo; ++ow) {
      if (ow == ow_lo) ow = ow_hi;
      if (ow >= Wo) break;
      const int64_t sw = ow * s_w - pb_w;
      int64_t w0, w1;
      tap_range(sw, W, Kw, dw, &w0, &w1);
      float v = edge_value<IsMax>(buf, sw, w0, w1, dw);
      if (is_avg) {
        const int64_t count = include_pad ? rows_padded * padded_tap_count(sw, W, g.pad_end[2], Kw, dw)
                                          : rows_valid * (w1 - w0);
        v = v / float(count);  // count 0 only for an empty window: NaN, as documented
      }
      yp[ow] = v;
    }
    if (ow_hi == ow_lo) continue;

    // Interior outputs: all Kw taps inside; the divisor is the same for all of them.
    const VecF vinv = VecF::set1(is_avg ? 1.f / float((include_pad ? rows_padded : rows_valid) * Kw) : 1.f);
    const VecF init = VecF::set1(IsMax ? kNegInf : 0.f);
    for (int64_t ow = ow_lo; ow < ow_hi; ow += VecF::N) {
      const int n = int(min64(VecF::N, ow_hi - ow));
      const float* p = buf + ow * s_w - pb_w;
      VecF acc = init;
      for (int64_t kw = 0; kw < Kw; ++kw) {
        const VecF v = tap_vector(p + kw * dw, s_w, n);
        acc = IsMax ? vmax_nan(v, acc) : acc + v;
      }
      if (is_avg) acc = acc * vinv;
      if (n == VecF::N) acc.store(yp + ow); else acc.store_partial(yp + ow, n);
    }
  }
}

void window_rows(const PoolGeom& g, int kind, const float* x, float* y, int64_t row_begin, int64_t row_end,
                 float* buf) {
  if (kind == int(PoolKind::Max)) window_rows_impl<true>(g, kind, x, y, row_begin, row_end, buf);
  else window_rows_impl<false>(g, kind, x, y, row_begin, row_end, buf);
}

void abs_pow(const float* x, float* y, int64_t n, float p) {
  int64_t i = 0;
  if (p == 1.f || p == 2.f) {
    for (; i + VecF::N <= n; i += VecF::N) {
      VecF v = vabs(VecF::load(x + i));
      (p == 2.f ? v * v : v).store(y + i);
    }
    for (; i < n; ++i) {
      float a = x[i] < 0 ? -x[i] : x[i];
      y[i] = p == 2.f ? a * a : a;
    }
    return;
  }
  for (; i < n; ++i) y[i] = __builtin_powf(x[i] < 0 ? -x[i] : x[i], p);
}

void root(float* y, int64_t n, float p) {
  int64_t i = 0;
  if (p == 1.f) return;
  if (p == 2.f) {
    for (; i + VecF::N <= n; i += VecF::N) vsqrt(VecF::load(y + i)).store(y + i);
    for (; i < n; ++i) y[i] = __builtin_sqrtf(y[i]);
    return;
  }
  const float inv = 1.f / p;
  for (; i < n; ++i) y[i] = __builtin_powf(y[i], inv);
}

float plane_reduce(const float* x, int64_t n, int kind, float p) {
  int64_t i = 0;
  if (kind == 1) {  // max, NaN propagates
    VecF acc = VecF::set1(kNegInf);
    for (; i + VecF::N <= n; i += VecF::N) acc = vmax_nan(VecF::load(x + i), acc);
    // hmax() drops NaN lanes on x86: look for one first.
    float tmp[VecF::N];
    acc.store(tmp);
    float m = kNegInf;
    for (int l = 0; l < VecF::N; ++l) m = scalar_max(tmp[l], m);
    for (; i < n; ++i) m = scalar_max(x[i], m);
    return m;
  }
  // Sums: two accumulators to hide the add latency; float32 like the other kernels.
  const bool lp = kind == 2;
  if (lp && p != 1.f && p != 2.f) {
    double s = 0;  // general p: scalar powf, accumulate in double for long planes
    for (; i < n; ++i) s += __builtin_powf(x[i] < 0 ? -x[i] : x[i], p);
    return float(s);
  }
  VecF a0 = VecF::zero(), a1 = VecF::zero();
  for (; i + 2 * VecF::N <= n; i += 2 * VecF::N) {
    VecF v0 = VecF::load(x + i), v1 = VecF::load(x + i + VecF::N);
    if (lp) {
      v0 = vabs(v0);
      v1 = vabs(v1);
      if (p == 2.f) { a0 = fmadd(v0, v0, a0); a1 = fmadd(v1, v1, a1); continue; }
    }
    a0 = a0 + v0;
    a1 = a1 + v1;
  }
  float s = (a0 + a1).hsum();
  for (; i < n; ++i) {
    float v = x[i];
    if (lp) v = (v < 0 ? -v : v), v = p == 2.f ? v * v : v;
    s += v;
  }
  return s;
}

}  // namespace

extern const PoolKernels pool_kernels_table = {window_rows, abs_pow, root, plane_reduce};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
