// Direct 2-D depthwise convolution (one input channel per group), vectorized along output
// columns: cheaper than im2col + GEMM, whose GEMM would have a single row per group.
// Kernels per ISA tier live in depthwise_isa.cpp; depthwise_kernels() picks the active one.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// One channel plane; the caller (conv_forward) has checked the geometry.
struct DepthwisePlane {
  int64_t H, W;    // input plane
  int64_t OH, OW;  // output plane
  int64_t KH, KW, sh, sw, dh, dw, ph, pw;  // kernel, strides, dilations, begin pads
};

struct DepthwiseKernels {
  // y[OH, OW] = bias + sum_{kh, kw} w[kh, kw] * x[oh * sh - ph + kh * dh, ow * sw - pw + kw * dw]
  // (taps outside x read zero). scratch: room for W floats.
  void (*plane)(const DepthwisePlane& p, const float* x, const float* w, float bias, float* y, float* scratch);
};

namespace isa_scalar { extern const DepthwiseKernels depthwise_table; }
#ifdef PYINFER_HAVE_AVX2
namespace isa_avx2 { extern const DepthwiseKernels depthwise_table; }
#endif
#ifdef PYINFER_HAVE_AVX512
namespace isa_avx512 { extern const DepthwiseKernels depthwise_table; }
#endif

inline const DepthwiseKernels& depthwise_kernels() {
#if defined(PYINFER_HAVE_AVX512) && defined(PYINFER_HAVE_AVX2)
  return select_isa(isa_scalar::depthwise_table, isa_avx2::depthwise_table, isa_avx512::depthwise_table);
#else
  return isa_scalar::depthwise_table;
#endif
}

}  // namespace pyinfer
