// A tiny float vector type for the *_isa.cpp translation units.
//
// Each *_isa.cpp file is compiled once per tier (see CMakeLists.txt) with
// PYINFER_ISA_AVX512 / PYINFER_ISA_AVX2 / PYINFER_ISA_SCALAR defined; this header gives
// that copy a VecF of 16, 8 or 1 floats with the same interface, so a kernel is written
// once. Partial loads/stores handle tails without dropping to scalar loops.
//
// Only include this from *_isa.cpp files, and keep everything in those files inside
// namespace pyinfer::PYINFER_ISA_NS: an inline function shared between tiers could be
// linked from the AVX-512 copy into the scalar path (ODR), so avoid std:: templates there
// and prefer the helpers below.
#pragma once
#include <cstdint>
#include <cstring>

#if defined(PYINFER_ISA_AVX512) || defined(PYINFER_ISA_AVX2)
#include <immintrin.h>
#endif

#ifndef PYINFER_ISA_NS
#error "simd.h is for *_isa.cpp files, compiled with PYINFER_ISA_NS defined"
#endif

namespace pyinfer {
namespace PYINFER_ISA_NS {

static inline float fmaxf_(float a, float b) { return a > b ? a : b; }
static inline float fminf_(float a, float b) { return a < b ? a : b; }

#if defined(PYINFER_ISA_AVX512)
struct VecF {
  static constexpr int N = 16;
  __m512 v;
  VecF() = default;
  VecF(__m512 x) : v(x) {}
  static VecF zero() { return _mm512_setzero_ps(); }
  static VecF set1(float x) { return _mm512_set1_ps(x); }
  static VecF load(const float* p) { return _mm512_loadu_ps(p); }
  static VecF load_partial(const float* p, int n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
  }
  // The first n lanes of this vector, `fill` in the others (a row's tail without a reload).
  VecF first_lanes(int n, float fill) const {
    return _mm512_mask_blend_ps(static_cast<__mmask16>((1u << n) - 1), _mm512_set1_ps(fill), v);
  }
  float hsum() const { return _mm512_reduce_add_ps(v); }
  float hmax() const { return _mm512_reduce_max_ps(v); }
};
static inline VecF operator+(VecF a, VecF b) { return _mm512_add_ps(a.v, b.v); }
static inline VecF operator-(VecF a, VecF b) { return _mm512_sub_ps(a.v, b.v); }
static inline VecF operator*(VecF a, VecF b) { return _mm512_mul_ps(a.v, b.v); }
static inline VecF operator/(VecF a, VecF b) { return _mm512_div_ps(a.v, b.v); }
static inline VecF fmadd(VecF a, VecF b, VecF c) { return _mm512_fmadd_ps(a.v, b.v, c.v); }
// max/min return the second operand when either is NaN (x86 semantics): put the data first
// and use vmax_nan() where NaN must propagate.
static inline VecF vmax(VecF a, VecF b) { return _mm512_max_ps(a.v, b.v); }
static inline VecF vmin(VecF a, VecF b) { return _mm512_min_ps(a.v, b.v); }
static inline VecF vabs(VecF a) { return _mm512_abs_ps(a.v); }
static inline VecF vsqrt(VecF a) { return _mm512_sqrt_ps(a.v); }
// Lanes where a is NaN keep a; otherwise max(a, b).
static inline VecF vmax_nan(VecF a, VecF b) {
  __mmask16 nan = _mm512_cmp_ps_mask(a.v, a.v, _CMP_UNORD_Q);
  return _mm512_mask_blend_ps(nan, _mm512_max_ps(a.v, b.v), a.v);
}
// Lanes where src is NaN take src (NaN propagation), others take res.
static inline VecF vkeep_nan(VecF src, VecF res) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(src.v, src.v, _CMP_UNORD_Q), res.v, src.v);
}
static inline VecF vselect_gt(VecF a, VecF b, VecF if_true, VecF if_false) {  // a > b ? t : f
  __mmask16 m = _mm512_cmp_ps_mask(a.v, b.v, _CMP_GT_OQ);
  return _mm512_mask_blend_ps(m, if_false.v, if_true.v);
}
static inline VecF vround_down(VecF a) { return _mm512_roundscale_ps(a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }
// 2^n for integral-valued n in [-126, 127].
static inline VecF vpow2i(VecF n) {
  __m512i i = _mm512_cvtps_epi32(n.v);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
}
// 1 / d for d >= 1, +inf (-> exactly 0) or NaN (-> NaN): the 14-bit estimate and one Newton
// step (~1 ulp), a quarter of a division's cost. The step runs on d capped at FLT_MAX (on inf it
// would give inf * 0 = NaN; min keeps a NaN d) and inf lanes are then set to 0, so that a huge x
// times 1 / inf stays 0 as with a division.
static inline VecF vrecip_ge1(VecF d) {
  const __m512 c = _mm512_min_ps(_mm512_set1_ps(3.402823466e+38f), d.v);
  const __m512 r = _mm512_rcp14_ps(c);
  const __mmask16 finite = _mm512_cmp_ps_mask(d.v, _mm512_set1_ps(__builtin_inff()), _CMP_NEQ_UQ);
  const __m512 e = _mm512_fnmadd_ps(c, r, _mm512_set1_ps(1.0f));  // 1 - c r, exact in the fused op
  return _mm512_maskz_fmadd_ps(finite, r, e, r);                   // r + r e
}

#elif defined(PYINFER_ISA_AVX2)
struct VecF {
  static constexpr int N = 8;
  __m256 v;
  VecF() = default;
  VecF(__m256 x) : v(x) {}
  static __m256i tail_mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static VecF zero() { return _mm256_setzero_ps(); }
  static VecF set1(float x) { return _mm256_set1_ps(x); }
  static VecF load(const float* p) { return _mm256_loadu_ps(p); }
  static VecF load_partial(const float* p, int n) { return _mm256_maskload_ps(p, tail_mask(n)); }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, tail_mask(n), v); }
  VecF first_lanes(int n, float fill) const {
    return _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(tail_mask(n)));
  }
  float hsum() const {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
  float hmax() const {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
  }
};
static inline VecF operator+(VecF a, VecF b) { return _mm256_add_ps(a.v, b.v); }
static inline VecF operator-(VecF a, VecF b) { return _mm256_sub_ps(a.v, b.v); }
static inline VecF operator*(VecF a, VecF b) { return _mm256_mul_ps(a.v, b.v); }
static inline VecF operator/(VecF a, VecF b) { return _mm256_div_ps(a.v, b.v); }
static inline VecF fmadd(VecF a, VecF b, VecF c) { return _mm256_fmadd_ps(a.v, b.v, c.v); }
static inline VecF vmax(VecF a, VecF b) { return _mm256_max_ps(a.v, b.v); }
static inline VecF vmin(VecF a, VecF b) { return _mm256_min_ps(a.v, b.v); }
static inline VecF vabs(VecF a) {
  return _mm256_and_ps(a.v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
}
static inline VecF vsqrt(VecF a) { return _mm256_sqrt_ps(a.v); }
static inline VecF vmax_nan(VecF a, VecF b) {
  __m256 nan = _mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q);
  return _mm256_blendv_ps(_mm256_max_ps(a.v, b.v), a.v, nan);
}
static inline VecF vkeep_nan(VecF src, VecF res) {
  return _mm256_blendv_ps(res.v, src.v, _mm256_cmp_ps(src.v, src.v, _CMP_UNORD_Q));
}
static inline VecF vselect_gt(VecF a, VecF b, VecF if_true, VecF if_false) {
  return _mm256_blendv_ps(if_false.v, if_true.v, _mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ));
}
static inline VecF vround_down(VecF a) { return _mm256_floor_ps(a.v); }
static inline VecF vpow2i(VecF n) {
  __m256i i = _mm256_cvtps_epi32(n.v);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
}
// 1 / d for d >= 1, +inf or NaN: a division here (an estimate needs two Newton steps for 1 / 1
// to come out 1, which cost about what the division does on AVX2 machines).
static inline VecF vrecip_ge1(VecF d) { return _mm256_div_ps(_mm256_set1_ps(1.0f), d.v); }

#else  // scalar
struct VecF {
  static constexpr int N = 1;
  float v;
  VecF() = default;
  VecF(float x) : v(x) {}
  static VecF zero() { return 0.0f; }
  static VecF set1(float x) { return x; }
  static VecF load(const float* p) { return *p; }
  static VecF load_partial(const float* p, int n) { return n > 0 ? *p : 0.0f; }
  void store(float* p) const { *p = v; }
  void store_partial(float* p, int n) const { if (n > 0) *p = v; }
  VecF first_lanes(int n, float fill) const { return n > 0 ? v : fill; }
  float hsum() const { return v; }
  float hmax() const { return v; }
};
static inline VecF operator+(VecF a, VecF b) { return a.v + b.v; }
static inline VecF operator-(VecF a, VecF b) { return a.v - b.v; }
static inline VecF operator*(VecF a, VecF b) { return a.v * b.v; }
static inline VecF operator/(VecF a, VecF b) { return a.v / b.v; }
static inline VecF fmadd(VecF a, VecF b, VecF c) { return a.v * b.v + c.v; }
static inline VecF vmax(VecF a, VecF b) { return a.v > b.v ? a.v : b.v; }
static inline VecF vmin(VecF a, VecF b) { return a.v < b.v ? a.v : b.v; }
static inline VecF vabs(VecF a) { return a.v < 0 ? -a.v : a.v; }
static inline VecF vsqrt(VecF a) { return __builtin_sqrtf(a.v); }
static inline VecF vmax_nan(VecF a, VecF b) { return (a.v != a.v) ? a.v : (a.v > b.v ? a.v : b.v); }
static inline VecF vkeep_nan(VecF src, VecF res) { return src.v != src.v ? src : res; }
static inline VecF vselect_gt(VecF a, VecF b, VecF t, VecF f) { return a.v > b.v ? t : f; }
static inline VecF vround_down(VecF a) { return __builtin_floorf(a.v); }
static inline VecF vpow2i(VecF n) {
  int32_t i = (static_cast<int32_t>(n.v) + 127) << 23;
  float r;
  std::memcpy(&r, &i, 4);
  return r;
}
static inline VecF vrecip_ge1(VecF d) { return 1.0f / d.v; }
#endif

// exp(x) for float32 over the whole range: ~1 ulp, finite up to ln(FLT_MAX) = 88.72, gradual
// underflow to denormals below -87.3, +inf above, 0 below -104; NaN -> NaN.
// Cephes-style: x = n*ln2 + r, |r| <= ln2/2, exp(r) by a degree-6 polynomial; 2^n applied as
// two factors 2^n1 * 2^n2 so that n in [-150, 128] stays inside vpow2i's exponent range.
static inline VecF vexp(VecF x) {
  VecF xc = vmin(vmax(x, VecF::set1(-104.0f)), VecF::set1(88.8f));  // NaN -> handled at the end
  VecF n = vround_down(fmadd(xc, VecF::set1(1.44269504088896341f), VecF::set1(0.5f)));
  VecF r = fmadd(n, VecF::set1(-0.693359375f), xc);  // ln2 split in two: n*C1 is exact
  r = fmadd(n, VecF::set1(2.12194440e-4f), r);
  VecF p = VecF::set1(1.9875691500E-4f);
  p = fmadd(p, r, VecF::set1(1.3981999507E-3f));
  p = fmadd(p, r, VecF::set1(8.3334519073E-3f));
  p = fmadd(p, r, VecF::set1(4.1665795894E-2f));
  p = fmadd(p, r, VecF::set1(1.6666665459E-1f));
  p = fmadd(p, r, VecF::set1(5.0000001201E-1f));
  p = fmadd(p * r, r, r + VecF::set1(1.0f));
#if defined(PYINFER_ISA_AVX512)
  return vkeep_nan(x, _mm512_scalef_ps(p.v, n.v));  // p * 2^n in one step, any n in range
#else
  VecF n1 = vround_down(n * VecF::set1(0.5f));
  VecF n2 = n - n1;
  return vkeep_nan(x, (p * vpow2i(n1)) * vpow2i(n2));
#endif
}

// log(2^e * (1 + f)) for f in [sqrt(1/2) - 1, sqrt(2) - 1] and e an integer held as a float:
// Cephes' logf polynomial with ln 2 split in two. The reduction to (f, e) is the caller's (a
// general log splits the exponent; log1p on [0, 1] needs e in {0, 1} only).
static inline VecF vlog_reduced(VecF f, VecF e) {
  VecF z = f * f;
  VecF y = VecF::set1(7.0376836292E-2f);
  y = fmadd(y, f, VecF::set1(-1.1514610310E-1f));
  y = fmadd(y, f, VecF::set1(1.1676998740E-1f));
  y = fmadd(y, f, VecF::set1(-1.2420140846E-1f));
  y = fmadd(y, f, VecF::set1(1.4249322787E-1f));
  y = fmadd(y, f, VecF::set1(-1.6668057665E-1f));
  y = fmadd(y, f, VecF::set1(2.0000714765E-1f));
  y = fmadd(y, f, VecF::set1(-2.4999993993E-1f));
  y = fmadd(y, f, VecF::set1(3.3333331174E-1f));
  y = y * f * z;
  y = fmadd(e, VecF::set1(-2.12194440e-4f), y);
  y = fmadd(z, VecF::set1(-0.5f), y);
  return fmadd(e, VecF::set1(0.693359375f), f + y);
}

// Transposes r[0..N) (N x N floats, N = VecF::N, row j in r[j]) in registers: afterwards
// r[c] holds column c.
static inline void transpose_block(VecF* r) {
#if defined(PYINFER_ISA_AVX512)
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i].v, r[2 * i + 1].v);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i].v, r[2 * i + 1].v);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h)
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i].v, r[8 * h + i + 4].v, 0x88);
      t[8 * h + i + 4] = _mm512_shuffle_f32x4(r[8 * h + i].v, r[8 * h + i + 4].v, 0xDD);
    }
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
#elif defined(PYINFER_ISA_AVX2)
  __m256 t[8], u[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i].v, r[2 * i + 1].v);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i].v, r[2 * i + 1].v);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
#else
  (void)r;  // one float: nothing to move
#endif
}


}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
