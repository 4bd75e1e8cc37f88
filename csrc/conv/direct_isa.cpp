// Direct stride-1 convolution kernels (see direct.h), compiled once per ISA tier.
//
// The micro-kernel is the GEMM's (gemm_kernels_isa.cpp): MR rows of packed weights broadcast,
// NV vectors of positions loaded, MR x NV accumulators over all of K. Only B differs: row k
// is read in place at xp + offs[k] + q (unaligned) instead of from a packed panel. The tile
// goes through a small stack buffer because the padded grid's rows (Wp) are wider than the
// output's (OW): each output-row segment is copied out, then gets the epilogue while hot.
#if !defined(PYINFER_ISA_AVX2) && !defined(PYINFER_ISA_AVX512)
// Scalar tier: the same GCC loop-vectorizer caution as gemm_kernels_isa.cpp.
#pragma GCC optimize("no-tree-loop-vectorize")
#endif
#include "common/simd.h"
#include "conv/direct.h"
#include "gemm/epilogue_simd.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int VN = VecF::N;
// Must match gemm_kernels_isa.cpp (the packed weights' panel height); conv.cpp checks it.
#if defined(PYINFER_ISA_AVX512)
constexpr int MR = 8, NVMAX = 3;
#elif defined(PYINFER_ISA_AVX2)
constexpr int MR = 6, NVMAX = 2;
#else
constexpr int MR = 4, NVMAX = 4;
#endif
constexpr int NR = NVMAX * VN;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// tile[i][v*VN ..] = sum_k a[k*MR + i] * b[offs[k] + v*VN ..] for i < MR, v < NV.
template <int NV>
void micro(int64_t K, const float* a, const float* b, const int32_t* offs, float* tile) {
  VecF acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = VecF::zero();
  for (int64_t k = 0; k < K; ++k) {
    const float* bk = b + offs[k];
    VecF bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = VecF::load(bk + v * VN);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const VecF av = VecF::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(av, bv[v], acc[i][v]);
    }
    a += MR;
  }
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v].store(tile + i * NR + v * VN);
}

// micro<nv> with nv = the vectors `cols` positions need.
template <int NV = NVMAX>
void micro_cols(int64_t cols, int64_t K, const float* a, const float* b, const int32_t* offs,
                float* tile) {
  if constexpr (NV > 1) {
    if ((cols + VN - 1) / VN < NV) return micro_cols<NV - 1>(cols, K, a, b, offs, tile);
  }
  micro<NV>(K, a, b, offs, tile);
}

// Copies the tile's rows [0, rows), padded-grid positions [q0, q0 + cols), into y (row
// stride P = OH * OW), dropping the padded grid's extra columns; the epilogue follows on
// each output-row segment while it is in L1.
void store_tile(const DirectConvShape& s, const float* tile, int64_t rows, int64_t q0,
                int64_t cols, float* y, int64_t P, int64_t m0, const Epilogue* ep) {
  const int64_t end = q0 + cols;
  int64_t oh = q0 / s.Wp, q = q0;
  while (q < end) {
    const int64_t ow = q - oh * s.Wp;
    if (ow >= s.OW) {  // the padded row's tail: skip to the next row
      q = ++oh * s.Wp;
      continue;
    }
    const int64_t len = min64(s.OW - ow, end - q), p = oh * s.OW + ow;
    const float* src = tile + (q - q0);
    for (int64_t i = 0; i < rows; ++i) {
      const float* si = src + i * NR;
      float* di = y + (m0 + i) * P + p;
      int64_t j = 0;
      for (; j + VN <= len; j += VN) VecF::load(si + j).store(di + j);
      if (j < len) VecF::load_partial(si + j, static_cast<int>(len - j)).store_partial(di + j, static_cast<int>(len - j));
    }
    if (ep) apply_epilogue(rows, len, y + m0 * P + p, P, *ep, m0, p);
    q += len;
  }
}

void compute(const DirectConvShape& s, const int32_t* offs, int64_t K, const float* xp,
             const float* pa, int64_t a_stride, int64_t Mg, int64_t mp0, int64_t mp1, int64_t q0,
             int64_t q1, float* y, const Epilogue* ep) {
  alignas(64) float tile[MR * NR];
  const int64_t P = s.OH * s.OW;
  for (int64_t mp = mp0; mp < mp1; ++mp) {
    const int64_t m0 = mp * MR, rows = min64(MR, Mg - m0);
    const float* a = pa + mp * a_stride;
    for (int64_t q = q0; q < q1; q += NR) {
      const int64_t cols = min64(NR, q1 - q);
      micro_cols(cols, K, a, xp + q, offs, tile);
      store_tile(s, tile, rows, q, cols, y, P, m0, ep);
    }
  }
}

// --- output channels as vectors -------------------------------------------------------------
#if defined(PYINFER_ISA_AVX512)
constexpr int CV_MV = 4, CV_NP = 6;
constexpr int64_t CV_MAX_OW = 32;
#elif defined(PYINFER_ISA_AVX2)
constexpr int CV_MV = 2, CV_NP = 6;
constexpr int64_t CV_MAX_OW = 64;
#else
constexpr int CV_MV = 4, CV_NP = 4;
constexpr int64_t CV_MAX_OW = 0;
#endif
constexpr int CV_MW = CV_MV * VN;

// t[j][..] (+)= sum_k w[k][..] * xp[pos[j] + offs[k]] for NP positions, one panel, kc taps.
template <int NP>
void cv_micro(int64_t kc, const int32_t* offs, const float* xp, const int32_t* pos,
              const float* w, float* t, int64_t ldt, bool first) {
  const float* b[NP];
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j) b[j] = xp + pos[j];
  VecF acc[NP][CV_MV];
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < CV_MV; ++v) acc[j][v] = first ? VecF::zero() : VecF::load(t + j * ldt + v * VN);
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t o = offs[k];
    VecF wv[CV_MV];
#pragma GCC unroll 4
    for (int v = 0; v < CV_MV; ++v) wv[v] = VecF::load(w + v * VN);
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) {
      const VecF xv = VecF::set1(b[j][o]);
#pragma GCC unroll 4
      for (int v = 0; v < CV_MV; ++v) acc[j][v] = fmadd(xv, wv[v], acc[j][v]);
    }
    w += CV_MW;
  }
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < CV_MV; ++v) acc[j][v].store(t + j * ldt + v * VN);
}

template <int NP = CV_NP>
void cv_micro_n(int n, int64_t kc, const int32_t* offs, const float* xp, const int32_t* pos,
                const float* w, float* t, int64_t ldt, bool first) {
  if constexpr (NP > 1) {
    if (n < NP) return cv_micro_n<NP - 1>(n, kc, offs, xp, pos, w, t, ldt, first);
  }
  cv_micro<NP>(kc, offs, xp, pos, w, t, ldt, first);
}

void cv_compute(const int32_t* offs, int64_t K, int64_t kc, const float* xp, const int32_t* pos,
                int64_t n, const float* wp, int64_t panels, float* t, int64_t ldt) {
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kb = min64(kc, K - k0);
    for (int64_t p = 0; p < panels; ++p) {  // the panel's K block stays in L1 over the positions
      const float* w = wp + p * K * CV_MW + k0 * CV_MW;
      for (int64_t i = 0; i < n; i += CV_NP) {
        const int np = static_cast<int>(min64(CV_NP, n - i));
        cv_micro_n(np, kb, offs + k0, xp, pos + i, w, t + i * ldt + p * CV_MW, ldt, k0 == 0);
      }
    }
  }
}

}  // namespace

// This tier's GEMM table (gemm_kernels_isa.cpp); the tier macros of cpu_features.h are not
// set inside *_isa.cpp copies, so it is declared here.
extern const GemmKernels gemm_kernels_table;
extern const DirectConvKernels direct_conv_table = {&gemm_kernels_table, MR, NR, compute, CV_MW, CV_NP, CV_MAX_OW, cv_compute};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
