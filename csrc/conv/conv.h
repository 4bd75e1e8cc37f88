// Float32 N-d convolution and transposed convolution (NCHW-style layouts, any number of
// spatial dimensions): conv by depthwise, direct, Winograd or im2col + GEMM kernels (picked per
// call from the geometry: docs/ARCHITECTURE.md), conv_transpose as GEMM + col2im.
//
// Layouts (ONNX):
//   conv:           x [N, C, D1..Dk], w [M, C/group, K1..Kk], bias [M] -> y [N, M, O1..Ok]
//   conv_transpose: x [N, C, D1..Dk], w [C, M/group, K1..Kk], bias [M] -> y [N, M, O1..Ok]
// pads are ONNX-style: [begin_1..begin_k, end_1..end_k].
//
// Use: build a geometry with make_conv_geometry / make_conv_transpose_geometry (they check
// every shape and parameter and throw std::invalid_argument with a clear message), allocate
// y with geometry.y_shape, then call conv_forward / conv_transpose_forward, which trust the
// geometry and the buffer sizes it implies.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "gemm/epilogue.h"
#include "gemm/gemm.h"

namespace pyinfer {

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  std::vector<int64_t> in_spatial, kernel, out_spatial;
  std::vector<int64_t> strides, dilations, pads;  // pads: [begin..., end...]
  std::vector<int64_t> output_padding;             // transposed convolution only
  std::vector<int64_t> y_shape;                    // [N, M, O1..Ok]

  int64_t spatial_rank() const { return static_cast<int64_t>(kernel.size()); }
};

// Checks ranks, channel counts against group, weight shape, bias length (bias_len < 0:
// no bias), positive strides/dilations, non-negative pads and a non-empty output.
ConvGeometry make_conv_geometry(const std::vector<int64_t>& x_shape,
                                const std::vector<int64_t>& w_shape, int64_t bias_len,
                                const std::vector<int64_t>& strides,
                                const std::vector<int64_t>& pads,
                                const std::vector<int64_t>& dilations, int64_t group);

// As above for ConvTranspose; output_padding[i] must be in [0, max(stride, dilation)).
ConvGeometry make_conv_transpose_geometry(const std::vector<int64_t>& x_shape,
                                          const std::vector<int64_t>& w_shape, int64_t bias_len,
                                          const std::vector<int64_t>& strides,
                                          const std::vector<int64_t>& pads,
                                          const std::vector<int64_t>& dilations, int64_t group,
                                          const std::vector<int64_t>& output_padding);

// Conv weights prepared once (constant initializers): per group, W_g [Mg, Cg*prod(kernel)]
// packed as the GEMM's left operand. 2-D depthwise weights (one input channel per group)
// are kept as they are: the direct kernel reads them.
struct ConvCvPanels;  // a second layout for the direct kernel, packed on first use (conv.cpp)
struct ConvWinogradWeights;  // the Winograd transform of 3x3 weights, made on first use (winograd.cpp)
struct PackedConvWeights {
  std::vector<int64_t> w_shape;
  int64_t group = 1;
  std::vector<PackedMatrix> groups;  // empty when depthwise
  std::vector<float> raw;            // depthwise only
  std::shared_ptr<ConvCvPanels> cv;  // not depthwise
  std::shared_ptr<ConvWinogradWeights> wino;  // ungrouped 2-D 3x3 only
  bool depthwise() const { return groups.empty(); }
};
// Checks w_shape ([M, C/group, K1..Kk], M divisible by group) and packs w.
PackedConvWeights pack_conv_weights(const std::vector<int64_t>& w_shape, const float* w,
                                    int64_t group, int num_threads);

// Bytes the packed weights hold now (the layouts that exist: see ConvCvPanels in conv.cpp).
int64_t packed_conv_weight_bytes(const PackedConvWeights& pw);

// What conv_forward applies while each output tile is hot: y = act(conv + bias + residual).
// residual (may be null) has y's shape; act and its parameters as in gemm/epilogue.h.
struct ConvEpilogue {
  const float* residual = nullptr;
  Act act = Act::None;
  float alpha = 0.f, beta = 0.f, lo = 0.f, hi = 0.f;
};

// bias may be null. y must hold prod(g.y_shape) floats. Weights: w, or packed (non-null:
// made by pack_conv_weights for g's weight shape and group; then w is ignored).
void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, int num_threads, const PackedConvWeights* packed = nullptr,
                  const ConvEpilogue* ep = nullptr);
// Testing / benchmarking switch for the direct kernels (conv/direct.h) and Winograd
// (conv/winograd.h): 0 = pick by the measured rules (default), 1 = positions as vectors,
// 3 = output channels as vectors (both wherever a direct kernel applies), 2 = never (im2col +
// GEMM), 4 = Winograd wherever it applies (else as 0), 5 = as 0 without Winograd. Modes 1-3
// and 5 never use Winograd.
void set_conv_direct_mode(int mode);

void conv_transpose_forward(const ConvGeometry& g, const float* x, const float* w,
                            const float* bias, float* y, int num_threads);

}  // namespace pyinfer
