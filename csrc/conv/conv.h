// Float32 N-d convolution and transposed convolution (NCHW-style layouts, any number of
// spatial dimensions), as prepared kernels (common/prepared.h).
//
// Layouts (ONNX):
//   conv:           x [N, C, D1..Dk], w [M, C/group, K1..Kk], bias [M] -> y [N, M, O1..Ok]
//   conv_transpose: x [N, C, D1..Dk], w [C, M/group, K1..Kk], bias [M] -> y [N, M, O1..Ok]
// pads are ONNX-style: [begin_1..begin_k, end_1..end_k].
//
// prepare_conv checks the shapes and parameters (make_conv_geometry), chooses one algorithm
// from the geometry (ConvAlgorithm below; docs/ARCHITECTURE.md says how) and takes the
// weights' layout that algorithm reads from the layer's PackedConvWeights. The algorithms
// live one per file: depthwise.cpp, direct.cpp (both direct kernels), winograd.cpp,
// im2col.cpp (im2col + GEMM), tap_gemm.cpp (a GEMM per tap), frames.cpp (3-D as 2-D per
// frame), transpose.cpp; prepare.cpp chooses between them.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "common/prepared.h"
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
ConvGeometry make_conv_geometry(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape,
                                int64_t bias_len, const std::vector<int64_t>& strides,
                                const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations,
                                int64_t group);

// As above for ConvTranspose; output_padding[i] must be in [0, max(stride, dilation)).
ConvGeometry make_conv_transpose_geometry(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& w_shape,
                                          int64_t bias_len, const std::vector<int64_t>& strides,
                                          const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations,
                                          int64_t group, const std::vector<int64_t>& output_padding);

// How a convolution runs (prepare_conv chooses; PreparedKernel::algorithm() names it):
enum class ConvAlgorithm {
  Depthwise,        // 2-D, one input channel per group: depthwise.cpp
  DirectPositions,  // 1-D / 2-D direct kernel, output positions as vector lanes: direct.cpp
  DirectChannels,   // 1-D / 2-D direct kernel, output channels as vector lanes: direct.cpp
  Winograd,         // F(4x4, 3x3), 3x3 stride 1 ungrouped: winograd.cpp
  Im2colPacked,     // 1-D / 2-D im2col straight into the GEMM's packed panels: im2col.cpp
  Im2colGemm,       // any rank: im2col tiles + GEMM: im2col.cpp
  TapGemm,          // 1-D / 2-D, one GEMM per tap over the positions it reads: tap_gemm.cpp
};
// (3-D convolutions with constant weights run as 2-D ones per frame, frames.h: their kernel's
// algorithm() reads "frames(<the 2-D algorithm>)".)
const char* conv_algorithm_name(ConvAlgorithm a);  // "depthwise", "direct_positions", ...

// A layer's weights, packed once (constant initializers) and shared by every kernel prepared
// for the layer (one per input shape). Each algorithm reads its own layout (conv_internal.h:
// the GEMM's packed-A panels per group, the direct channels kernel's panels, the Winograd
// transform per SIMD tier); prepare makes the one it needs from the panels, under a lock,
// and the prepared kernel holds it: a run never waits and a layout never changes under it.
// To keep one copy in memory, making the channels layout drops the panels unless a kernel
// still holds them (they are made again from it when a later prepare needs them, and kept
// from then on). 2-D depthwise weights (one input channel per group) are kept as they are.
struct ConvPanels;
struct ConvChannelPanels;
struct ConvWinogradWeights;
struct WinogradKernels;
struct DirectConvKernels;

class PackedConvWeights {
 public:
  // Checks w_shape ([M, C/group, K1..Kk], M divisible by group) and packs w with the GEMM
  // kernels of a SIMD tier (null: the active one), whose kernels every algorithm then runs.
  PackedConvWeights(const std::vector<int64_t>& w_shape, const float* w, int64_t group, int num_threads,
                    const GemmKernels* kernels = nullptr);
  ~PackedConvWeights();

  const std::vector<int64_t>& w_shape() const { return w_shape_; }
  int64_t group() const { return group_; }
  bool depthwise() const { return depthwise_; }
  const float* raw() const { return raw_.data(); }  // depthwise only
  const GemmKernels& gemm_kernels() const { return *kernels_; }

  std::shared_ptr<const ConvPanels> panels() const;
  std::shared_ptr<const ConvChannelPanels> channel_panels(const DirectConvKernels& dk) const;
  std::shared_ptr<const ConvWinogradWeights> winograd(const WinogradKernels& wk, int num_threads) const;
  // The weights back in their original layout, [M, C/group * K1..Kk] (an algorithm that
  // re-slices them: a GEMM per tap, 3-D convolutions as 2-D ones per frame).
  std::vector<float> unpacked() const;
  // Bytes the layouts held now take.
  int64_t bytes() const;

 private:
  const std::shared_ptr<const ConvPanels>& panels_locked() const;  // with mu_ held

  std::vector<int64_t> w_shape_;
  int64_t group_ = 1;
  bool depthwise_ = false;
  std::vector<float> raw_;
  const GemmKernels* kernels_ = nullptr;
  mutable std::mutex mu_;  // guards the layouts below (prepare only; runs never take it)
  mutable std::shared_ptr<const ConvPanels> panels_;
  mutable std::weak_ptr<const ConvPanels> dropped_panels_;  // still held by some kernel?
  mutable bool keep_panels_ = false;
  mutable std::shared_ptr<const ConvChannelPanels> channels_;
  mutable std::vector<std::shared_ptr<const ConvWinogradWeights>> winograd_;  // one per tier
};

// y = act(conv(x, w) + bias + residual). Inputs: x, w (unused when `packed` holds the
// weights), bias ([M] when bias_len >= 0), residual (y's shape, when has_residual).
// Output: y. act: an epilogue activation (act.h).
struct ConvParams {
  std::vector<int64_t> x_shape, w_shape;
  int64_t bias_len = -1;
  std::vector<int64_t> strides, pads, dilations;
  int64_t group = 1;
  bool has_residual = false;
  ActParams act;
};
PreparedPtr prepare_conv(const ConvParams& p, std::shared_ptr<const PackedConvWeights> packed = nullptr);

// Transposed convolution: inputs x, w, bias (when bias_len >= 0); output y.
struct ConvTransposeParams {
  std::vector<int64_t> x_shape, w_shape;
  int64_t bias_len = -1;
  std::vector<int64_t> strides, pads, dilations, output_padding;
  int64_t group = 1;
};
PreparedPtr prepare_conv_transpose(const ConvTransposeParams& p);

// Testing / benchmarking switch (process-wide, read when a kernel is prepared): which
// algorithm prepare_conv takes where several apply.
enum class ConvAlgorithmChoice {
  Auto,             // the measured rules
  DirectPositions,  // the positions kernel wherever a direct kernel applies (no Winograd)
  DirectChannels,   // the channels kernel wherever a direct kernel applies (no Winograd)
  Im2col,           // never a direct kernel (no Winograd)
  Winograd,         // Winograd wherever it applies, else Auto
  NoWinograd,       // Auto without Winograd
  TapGemm,          // one GEMM per tap wherever that applies, else Auto
  DepthwiseFlat,    // depthwise layers on the flat kernel wherever it applies (read at run time)
  DepthwiseLanes,   // depthwise layers with channels as lanes wherever that fits (read at run time)
};
void set_conv_algorithm_choice(ConvAlgorithmChoice c);
ConvAlgorithmChoice conv_algorithm_choice();

}  // namespace pyinfer
