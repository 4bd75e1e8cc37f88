// Float32 N-d convolution and transposed convolution (NCHW-style layouts, any number of
// spatial dimensions), computed as im2col + GEMM and GEMM + col2im on pyinfer::sgemm.
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
#include <vector>

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

// bias may be null. y must hold prod(g.y_shape) floats.
void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, int num_threads);
void conv_transpose_forward(const ConvGeometry& g, const float* x, const float* w,
                            const float* bias, float* y, int num_threads);

}  // namespace pyinfer
