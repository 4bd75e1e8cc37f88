// Winograd F(4x4, 3x3) convolution for 3x3, stride-1, dilation-1, ungrouped 2-D layers
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
//
// Every 4x4 block ("tile") of an output plane comes from a 6x6 window of the padded input:
//   Y = A^T [ sum_c (G g_mc G^T) . (B^T d_c B) ] A
// so the 9 products per output of a direct 3x3 convolution become 36 / 16 = 2.25 per output,
// as 36 independent matrix products (one per transform point f):
//   M_f [tiles x K] = V_f [tiles x C] * U_f [C x K].
// Channels are the vector lanes in every step (the 36 points of a tile are independent and
// the transforms are the same for every channel), so the input is first transposed into rows
// of [column][channel] and the output tile goes back to NCHW through the cv kernel's
// transposing store, which also applies the epilogue.
//
// Layouts (Cp = C rounded up to vn, Kp = K rounded up to the panel width pw, which the driver
// picks per layer from the tier's choices; lanes past C or K are zero):
//   xt: the zero-padded input, [row][column][Cp], row stride ldrow floats;
//   v:  V_f for a block of n tiles, v[f * ldf + i * Cp + c];
//   u:  U_f in panels of pw output channels, u[((f * Kp / pw + p) * Cp + c) * pw + lane];
//   m:  M_f, m[f * ldm + i * Kp + k];
//   yb: each tile's 4x4 outputs, tile i's row r column j at yb[yoff[i] + r * ldrow + j * Kp + k].
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

struct WinogradKernels {
  int vn;      // floats per vector (channels per vector in every step)
  int max_nv;  // weight panels of u are pw = nv * vn output channels, nv = 1, 2, 4 up to this
  // dst[j * ldd + i] = src[i * lds + j] for j < cols and i < rows_pad, zero where i >= rows
  // (rows_pad <= ldd): rows of NCHW planes into [column][channel] rows, channel tail zeroed.
  void (*transpose)(const float* src, int64_t lds, int64_t rows, int64_t rows_pad, int64_t cols,
                    float* dst, int64_t ldd);
  // V for n tiles; tile i's 6x6 window starts at xt + toff[i] (column stride Cp).
  void (*input_transform)(const float* xt, int64_t ldrow, int64_t Cp, const int64_t* toff,
                          int64_t n, float* v, int64_t ldf);
  // M_f = V_f * U_f for the points [f0, f1), n tiles, the weight panels [p0, p1) of pw output
  // channels (Kp / pw panels in all).
  void (*multiply)(const float* v, int64_t ldf, int64_t n, int64_t Cp, const float* u, int64_t Kp, int pw,
                   float* m, int64_t ldm, int f0, int f1, int64_t p0, int64_t p1);
  // The 4x4 outputs of n tiles into yb (before any bias or epilogue).
  void (*output_transform)(const float* m, int64_t ldm, int64_t Kp, int64_t n, const int64_t* yoff,
                           float* yb, int64_t ldrow);
  // The weight transform U_f = G g G^T (float32) into u's layout (panels of pw, Cp rows) for
  // input channels [c0, c1), from wt[(c * 9 + tap) * Kp + k]: 3x3 weights with each tap's
  // output channels contiguous, zero past K (vectors of output channels).
  void (*transform_weights)(const float* wt, int64_t Kp, int pw, int64_t Cp, int64_t c0, int64_t c1, float* u);
};

PYINFER_DECLARE_ISA_TABLE(WinogradKernels, winograd_table)

inline const WinogradKernels& winograd_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(winograd_table);
}

// The panel width for K output channels: the least padding, weighed by how much slower the
// narrower micro-tiles run.
int winograd_panel_width(int64_t K, const WinogradKernels& wk);

}  // namespace pyinfer
