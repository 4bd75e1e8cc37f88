// 3-D convolutions as 2-D ones per frame (frames.cpp): one prepared 2-D convolution per
// temporal tap, summed over the taps that read inside the input.
#pragma once
#include <memory>

#include "conv/conv.h"

namespace pyinfer {

// 3-D (video: [N, C, D, H, W]).
bool frames_fit(const ConvGeometry& g);
// The kernel for g with the layer's packed weights (their slices are packed again, per tap).
PreparedPtr prepare_conv_frames(const ConvGeometry& g, const ConvParams& p,
                                std::shared_ptr<const PackedConvWeights> packed);

}  // namespace pyinfer
