// Types shared by the portable RNN driver (rnn.cpp) and the per-tier row kernels
// (rnn_isa.cpp). Plain structs and function pointers only: this header is included by the
// *_isa.cpp copies, so it defines no inline code (see common/simd.h on ODR).
#pragma once
#include <cstdint>

namespace pyinfer {
namespace rnn {

// The activation functions of the ONNX RNN family (names as in the spec).
enum class ActKind : int32_t {
  Relu,
  Tanh,
  Sigmoid,
  Affine,           // alpha*x + beta
  LeakyRelu,        // x >= 0 ? x : alpha*x
  ThresholdedRelu,  // x >= alpha ? x : 0
  ScaledTanh,       // alpha*tanh(beta*x)
  HardSigmoid,      // min(max(alpha*x + beta, 0), 1)
  Elu,              // x >= 0 ? x : alpha*(exp(x) - 1)
  Softsign,         // x / (1 + |x|)
  Softplus,         // log(1 + exp(x))
};

struct Activation {
  ActKind kind;
  float alpha;
  float beta;
};

// --- per-tier row kernels (rnn_isa.cpp) ------------------------------------------------
// Each works on one batch row of hidden size H. `gx` is the row of the input projection
// X_t * W^T, `gr` the row of the recurrent product H_{t-1} * R^T (both in ONNX gate order).
// `clip` is null when the node has no clip. `y` (may be null) receives a copy of the new H.
struct RowKernels {
  // LSTM: gates i,o,f,c. bias = Wb + Rb (4H). peep = P (3H: i,o,f) or null.
  // c: C_{t-1} in, C_t out. h: H_t out. acts: f, g, h.
  void (*lstm)(int64_t H, const float* gx, const float* gr, const float* bias, const float* peep,
               float* c, float* h, float* y, const Activation* acts, const float* clip,
               bool input_forget);
  // GRU, linear_before_reset = 0, part 1: z and r from gates z,r (2H of gx, gr, bias = Wb+Rb).
  // Writes z (H) and rh = r (.) H_{t-1} (H), the left operand of the second recurrent GEMM.
  void (*gru_zr)(int64_t H, const float* gx, const float* gr, const float* bias, const float* h_prev,
                 float* z, float* rh, const Activation* f, const float* clip);
  // GRU, linear_before_reset = 0, part 2: gxh/grh = gate h rows (grh = (r (.) H_{t-1}) * Rh^T),
  // bias = Wbh + Rbh. h: H_{t-1} in, H_t out.
  void (*gru_h)(int64_t H, const float* gxh, const float* grh, const float* bias, const float* z,
                float* h, float* y, const Activation* g, const float* clip);
  // GRU, linear_before_reset = 1: all three gates in one pass. bias_zr = Wb+Rb for z,r (2H);
  // wbh, rbh: the two h-gate biases (H each; Rbh goes inside the reset product).
  void (*gru_lbr)(int64_t H, const float* gx, const float* gr, const float* bias_zr,
                  const float* wbh, const float* rbh, float* h, float* y, const Activation* acts,
                  const float* clip);
  // RNN: H_t = f(gx + gr + bias).
  void (*rnn)(int64_t H, const float* gx, const float* gr, const float* bias, float* h, float* y,
              const Activation* f, const float* clip);
  // Applies one activation to n floats in place (used by the tests through the binding).
  void (*activate)(int64_t n, float* x, const Activation* a);
};

}  // namespace rnn
}  // namespace pyinfer
