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
// (Called per output row: dilation 1, the usual case, skips the divisions.)
inline int64_t ceil_div_dil(int64_t a, int64_t dil) { return dil == 1 ? a : ceil_div(a, dil); }
inline void tap_range(int64_t start, int64_t in, int64_t kernel, int64_t dil, int64_t* lo, int64_t* hi) {
  *lo = start < 0 ? ceil_div_dil(-start, dil) : 0;
  *hi = min64(kernel, max64(int64_t(0), ceil_div_dil(in - start, dil)));
  if (*hi < *lo) *hi = *lo;
}

// Taps inside [-pad_begin, in + pad_end): every tap is >= -pad_begin, so only the end clips.
inline int64_t padded_tap_count(int64_t start, int64_t in, int64_t pad_end, int64_t kernel, int64_t dil) {
  return min64(kernel, max64(int64_t(0), ceil_div_dil(in + pad_end - start, dil)));
}

const float kNegInf = -__builtin_inff();

inline float scalar_max(float v, float acc) { return (v != v || v > acc) ? v : acc; }  // NaN sticks

// Row reduction: buf[w] = max (NaN sticks) or sum over the window's valid input rows
// (depth taps [d0, d1) x height taps [h0, h1)) of input column w, for w in [0, W).
// Full vectors along the row, one store per vector; no valid row gives the neutral value.
template <bool IsMax>
inline VecF combine(VecF v, VecF acc) { return IsMax ? vmax_nan(v, acc) : acc + v; }

// Rows k < R (R: 0 = `rows`, known at run time) of a reduction down a column: p[k * step].
template <bool IsMax, int R>
inline VecF column(const float* p, int64_t step, int64_t rows, int n) {
  const int64_t count = R ? R : rows;
  if (n == VecF::N) {
    VecF acc = VecF::load(p);
    for (int64_t k = 1; k < count; ++k) acc = combine<IsMax>(VecF::load(p + k * step), acc);
    return acc;
  }
  VecF acc = VecF::load_partial(p, n);
  for (int64_t k = 1; k < count; ++k) acc = combine<IsMax>(VecF::load_partial(p + k * step, n), acc);
  return acc;
}

// buf[w] = reduction over the rows first[k * step], k < rows, for w < W.
template <bool IsMax, int R>
void reduce_row_run(const float* first, int64_t step, int64_t rows, int64_t W, float* buf) {
  int64_t w = 0;
  for (; w + VecF::N <= W; w += VecF::N) column<IsMax, R>(first + w, step, rows, VecF::N).store(buf + w);
  if (w < W) column<IsMax, R>(first + w, step, rows, int(W - w)).store_partial(buf + w, int(W - w));
}

template <bool IsMax>
void reduce_rows(const PoolGeom& g, const float* xp, int64_t sd, int64_t sh, int64_t d0, int64_t d1, int64_t h0,
                 int64_t h1, float* buf) {
  const int64_t H = g.in[1], W = g.in[2];
  const int64_t dd = g.dilation[0], dh = g.dilation[1];
  if (d1 - d0 == 1 && h1 > h0) {  // 1-D / 2-D pools, and 3-D ones at a depth border: one run of rows
    const float* first = xp + ((sd + d0 * dd) * H + sh + h0 * dh) * W;
    const int64_t step = dh * W, rows = h1 - h0;
    if (rows == 2) reduce_row_run<IsMax, 2>(first, step, rows, W, buf);
    else if (rows == 3) reduce_row_run<IsMax, 3>(first, step, rows, W, buf);
    else reduce_row_run<IsMax, 0>(first, step, rows, W, buf);
    return;
  }
  const VecF init = VecF::set1(IsMax ? kNegInf : 0.f);
  for (int64_t w = 0; w < W; w += VecF::N) {
    const int n = int(min64(VecF::N, W - w));
    VecF acc = init;
    for (int64_t kd = d0; kd < d1; ++kd) {
      const float* plane_rows = xp + (sd + kd * dd) * H * W + w;
      for (int64_t kh = h0; kh < h1; ++kh) {
        const float* p = plane_rows + (sh + kh * dh) * W;
        acc = combine<IsMax>(n == VecF::N ? VecF::load(p) : VecF::load_partial(p, n), acc);
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

// y[i] = reduction over k < Kw of p[i * s + k * dw], i < n (S: s known at compile time, or 0),
// VecF::N outputs at a time: stride 1 by plain loads, 2 by even-lane deinterleaves, others by
// gathers. Averages are scaled by `scale`, times width_scale[i] when given.
// Vector reads run up to 2 vectors past the last tap; the caller keeps that memory defined.
template <bool IsMax, int S, int K>
void slide(const float* p, int64_t s, int64_t Kw, int64_t dw, int64_t n, float* y, bool is_avg, float scale,
           const float* width_scale) {
  const int64_t step = S ? S : s, taps = K ? K : Kw;
  const VecF vscale = VecF::set1(scale);
  for (int64_t i = 0; i < n; i += VecF::N) {
    const int m = int(min64(VecF::N, n - i));
    const float* q = p + i * step;
    auto tap = [&](int64_t k) {
      if (S == 1) return VecF::load(q + k * dw);
      if (S == 2) return pool_simd::load_stride2(q + k * dw);
      return pool_simd::load_strided(q + k * dw, s, m);
    };
    VecF acc = tap(0);
    for (int64_t k = 1; k < taps; ++k) acc = combine<IsMax>(tap(k), acc);
    if (is_avg) {
      acc = acc * vscale;
      if (width_scale) acc = acc * (m == VecF::N ? VecF::load(width_scale + i) : VecF::load_partial(width_scale + i, m));
    }
    if (m == VecF::N) acc.store(y + i); else acc.store_partial(y + i, m);
  }
}

template <bool IsMax, int S>
void slide_k(const float* p, int64_t s, int64_t Kw, int64_t dw, int64_t n, float* y, bool is_avg, float scale,
             const float* width_scale) {
  if (Kw == 2) slide<IsMax, S, 2>(p, s, Kw, dw, n, y, is_avg, scale, width_scale);
  else if (Kw == 3) slide<IsMax, S, 3>(p, s, Kw, dw, n, y, is_avg, scale, width_scale);
  else slide<IsMax, S, 0>(p, s, Kw, dw, n, y, is_avg, scale, width_scale);
}

template <bool IsMax>
void slide_any(const float* p, int64_t s, int64_t Kw, int64_t dw, int64_t n, float* y, bool is_avg = false,
               float scale = 1.f, const float* width_scale = nullptr) {
  if (s == 1) slide_k<IsMax, 1>(p, s, Kw, dw, n, y, is_avg, scale, width_scale);
  else if (s == 2) slide_k<IsMax, 2>(p, s, Kw, dw, n, y, is_avg, scale, width_scale);
  else slide_k<IsMax, 0>(p, s, Kw, dw, n, y, is_avg, scale, width_scale);
}

// Reduces the window rows of the next nb output rows, (plane, od, oh) onwards, into the batch
// rows of buf, with the divisor's row counts for averages. R = kernel[1] when it is 2 or 3
// (else 0): 2-D windows wholly inside the input take an unrolled path, the rest the general one.
template <bool IsMax, int R>
void reduce_batch(const PoolGeom& g, const PoolRowLayout& L, int kind, const float* x, float* buf, float* counts,
                  int64_t nb, int64_t* plane_io, int64_t* od_io, int64_t* oh_io) {
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2], Do = g.out[0], Ho = g.out[1];
  const int64_t Kd = g.kernel[0], Kh = g.kernel[1], dd = g.dilation[0], dh = g.dilation[1];
  const int64_t s_h = g.stride[1], pb_h = g.pad_begin[1], span_h = (Kh - 1) * dh, in_plane = g.in_plane();
  const bool is_avg = kind == int(PoolKind::AvgIncludePad) || kind == int(PoolKind::AvgExcludePad);
  const bool include_pad = kind == int(PoolKind::AvgIncludePad);
  // No depth axis (1-D and 2-D pools; a 3-D one like them): every row has its one depth tap.
  const bool two_d = D == 1 && Do == 1 && Kd == 1 && g.pad_begin[0] == 0;
  int64_t plane = *plane_io, od = *od_io, oh = *oh_io;
  for (int64_t i = 0; i < nb; ++i) {
    float* dst = buf + i * L.stride + L.left;
    const int64_t sh = oh * s_h - pb_h;
    if (two_d && sh >= 0 && sh + span_h < H) {
      reduce_row_run<IsMax, R>(x + plane * in_plane + sh * W, dh * W, Kh, W, dst);
      if (is_avg) counts[i] = float(Kh);
    } else {
      const float* xp = x + plane * in_plane;
      const int64_t sd = od * g.stride[0] - g.pad_begin[0];
      int64_t d0, d1, h0, h1;
      tap_range(sd, D, Kd, dd, &d0, &d1);
      tap_range(sh, H, Kh, dh, &h0, &h1);
      reduce_rows<IsMax>(g, xp, sd, sh, d0, d1, h0, h1, dst);
      if (is_avg) {
        counts[i] = float(include_pad ? padded_tap_count(sd, D, g.pad_end[0], Kd, dd) *
                                            padded_tap_count(sh, H, g.pad_end[1], Kh, dh)
                                      : (d1 - d0) * (h1 - h0));
      }
    }
    if (++oh == Ho) {
      oh = 0;
      if (++od == Do) od = 0, ++plane;
    }
  }
  *plane_io = plane, *od_io = od, *oh_io = oh;
}

// Slides along nb reduced rows (stride row_stride) with margins: every output of every row
// in full vectors; averages divide by counts[i] row taps times the column's width taps.
template <bool IsMax, int S, int K>
void slide_rows(const float* buf, int64_t row_stride, int64_t nb, int64_t s, int64_t Kw, int64_t dw, int64_t Wo,
                float* y, bool is_avg, const float* counts, const float* width_scale) {
  for (int64_t i = 0; i < nb; ++i) {
    slide<IsMax, S, K>(buf + i * row_stride, s, Kw, dw, Wo, y + i * Wo, is_avg, is_avg ? 1.f / counts[i] : 1.f,
                       width_scale);
  }
}

template <bool IsMax, int S>
void slide_rows_k(const float* buf, int64_t row_stride, int64_t nb, int64_t s, int64_t Kw, int64_t dw, int64_t Wo,
                  float* y, bool is_avg, const float* counts, const float* width_scale) {
  if (Kw == 2) slide_rows<IsMax, S, 2>(buf, row_stride, nb, s, Kw, dw, Wo, y, is_avg, counts, width_scale);
  else if (Kw == 3) slide_rows<IsMax, S, 3>(buf, row_stride, nb, s, Kw, dw, Wo, y, is_avg, counts, width_scale);
  else slide_rows<IsMax, S, 0>(buf, row_stride, nb, s, Kw, dw, Wo, y, is_avg, counts, width_scale);
}

// 2x2 max windows, stride 2, no padding, every window inside the input (VGG, the CIFAR nets):
// each output row straight from its two input rows, VecF::N outputs per step (the two rows'
// maximum, then the even and odd lanes' maximum), no row buffer. 2-3x faster than the general
// path, which reduces rows into a buffer and slides over it.
bool is_max_2x2_s2(const PoolGeom& g) {
  for (int i = 0; i < 3; ++i)
    if (g.pad_begin[i] != 0 || g.pad_end[i] != 0 || g.dilation[i] != 1) return false;
  return g.in[0] == 1 && g.out[0] == 1 && g.kernel[0] == 1 && g.kernel[1] == 2 && g.kernel[2] == 2 &&
         g.stride[1] == 2 && g.stride[2] == 2 && 2 * g.out[1] <= g.in[1] && 2 * g.out[2] <= g.in[2];
}

void max_2x2_s2_rows(const PoolGeom& g, const float* x, float* y, int64_t row_begin, int64_t row_end) {
  const int64_t H = g.in[1], W = g.in[2], Ho = g.out[1], Wo = g.out[2];
  constexpr int N = VecF::N;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const float* r0 = x + ((r / Ho) * H + (r % Ho) * 2) * W;
    const float* r1 = r0 + W;
    float* out = y + r * Wo;
    for (int64_t ow = 0; ow < Wo; ow += N) {
      const int64_t m = min64(N, Wo - ow), c = 2 * ow;  // outputs; first input column
      VecF a0, a1, b0, b1;
      if (m == N) {
        a0 = VecF::load(r0 + c), b0 = VecF::load(r0 + c + N);
        a1 = VecF::load(r1 + c), b1 = VecF::load(r1 + c + N);
      } else {  // the row's last outputs: 2m input floats per row, the rest of the lanes 0
        const int na = int(min64(N, 2 * m)), nb = int(2 * m - na);
        a0 = VecF::load_partial(r0 + c, na), a1 = VecF::load_partial(r1 + c, na);
        b0 = nb ? VecF::load_partial(r0 + c + N, nb) : VecF::zero();
        b1 = nb ? VecF::load_partial(r1 + c + N, nb) : VecF::zero();
      }
      VecF even, odd;
      pool_simd::deinterleave(vmax_nan(a0, a1), vmax_nan(b0, b1), &even, &odd);
      const VecF v = vmax_nan(even, odd);
      if (m == N) v.store(out + ow); else v.store_partial(out + ow, int(m));
    }
  }
}

template <bool IsMax>
void window_rows_impl(const PoolGeom& g, int kind, const float* x, float* y, int64_t row_begin, int64_t row_end,
                      float* buf) {
  if (IsMax && is_max_2x2_s2(g)) return max_2x2_s2_rows(g, x, y, row_begin, row_end);
  const int64_t W = g.in[2];
  const int64_t Do = g.out[0], Ho = g.out[1], Wo = g.out[2];
  const int64_t Kw = g.kernel[2], dw = g.dilation[2];
  const int64_t s_w = g.stride[2], pb_w = g.pad_begin[2];
  const bool is_avg = kind == int(PoolKind::AvgIncludePad) || kind == int(PoolKind::AvgExcludePad);
  const bool include_pad = kind == int(PoolKind::AvgIncludePad);
  const float neutral = IsMax ? kNegInf : 0.f;

  // Rows go in batches (see PoolRowLayout): reduce a batch's window rows into buf, then slide
  // along the reduced rows. Batching amortises the per-row work on narrow rows and keeps the
  // slide's reads clear of the reduction's still-pending stores.
  const PoolRowLayout L = pool_row_layout(g);
  float* counts = buf + L.counts_at;           // per batch row: window rows the divisor counts
  float* width_scale = buf + L.width_scale_at;  // per output column: 1 / width taps counted
  for (int64_t i = 0; i < L.batch; ++i) {
    float* row = buf + i * L.stride;
    for (int64_t j = 0; j < L.left; ++j) row[j] = neutral;
    for (int64_t j = L.left + W; j < L.stride; ++j) row[j] = neutral;
  }
  const int64_t span_w = (Kw - 1) * dw;
  int64_t ow_lo = 0, ow_hi = Wo;  // outputs whose window lies inside the reduced row
  if (!L.margins) {  // only those with all taps inside the input; the others are edge outputs
    ow_lo = min64(Wo, ceil_div(pb_w, s_w));
    ow_hi = W - 1 - span_w + pb_w < 0 ? 0 : min64(Wo, (W - 1 - span_w + pb_w) / s_w + 1);
    if (ow_hi < ow_lo || s_w > kPoolMaxVectorStride) ow_hi = ow_lo;
  }
  if (is_avg && L.margins) {
    for (int64_t ow = 0; ow < Wo; ++ow) {
      const int64_t sw = ow * s_w - pb_w;
      int64_t w0, w1;
      tap_range(sw, W, Kw, dw, &w0, &w1);
      width_scale[ow] = 1.f / float(include_pad ? padded_tap_count(sw, W, g.pad_end[2], Kw, dw) : w1 - w0);
    }
  }
  // Windows tile the reduced rows exactly (e.g. 2x2 stride 2 on an even width): a batch of
  // rows is then one long row, slid along in one go.
  const bool seamless = L.margins && !is_avg && L.stride == Wo * s_w;

  int64_t plane = row_begin / (Do * Ho), od = (row_begin / Ho) % Do, oh = row_begin % Ho;
  for (int64_t r0 = row_begin; r0 < row_end; r0 += L.batch) {
    const int64_t nb = min64(L.batch, row_end - r0);
    const int64_t kh_fast = g.kernel[1];
    if (kh_fast == 2) reduce_batch<IsMax, 2>(g, L, kind, x, buf, counts, nb, &plane, &od, &oh);
    else if (kh_fast == 3) reduce_batch<IsMax, 3>(g, L, kind, x, buf, counts, nb, &plane, &od, &oh);
    else reduce_batch<IsMax, 0>(g, L, kind, x, buf, counts, nb, &plane, &od, &oh);
    // Vector reads of the last outputs run up to 2 vectors past the batch's rows: keep that
    // defined (those lanes are never stored).
    for (int64_t i = nb * L.stride; i < nb * L.stride + 2 * VecF::N; ++i) buf[i] = 0.f;

    float* yb = y + r0 * Wo;
    if (seamless) {
      slide_any<IsMax>(buf, s_w, Kw, dw, nb * Wo, yb);
      continue;
    }
    if (L.margins) {  // the row starts at input column -L.left
      if (s_w == 1) slide_rows_k<IsMax, 1>(buf, L.stride, nb, s_w, Kw, dw, Wo, yb, is_avg, counts, width_scale);
      else if (s_w == 2) slide_rows_k<IsMax, 2>(buf, L.stride, nb, s_w, Kw, dw, Wo, yb, is_avg, counts, width_scale);
      else slide_rows_k<IsMax, 0>(buf, L.stride, nb, s_w, Kw, dw, Wo, yb, is_avg, counts, width_scale);
      continue;
    }
    for (int64_t i = 0; i < nb; ++i) {
      const float* row = buf + i * L.stride;
      float* yp = yb + i * Wo;
      // No margins: edge outputs one by one, clipped to the row (and everything when the
      // window never fits inside).
      for (int64_t ow = 0; ow < Wo; ++ow) {
        if (ow == ow_lo) ow = ow_hi;
        if (ow >= Wo) break;
        const int64_t sw = ow * s_w - pb_w;
        int64_t w0, w1;
        tap_range(sw, W, Kw, dw, &w0, &w1);
        float v = edge_value<IsMax>(row, sw, w0, w1, dw);
        if (is_avg) {
          const int64_t wtaps = include_pad ? padded_tap_count(sw, W, g.pad_end[2], Kw, dw) : w1 - w0;
          v = v / (counts[i] * float(wtaps));  // 0 only for an empty window: NaN, as documented
        }
        yp[ow] = v;
      }
      // Interior outputs: all Kw taps inside; the divisor is the same for all of them.
      if (ow_hi > ow_lo) {
        slide_any<IsMax>(row + ow_lo * s_w - pb_w, s_w, Kw, dw, ow_hi - ow_lo, yp + ow_lo, is_avg,
                         1.f / (counts[i] * float(Kw)));
      }
    }
  }
}

void window_rows(const PoolGeom& g, int kind, const float* x, float* y, int64_t row_begin, int64_t row_end,
                 float* buf) {
  if (kind == int(PoolKind::Max)) window_rows_impl<true>(g, kind, x, y, row_begin, row_end, buf);
  else window_rows_impl<false>(g, kind, x, y, row_begin, row_end, buf);
}

// 3x3 / stride 1 / padding 1 windows on whole planes (narrow maps: Inception's pools at 28, 14
// and 7 wide, where the row path's per-row work dominates). Separable: the column reduction
// v = combine(x[i - W], x[i], x[i + W]) runs along the flat plane (its first and last rows with
// two taps), then the row reduction combine(v[i - 1], v[i], v[i + 1]) along the flat plane too,
// the neighbours across a row end replaced by the neutral value by a per-column select.
// Averages then scale by 1 / taps counted (9 with count_include_pad; else rows in x cols in).
template <bool IsMax>
void planes_3x3_impl(const PoolGeom& g, int kind, const float* x, float* y, int64_t p0, int64_t p1,
                     float* scratch) {
  constexpr int N = VecF::N;
  const int64_t H = g.in[1], W = g.in[2], n = H * W;
  const VecF neutral = VecF::set1(IsMax ? kNegInf : 0.f);
  float* v = scratch + 2 * N;    // column reductions; v[-1] and v[n] are readable (never used)
  float* col = v + n + 2 * N;    // column index of every position, as floats
  float* inv = col + n + N;      // averages: 1 / taps of every position
  for (int64_t i = 0; i < n; ++i) col[i] = float(i % W);
  const bool avg = kind == int(PoolKind::AvgIncludePad) || kind == int(PoolKind::AvgExcludePad);
  if (avg)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = i / W, c = i % W;
      const int64_t rows = 3 - (r == 0) - (r == H - 1), cols = 3 - (c == 0) - (c == W - 1);
      inv[i] = kind == int(PoolKind::AvgIncludePad) ? 1.f / 9.f : 1.f / float(rows * cols);
    }
  auto load = [](const float* p, int64_t left) {
    return left >= N ? VecF::load(p) : VecF::load_partial(p, int(left));
  };
  auto store = [](VecF a, float* p, int64_t left) {
    if (left >= N) a.store(p); else a.store_partial(p, int(left));
  };
  const VecF lo = VecF::set1(0.5f), hi = VecF::set1(float(W) - 1.5f);
  for (int64_t pl = p0; pl < p1; ++pl) {
    const float* xp = x + pl * n;
    // Columns: the middle rows have both neighbour rows, rows 0 and H - 1 one (none if H == 1).
    auto columns = [&](int64_t i0, int64_t i1, bool up, bool down) {
      for (int64_t i = i0; i < i1; i += N) {
        const int64_t left = i1 - i;
        VecF a = load(xp + i, left);
        if (up) a = combine<IsMax>(load(xp + i - W, left), a);
        if (down) a = combine<IsMax>(load(xp + i + W, left), a);
        store(a, v + i, left);
      }
    };
    if (H == 1) {
      columns(0, W, false, false);
    } else {
      columns(0, W, false, true);
      columns(W, (H - 1) * W, true, true);
      columns((H - 1) * W, n, true, false);
    }
    // Rows: the neighbours across a row end count as the neutral value.
    float* yp = y + pl * n;
    for (int64_t i = 0; i < n; i += N) {
      const int64_t left = n - i;
      const VecF c = load(col + i, left);
      VecF a = load(v + i, left);
      a = combine<IsMax>(vselect_gt(c, lo, VecF::load(v + i - 1), neutral), a);  // c >= 1
      a = combine<IsMax>(vselect_gt(hi, c, VecF::load(v + i + 1), neutral), a);  // c <= W - 2
      if (avg) a = a * load(inv + i, left);
      store(a, yp + i, left);
    }
  }
}

void planes_3x3(const PoolGeom& g, int kind, const float* x, float* y, int64_t p0, int64_t p1, float* scratch) {
  if (kind == int(PoolKind::Max)) planes_3x3_impl<true>(g, kind, x, y, p0, p1, scratch);
  else planes_3x3_impl<false>(g, kind, x, y, p0, p1, scratch);
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
  // Tail of up to 2 vectors: a full one, then a zero-filled partial one (small planes such
  // as 7x7 are mostly tail).
  for (; i < n; i += VecF::N) {
    const int m = int(min64(VecF::N, n - i));
    VecF v = m == VecF::N ? VecF::load(x + i) : VecF::load_partial(x + i, m);
    if (lp) {
      v = vabs(v);
      if (p == 2.f) v = v * v;
    }
    a0 = a0 + v;
  }
  return (a0 + a1).hsum();
}

}  // namespace

extern const PoolKernels pool_kernels_table = {window_rows, planes_3x3, abs_pow, root, plane_reduce};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
