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

}  // namespace

extern const DepthwiseKernels depthwise_table = {dw_plane};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
