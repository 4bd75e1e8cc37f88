// SIMD pieces of sgemm, written once with VecF and compiled per ISA tier (see
// gemm_kernels.h for the packed layouts and common/simd.h for VecF).
//
// Micro-tile per tier (gemm/gemm_tile.h; registers: MR*NVMAX accumulators + NVMAX loads of B +
// one broadcast of A): AVX-512 8 x 48, AVX2 6 x 16, scalar 4 x 4.
#if !defined(PYINFER_ISA_AVX2) && !defined(PYINFER_ISA_AVX512)
// Scalar tier: GCC 12's loop vectorizer turns micro<4, 2, ...>'s k loop (two B columns at a
// row stride) into loads that run one row past the end of B (seen at -O2/-O3: a segfault
// when B ends at a page boundary). This copy is the portable fallback; correctness first.
#pragma GCC optimize("no-tree-loop-vectorize")
#endif
#include "common/simd.h"
#include "gemm/epilogue_simd.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int VN = VecF::N;
#include "gemm/gemm_tile.h"  // MR, NVMAX, NR
#if defined(PYINFER_ISA_AVX512)
constexpr int DOT_MAX_M = 3, DOT_N = 8;  // skinny_nt tile: rows of A x rows of B
#else
constexpr int DOT_MAX_M = 2, DOT_N = 4;
#endif

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline int clamp_lanes(int64_t n) { return n <= 0 ? 0 : (n >= VN ? VN : static_cast<int>(n)); }

// out = alpha * acc + beta * out for `cols` (<= VN) floats; beta == 0 never reads out.
inline void write_back(VecF acc, float* out, int cols, VecF va, VecF vb, bool read_c) {
  VecF r = acc * va;
  if (cols >= VN) {
    if (read_c) r = fmadd(VecF::load(out), vb, r);
    r.store(out);
  } else {
    if (read_c) r = fmadd(VecF::load_partial(out, cols), vb, r);
    r.store_partial(out, cols);
  }
}

// C[mr x nr] = alpha * (R x kc panel a) * (kc x NR panel b, row stride bs) + beta * C.
// R = rows computed; P = rows the A panel holds per k (its stride: R for skinny panels, MR
// for the blocked path's, whose last panel may hold fewer valid rows than MR). NV vectors of
// columns are computed (nr <= NV * VN: a narrow last tile does not pay for the full NR
// width). MASKED: b has only nr valid columns per row (b is op(B) read in place), so the
// loads are masked.
template <int R, int NV, bool MASKED, int P = R>
void micro(int64_t kc, const float* a, const float* b, int64_t bs, float* c, int64_t ldc, int mr,
           int nr, float alpha, float beta) {
  // Few accumulators (skinny rows) cannot hide the FMA latency: then KU independent sets
  // each take a contiguous quarter (half) of K, so B is also read as KU concurrent streams
  // (batch-1 FC 2048 -> 1000: 102 -> 86-97 us), and are summed at the end (a fixed order:
  // still deterministic).
  constexpr int KU = R * NV >= 8 ? 1 : (R * NV >= 4 ? 2 : 4);
  VecF acc[KU][R][NV];
#pragma GCC unroll 4
  for (int u = 0; u < KU; ++u)
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[u][i][v] = VecF::zero();
  int lanes[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) lanes[v] = clamp_lanes(static_cast<int64_t>(nr) - v * VN);

  // One k step of accumulator set `s`: s += a_k (R values) x b_k (NV vectors).
  auto step = [&](VecF (&s)[R][NV], const float* ak, const float* bk) {
    VecF bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = MASKED ? VecF::load_partial(bk + v * VN, lanes[v]) : VecF::load(bk + v * VN);
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const VecF av = VecF::set1(ak[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) s[i][v] = fmadd(av, bv[v], s[i][v]);
    }
  };
  int64_t k = 0;
  if constexpr (KU > 1) {
    const int64_t q = kc / KU;  // set u: k in [u * q, (u + 1) * q); the rest below, set 0
    for (int64_t j = 0; j < q; ++j) {
#pragma GCC unroll 4
      for (int u = 0; u < KU; ++u) step(acc[u], a + (u * q + j) * P, b + (u * q + j) * bs);
    }
    k = KU * q;
  }
  for (; k < kc; ++k) step(acc[0], a + k * P, b + k * bs);
  if constexpr (KU > 1) {
#pragma GCC unroll 4
    for (int u = 1; u < KU; ++u)
#pragma GCC unroll 8
      for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[0][i][v] = acc[0][i][v] + acc[u][i][v];
  }

  const VecF va = VecF::set1(alpha), vb = VecF::set1(beta);
  const bool read_c = beta != 0.0f;
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    if (i >= mr) break;
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (lanes[v] == 0) break;
      write_back(acc[0][i][v], c + i * ldc + v * VN, lanes[v], va, vb, read_c);
    }
  }
}

// micro<R, nv, MASKED, P> with nv = the vectors nr columns need (nv <= NV).
template <int R, bool MASKED, int NV = NVMAX, int P = R>
void micro_cols(int64_t kc, const float* a, const float* b, int64_t bs, float* c, int64_t ldc,
                int mr, int nr, float alpha, float beta) {
  if constexpr (NV > 1) {
    if ((nr + VN - 1) / VN < NV)
      return micro_cols<R, MASKED, NV - 1, P>(kc, a, b, bs, c, ldc, mr, nr, alpha, beta);
  }
  // One-lane "vectors" (scalar tier): nv = nr lanes are all valid, so no load needs a mask.
  micro<R, NV, MASKED && (VN > 1), P>(kc, a, b, bs, c, ldc, mr, nr, alpha, beta);
}

// micro_cols<r, MASKED> for a run-time r in [1, R]. PANEL: the rows the A panel holds per k,
// 0 when it holds exactly r (skinny panels); MR for the blocked path's last panel, whose r
// (< MR) valid rows are all that is computed (65 rows would otherwise pay 72 rows' FMAs).
template <int R, bool MASKED, int PANEL = 0>
void micro_rows(int r, int64_t kc, const float* a, const float* b, int64_t bs, float* c,
                int64_t ldc, int nr, float alpha, float beta) {
  if constexpr (R > 1) {
    if (r < R) return micro_rows<R - 1, MASKED, PANEL>(r, kc, a, b, bs, c, ldc, nr, alpha, beta);
  }
  micro_cols<R, MASKED, NVMAX, PANEL ? PANEL : R>(kc, a, b, bs, c, ldc, R, nr, alpha, beta);
}

// out[k*R + r] = src[r*ld + k] for r < rows, 0 for rows <= r < R (rows of src become columns).
void pack_interleave(const float* src, int64_t ld, int64_t rows, int R, int64_t kc, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * ld;
    for (int64_t k = 0; k < kc; ++k) out[k * R + r] = s[k];
  }
  for (int64_t r = rows; r < R; ++r)
    for (int64_t k = 0; k < kc; ++k) out[k * R + r] = 0.0f;
}

// out[k*R + j] = src[k*ld + j] for j < cols, 0 for cols <= j < R (rows copied, padded).
void pack_copy(const float* src, int64_t ld, int64_t cols, int R, int64_t kc, float* out) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* s = src + k * ld;
    float* o = out + k * R;
    for (int j = 0; j < R; j += VN) {
      const int width = R - j < VN ? R - j : VN;
      const int n = clamp_lanes(cols - j) < width ? clamp_lanes(cols - j) : width;
      VecF x = n == VN ? VecF::load(s + j) : VecF::load_partial(s + j, n);
      if (width == VN)
        x.store(o + j);
      else
        x.store_partial(o + j, width);
    }
  }
}

// op(A) rows i..i+rows: without trans they are rows of A, with trans columns of A.
void pack_a_panel(bool trans_a, const float* a, int64_t lda, int64_t rows, int R, int64_t kc,
                  float* out) {
  if (trans_a)
    pack_copy(a, lda, rows, R, kc, out);
  else
    pack_interleave(a, lda, rows, R, kc, out);
}

void pack_a(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t kc, float* out) {
  for (int64_t i = 0; i < rows; i += MR) {
    const float* src = trans_a ? a + i : a + i * lda;
    pack_a_panel(trans_a, src, lda, min64(MR, rows - i), MR, kc, out + i * kc);
  }
}

// Like pack_a but the last panel holds only the remaining rows (no zero rows to multiply).
void pack_a_skinny(bool trans_a, const float* a, int64_t lda, int64_t rows, int64_t k,
                   float* out) {
  for (int64_t i = 0; i < rows; i += MR) {
    const float* src = trans_a ? a + i : a + i * lda;
    const int r = static_cast<int>(min64(MR, rows - i));
    pack_a_panel(trans_a, src, lda, r, r, k, out + i * k);
  }
}

void pack_b(bool trans_b, const float* b, int64_t ldb, int64_t kc, int64_t cols, float* out) {
  for (int64_t j = 0; j < cols; j += NR) {
    const int64_t n = min64(NR, cols - j);
    if (trans_b)
      pack_interleave(b + j * ldb, ldb, n, NR, kc, out + j * kc);
    else
      pack_copy(b + j, ldb, n, NR, kc, out + j * kc);
  }
}

void macro(int64_t mc, int64_t nc, int64_t kc, const float* pa, int64_t pa_stride,
           const float* pb, int64_t pb_stride, float* c, int64_t ldc, float alpha, float beta,
           const Epilogue* ep, int64_t i0, int64_t j0) {
  for (int64_t j = 0; j < nc; j += NR) {
    const int nr = static_cast<int>(min64(NR, nc - j));
    const float* bp = pb + (j / NR) * pb_stride;
    for (int64_t i = 0; i < mc; i += MR) {
      const int mr = static_cast<int>(min64(MR, mc - i));
      float* ct = c + i * ldc + j;
      const float* panel = pa + (i / MR) * pa_stride;
      micro_rows<MR, false, MR>(mr, kc, panel, bp, NR, ct, ldc, nr, alpha, beta);
      if (ep) apply_epilogue(mr, nr, ct, ldc, *ep, i0 + i, j0 + j);  // tile still in L1
    }
  }
}

void skinny_nn(int64_t m, int64_t k, const float* pa, const float* b, int64_t bs,
               int64_t panel_stride, bool packed, float* c, int64_t ldc, int64_t n0, int64_t n1,
               float alpha, float beta, const Epilogue* ep) {
  for (int64_t j = n0; j < n1; j += NR) {
    const int nr = static_cast<int>(min64(NR, n1 - j));
    const float* bj = packed ? b + (j / NR) * panel_stride : b + j;
    for (int64_t i = 0; i < m; i += MR) {  // B strip stays in cache across row groups
      const int r = static_cast<int>(min64(MR, m - i));
      float* ct = c + i * ldc + j;
      if (packed || nr == NR)  // packed panels are zero-padded: plain loads
        micro_rows<MR, false>(r, k, pa + i * k, bj, bs, ct, ldc, nr, alpha, beta);
      else
        micro_rows<MR, true>(r, k, pa + i * k, bj, bs, ct, ldc, nr, alpha, beta);
      if (ep) apply_epilogue(r, nr, ct, ldc, *ep, i, j);
    }
  }
}

// C[dm x nn] = alpha * A[dm rows] . B[nn rows]^T + beta * C, dot products along k.
// Rows past dm / nn repeat the last valid row (valid memory) and are not written.
template <int DM>
void dot_tile(int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
              int64_t ldc, int nn, float alpha, float beta) {
  const float* bp[DOT_N];
#pragma GCC unroll 8
  for (int j = 0; j < DOT_N; ++j) bp[j] = b + (j < nn ? j : nn - 1) * ldb;
  VecF acc[DM][DOT_N];
#pragma GCC unroll 4
  for (int i = 0; i < DM; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < DOT_N; ++j) acc[i][j] = VecF::zero();
  int64_t p = 0;
  // When B's rows all sit at the same offset within a vector's alignment (ldb a multiple of
  // VN), a masked head brings every later load of B onto a vector boundary: a load spanning
  // two cache lines costs two (numpy places large arrays 16 bytes past a page).
  if (VN > 1 && ldb % VN == 0 && k >= 4 * VN) {
    const uintptr_t bytes = VN * sizeof(float);
    const int head = static_cast<int>(((bytes - reinterpret_cast<uintptr_t>(bp[0]) % bytes) % bytes) / sizeof(float));
    if (head > 0) {
      VecF av[DM];
#pragma GCC unroll 4
      for (int i = 0; i < DM; ++i) av[i] = VecF::load_partial(a + i * lda, head);
#pragma GCC unroll 8
      for (int j = 0; j < DOT_N; ++j) {
        VecF bv = VecF::load_partial(bp[j], head);
#pragma GCC unroll 4
        for (int i = 0; i < DM; ++i) acc[i][j] = fmadd(av[i], bv, acc[i][j]);
      }
      p = head;
    }
  }
  for (; p + VN <= k; p += VN) {
    VecF av[DM];
#pragma GCC unroll 4
    for (int i = 0; i < DM; ++i) av[i] = VecF::load(a + i * lda + p);
#pragma GCC unroll 8
    for (int j = 0; j < DOT_N; ++j) {
      VecF bv = VecF::load(bp[j] + p);
#pragma GCC unroll 4
      for (int i = 0; i < DM; ++i) acc[i][j] = fmadd(av[i], bv, acc[i][j]);
    }
  }
  if (p < k) {  // tail: masked loads give zeros past k
    const int rem = static_cast<int>(k - p);
    VecF av[DM];
#pragma GCC unroll 4
    for (int i = 0; i < DM; ++i) av[i] = VecF::load_partial(a + i * lda + p, rem);
#pragma GCC unroll 8
    for (int j = 0; j < DOT_N; ++j) {
      VecF bv = VecF::load_partial(bp[j] + p, rem);
#pragma GCC unroll 4
      for (int i = 0; i < DM; ++i) acc[i][j] = fmadd(av[i], bv, acc[i][j]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < DM; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < DOT_N; ++j) {
      if (j >= nn) break;
      float* out = c + i * ldc + j;
      const float r = alpha * acc[i][j].hsum();
      *out = beta == 0.0f ? r : r + beta * *out;
    }
}

template <int DM>
void dot_rows(int dm, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
              float* c, int64_t ldc, int nn, float alpha, float beta) {
  if constexpr (DM > 1) {
    if (dm < DM) return dot_rows<DM - 1>(dm, k, a, lda, b, ldb, c, ldc, nn, alpha, beta);
  }
  dot_tile<DM>(k, a, lda, b, ldb, c, ldc, nn, alpha, beta);
}

void skinny_nt(int64_t m, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
               float* c, int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta,
               const Epilogue* ep) {
  for (int64_t j = n0; j < n1; j += DOT_N) {
    const int nn = static_cast<int>(min64(DOT_N, n1 - j));
    for (int64_t i = 0; i < m; i += DOT_MAX_M) {
      const int dm = static_cast<int>(min64(DOT_MAX_M, m - i));
      dot_rows<DOT_MAX_M>(dm, k, a + i * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc, nn,
                          alpha, beta);
    }
  }
  if (ep) apply_epilogue(m, n1 - n0, c + n0, ldc, *ep, 0, n0);  // the strip is still in cache
}

// C[i][j] for i < M (<= 4), j in [j0, j1): B read a whole row segment at a time. The C
// segment (<= ROWS_NC floats per row, L1) accumulates KG rows of B per pass over it, so each
// row of B is one sequential run; an in-place B (row stride ldb, kc x n) walked a column
// strip at a time instead crosses a page on every row and gets no hardware prefetch.
constexpr int64_t ROWS_NC = 1024;

template <int M>
void rows_segment(int64_t k, const float* pa, const float* b, int64_t ldb, float* c, int64_t ldc,
                  int64_t j0, int64_t j1, float alpha, float beta) {
  // B rows per pass: KG * M broadcasts stay in registers. Measured (M = 1, 4 MB of B in L3):
  // 4 or 8 rows stream at ~0.96x OpenBLAS's sgemv; 16 rows, or a software prefetch of the next
  // pass's rows, fall to 0.5-0.85x (more streams than the hardware prefetcher follows).
  constexpr int KG = M <= 2 ? 8 : 4;
  const int64_t n = j1 - j0;
  for (int64_t k0 = 0; k0 < k; k0 += KG) {
    const int kg = static_cast<int>(min64(KG, k - k0));
    VecF av[KG][M];
#pragma GCC unroll 8
    for (int g = 0; g < KG; ++g)
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) av[g][i] = VecF::set1(g < kg ? alpha * pa[(k0 + g) * M + i] : 0.f);
    const float* bk = b + k0 * ldb + j0;
    for (int64_t j = 0; j < n; j += VN) {
      const int lanes = clamp_lanes(n - j);
      const bool full = lanes == VN;
      VecF acc[M];
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) {
        float* ci = c + i * ldc + j0 + j;
        if (k0 > 0)
          acc[i] = full ? VecF::load(ci) : VecF::load_partial(ci, lanes);
        else if (beta != 0.f)
          acc[i] = VecF::set1(beta) * (full ? VecF::load(ci) : VecF::load_partial(ci, lanes));
        else
          acc[i] = VecF::zero();
      }
#pragma GCC unroll 8
      for (int g = 0; g < KG; ++g) {
        if (g >= kg) break;
        const float* bg = bk + g * ldb + j;
        const VecF bv = full ? VecF::load(bg) : VecF::load_partial(bg, lanes);
#pragma GCC unroll 4
        for (int i = 0; i < M; ++i) acc[i] = fmadd(av[g][i], bv, acc[i]);
      }
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) {
        float* ci = c + i * ldc + j0 + j;
        if (full)
          acc[i].store(ci);
        else
          acc[i].store_partial(ci, lanes);
      }
    }
  }
}

// Skinny op(A) (m <= 4 rows, pack_a_skinny's layout) times an in-place row-major B (k x n,
// row stride ldb): C columns [n0, n1). alpha is folded into A's values (sum of (alpha a) b);
// every column is accumulated in the same order whatever the column split.
void skinny_rows(int64_t m, int64_t k, const float* pa, const float* b, int64_t ldb, float* c,
                 int64_t ldc, int64_t n0, int64_t n1, float alpha, float beta, const Epilogue* ep) {
  for (int64_t j = n0; j < n1; j += ROWS_NC) {
    const int64_t j1 = min64(n1, j + ROWS_NC);
    switch (m) {
      case 1: rows_segment<1>(k, pa, b, ldb, c, ldc, j, j1, alpha, beta); break;
      case 2: rows_segment<2>(k, pa, b, ldb, c, ldc, j, j1, alpha, beta); break;
      case 3: rows_segment<3>(k, pa, b, ldb, c, ldc, j, j1, alpha, beta); break;
      default: rows_segment<4>(k, pa, b, ldb, c, ldc, j, j1, alpha, beta); break;
    }
    if (ep) apply_epilogue(m, j1 - j, c + j, ldc, *ep, 0, j);  // the segment is still in L1
  }
}

}  // namespace

static_assert(NR % DOT_N == 0, "skinny column splits must suit both skinny kernels");
extern const GemmKernels gemm_kernels_table = {
    MR, NR, pack_a, pack_b, macro, pack_a_skinny, skinny_nn, skinny_nt, skinny_rows,
    NR, apply_epilogue};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
