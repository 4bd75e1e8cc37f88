// im2col straight into the GEMM's packed-B panel layout (gemm/gemm_kernels.h), for 1-D and
// 2-D convolutions: the column matrix is never stored as such, and the GEMM reads the panels
// without packing them again. Kernels per ISA tier in im2col_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// One group of a 2-D convolution (1-D: H = OH = KH = sh = dh = 1, ph = 0); checked by the
// caller (prepare_conv).
struct Im2colShape {
  int64_t C;               // input channels of the group
  int64_t H, W, OH, OW;    // input / output plane
  int64_t KH, KW, sh, sw, dh, dw, ph, pw;  // kernel, strides, dilations, begin pads
  // x was split by split_phases (column stride sw > 1): each input row is stored as sw
  // phase rows of phase_w floats (phase f holds columns f, f + sw, ...), so every tap reads
  // consecutive floats instead of one in sw.
  bool phased = false;
  int64_t phase_w = 0;
};

struct Im2colKernels {
  // Column-matrix rows r in [0, K), K = C*KH*KW, r = (c*KH + kh)*KW + kw, for output
  // positions [p0, p0 + n) (flat oh*OW + ow), packed as panels of nr columns: position
  // p0 + q*nr + t of row r at out[q*nr*K + r*nr + t]. Taps outside x read zero; columns
  // past n in the last panel are zero. x: the group's channels [C, H, W].
  void (*pack)(const Im2colShape& s, const float* x, int64_t p0, int64_t n, int64_t nr,
               float* out);
  // out[f * phase_w + j] = row[j * s + f] for j * s + f < W (phase rows of one input row;
  // phase_w = ceil(W / s), unused tail slots are left as they are).
  void (*split_phases)(const float* row, int64_t W, int64_t s, int64_t phase_w, float* out);
};

PYINFER_DECLARE_ISA_TABLE(Im2colKernels, im2col_table)

inline const Im2colKernels& im2col_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(im2col_table);
}

}  // namespace pyinfer
