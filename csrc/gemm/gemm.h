// Single-precision GEMM, row-major:
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
// op(X) = X or X^T. lda/ldb/ldc are row strides (elements) of the matrices as stored.
// beta == 0 means C is write-only (its old contents, NaN included, are ignored).
// num_threads <= 0: default thread count (see common/thread_pool.h).
#pragma once
#include <cstdint>

namespace pyinfer {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int num_threads);

}  // namespace pyinfer
