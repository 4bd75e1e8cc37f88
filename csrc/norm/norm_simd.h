// Vector log for the normalization kernels (norm_kernels_isa.cpp only), per tier like
// common/simd.h: include after it. Everything stays in the tier's namespace (ODR).
#pragma once
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace norm_simd {

// For positive finite x (denormals included): m in [1, 2) and e with x = m * 2^e.
#if defined(PYINFER_ISA_AVX512)
static inline VecF split_exponent(VecF x, VecF* e) {
  *e = _mm512_getexp_ps(x.v);  // floor(log2 x), exact for denormals too
  return _mm512_getmant_ps(x.v, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
}
#elif defined(PYINFER_ISA_AVX2)
static inline VecF split_exponent(VecF x, VecF* e) {
  // Denormals are scaled by 2^23 first so that their exponent field is meaningful.
  const __m256 tiny = _mm256_cmp_ps(x.v, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
  const __m256 xs = _mm256_blendv_ps(x.v, _mm256_mul_ps(x.v, _mm256_set1_ps(8388608.0f)), tiny);
  const __m256i bits = _mm256_castps_si256(xs);
  const __m256i biased = _mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xff));
  __m256 ef = _mm256_sub_ps(_mm256_cvtepi32_ps(biased), _mm256_set1_ps(127.0f));
  *e = _mm256_sub_ps(ef, _mm256_and_ps(tiny, _mm256_set1_ps(23.0f)));
  const __m256i mant = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                       _mm256_set1_epi32(0x3f800000));
  return _mm256_castsi256_ps(mant);
}
#else
static inline VecF split_exponent(VecF x, VecF* e) {
  float v = x.v;
  int adjust = 0;
  if (v < 1.17549435e-38f) v *= 8388608.0f, adjust = 23;
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  *e = static_cast<float>(static_cast<int>((bits >> 23) & 0xff) - 127 - adjust);
  bits = (bits & 0x007fffffu) | 0x3f800000u;
  float m;
  std::memcpy(&m, &bits, 4);
  return m;
}
#endif

// Natural log over the whole float range (~1 ulp): x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// log(m) by Cephes' logf polynomial in f = m - 1, e ln2 added in two parts. 0 -> -inf,
// negative -> NaN, +inf -> +inf, NaN -> NaN.
static inline VecF vlog(VecF x) {
  const VecF one = VecF::set1(1.0f);
  VecF e;
  VecF m = split_exponent(x, &e);
  const VecF sqrt2 = VecF::set1(1.41421356f);
  e = vselect_gt(m, sqrt2, e + one, e);
  VecF f = vselect_gt(m, sqrt2, m * VecF::set1(0.5f), m) - one;  // exact (Sterbenz)
  VecF r = vlog_reduced(f, e);
  const VecF inf = VecF::set1(__builtin_inff());
  r = vselect_gt(x, VecF::zero(), r, VecF::set1(-__builtin_inff()));  // 0 (and below) -> -inf
  r = vselect_gt(VecF::zero(), x, VecF::set1(__builtin_nanf("")), r);  // negative -> NaN
  r = vselect_gt(x, VecF::set1(3.402823466e+38f), inf, r);            // +inf -> +inf
  return vkeep_nan(x, r);
}

}  // namespace norm_simd
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
