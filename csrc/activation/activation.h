// Activation, softmax and batch-normalization kernels (float32).
//
// activation_kernels_isa.cpp holds the per-tier loops (one ActivationTable per tier);
// activation.cpp holds the portable drivers below, which check their arguments, split the
// work over threads and call the active tier's table. Bindings: bind_activation.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "common/cpu_features.h"
#include "gemm/epilogue.h"

namespace pyinfer {

// Elementwise functions y = f(x; a, b). Parameters a, b per function:
//   LeakyRelu alpha | Clip lo, hi | HardSigmoid alpha, beta | Elu alpha | Selu alpha, gamma |
//   Celu alpha (non-zero) | ThresholdedRelu alpha; the others take none.
enum class Unary : int {
  Relu,
  LeakyRelu,
  Sigmoid,
  Tanh,
  Clip,
  HardSigmoid,
  HardSwish,
  Elu,
  Selu,
  Celu,
  Softplus,
  Softsign,
  ThresholdedRelu,
  Erf,
  GeluErf,
  GeluTanh,
  Mish,
};

struct ActivationTable {
  // y[i] = f(x[i]) for i in [0, n).
  void (*unary)(Unary op, const float* x, float* y, int64_t n, float a, float b);
  // y[i] = x[i] < 0 ? slope[i * slope_step] * x[i] : x[i]  (slope_step 0: one slope for all).
  void (*prelu)(const float* x, const float* slope, int64_t slope_step, float* y, int64_t n);
  // y[i] = (x[i] - center) * scale + shift.
  void (*normalize)(const float* x, float* y, int64_t n, float center, float scale, float shift);
  // (Log)softmax of `rows` contiguous rows of length len (len >= 1).
  void (*softmax_rows)(const float* x, float* y, int64_t rows, int64_t len, bool log);
  // (Log)softmax down the columns of an axis_len x cols block whose rows are `stride` floats
  // apart (cols <= stride, cols <= kSoftmaxBlock).
  void (*softmax_cols)(const float* x, float* y, int64_t axis_len, int64_t stride, int64_t cols, bool log);
  // y[i] = f((x[i] - center) * scale + shift) with f = Unary op (parameters a, b): Relu, Clip and
  // LeakyRelu in the same vector loop, the others right after normalize on pieces in L1.
  void (*normalize_act)(const float* x, float* y, int64_t n, float center, float scale, float shift, Unary op,
                        float a, float b);
};

constexpr int64_t kSoftmaxBlock = 512;  // columns per softmax_cols call (stack scratch)

PYINFER_DECLARE_ISA_TABLE(ActivationTable, activation_table)

inline const ActivationTable& activation_table() {
  return PYINFER_ACTIVE_ISA_TABLE(activation_table);
}

// --- drivers (threaded; num_threads <= 0 means the default) ----------------------------

// y = f(x) elementwise over n floats.
void unary(Unary op, const float* x, float* y, int64_t n, float a, float b, int num_threads);

// Throws std::invalid_argument unless slope_shape broadcasts unidirectionally to x_shape.
void check_prelu_shapes(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& slope_shape);

// PRelu: slope_shape must broadcast unidirectionally to x_shape (numpy rules, right-aligned).
// Throws std::invalid_argument otherwise.
void prelu(const float* x, const std::vector<int64_t>& x_shape, const float* slope,
           const std::vector<int64_t>& slope_shape, float* y, int num_threads);

// (Log)softmax over the middle axis of a contiguous (outer, axis_len, inner) array.
void softmax(const float* x, float* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
             int num_threads);

// An activation batch_norm applies to its output while each chunk is in cache (on = false: none).
struct NormActivation {
  bool on = false;
  Unary op = Unary::Relu;
  float a = 0.f, b = 0.f;  // the Unary's parameters
};

// The NormActivation of a fused epilogue's activation (gemm/epilogue.h: Act with alpha / beta for
// LeakyRelu / HardSigmoid, lo / hi for Clip). Act::None gives none.
NormActivation norm_activation(Act act, float alpha, float beta, float lo, float hi);

// Inference batch normalization of a contiguous (n, c, spatial) array, then the optional activation:
// y = act((x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]).
void batch_norm(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, const float* scale,
                const float* bias, const float* mean, const float* var, float epsilon, int num_threads,
                const NormActivation& act = NormActivation());

}  // namespace pyinfer
