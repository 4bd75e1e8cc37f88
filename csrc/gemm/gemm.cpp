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
// A PackedMatrix operand (packed once, full-K panels) replaces the per-block packing of its
// side; a skinny product with a packed B streams each panel once for all of K.
// The epilogue runs on each micro-tile right after its last K block (see gemm/epilogue.h).
#include "gemm/gemm.h"
#include "common/weight_memory.h"
#include "common/scratch.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "common/check.h"
#include "common/cpu_info.h"
#include "common/thread_pool.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
namespace {

constexpr int64_t kSkinnyMaxM = 16;
// With B packed once, the skinny kernel streams each panel for all of K; above this many
// rows the blocked path (A packed per block, C tiles in L1) is faster.
constexpr int64_t kSkinnyMaxMPacked = 16;
// K block of a product with B packed once (full-K panels, no per-block packing buffer): deep
// enough that C is read and written back once per 768 of K instead of per 256. With C out of
// cache (a 1024 x 3072 output is 12 MiB), every K block reloads each tile of C; measured on a
// Zen 4 EPYC, 1 thread, 1024 x 768 x 768: 66-73 GFLOP/s at 256, 101-109 at 512-768 (128 rows
// unchanged at ~112). The A block (mc x 768) and one B panel (768 x nr) still fit in L2.
constexpr int64_t kPackedKc = 768;

// Packing buffers, one per thread and operand (common/scratch.h).
thread_local ScratchBuffer tls_pack_a, tls_pack_b;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Threads for an M x N x K product (the cost model, common/thread_pool.h): its multiply-adds,
// or for a skinny product (few rows: B streamed once, two flops per float of B) the time to
// stream B if longer; `units`: the pieces the chosen path can split into.
int threads_for(int num_threads, int64_t M, int64_t N, int64_t K, int64_t units) {
  double ns = flops_ns(2.0 * double(M) * double(N) * double(K));
  if (M <= kSkinnyMaxM) ns = std::max(ns, bytes_ns(4.0 * double(K) * double(N)));
  return threads_for_work(ns, units, num_threads);
}

// C = beta * C (K == 0: the product is empty).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
}

// C = beta * C, then the epilogue (the K == 0 product is empty).
void scale_c_epilogue(const GemmKernels& kt, int64_t M, int64_t N, float beta, float* C,
                      int64_t ldc, const Epilogue* ep) {
  scale_c(M, N, beta, C, ldc);
  if (ep) kt.epilogue(M, N, C, ldc, *ep, 0, 0);
}

void skinny(const GemmKernels& kt, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
            float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
            float* C, int64_t ldc, const Epilogue* ep, int threads) {
  const int64_t step = kt.skinny_n_step, chunks = ceil_div(N, step);
  if (!trans_b) {
    float* pa = tls_pack_a.get(M * K);
    kt.pack_a_skinny(trans_a, A, lda, M, K, pa);
    if (M <= kSkinnyRowsMaxM) {  // B streamed row by row (an RNN step, a batch-1 MatMul)
      parallel_for(chunks, threads, [&](int64_t b, int64_t e) {
        kt.skinny_rows(M, K, pa, B, ldb, C, ldc, b * step, std::min(N, e * step), alpha, beta, ep);
      });
      return;
    }
    parallel_for(chunks, threads, [&](int64_t b, int64_t e) {
      kt.skinny_nn(M, K, pa, B, ldb, 0, false, C, ldc, b * step, std::min(N, e * step), alpha,
                   beta, ep);
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
    kt.skinny_nt(M, K, a, a_ld, B, ldb, C, ldc, b * step, std::min(N, e * step), alpha, beta, ep);
  });
}

// Skinny op(A) times a packed B: each nr-column strip is one contiguous panel of all K.
void skinny_packed(const GemmKernels& kt, bool trans_a, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, const float* pb, int64_t pb_stride,
                   float beta, float* C, int64_t ldc, const Epilogue* ep, int threads) {
  const int64_t step = kt.nr, chunks = ceil_div(N, step);
  float* pa = tls_pack_a.get(M * K);
  kt.pack_a_skinny(trans_a, A, lda, M, K, pa);
  parallel_for(chunks, threads, [&](int64_t b, int64_t e) {
    kt.skinny_nn(M, K, pa, pb, kt.nr, pb_stride, true, C, ldc, b * step, std::min(N, e * step),
                 alpha, beta, ep);
  });
}

// One operand of the blocked product: read in place (x, ld, trans) and packed per block, or
// packed once (packed != null: full-K panels, panel_stride floats apart).
struct Operand {
  const float* x = nullptr;
  int64_t ld = 0;
  bool trans = false;
  const float* packed = nullptr;
  int64_t panel_stride = 0;
};

void blocked(const GemmKernels& kt, int64_t M, int64_t N, int64_t K, float alpha,
             const Operand& A, const Operand& B, float beta, float* C, int64_t ldc,
             const Epilogue* ep, int threads) {
  const int64_t MR = kt.mr, NR = kt.nr;
  const GemmBlocking bk = gemm_blocking(kt.mr, kt.nr);  // from this machine's caches
  // Balanced row blocks of at most bk.mc rows (a multiple of MR). Few rows and few column
  // panels on several threads (a batch-32 Gemm onto 128 outputs: 1 x 3 tasks for 2 threads)
  // get smaller row blocks. Row blocking never changes an element's summation order (every
  // micro-tile is MR rows and sums K in the same blocks), so results stay bit-identical.
  int64_t m_blocks = ceil_div(M, bk.mc);
  const int64_t panels_max = ceil_div(std::min(N, bk.nc), NR);
  if (threads > 1 && m_blocks * panels_max < 2 * int64_t(threads))
    m_blocks = std::max(m_blocks, std::min(ceil_div(M, MR), ceil_div(2 * int64_t(threads), panels_max)));
  const int64_t mc = ceil_div(ceil_div(M, m_blocks), MR) * MR;
  // B packed once: K blocks at least kPackedKc deep (C reloaded less often), else the cache-derived kc.
  const int64_t kc_step = B.packed ? std::max(bk.kc, kPackedKc) : bk.kc;
  const int64_t kc_max = std::min(K, kc_step), nc_max = std::min(N, bk.nc);
  float* pb = B.packed ? nullptr : tls_pack_b.get(kc_max * ceil_div(nc_max, NR) * NR);
  auto a_at = [&](int64_t i, int64_t p) {
    return A.trans ? A.x + p * A.ld + i : A.x + i * A.ld + p;
  };
  auto b_at = [&](int64_t p, int64_t j) {
    return B.trans ? B.x + j * B.ld + p : B.x + p * B.ld + j;
  };

  for (int64_t jc = 0; jc < N; jc += bk.nc) {
    const int64_t nc = std::min(bk.nc, N - jc), panels = ceil_div(nc, NR);
    // Enough tasks to keep every thread busy: split the panels when rows are few.
    const int64_t n_split =
        threads > 1 ? std::min(panels, ceil_div(4 * int64_t(threads), m_blocks)) : 1;
    for (int64_t pc = 0; pc < K; pc += kc_step) {
      const int64_t kc = std::min(kc_step, K - pc);
      const float beta_k = pc == 0 ? beta : 1.0f;  // later K blocks accumulate
      const Epilogue* ep_k = pc + kc >= K ? ep : nullptr;  // only once C is final
      // This block's B panels: first panel and stride between panels.
      const float* pb_blk;
      int64_t pb_stride;
      if (B.packed) {
        pb_blk = B.packed + (jc / NR) * B.panel_stride + pc * NR;
        pb_stride = B.panel_stride;
      } else {
        // Packing is a copy: threads only when it is worth a hand-off of its own.
        parallel_for(panels, std::min(threads, threads_for_work(bytes_ns(8.0 * kc * nc), panels, threads)),
                     [&](int64_t b, int64_t e) {
          kt.pack_b(B.trans, b_at(pc, jc + b * NR), B.ld, kc, std::min(nc, e * NR) - b * NR,
                    pb + b * NR * kc);
        });
        pb_blk = pb;
        pb_stride = NR * kc;
      }
      parallel_for(m_blocks * n_split, threads, [&](int64_t b, int64_t e) {
        float* pa = A.packed ? nullptr : tls_pack_a.get(mc * kc_max);
        int64_t packed = -1;
        for (int64_t t = b; t < e; ++t) {
          const int64_t mb = t / n_split, s = t % n_split;
          const int64_t i0 = mb * mc, rows = std::min(mc, M - i0);
          if (rows <= 0) continue;
          const float* pa_blk;
          int64_t pa_stride;
          if (A.packed) {
            pa_blk = A.packed + (i0 / MR) * A.panel_stride + pc * MR;
            pa_stride = A.panel_stride;
          } else {
            if (mb != packed) {
              kt.pack_a(A.trans, a_at(i0, pc), A.ld, rows, kc, pa);
              packed = mb;
            }
            pa_blk = pa;
            pa_stride = MR * kc;
          }
          const int64_t p0 = s * panels / n_split, p1 = (s + 1) * panels / n_split;
          if (p0 == p1) continue;
          const int64_t j0 = p0 * NR, cols = std::min(nc, p1 * NR) - j0;
          kt.macro(rows, cols, kc, pa_blk, pa_stride, pb_blk + p0 * pb_stride, pb_stride,
                   C + i0 * ldc + jc + j0, ldc, alpha, beta_k, ep_k, i0, jc + j0);
        }
      });
    }
  }
}

}  // namespace

const char* sgemm_path(int64_t M, int64_t N, bool packed_b) {
  if (packed_b) return M <= kSkinnyMaxMPacked ? "skinny_packed_b" : "blocked_packed_b";
  if (M <= kSkinnyMaxM) return "skinny";
  return N == 1 ? "skinny_transposed" : "blocked";
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int num_threads, const Epilogue* ep) {
  PYINFER_CHECK(M >= 0 && N >= 0 && K >= 0,
                "sgemm: negative size M=" << M << " N=" << N << " K=" << K);
  if (M == 0 || N == 0) return;
  PYINFER_CHECK(ldc >= N, "sgemm: ldc=" << ldc << " < N=" << N);
  const GemmKernels& kt = gemm_kernels();
  if (K == 0) return scale_c_epilogue(kt, M, N, beta, C, ldc, ep);
  PYINFER_CHECK(lda >= (trans_a ? M : K), "sgemm: lda=" << lda << " too small");
  PYINFER_CHECK(ldb >= (trans_b ? K : N), "sgemm: ldb=" << ldb << " too small");
  const int64_t step = kt.skinny_n_step;
  const int64_t units = M <= kSkinnyMaxM ? ceil_div(N, step)
                        : N == 1 && ldc == 1 ? ceil_div(M, step)
                                             : ceil_div(M, kt.mr) * ceil_div(N, kt.nr);
  const int threads = threads_for(num_threads, M, N, K, units);

  if (M <= kSkinnyMaxM) {
    skinny(kt, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ep, threads);
  } else if (N == 1 && ldc == 1) {
    // C (M x 1, contiguous) = C^T (1 x M): op(B)^T op(A)^T is a skinny product; the
    // epilogue (in C's own coordinates) follows on the finished column.
    skinny(kt, !trans_b, !trans_a, 1, M, K, alpha, B, ldb, A, lda, beta, C, M, nullptr, threads);
    if (ep) kt.epilogue(M, 1, C, 1, *ep, 0, 0);
  } else {
    Operand a, b;
    a.x = A, a.ld = lda, a.trans = trans_a;
    b.x = B, b.ld = ldb, b.trans = trans_b;
    blocked(kt, M, N, K, alpha, a, b, beta, C, ldc, ep, threads);
  }
}

// --- packed operands ----------------------------------------------------------------------

void PackedMatrix::Free::operator()(float* p) const { free_weights(p); }

PackedMatrix::PackedMatrix(Side side, bool trans, int64_t rows, int64_t cols, const float* x,
                           int64_t ld, int num_threads, const GemmKernels* kernels)
    : kernels_(kernels ? kernels : &gemm_kernels()), side_(side), rows_(rows), cols_(cols), floats_(0) {
  PYINFER_CHECK(rows >= 0 && cols >= 0, "PackedMatrix: negative size " << rows << "x" << cols);
  const int64_t stored_cols = trans ? rows : cols;
  PYINFER_CHECK(ld >= std::max<int64_t>(1, stored_cols),
                "PackedMatrix: ld=" << ld << " < " << stored_cols);
  const GemmKernels& kt = *kernels_;
  // Panels split the dimension that is not K: N (side B) or M (side A).
  const bool b_side = side == Side::B;
  const int64_t K = b_side ? rows : cols, L = b_side ? cols : rows;
  const int64_t w = b_side ? kt.nr : kt.mr, panels = ceil_div(L, w);
  floats_ = panels * w * K;
  if (floats_ == 0) return;
  const size_t bytes = (static_cast<size_t>(floats_) * sizeof(float) + 63) / 64 * 64;
  float* out = alloc_weights(bytes);
  data_.reset(out);
  if (!x) return;  // storage only: the caller fills it
  parallel_for(panels, num_threads, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t l0 = p * w, n = std::min(w, L - l0);
      if (b_side)  // op(B)[0, l0]: X[0, l0], or X[l0, 0] when X is N x K
        kt.pack_b(trans, trans ? x + l0 * ld : x + l0, ld, K, n, out + p * w * K);
      else  // op(A)[l0, 0]: X[l0, 0], or X[0, l0] when X is K x M
        kt.pack_a(trans, trans ? x + l0 : x + l0 * ld, ld, n, K, out + p * w * K);
    }
  });
}

int64_t PackedMatrix::panel_stride() const {
  return (side_ == Side::B ? kernels_->nr : kernels_->mr) * (side_ == Side::B ? rows_ : cols_);
}

void sgemm_packed_b(bool trans_a, int64_t M, const float* A, int64_t lda, const PackedMatrix& Bp,
                    float alpha, float beta, float* C, int64_t ldc, int num_threads,
                    const Epilogue* ep) {
  PYINFER_CHECK(Bp.side() == PackedMatrix::Side::B, "sgemm_packed_b: matrix packed as A");
  const int64_t K = Bp.rows(), N = Bp.cols();
  PYINFER_CHECK(M >= 0, "sgemm_packed_b: negative M=" << M);
  if (M == 0 || N == 0) return;
  PYINFER_CHECK(ldc >= N, "sgemm_packed_b: ldc=" << ldc << " < N=" << N);
  const GemmKernels& kt = Bp.kernels();
  if (K == 0) return scale_c_epilogue(kt, M, N, beta, C, ldc, ep);
  PYINFER_CHECK(lda >= (trans_a ? M : K), "sgemm_packed_b: lda=" << lda << " too small");
  const int64_t units = M <= kSkinnyMaxMPacked ? ceil_div(N, kt.nr) : ceil_div(M, kt.mr) * ceil_div(N, kt.nr);
  const int threads = threads_for(num_threads, M, N, K, units);
  if (M <= kSkinnyMaxMPacked) {
    skinny_packed(kt, trans_a, M, N, K, alpha, A, lda, Bp.data(), Bp.panel_stride(), beta, C,
                  ldc, ep, threads);
    return;
  }
  Operand a, b;
  a.x = A, a.ld = lda, a.trans = trans_a;
  b.packed = Bp.data(), b.panel_stride = Bp.panel_stride();
  blocked(kt, M, N, K, alpha, a, b, beta, C, ldc, ep, threads);
}

void sgemm_packed_a(const PackedMatrix& Ap, int64_t N, bool trans_b, const float* B, int64_t ldb,
                    float alpha, float beta, float* C, int64_t ldc, int num_threads,
                    const Epilogue* ep) {
  PYINFER_CHECK(Ap.side() == PackedMatrix::Side::A, "sgemm_packed_a: matrix packed as B");
  const int64_t M = Ap.rows(), K = Ap.cols();
  PYINFER_CHECK(N >= 0, "sgemm_packed_a: negative N=" << N);
  if (M == 0 || N == 0) return;
  PYINFER_CHECK(ldc >= N, "sgemm_packed_a: ldc=" << ldc << " < N=" << N);
  const GemmKernels& kt = Ap.kernels();
  if (K == 0) return scale_c_epilogue(kt, M, N, beta, C, ldc, ep);
  PYINFER_CHECK(ldb >= (trans_b ? K : N), "sgemm_packed_a: ldb=" << ldb << " too small");
  const int threads = threads_for(num_threads, M, N, K, ceil_div(M, kt.mr) * ceil_div(N, kt.nr));
  Operand a, b;
  a.packed = Ap.data(), a.panel_stride = Ap.panel_stride();
  b.x = B, b.ld = ldb, b.trans = trans_b;
  blocked(kt, M, N, K, alpha, a, b, beta, C, ldc, ep, threads);
}

}  // namespace pyinfer
