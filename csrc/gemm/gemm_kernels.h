// The SIMD pieces of sgemm (one table per ISA tier, defined in gemm_kernels_isa.cpp) and
// the portable accessor that picks the active tier's table. gemm.cpp drives them.
//
// Packed layouts (BLIS):
//   packed A: panels of mr rows; panel p holds op(A)[p*mr + r, k] at [p*mr*kc + k*mr + r],
//             rows past the end of op(A) are zero.
//   packed B: panels of nr columns; panel p holds op(B)[k, p*nr + c] at [p*nr*kc + k*nr + c],
//             columns past the end are zero.
// The micro-kernel always computes a full mr x nr tile from the padded panels and writes
// back only the rows/columns that exist in C.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

struct GemmKernels {
  int mr, nr;          // micro-tile: mr rows x nr columns of C
  int64_t kc, mc, nc;  // cache blocks: kc (depth), mc (rows of A in L2), nc (columns of B)

  // Pack `rows` x kc of op(A), starting at a (the address of op(A)[i0, p0]), into panels
  // of mr rows (the last one zero-padded).
  void (*pack_a)(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out);
  // Pack kc x `cols` of op(B), starting at b (address of op(B)[p0, j0]), into panels of nr
  // columns (the last one zero-padded).
  void (*pack_b)(bool trans_b, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out);
  // C[mc x nc] = alpha * packedA * packedB + beta * C  (beta == 0: C is write-only).
  void (*macro)(int64_t mc, int64_t nc, int64_t kc, const float* pa, const float* pb, float* c,
                int64_t ldc, float alpha, float beta);

  // Skinny op(A) (M <= skinny_max_m rows), op(B) read in place, whole K in one pass;
  // computes the columns [n0, n1) of C.
  //  skinny_nn: B row-major K x N (trans_b = false); pa = pack_a_skinny's output.
  //  skinny_nt: B stored N x K (trans_b = true); a = op(A) as contiguous rows (stride lda).
  void (*pack_a_skinny)(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t k,
                        float* out);
  void (*skinny_nn)(int64_t m, int64_t k, const float* pa, const float* b, int64_t ldb,
                    float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta);
  void (*skinny_nt)(int64_t m, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha,
                    float beta);
  // Column granularity skinny_* calls should be split at (threads split on multiples).
  int skinny_n_step;
};

namespace isa_scalar { extern const GemmKernels gemm_kernels_table; }
#ifdef PYINFER_HAVE_AVX2
namespace isa_avx2 { extern const GemmKernels gemm_kernels_table; }
#endif
#ifdef PYINFER_HAVE_AVX512
namespace isa_avx512 { extern const GemmKernels gemm_kernels_table; }
#endif

inline const GemmKernels& gemm_kernels() {
#if defined(PYINFER_HAVE_AVX512) && defined(PYINFER_HAVE_AVX2)
  return select_isa(isa_scalar::gemm_kernels_table, isa_avx2::gemm_kernels_table,
                    isa_avx512::gemm_kernels_table);
#else
  return isa_scalar::gemm_kernels_table;
#endif
}

}  // namespace pyinfer
