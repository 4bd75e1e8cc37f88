// Normalization kernels of their own family (float32): local response normalization.
//
// norm_kernels_isa.cpp holds the per-tier loops (one NormKernels table per tier, see
// norm_kernels.h); norm.cpp holds the portable driver below, which checks its arguments,
// splits the work over threads and calls the active tier's table. Bindings: bind_norm.cpp.
#pragma once
#include <cstdint>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

// Throws std::invalid_argument unless the LRN parameters are usable: size >= 1, alpha / beta /
// bias finite, extents non-negative.
void check_lrn(int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta, float bias);

// ONNX LRN of a contiguous (n, c, spatial) array:
//   y[n, c, s] = x[n, c, s] / (bias + alpha / size * sum_{k in window(c)} x[n, k, s]^2) ^ beta
// with window(c) = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, c).
void lrn(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta,
         float bias, int num_threads);

// Prepared LRN of x (rank >= 3: (N, C, spatial...)): input x, output y.
PreparedPtr prepare_lrn(const std::vector<int64_t>& x_shape, int64_t size, float alpha, float beta, float bias);

}  // namespace pyinfer
