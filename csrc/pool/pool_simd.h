// Strided vector loads for the pooling kernels (pool_kernels_isa.cpp only): one VecF of
// every s-th float, so that a strided window row gives VecF::N outputs at a time.
// Per-tier like common/simd.h; include after it, inside no namespace.
#pragma once
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace pool_simd {

#if defined(PYINFER_ISA_AVX512)
// {p[0], p[2], ..., p[2N-2]}: the even lanes of two vectors (reads p[0, 2N)).
static inline VecF load_stride2(const float* p) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 16));
}
// {p[0], p[s], ..., p[(n-1)s]} for n <= N lanes (the others 0); reads only those floats.
// Needs s * (N - 1) to fit an int32 index (kPoolMaxVectorStride).
static inline VecF load_strided(const float* p, int64_t s, int n) {
  const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                         _mm512_set1_epi32(int(s)));
  const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
  return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, p, 4);
}

// The even and the odd lanes of the 2N floats a, b (a first).
static inline void deinterleave(VecF a, VecF b, VecF* even, VecF* odd) {
  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  *even = _mm512_permutex2var_ps(a.v, ie, b.v);
  *odd = _mm512_permutex2var_ps(a.v, io, b.v);
}

#elif defined(PYINFER_ISA_AVX2)
static inline void deinterleave(VecF a, VecF b, VecF* even, VecF* odd) {
  const __m256 e = _mm256_shuffle_ps(a.v, b.v, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 o = _mm256_shuffle_ps(a.v, b.v, _MM_SHUFFLE(3, 1, 3, 1));
  *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
  *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}
static inline VecF load_stride2(const float* p) {
  // In-lane shuffle gives {a0 a2 b0 b2 | a4 a6 b4 b6}; the 64-bit permute orders the pairs.
  const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
  const __m256 s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}
static inline VecF load_strided(const float* p, int64_t s, int n) {
  const __m256i idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(s)));
  const __m256 m = _mm256_castsi256_ps(VecF::tail_mask(n));
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, m, 4);
}

#else  // scalar
static inline void deinterleave(VecF a, VecF b, VecF* even, VecF* odd) { *even = a, *odd = b; }
static inline VecF load_stride2(const float* p) { return *p; }
static inline VecF load_strided(const float* p, int64_t, int n) { return n > 0 ? *p : 0.0f; }
#endif

}  // namespace pool_simd
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
