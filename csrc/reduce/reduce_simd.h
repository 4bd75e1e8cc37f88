// Vector helpers of the reduction kernels (reduce_isa.cpp only), per tier like common/simd.h:
// include after it. Everything stays in the tier's namespace (ODR).
#pragma once
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace reduce_simd {

#if defined(PYINFER_ISA_AVX512)
// The first n (0 <= n < 16) floats at p; the other lanes hold `fill` (the reduction's identity).
static inline VecF load_fill(const float* p, int n, float fill) {
  return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1), p);
}
static inline bool any_nan(VecF a) { return _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q) != 0; }
static inline float hmin(VecF a) { return _mm512_reduce_min_ps(a.v); }
#elif defined(PYINFER_ISA_AVX2)
static inline VecF load_fill(const float* p, int n, float fill) {
  const __m256i m = VecF::tail_mask(n);
  return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline bool any_nan(VecF a) { return _mm256_movemask_ps(_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q)) != 0; }
static inline float hmin(VecF a) {
  __m128 s = _mm_min_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  s = _mm_min_ps(s, _mm_movehl_ps(s, s));
  s = _mm_min_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
#else
static inline VecF load_fill(const float* p, int n, float fill) { return n > 0 ? *p : fill; }
static inline bool any_nan(VecF a) { return a.v != a.v; }
static inline float hmin(VecF a) { return a.v; }
#endif

// NaN-propagating max / min of an accumulator and new data: vmax(a, x) already yields x when
// x is NaN (x86 returns the second operand); vkeep_nan keeps a NaN already in a.
static inline VecF max_acc(VecF a, VecF x) { return vkeep_nan(a, vmax(a, x)); }
static inline VecF min_acc(VecF a, VecF x) { return vkeep_nan(a, vmin(a, x)); }

}  // namespace reduce_simd
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
