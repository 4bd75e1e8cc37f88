// Types shared by the portable RNN driver (rnn.cpp) and the per-tier kernels (rnn_isa.cpp).
// Plain structs and function pointers only: this header is included by the *_isa.cpp copies,
// so it defines no inline code (see common/simd.h on ODR).
#pragma once
#include <cstdint>

#include "activation/act.h"

namespace pyinfer {
namespace rnn {

// --- per-tier kernels (rnn_isa.cpp) ------------------------------------------------------
// Row kernels work on n hidden units of one batch row. Arrays holding one value per gate
// (`gx`, `gr`) keep gate g of unit j at [g*H + j]; the caller offsets every pointer to the
// first unit it wants. `gx` is the input projection row X_t W^T + folded biases (see rnn.h),
// `gr` the recurrent product H_{t-1} R^T (both in ONNX gate order). Gate functions are
// activations of act.h (rnn.cpp: parse_activations). `clip` is null when the
// node has no clip. `y` (may be null) receives a copy of the new H.
//
// The step kernel computes recurrent products from R packed into gate-interleaved panels
// (see rnn.h, GatePanels): panel `blk` covers hidden units [blk*w, blk*w + w) (w = u * vec)
// for G consecutive gates; at depth k it holds, gate after gate, the w weights
// R[g*H + j][k] (zero past H), so one panel is one contiguous stream of K * G * w floats.
struct RowKernels {
  int vec;      // floats per SIMD vector of this tier: the unit of a panel's width
  int max_acc;  // accumulator vectors the step kernel can keep in registers

  // rec[b*ldr + g*H + j] = sum_k h[b*ldh + k] * panel weight (g, j, k), for the B rows,
  // the G gates and the units j of panels [blk0, blk1) that are < H.
  void (*step)(int64_t B, int64_t K, const float* h, int64_t ldh, const float* panels, int64_t G,
               int64_t u, int64_t H, int64_t blk0, int64_t blk1, float* rec, int64_t ldr);

  // LSTM: gates i,o,f,c. peep = P (i,o,f at 0, H, 2H) or null.
  // c: C_{t-1} in, C_t out. h: H_t out. acts: f, g, h.
  void (*lstm)(int64_t n, int64_t H, const float* gx, const float* gr, const float* peep, float* c,
               float* h, float* y, const ActParams* acts, const float* clip, bool input_forget);
  // GRU, linear_before_reset = 0, part 1: z and r from gates z,r. Writes z (n) and
  // rh = r (.) H_{t-1} (n), the left operand of the second recurrent product.
  void (*gru_zr)(int64_t n, int64_t H, const float* gx, const float* gr, const float* h_prev,
                 float* z, float* rh, const ActParams* f, const float* clip);
  // GRU, linear_before_reset = 0, part 2: gxh = the h gate of gx, grh = (r (.) H_{t-1}) Rh^T.
  // h: H_{t-1} in, H_t out.
  void (*gru_h)(int64_t n, const float* gxh, const float* grh, const float* z, float* h, float* y,
                const ActParams* g, const float* clip);
  // GRU, linear_before_reset = 1, all three gates in one pass; rbh: Rbh (n), which goes
  // inside the reset product. h_prev: H_{t-1}; h: H_t out (may alias h_prev).
  void (*gru_lbr)(int64_t n, int64_t H, const float* gx, const float* gr, const float* rbh,
                  const float* h_prev, float* h, float* y, const ActParams* acts, const float* clip);
  // RNN: H_t = f(gx + gr).
  void (*rnn)(int64_t n, const float* gx, const float* gr, float* h, float* y, const ActParams* f,
              const float* clip);
  // Applies one activation to n floats in place (used by the tests through the binding).
  void (*activate)(int64_t n, float* x, const ActParams* a);
};

}  // namespace rnn
}  // namespace pyinfer
