// Direct (im2col-free) convolution, 1-D / 2-D, any stride, on the GEMM's pre-packed weights.
//
// The group's input is copied once into a zero-padded buffer: channel planes of Hp x Wp
// floats (Wp = W + pads, Hp = H + pads), one after another. An output computed on the padded
// grid, position q = oh * Wp + ow, reads tap (c, kh, kw) at
//   xp[c * plane + kh * dh * Wp + kw * dw + q]
// (stride 1). Strides > 1: each channel plane is stored as its stride phases instead
// (direct.cpp PaddedPlane), and Wp below is a phase plane's width: the same formula with
// per-tap offsets. So along q every tap is a contiguous run: the product W [Mg, K] x taps [K, positions] is a
// GEMM whose B rows are shifted slices of xp, read in place by the micro-kernel (no column
// matrix, no packing). Positions with ow >= OW (the last Wp - OW of each padded row) are
// computed but never stored. Kernels per ISA tier live in direct_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"
#include "gemm/epilogue.h"

namespace pyinfer {

struct GemmKernels;

// One group's padded input and output plane (the caller checked the geometry).
struct DirectConvShape {
  int64_t C;          // input channels of the group
  int64_t Wp, plane;  // padded row width; floats per padded channel plane (Hp * Wp)
  int64_t OH, OW;     // output plane
  // Row vectors (OW a multiple of the vector width): positions are output positions
  // p = oh * OW + ow instead of padded-grid ones, and a strip's vectors each lie in one output
  // row (a strip may span rows): no grid column is computed and every strip is stored
  // straight from registers. compute's q0, q1 are then output positions.
  bool rows = false;
};

struct DirectConvKernels {
  // This tier's GEMM table: the packed-A layout (mr-row panels over full K) and nr the
  // kernel below reads. Weights packed by another tier's table cannot use this one.
  const GemmKernels* gemm;
  int mr, nr;  // panel height of the weights it reads; positions per micro-tile
  int vn;      // floats per vector
  // For output rows of the m-panels [mp0, mp1) (rows past Mg are dropped) and padded-grid
  // positions [q0, q1) (q0 a multiple of nr, q1 <= (OH - 1) * Wp + OW; with s.rows output
  // positions, q1 <= OH * OW):
  //   y[m, oh * OW + ow] = sum_k pa[m][k] * xp[offs[k] + q]  (then the epilogue, if any)
  // offs[k]: tap k's offset in xp (K = offs' length, the packed panels' depth). Reads xp[offs[k] + q]
  // for q in [q0, q1) only (a strip's partial last vector is loaded masked), so xp may be
  // the caller's input itself (1x1 stride 1: offs[k] = k * plane, no copy). y: the group's output [Mg, OH * OW];
  // ep's coordinates are (m, oh * OW + ow). Panels outer, strips inner: each weight panel
  // stays in cache while the positions' inputs (sized by the caller to stay in L2) pass.
  void (*compute)(const DirectConvShape& s, const int32_t* offs, int64_t K, const float* xp,
                  const float* pa, int64_t a_stride, int64_t Mg, int64_t mp0, int64_t mp1,
                  int64_t q0, int64_t q1, float* y, const Epilogue* ep);

  // --- Output channels as vectors (the "channels" kernel): weights packed in panels of
  // channels_mw output channels, positions broadcast one at a time from where each one's taps
  // start, so no padded-grid column is computed for nothing and every vector load is aligned.
  int channels_mw;  // output channels per weight panel
  int channels_np;  // positions per micro-tile
  // Measured (tools/bench_conv.py): on a padded grid with output rows up to channels_max_ow
  // wide the positions kernel's strips mostly straddle rows (each tile goes through a stack
  // copy that drops the grid's extra columns): it costs pos_grid_cost per computed lane
  // relative to the channels kernel's. direct.cpp channels_win compares the lanes each kernel
  // wastes with these factors.
  // channels_max_ow 0: auto dispatch never picks it (the scalar tier gains nothing from it).
  int64_t channels_max_ow;
  double pos_grid_cost;
  // Weight panel p holds w[p * channels_mw + c][k] at [p][k][c] (weights.cpp); the last panel
  // holds only the channels left (Mg - p * channels_mw, rounded up to whole vectors of vn, zero
  // rows past Mg) and its rows are that many floats apart.
  // t[i][c] (row stride ldt) for positions i in [0, n) and channels c in [0, width):
  //   sum_k wp[c / mw][k][c % mw] * xp[pos[i] + offs[k]]
  // computed in K blocks of kc (a fixed order: the result depends on the shape only), for
  // whole vectors of channels (t's columns up to width rounded up to vn are written).
  // wp: the first panel (panel stride K * channels_mw); width reaches the last panel only if wp's
  // panels run to the group's last.
  void (*channels_compute)(const int32_t* offs, int64_t K, int64_t kc, const float* xp,
                     const int32_t* pos, int64_t n, const float* wp, int64_t width, float* t,
                     int64_t ldt);
  // y[r * P + i] = epilogue(t[i * ldt + r]) for channels r < rows, positions i < n (ldt a
  // multiple of vn >= rows); the epilogue's coordinates are (m0 + r, p0 + i), ep may be
  // null. Transposes the channels tile into the output plane with the epilogue on the way.
  void (*channels_store)(const float* t, int64_t ldt, int64_t n, int64_t rows, float* y, int64_t P,
                   const Epilogue* ep, int64_t m0, int64_t p0);

  // dst[j] = src[j * s] for j in [0, n) (src readable for avail >= (n - 1) * s + 1 floats):
  // one stride phase of a padded input row.
  void (*gather_cols)(const float* src, int64_t avail, int64_t n, int64_t s, float* dst);
};

// Below this depth the channels kernel's transposition costs more than the products it saves.
constexpr int64_t kChannelsMinK = 64;

PYINFER_DECLARE_ISA_TABLE(DirectConvKernels, direct_conv_table)

}  // namespace pyinfer
