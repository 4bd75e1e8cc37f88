// Direct convolution kernels (see direct.h), compiled once per ISA tier.
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
#include "gemm/gemm_tile.h"  // MR, NVMAX, NR: the packed weight panels' shape

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Where a micro-tile's accumulators go: the stack tile (TileSink; store_tile copies it out)
// or, when the tile's positions lie in one output row, straight into y with the epilogue
// applied in registers (RowSink).
struct TileSink {
  float* tile;
  template <int NV>
  inline void put(VecF (&acc)[MR][NV]) const {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v].store(tile + i * NR + v * VN);
  }
};

template <Act A>
struct RowSink {
  float* y;              // output (m0, p): row i at y + i * P
  int64_t P, rows, cols;  // rows <= MR channels, cols positions of this tile
  const Epilogue* ep;    // null: plain store; else coordinates (m0 + i, p + j)
  int64_t m0, p;
  template <int NV>
  inline void put(VecF (&acc)[MR][NV]) const {
    const float* cb = ep && ep->col_bias ? ep->col_bias + p : nullptr;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      if (i >= rows) break;
      const VecF rb = VecF::set1(ep && ep->row_bias ? ep->row_bias[m0 + i] : 0.f);
      const float* res = ep && ep->residual ? ep->residual + (m0 + i) * ep->ld_residual + p : nullptr;
      float* d = y + i * P;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const int64_t left = cols - v * VN;
        const int n = left < VN ? static_cast<int>(left) : VN;
        const bool full = n == VN;
        VecF x = acc[i][v];
        if (ep) {
          x = x + rb;
          if (cb) x = x + (full ? VecF::load(cb + v * VN) : VecF::load_partial(cb + v * VN, n));
          if (res) x = x + (full ? VecF::load(res + v * VN) : VecF::load_partial(res + v * VN, n));
          x = ep_activate<A>(x, *ep);
        }
        if (full)
          x.store(d + v * VN);
        else
          x.store_partial(d + v * VN, n);
      }
    }
  }
};

// acc[i][v] = sum_k a[k*MR + i] * b[offs[k] + dq[v] ..] for i < MR, v < NV, then to the sink;
// dq[v] = v*VN (consecutive vectors) unless ROWS (row vectors: each vector's own offset).
// TAIL: the last vector loads only its first `tail` lanes (the rest are zero): an input read
// in place (1x1 stride 1, conv.cpp) ends exactly at the last position.
template <int NV, bool TAIL, bool ROWS = false, class Sink>
void micro(int64_t K, const float* a, const float* b, const int32_t* offs, int tail, const Sink& sink,
           const int64_t* dq = nullptr) {
  int64_t d[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) d[v] = ROWS ? dq[v] : v * VN;
  VecF acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = VecF::zero();
  for (int64_t k = 0; k < K; ++k) {
    // Inside a model the weights come from DRAM (ResNet-50's exceed L3); the hardware
    // prefetcher restarts at every panel. 64 taps ahead: ResNet-50's 14x14 1x1 layers
    // 490 -> 425 us (onnxruntime 420), nothing slower when the weights are cached.
    __builtin_prefetch(a + 64 * MR);
    const float* bk = b + offs[k];
    VecF bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      bv[v] = TAIL && v == NV - 1 ? VecF::load_partial(bk + d[v], tail) : VecF::load(bk + d[v]);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const VecF av = VecF::set1(a[i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = fmadd(av, bv[v], acc[i][v]);
    }
    a += MR;
  }
  sink.template put<NV>(acc);
}

// micro<nv> with nv = the vectors `cols` positions need; a partial last vector is loaded
// masked, so nothing past b + offs[k] + cols is read.
template <class Sink, int NV = NVMAX>
void micro_cols(int64_t cols, int64_t K, const float* a, const float* b, const int32_t* offs,
                const Sink& sink) {
  if constexpr (NV > 1) {
    if ((cols + VN - 1) / VN < NV) return micro_cols<Sink, NV - 1>(cols, K, a, b, offs, sink);
  }
  const int tail = static_cast<int>(cols - (NV - 1) * VN);
  if (tail < VN) return micro<NV, true>(K, a, b, offs, tail, sink);
  micro<NV, false>(K, a, b, offs, VN, sink);
}

// Positions of the next strip when `left` remain: NR, except that a remainder of
// NVMAX + 1 vectors is split (NVMAX - 1) + 2 rather than NVMAX + 1 (a one-vector strip
// broadcasts each weight for a single FMA). Each position's sum is the same in any strip,
// so the split changes no result.
inline int64_t strip_cols(int64_t left) {
  if constexpr (NVMAX >= 3) {
    const int64_t vecs = (left + VN - 1) / VN;
    if (vecs == NVMAX + 1) return (NVMAX - 1) * VN;
  }
  return min64(NR, left);
}

// Copies the tile's rows [0, rows), padded-grid positions [q0, q0 + cols), into y (row
// stride P = OH * OW), dropping the padded grid's extra columns, with the epilogue (if any)
// applied on the way: one pass from the L1 tile to y, y is never read back.
template <Act A>
void store_tile_t(const DirectConvShape& s, const float* tile, int64_t rows, int64_t q0,
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
    const float* cb = ep && ep->col_bias ? ep->col_bias + p : nullptr;
    for (int64_t i = 0; i < rows; ++i) {
      const float* si = src + i * NR;
      float* di = y + (m0 + i) * P + p;
      const VecF rb = VecF::set1(ep && ep->row_bias ? ep->row_bias[m0 + i] : 0.f);
      const float* res = ep && ep->residual ? ep->residual + (m0 + i) * ep->ld_residual + p : nullptr;
      for (int64_t j = 0; j < len; j += VN) {
        const int n = len - j < VN ? static_cast<int>(len - j) : VN;
        const bool full = n == VN;
        VecF v = full ? VecF::load(si + j) : VecF::load_partial(si + j, n);
        if (ep) {
          v = v + rb;
          if (cb) v = v + (full ? VecF::load(cb + j) : VecF::load_partial(cb + j, n));
          if (res) v = v + (full ? VecF::load(res + j) : VecF::load_partial(res + j, n));
          v = ep_activate<A>(v, *ep);
        }
        if (full)
          v.store(di + j);
        else
          v.store_partial(di + j, n);
      }
    }
    q += len;
  }
}

using StoreTile = void (*)(const DirectConvShape&, const float*, int64_t, int64_t, int64_t, float*,
                           int64_t, int64_t, const Epilogue*);

// Accumulators to the stack tile, then store() copies it into y with the epilogue (the
// activations without a RowSink of their own).
struct FlushSink {
  const DirectConvShape* s;
  StoreTile store;
  float* tile;
  int64_t rows, q, cols;
  float* y;
  int64_t P, m0;
  const Epilogue* ep;
  template <int NV>
  void put(VecF (&acc)[MR][NV]) const {
    TileSink{tile}.template put<NV>(acc);
    store(*s, tile, rows, q, cols, y, P, m0, ep);
  }
};

StoreTile store_tile_for(const Epilogue* ep) {
  return with_epilogue_act(ep ? ep->act.kind : Act::None,
                           [](auto tag) -> StoreTile { return store_tile_t<decltype(tag)::value>; });
}

// Row vectors (DirectConvShape::rows): output positions [p0, p1) in strips of whole vectors,
// each vector read from its own padded-grid offset; the strip's outputs are contiguous in y.
template <class Sink, int NV = NVMAX>
void micro_row_vectors(int64_t cols, int64_t K, const float* a, const float* b, const int32_t* offs,
                       const int64_t* dq, const Sink& sink) {
  if constexpr (NV > 1) {
    if (cols / VN < NV) return micro_row_vectors<Sink, NV - 1>(cols, K, a, b, offs, dq, sink);
  }
  micro<NV, false, true>(K, a, b, offs, VN, sink, dq);
}

template <class MakeSink>
void compute_rows(const DirectConvShape& s, const int32_t* offs, int64_t K, const float* xp,
                  const float* pa, int64_t a_stride, int64_t Mg, int64_t mp0, int64_t mp1, int64_t p0,
                  int64_t p1, const MakeSink& sink_for) {
  auto grid = [&](int64_t p) { return (p / s.OW) * s.Wp + p % s.OW; };
  for (int64_t mp = mp0; mp < mp1; ++mp) {
    const int64_t m0 = mp * MR, rows = min64(MR, Mg - m0);
    const float* a = pa + mp * a_stride;
    for (int64_t p = p0, cols; p < p1; p += cols) {
      cols = strip_cols(p1 - p);  // whole vectors, as p1 - p0 is
      const int64_t q = grid(p);
      int64_t dq[NVMAX];
#pragma GCC unroll 4
      for (int v = 0; v < NVMAX; ++v) dq[v] = grid(p + min64(v * VN, cols - VN)) - q;
      micro_row_vectors(cols, K, a, xp + q, offs, dq, sink_for(m0, rows, p, cols));
    }
  }
}

template <Act A>
void compute_t(const DirectConvShape& s, const int32_t* offs, int64_t K, const float* xp,
               const float* pa, int64_t a_stride, int64_t Mg, int64_t mp0, int64_t mp1, int64_t q0,
               int64_t q1, float* y, const Epilogue* ep) {
  if (s.rows) {
    const int64_t P = s.OH * s.OW;
    return compute_rows(s, offs, K, xp, pa, a_stride, Mg, mp0, mp1, q0, q1,
                        [&](int64_t m0, int64_t rows, int64_t p, int64_t cols) {
                          return RowSink<A>{y + m0 * P + p, P, rows, cols, ep, m0, p};
                        });
  }
  alignas(64) float tile[MR * NR];
  const TileSink to_tile{tile};
  const int64_t P = s.OH * s.OW;
  for (int64_t mp = mp0; mp < mp1; ++mp) {
    const int64_t m0 = mp * MR, rows = min64(MR, Mg - m0);
    const float* a = pa + mp * a_stride;
    for (int64_t q = q0; q < q1;) {
      const int64_t cols = strip_cols(q1 - q), oh = q / s.Wp, ow = q - oh * s.Wp;
      if (ow + cols <= s.OW) {  // one output row: no grid columns to drop
        const int64_t p = oh * s.OW + ow;
        micro_cols(cols, K, a, xp + q, offs, RowSink<A>{y + m0 * P + p, P, rows, cols, ep, m0, p});
      } else {
        micro_cols(cols, K, a, xp + q, offs, to_tile);
        store_tile_t<A>(s, tile, rows, q, cols, y, P, m0, ep);
      }
      q += cols;
    }
  }
}

void compute(const DirectConvShape& s, const int32_t* offs, int64_t K, const float* xp,
             const float* pa, int64_t a_stride, int64_t Mg, int64_t mp0, int64_t mp1, int64_t q0,
             int64_t q1, float* y, const Epilogue* ep) {
  // The common fused activations get their own copy; the rest go through the tile.
  switch (ep ? ep->act.kind : Act::None) {
    case Act::None: return compute_t<Act::None>(s, offs, K, xp, pa, a_stride, Mg, mp0, mp1, q0, q1, y, ep);
    case Act::Relu: return compute_t<Act::Relu>(s, offs, K, xp, pa, a_stride, Mg, mp0, mp1, q0, q1, y, ep);
    case Act::Clip: return compute_t<Act::Clip>(s, offs, K, xp, pa, a_stride, Mg, mp0, mp1, q0, q1, y, ep);
    default: break;
  }
  alignas(64) float tile[MR * NR];
  const TileSink to_tile{tile};
  const StoreTile store_tile = store_tile_for(ep);
  const int64_t P = s.OH * s.OW;
  if (s.rows) {  // a strip's outputs are contiguous: stored as a stretch of one long row
    DirectConvShape flat = s;
    flat.Wp = flat.OW = P, flat.OH = 1;
    return compute_rows(s, offs, K, xp, pa, a_stride, Mg, mp0, mp1, q0, q1,
                        [&](int64_t m0, int64_t rows, int64_t p, int64_t cols) {
                          return FlushSink{&flat, store_tile, tile, rows, p, cols, y, P, m0, ep};
                        });
  }
  for (int64_t mp = mp0; mp < mp1; ++mp) {
    const int64_t m0 = mp * MR, rows = min64(MR, Mg - m0);
    const float* a = pa + mp * a_stride;
    for (int64_t q = q0, cols; q < q1; q += cols) {
      cols = strip_cols(q1 - q);
      micro_cols(cols, K, a, xp + q, offs, to_tile);
      store_tile(s, tile, rows, q, cols, y, P, m0, ep);
    }
  }
}

// --- output channels as vectors -------------------------------------------------------------
#if defined(PYINFER_ISA_AVX512)
constexpr int CHANNELS_MV = 4, CHANNELS_NP = 6;
constexpr int64_t CHANNELS_MAX_OW = 32;
constexpr double POS_GRID_COST = 1.1;
#elif defined(PYINFER_ISA_AVX2)
constexpr int CHANNELS_MV = 2, CHANNELS_NP = 6;
constexpr int64_t CHANNELS_MAX_OW = 64;
constexpr double POS_GRID_COST = 1.1;
#else
constexpr int CHANNELS_MV = 4, CHANNELS_NP = 4;
constexpr int64_t CHANNELS_MAX_OW = 0;
constexpr double POS_GRID_COST = 1.0;
#endif
constexpr int CHANNELS_MW = CHANNELS_MV * VN;

// Positions per micro-tile for a panel of MV vectors: NP x MV accumulators. Narrow panels
// (the last one when M is not a multiple of CHANNELS_MW) take more positions per weight load,
// within the registers (and the general registers holding each position's pointer).
#if defined(PYINFER_ISA_AVX512)
constexpr int channels_np_for(int mv) { return mv >= 4 ? 6 : 8; }
#elif defined(PYINFER_ISA_AVX2)
constexpr int channels_np_for(int mv) { return mv >= 2 ? 6 : 8; }
#else
constexpr int channels_np_for(int) { return 4; }
#endif

// t[j][..] (+)= sum_k w[k][..] * xp[pos[j] + offs[k]] for NP positions, one panel of MV
// vectors (weight rows MV * VN floats apart), kc taps.
template <int MV, int NP>
void channels_micro(int64_t kc, const int32_t* offs, const float* xp, const int32_t* pos,
              const float* w, float* t, int64_t ldt, bool first) {
  const float* b[NP];
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j) b[j] = xp + pos[j];
  VecF acc[NP][MV];
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) acc[j][v] = first ? VecF::zero() : VecF::load(t + j * ldt + v * VN);
  for (int64_t k = 0; k < kc; ++k) {
    const int64_t o = offs[k];
    // The first tile of a panel's K block streams it from memory (see micro); 16 taps ahead.
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) __builtin_prefetch(w + 16 * MV * VN + v * VN);
    VecF wv[MV];
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) wv[v] = VecF::load(w + v * VN);
#pragma GCC unroll 8
    for (int j = 0; j < NP; ++j) {
      const VecF xv = VecF::set1(b[j][o]);
#pragma GCC unroll 4
      for (int v = 0; v < MV; ++v) acc[j][v] = fmadd(xv, wv[v], acc[j][v]);
    }
    w += MV * VN;
  }
#pragma GCC unroll 8
  for (int j = 0; j < NP; ++j)
#pragma GCC unroll 4
    for (int v = 0; v < MV; ++v) acc[j][v].store(t + j * ldt + v * VN);
}

template <int MV, int NP = channels_np_for(MV)>
void channels_micro_n(int n, int64_t kc, const int32_t* offs, const float* xp, const int32_t* pos,
                const float* w, float* t, int64_t ldt, bool first) {
  if constexpr (NP > 1) {
    if (n < NP) return channels_micro_n<MV, NP - 1>(n, kc, offs, xp, pos, w, t, ldt, first);
  }
  channels_micro<MV, NP>(kc, offs, xp, pos, w, t, ldt, first);
}

// One panel of MV vectors, taps [k0, k0 + kb): w its K block, all n positions in tiles of
// balanced size (49 positions: 4 x 6 + 5 x 5, not 8 x 6 + 1: a one-position tile runs at a
// sixth of the speed). Each position's sum is the same whatever its tile.
template <int MV>
void channels_panel(int64_t kb, const int32_t* offs, const float* xp, const int32_t* pos, int64_t n,
              const float* w, float* t, int64_t ldt, bool first) {
  constexpr int NP = channels_np_for(MV);
  const int64_t tiles = (n + NP - 1) / NP;
  for (int64_t ti = 0; ti < tiles; ++ti) {
    const int64_t i = ti * n / tiles;
    const int np = static_cast<int>((ti + 1) * n / tiles - i);
    channels_micro_n<MV>(np, kb, offs, xp, pos + i, w, t + i * ldt, ldt, first);
  }
}

void channels_compute(const int32_t* offs, int64_t K, int64_t kc, const float* xp, const int32_t* pos,
                int64_t n, const float* wp, int64_t width, float* t, int64_t ldt) {
  const int64_t panels = (width + CHANNELS_MW - 1) / CHANNELS_MW;
  for (int64_t k0 = 0; k0 < K; k0 += kc) {
    const int64_t kb = min64(kc, K - k0);
    for (int64_t p = 0; p < panels; ++p) {  // the panel's K block stays in L1 over the positions
      // Only the last panel may be narrower: whole vectors, its rows packed that wide.
      const int mv = static_cast<int>((min64(CHANNELS_MW, width - p * CHANNELS_MW) + VN - 1) / VN);
      const float* w = wp + p * K * CHANNELS_MW + k0 * mv * VN;
      float* tp = t + p * CHANNELS_MW;
      const bool first = k0 == 0;
      if (mv == 1)
        channels_panel<1>(kb, offs + k0, xp, pos, n, w, tp, ldt, first);
      else if (mv == 2 || CHANNELS_MV == 2)
        channels_panel<CHANNELS_MV < 2 ? CHANNELS_MV : 2>(kb, offs + k0, xp, pos, n, w, tp, ldt, first);
      else if (mv == 3)
        channels_panel<CHANNELS_MV < 3 ? CHANNELS_MV : 3>(kb, offs + k0, xp, pos, n, w, tp, ldt, first);
      else
        channels_panel<CHANNELS_MV>(kb, offs + k0, xp, pos, n, w, tp, ldt, first);
    }
  }
}

// --- channels tile -> NCHW ------------------------------------------------------------------------
// y[r * P + i] = epilogue(t[i * ldt + r]) for channels r < rows, positions i < n; the
// epilogue's coordinates are (m0 + r, p0 + i). Blocks of VN x VN are transposed in
// registers and each channel's VN positions get the epilogue and one (partial) store.
template <Act A>
void channels_store_t(const float* t, int64_t ldt, int64_t n, int64_t rows, float* y, int64_t P,
                const Epilogue* ep, int64_t m0, int64_t p0) {
  VecF r[VN];
  for (int64_t i0 = 0; i0 < n; i0 += VN) {
    const int np = n - i0 < VN ? static_cast<int>(n - i0) : VN;
    const bool full = np == VN;
    const float* cb = ep && ep->col_bias ? ep->col_bias + p0 + i0 : nullptr;
    for (int64_t c0 = 0; c0 < rows; c0 += VN) {
      // t's rows are ldt >= rows rounded up to a panel (a multiple of VN): whole vectors.
      for (int j = 0; j < VN; ++j) r[j] = j < np ? VecF::load(t + (i0 + j) * ldt + c0) : VecF::zero();
      transpose_block(r);
      const int nc = rows - c0 < VN ? static_cast<int>(rows - c0) : VN;
      for (int c = 0; c < nc; ++c) {
        const int64_t m = m0 + c0 + c;
        VecF v = r[c];
        if (ep) {
          v = v + VecF::set1(ep->row_bias ? ep->row_bias[m] : 0.f);
          if (cb) v = v + (full ? VecF::load(cb) : VecF::load_partial(cb, np));
          if (ep->residual) {
            const float* res = ep->residual + m * ep->ld_residual + p0 + i0;
            v = v + (full ? VecF::load(res) : VecF::load_partial(res, np));
          }
          v = ep_activate<A>(v, *ep);
        }
        float* d = y + (c0 + c) * P + i0;
        if (full)
          v.store(d);
        else
          v.store_partial(d, np);
      }
    }
  }
}

void channels_store(const float* t, int64_t ldt, int64_t n, int64_t rows, float* y, int64_t P,
              const Epilogue* ep, int64_t m0, int64_t p0) {
  with_epilogue_act(ep ? ep->act.kind : Act::None, [&](auto tag) {
    channels_store_t<decltype(tag)::value>(t, ldt, n, rows, y, P, ep, m0, p0);
  });
}

// --- stride phases ----------------------------------------------------------------------
// dst[j] = src[j * s] for j in [0, n); src is readable for `avail` floats. Splits padded
// input rows into their stride phases (conv.cpp pad_input): strides 2 and 4 (the stems,
// 3x3 / 1x1 stride-2 layers) take permutes of whole vectors instead of one float at a time.
void gather_cols(const float* src, int64_t avail, int64_t n, int64_t s, float* dst) {
  int64_t j = 0;
#if defined(PYINFER_ISA_AVX512)
  if (s == 2) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (; j + 16 <= n && (j + 16) * 2 <= avail; j += 16) {
      const __m512 a = _mm512_loadu_ps(src + 2 * j), b = _mm512_loadu_ps(src + 2 * j + 16);
      _mm512_storeu_ps(dst + j, _mm512_permutex2var_ps(a, ie, b));
    }
  } else if (s == 4) {
    // Lanes 0..7 of each permute hold every fourth float of two vectors; two halves join.
    const __m512i i4 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
    for (; j + 16 <= n && (j + 16) * 4 <= avail; j += 16) {
      const float* p = src + 4 * j;
      const __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(p), i4, _mm512_loadu_ps(p + 16));
      const __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(p + 32), i4, _mm512_loadu_ps(p + 48));
      _mm512_storeu_ps(dst + j, _mm512_shuffle_f32x4(lo, hi, 0x44));
    }
  }
#elif defined(PYINFER_ISA_AVX2)
  if (s == 2) {
    for (; j + 8 <= n && (j + 8) * 2 <= avail; j += 8) {
      const __m256 a = _mm256_loadu_ps(src + 2 * j), b = _mm256_loadu_ps(src + 2 * j + 8);
      // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
      const __m256 e = _mm256_shuffle_ps(a, b, 0x88);
      _mm256_storeu_ps(dst + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8)));
    }
  }
#endif
  for (const float* p = src + j * s; j < n; ++j, p += s) dst[j] = *p;
}

}  // namespace

// This tier's GEMM table (gemm_kernels_isa.cpp); the tier macros of cpu_features.h are not
// set inside *_isa.cpp copies, so it is declared here.
extern const GemmKernels gemm_kernels_table;
extern const DirectConvKernels direct_conv_table = {&gemm_kernels_table, MR, NR, VN, compute, CHANNELS_MW, CHANNELS_NP, CHANNELS_MAX_OW, POS_GRID_COST, channels_compute, channels_store, gather_cols};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
