// Layer normalization and RMS normalization over the trailing axes of each row, with the residual
// add transformers put in front of them:
//
//   s[r, :] = x[r, :] + skip[r mod skip_rows, :] + bias          (skip and bias optional)
//   layer:  y = (s - mean(s)) / sqrt(var(s) + epsilon) * gamma + beta
//           (channel_params: gamma and beta per row's channel, InstanceNormalization)
//   rms:    y = s / sqrt(mean(s^2) + epsilon) * gamma + beta     (beta optional in both)
//
// ONNX LayerNormalization-17 (stash_type 1) and RMSNormalization-23, and onnxruntime's
// SkipLayerNormalization / SkipSimplifiedLayerNormalization / SimplifiedLayerNormalization, are
// this one kernel. Optional outputs: the row statistics mean and inv_std (ONNX's Mean / InvStdDev;
// rms rows have no mean) and the sum s (SkipLayerNormalization's input_skip_bias_sum: the next
// residual of a pre-norm block reads it).
//
// One pass over memory per row: the row is read once (x + skip + bias formed and summed on the
// way), its variance is summed around the exact mean while the row is in L1 (not as
// E[s^2] - E[s]^2, which cancels for rows far from zero), and y is written once. Rows are split
// over threads. layer_norm_isa.cpp holds the per-tier loops.
#pragma once
#include <cstdint>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

struct LayerNormParams {
  std::vector<int64_t> x_shape;
  int64_t axis = -1;               // normalize over axes [axis, rank)
  float epsilon = 1e-5f;
  bool rms = false;                // RMS norm: no mean subtracted
  std::vector<int64_t> gamma_shape;  // as many elements as the normalized axes hold (leading 1s allowed)
  bool has_beta = false;
  std::vector<int64_t> beta_shape;
  bool has_skip = false;
  std::vector<int64_t> skip_shape;   // x's trailing dims (leading 1s allowed): repeats over the leading rows
  bool has_bias = false;             // a [cols] bias added with the skip
  // InstanceNormalization: gamma and beta hold one value per channel, x being [N, C, ...] normalized
  // from axis 2 (row r is channel r mod C) instead of one per normalized element.
  bool channel_params = false;
};

// Inputs: x, gamma, beta, skip, bias (the absent ones unused). Outputs: y (x's shape), mean and
// inv_std (x.shape[:axis] + [1] * (rank - axis), optional), sum (x's shape, optional).
PreparedPtr prepare_layer_norm(const LayerNormParams& p);

}  // namespace pyinfer
