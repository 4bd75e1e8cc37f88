// The SIMD pieces of sgemm (one table per ISA tier, defined in gemm_kernels_isa.cpp) and
// the portable accessor that picks the active tier's table. gemm.cpp drives them.
//
// Packed layouts (BLIS):
//   packed A: panels of mr rows; panel p holds op(A)[p*mr + r, k] at [p*pa_stride + k*mr + r],
//             rows past the end of op(A) are zero.
//   packed B: panels of nr columns; panel p holds op(B)[k, p*nr + c] at [p*pb_stride + k*nr + c],
//             columns past the end are zero.
// Packed on the fly, a kc-deep block has pa_stride = mr*kc (pb_stride = nr*kc); packed once
// (PackedMatrix) a panel holds all of K (stride mr*K / nr*K) and a K block starting at p0
// is simply the panel start + p0*mr (p0*nr): the same kernels read both.
// The micro-kernel computes an mr x nr tile from the padded panels (only as many vectors of
// columns as the tile needs) and writes back only the rows/columns that exist in C.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"
#include "gemm/epilogue.h"

namespace pyinfer {

struct GemmKernels {
  int mr, nr;  // micro-tile: mr rows x nr columns of C (cache blocks: gemm_blocking(mr, nr),
               // common/cpu_info.h, from this machine's caches)

  // Pack `rows` x kc of op(A), starting at a (the address of op(A)[i0, p0]), into panels
  // of mr rows (the last one zero-padded), panel p at out + p*mr*kc.
  void (*pack_a)(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out);
  // Pack kc x `cols` of op(B), starting at b (address of op(B)[p0, j0]), into panels of nr
  // columns (the last one zero-padded), panel p at out + p*nr*kc.
  void (*pack_b)(bool trans_b, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out);
  // C[mc x nc] = alpha * packedA * packedB + beta * C  (beta == 0: C is write-only), then
  // the epilogue (ep may be null) on each finished tile; (i0, j0) = C's position in the
  // epilogue's coordinates (where its biases / residual start).
  void (*macro)(int64_t mc, int64_t nc, int64_t kc, const float* pa, int64_t pa_stride,
                const float* pb, int64_t pb_stride, float* c, int64_t ldc, float alpha, float beta,
                const Epilogue* ep, int64_t i0, int64_t j0);

  // Skinny op(A) (few rows), whole K in one pass; computes the columns [n0, n1) of C
  // (n0 a multiple of nr).
  //  skinny_nn: B read as rows of nr-wide column strips: with packed == false op(B) is B
  //             in place (row stride bs, strip j at b + j); with packed == true strip j/nr is
  //             the panel at b + (j/nr)*panel_stride (row stride nr). pa = pack_a_skinny's output.
  //  skinny_nt: B stored N x K (trans_b = true); a = op(A) as contiguous rows (stride lda).
  void (*pack_a_skinny)(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t k,
                        float* out);
  void (*skinny_nn)(int64_t m, int64_t k, const float* pa, const float* b, int64_t bs,
                    int64_t panel_stride, bool packed, float* c, int64_t ldc, int64_t n0,
                    int64_t n1, float alpha, float beta, const Epilogue* ep);
  void (*skinny_nt)(int64_t m, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha,
                    float beta, const Epilogue* ep);
  //  skinny_rows: m <= kSkinnyRowsMaxM rows of pa (pack_a_skinny's layout) times B in place
  //             (k x n, row stride ldb), B streamed row by row into an L1-resident C segment.
  void (*skinny_rows)(int64_t m, int64_t k, const float* pa, const float* b, int64_t ldb,
                      float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta,
                      const Epilogue* ep);
  // Column granularity skinny_* calls should be split at (threads split on multiples).
  int skinny_n_step;
  // The epilogue alone on rows x cols of C whose top-left is (i0, j0) in its coordinates.
  void (*epilogue)(int64_t rows, int64_t cols, float* c, int64_t ldc, const Epilogue& ep,
                   int64_t i0, int64_t j0);
};

constexpr int64_t kSkinnyRowsMaxM = 4;

PYINFER_DECLARE_ISA_TABLE(GemmKernels, gemm_kernels_table)

inline const GemmKernels& gemm_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(gemm_kernels_table);
}

}  // namespace pyinfer
