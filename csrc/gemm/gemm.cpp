// Placeholder reference GEMM (to be replaced by the blocked SIMD one).
#include "gemm/gemm.h"

#include <vector>

#include "common/thread_pool.h"

namespace pyinfer {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int num_threads) {
  parallel_for(M, num_threads, [&](int64_t m0, int64_t m1) {
    std::vector<float> acc(N);
    for (int64_t m = m0; m < m1; ++m) {
      for (int64_t n = 0; n < N; ++n) acc[n] = 0.f;
      for (int64_t k = 0; k < K; ++k) {
        float a = trans_a ? A[k * lda + m] : A[m * lda + k];
        if (a == 0.f) continue;
        for (int64_t n = 0; n < N; ++n) acc[n] += a * (trans_b ? B[n * ldb + k] : B[k * ldb + n]);
      }
      for (int64_t n = 0; n < N; ++n)
        C[m * ldc + n] = alpha * acc[n] + (beta == 0.f ? 0.f : beta * C[m * ldc + n]);
    }
  });
}

}  // namespace pyinfer
