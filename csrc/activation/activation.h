// Activation, softmax and batch-normalization kernels (float32).
//
// activation_kernels_isa.cpp holds the per-tier loops (one ActivationTable per tier);
// activation.cpp holds the portable drivers below, which check their arguments, split the
// work over threads and call the active tier's table. Bindings: bind_activation.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "common/cpu_features.h"
#include "activation/act.h"
#include "common/prepared.h"

namespace pyinfer {

struct ActivationTable {
  // y[i] = act(x[i]) for i in [0, n) (any activation of act.h).
  void (*activate)(const ActParams& act, const float* x, float* y, int64_t n);
  // y[i] = x[i] < 0 ? slope[i * slope_step] * x[i] : x[i]  (slope_step 0: one slope for all).
  void (*prelu)(const float* x, const float* slope, int64_t slope_step, float* y, int64_t n);
  // y[i] = (x[i] - center) * scale + shift.
  void (*normalize)(const float* x, float* y, int64_t n, float center, float scale, float shift);
  // (Log)softmax of `rows` contiguous rows of length len (len >= 1).
  void (*softmax_rows)(const float* x, float* y, int64_t rows, int64_t len, bool log);
  // (Log)softmax down the columns of an axis_len x cols block whose rows are `stride` floats
  // apart (cols <= stride, cols <= kSoftmaxBlock).
  void (*softmax_cols)(const float* x, float* y, int64_t axis_len, int64_t stride, int64_t cols, bool log);
  // y[i] = act((x[i] - center) * scale + shift), act one of the epilogue activations (act.h).
  void (*normalize_act)(const float* x, float* y, int64_t n, float center, float scale, float shift,
                        const ActParams& act);
};

constexpr int64_t kSoftmaxBlock = 512;  // columns per softmax_cols call (stack scratch)

PYINFER_DECLARE_ISA_TABLE(ActivationTable, activation_table)

inline const ActivationTable& activation_table() {
  return PYINFER_ACTIVE_ISA_TABLE(activation_table);
}

// --- drivers (threaded; num_threads <= 0 means the default) ----------------------------

// y = act(x) elementwise over n floats.
void activate(const ActParams& act, const float* x, float* y, int64_t n, int num_threads);

// Throws std::invalid_argument unless slope_shape broadcasts unidirectionally to x_shape.
void check_prelu_shapes(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& slope_shape);

// PRelu: slope_shape must broadcast unidirectionally to x_shape (numpy rules, right-aligned).
// Throws std::invalid_argument otherwise.
void prelu(const float* x, const std::vector<int64_t>& x_shape, const float* slope,
           const std::vector<int64_t>& slope_shape, float* y, int num_threads);

// (Log)softmax over the middle axis of a contiguous (outer, axis_len, inner) array.
void softmax(const float* x, float* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
             int num_threads);

// Inference batch normalization of a contiguous (n, c, spatial) array, then the optional activation
// (one of the epilogue activations, act.h; Act::None: none), in the same pass:
// y = act((x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]).
void batch_norm(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, const float* scale,
                const float* bias, const float* mean, const float* var, float epsilon, int num_threads,
                const ActParams& act = ActParams());

// --- prepared kernels (common/prepared.h) ---------------------------------------------------

// y = act(x) elementwise, x of any shape (act checked by the caller: act_names.h make_act).
PreparedPtr prepare_activation(const ActParams& act, const std::vector<int64_t>& shape);
// PRelu: inputs x, slope (broadcast to x unidirectionally); output y.
PreparedPtr prepare_prelu(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& slope_shape);
// (Log)softmax along `axis` (negative counts from the end); flatten: the axis and every one
// after it form the softmax's rows (ONNX Softmax before opset 13).
PreparedPtr prepare_softmax(const std::vector<int64_t>& shape, int64_t axis, bool log, bool flatten = false);
// Inference batch normalization (x rank >= 2, per-channel scale, bias, mean, var of length
// C = x_shape[1]) with an epilogue activation in the same pass: inputs x, scale, bias, mean,
// var; output y.
PreparedPtr prepare_batch_norm(const std::vector<int64_t>& x_shape, float epsilon, const ActParams& act);

}  // namespace pyinfer
