// Convolution as one GEMM per kernel tap over the output positions that tap reads inside the
// input (tap_gemm.cpp): for atrous convolutions on maps not much larger than their dilation,
// where im2col + GEMM would mostly multiply padding.
#pragma once
#include <memory>
#include <vector>

#include "conv/conv.h"
#include "conv/conv_internal.h"

namespace pyinfer {

// The weights as one [Mg, Cg] packed-A matrix per (group, tap), taps in the kernel's row-major
// order; made from the layer's panels.
struct ConvTapPanels {
  std::vector<PackedMatrix> taps;
};
std::shared_ptr<const ConvTapPanels> make_tap_panels(const PackedConvWeights& pw);

// 1-D / 2-D, not depthwise.
bool tap_gemm_fits(const ConvGeometry& g);
// The share of tap x output position products whose input lies inside the map (1: no padding
// read; DeepLabV3's rate-12 ASPP conv on 14 x 14: 0.18).
double tap_useful_share(const ConvGeometry& g);
// Fits, dilated, deep enough (64 input channels a group) and the share low enough (< 0.75) that
// the per-tap products beat the other algorithms (measured: tap_gemm.cpp).
bool tap_gemm_pays(const ConvGeometry& g);

void tap_gemm_conv(const ConvGeometry& g, const float* x, const ConvTapPanels& w, const float* bias, float* y,
                   int num_threads, const ConvEpilogue& ep);

}  // namespace pyinfer
