// Vector helpers the elementwise family needs beyond common/simd.h (bit-level access to
// the float representation). Like simd.h: include only from *_isa.cpp files.
#pragma once
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {

// For positive normal x: x = m * 2^e with m in [0.5, 1). Returns m; e is written as float.
#if defined(PYINFER_ISA_AVX512)
static inline VecF vfrexp(VecF x, VecF* e) {
  __m512i i = _mm512_castps_si512(x.v);
  __m512i ei = _mm512_sub_epi32(_mm512_srli_epi32(i, 23), _mm512_set1_epi32(126));
  *e = _mm512_cvtepi32_ps(ei);
  __m512i m = _mm512_or_si512(_mm512_and_si512(i, _mm512_set1_epi32(0x007fffff)), _mm512_set1_epi32(0x3f000000));
  return _mm512_castsi512_ps(m);
}
#elif defined(PYINFER_ISA_AVX2)
static inline VecF vfrexp(VecF x, VecF* e) {
  __m256i i = _mm256_castps_si256(x.v);
  __m256i ei = _mm256_sub_epi32(_mm256_srli_epi32(i, 23), _mm256_set1_epi32(126));
  *e = _mm256_cvtepi32_ps(ei);
  __m256i m = _mm256_or_si256(_mm256_and_si256(i, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x3f000000));
  return _mm256_castsi256_ps(m);
}
#else
static inline VecF vfrexp(VecF x, VecF* e) {
  uint32_t i;
  std::memcpy(&i, &x.v, 4);
  *e = static_cast<float>(static_cast<int32_t>(i >> 23) - 126);
  uint32_t m = (i & 0x007fffffu) | 0x3f000000u;
  float r;
  std::memcpy(&r, &m, 4);
  return r;
}
#endif

// Natural log, float32 (Cephes logf: ~1 ulp). log(0) = -inf, log(x<0) = NaN, log(inf) = inf,
// NaN -> NaN; subnormal inputs are rescaled into the normal range first.
static inline VecF vlog(VecF x) {
  const VecF zero = VecF::zero(), one = VecF::set1(1.0f);
  const VecF min_normal = VecF::set1(1.17549435e-38f);
  // Subnormals: scale by 2^23 and correct the exponent afterwards.
  VecF xs = vselect_gt(min_normal, x, x * VecF::set1(8388608.0f), x);
  VecF e_fix = vselect_gt(min_normal, x, VecF::set1(23.0f), zero);
  VecF e;
  VecF m = vfrexp(xs, &e);
  e = e - e_fix;
  // Keep m in [sqrt(1/2), sqrt(2)) for the polynomial: m < sqrt(1/2) -> 2m, e - 1.
  const VecF sqrthf = VecF::set1(0.707106781186547524f);
  VecF small = vselect_gt(sqrthf, m, one, zero);
  m = m + m * small - one;
  e = e - small;
  VecF r = vlog_reduced(m, e);  // the polynomial (common/simd.h)
  const VecF inf = VecF::set1(__builtin_inff());
  r = vselect_gt(x, VecF::set1(3.40282347e+38f), inf, r);  // +inf
  r = vselect_gt(x, zero, r, VecF::set1(-__builtin_inff()));                 // x <= 0 (and NaN, fixed below)
  r = vselect_gt(zero, x, VecF::set1(__builtin_nanf("")), r);  // x < 0
  return vkeep_nan(x, r);
}

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
