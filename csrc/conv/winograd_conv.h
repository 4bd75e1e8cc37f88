// The Winograd F(4x4, 3x3) convolution driver (winograd.cpp): which layers it takes, and the
// call. The inner loops and the layouts are in conv/winograd.h.
#pragma once
#include <cstdint>
#include <shared_mutex>

#include "conv/conv.h"

namespace pyinfer {

struct WinogradKernels;

// A layer's transformed weights (36 x Kp x Cp floats, conv/winograd.h), made from its packed
// panels when a call first needs them, for the SIMD tier active then (a call under another
// tier remakes them). Calls hold `mu` shared while they read; making them holds it exclusively.
struct ConvWinogradWeights {
  std::shared_mutex mu;
  float* data = nullptr;
  const WinogradKernels* tier = nullptr;
  int64_t floats = 0;
  ~ConvWinogradWeights();
};

// 2-D, 3x3, stride 1, dilation 1, one group, a scratch size within bounds.
bool winograd_fits(const ConvGeometry& g);
// Where it fits, whether it beats the direct kernels (measured: tools/bench_conv.py).
bool winograd_pays(const ConvGeometry& g);

// y = conv(x) with the fused epilogue; pw: the layer's packed weights, their panels present
// (the caller holds them: conv.cpp use_layout), pw.wino made here on first use.
void conv_winograd(const ConvGeometry& g, const float* x, const PackedConvWeights& pw, const float* bias,
                   float* y, int num_threads, const ConvEpilogue* ep);

}  // namespace pyinfer
