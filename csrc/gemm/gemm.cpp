// sgemm driver (BLIS-style): cache-blocked loops over packed panels, the SIMD pieces come
// from the active tier's GemmKernels table (gemm_kernels_isa.cpp).
//
//   for jc in N by NC:            (B panel kc x nc, packed once, shared by all threads)
//     for pc in K by KC:
//       pack B[pc:pc+kc, jc:jc+nc]                     parallel over nr-panels
//       for (ic in M by MC) x (a slice of the nr-panels): parallel tasks
//         pack A[ic:ic+mc, pc:pc+kc] (per thread)  ->  macro-kernel (mr x nr micro-tiles)
//
// Every element of C is accumulated in the same order whatever the thread count (threads
// only split M and N), so results are bit-identical for any num_threads.
// Skinny op(A) (few rows: batch-1 Gemm / RNN steps) skips packing B: packing would cost
// more than the product. N == 1 (matrix-vector) is run as its transpose, a skinny product.
#include "gemm/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "common/check.h"
#include "common/thread_pool.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
namespace {

constexpr int64_t kSkinnyMaxM = 16;
constexpr int64_t kFlopsPerThread = int64_t(1) << 20;  // below this a thread costs more than it gives

// A grow-only 64-byte aligned scratch buffer; one per thread and purpose (thread_local), so
// concurrent sgemm calls from different threads never share one.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* get(int64_t n) {
    if (n > cap_) {
      std::free(data_);
      data_ = nullptr;
      cap_ = 0;
      const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      cap_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t cap_ = 0;
};

thread_local Scratch tls_pack_a, tls_pack_b;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int threads_for(int num_threads, int64_t M, int64_t N, int64_t K) {
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int64_t useful = std::max<int64_t>(1, static_cast<int64_t>(flops / kFlopsPerThread));
  return static_cast<int>(std::min<int64_t>(resolve_threads(num_threads), useful));
}

// C = beta * C (K == 0: the product is empty).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
}

void skinny(const GemmKernels& kt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
            float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
            float* C, int64_t ldc, int threads) {
  const int64_t step = kt.skinny_n_step, chunks = ceil_div(N, step);
  if (!trans_b) {
    float* pa = tls_pack_a.get(M * K);
    kt.pack_a_skinny(trans_a, A, lda, M, K, pa);
    parallel_for(chunks, threads, [&](int64_t b, int64_t e) {
      kt.skinny_nn(M, K, pa, B, ldb, C, ldc, b * step, std::min(N, e * step), alpha, beta);
    });
    return;
  }
  const float* a = A;
  int64_t a_ld = lda;
  if (trans_a) {  // the dot-product kernel wants rows of op(A) contiguous
    float* t = tls_pack_a.get(M * K);
    for (int64_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < M; ++i) t[i * K + k] = A[k * lda + i];
    a = t;
    a_ld = K;
  }
  parallel_for(chunks, threads, [&](int64_t b, int64_t e) {
    kt.skinny_nt(M, K, a, a_ld, B, ldb, C, ldc, b * step, std::min(N, e * step), alpha, beta);
  });
}

void blocked(const GemmKernels& kt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
             float* C, int64_t ldc, int threads) {
  const int64_t MR = kt.mr, NR = kt.nr;
  // Balanced row blocks of at most kt.mc rows (a multiple of MR); depends on M only, so
  // the summation order never depends on the thread count.
  const int64_t m_blocks = ceil_div(M, kt.mc);
  const int64_t mc = ceil_div(ceil_div(M, m_blocks), MR) * MR;
  const int64_t kc_max = std::min(K, kt.kc), nc_max = std::min(N, kt.nc);
  float* pb = tls_pack_b.get(kc_max * ceil_div(nc_max, NR) * NR);
  auto a_at = [&](int64_t i, int64_t p) { return trans_a ? A + p * lda + i : A + i * lda + p; };
  auto b_at = [&](int64_t p, int64_t j) { return trans_b ? B + j * ldb + p : B + p * ldb + j; };

  for (int64_t jc = 0; jc < N; jc += kt.nc) {
    const int64_t nc = std::min(kt.nc, N - jc), panels = ceil_div(nc, NR);
    // Enough tasks to keep every thread busy: split the panels when rows are few.
    const int64_t n_split =
        threads > 1 ? std::min(panels, ceil_div(4 * int64_t(threads), m_blocks)) : 1;
    for (int64_t pc = 0; pc < K; pc += kt.kc) {
      const int64_t kc = std::min(kt.kc, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;  // later K blocks accumulate
      parallel_for(panels, threads, [&](int64_t b, int64_t e) {
        kt.pack_b(trans_b, b_at(pc, jc + b * NR), ldb, kc, std::min(nc, e * NR) - b * NR,
                  pb + b * NR * kc);
      });
      parallel_for(m_blocks * n_split, threads, [&](int64_t b, int64_t e) {
        float* pa = tls_pack_a.get(mc * kc_max);
        int64_t packed = -1;
        for (int64_t t = b; t < e; ++t) {
          const int64_t mb = t / n_split, s = t % n_split;
          const int64_t i0 = mb * mc, rows = std::min(mc, M - i0);
          if (rows <= 0) continue;
          if (mb != packed) {
            kt.pack_a(trans_a, a_at(i0, pc), lda, rows, kc, pa);
            packed = mb;
          }
          const int64_t p0 = s * panels / n_split, p1 = (s + 1) * panels / n_split;
          if (p0 == p1) continue;
          const int64_t j0 = p0 * NR, cols = std::min(nc, p1 * NR) - j0;
          kt.macro(rows, cols, kc, pa, pb + j0 * kc, C + i0 * ldc + jc + j0, ldc, alpha, beta_k);
        }
      });
    }
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int num_threads) {
  PYINFER_CHECK(M >= 0 && N >= 0 && K >= 0,
                "sgemm: negative size M=" << M << " N=" << N << " K=" << K);
  if (M == 0 || N == 0) return;
  PYINFER_CHECK(ldc >= N, "sgemm: ldc=" << ldc << " < N=" << N);
  if (K == 0) {
    scale_c(M, N, beta, C, ldc);
    return;
  }
  PYINFER_CHECK(lda >= (trans_a ? M : K), "sgemm: lda=" << lda << " too small");
  PYINFER_CHECK(ldb >= (trans_b ? K : N), "sgemm: ldb=" << ldb << " too small");
  const GemmKernels& kt = gemm_kernels();
  const int threads = threads_for(num_threads, M, N, K);

  if (M <= kSkinnyMaxM) {
    skinny(kt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
  } else if (N == 1 && ldc == 1) {
    // C (M x 1, contiguous) = C^T (1 x M): op(B)^T op(A)^T is a skinny product.
    skinny(kt, !trans_b, !trans_a, 1, M, K, alpha, B, ldb, A, lda, beta, C, M, threads);
  } else {
    blocked(kt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
  }
}

}  // namespace pyinfer
