// Normalization inner loops, compiled once per SIMD tier (see CMakeLists.txt and common/simd.h).
//
// lrn_columns() walks the channels of a block of columns (spatial positions, contiguous in
// NCHW) VecF::N columns at a time. Each window's sum of squares is recomputed from its `size`
// inputs rather than kept as a running sum: a running sum that subtracts a large leaving
// square from a small remainder loses everything to cancellation, while `size` fmadds of
// non-negative terms stay within size ulps (the rows are in L1: the block is narrow).
// Everything here stays in this tier's namespace and uses no std:: templates (ODR).
#include "common/simd.h"
#include "norm/norm_kernels.h"
#include "norm/norm_simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// x / v^beta for v = bias + scale * sum.
template <LrnPower P>
inline VecF lrn_apply(VecF x, VecF v, VecF neg_beta) {
  if (P == LrnPower::Zero) return x;  // v^0 = 1 for every v, NaN included (as pow does)
  if (P == LrnPower::Half) return x / vsqrt(v);
  if (P == LrnPower::ThreeQuarters) {
    VecF r = vsqrt(v);
    return x / (r * vsqrt(r));
  }
  if (P == LrnPower::One) return x / v;
  return x * vexp(neg_beta * norm_simd::vlog(v));
}

template <LrnPower P>
void lrn_columns_p(const LrnParams& p, const float* x, float* y, int64_t count) {
  constexpr int N = VecF::N;
  const VecF scale = VecF::set1(p.scale), bias = VecF::set1(p.bias), neg_beta = VecF::set1(-p.beta);
  const int64_t C = p.channels, st = p.stride;
  for (int64_t c = 0; c < C; ++c) {
    const int64_t k0 = max64(0, c - p.before), k1 = min64(C - 1, c + p.after);
    const float* xc = x + c * st;
    float* yc = y + c * st;
    int64_t j = 0;
    for (; j + N <= count; j += N) {
      VecF sum = VecF::zero();
      for (int64_t k = k0; k <= k1; ++k) {
        const VecF v = VecF::load(x + k * st + j);
        sum = fmadd(v, v, sum);
      }
      lrn_apply<P>(VecF::load(xc + j), fmadd(sum, scale, bias), neg_beta).store(yc + j);
    }
    if (j < count) {
      const int m = static_cast<int>(count - j);
      VecF sum = VecF::zero();
      for (int64_t k = k0; k <= k1; ++k) {
        const VecF v = VecF::load_partial(x + k * st + j, m);
        sum = fmadd(v, v, sum);
      }
      lrn_apply<P>(VecF::load_partial(xc + j, m), fmadd(sum, scale, bias), neg_beta).store_partial(yc + j, m);
    }
  }
}

void lrn_columns(const LrnParams& p, const float* x, float* y, int64_t count) {
  switch (p.power) {
    case LrnPower::Zero: return lrn_columns_p<LrnPower::Zero>(p, x, y, count);
    case LrnPower::Half: return lrn_columns_p<LrnPower::Half>(p, x, y, count);
    case LrnPower::ThreeQuarters: return lrn_columns_p<LrnPower::ThreeQuarters>(p, x, y, count);
    case LrnPower::One: return lrn_columns_p<LrnPower::One>(p, x, y, count);
    default: return lrn_columns_p<LrnPower::General>(p, x, y, count);
  }
}

}  // namespace

extern const NormKernels norm_kernels_table = {lrn_columns};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
