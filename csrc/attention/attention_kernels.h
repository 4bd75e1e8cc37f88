// Dispatch table of the attention family (see common/isa_probe.h for the pattern); the per-tier
// instances live in attention_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// What one row of scores adds before its softmax (null: nothing).
struct ScoreMask {
  const float* add = nullptr;        // additive mask, n floats (stride 1), or one float (add_stride 0)
  int64_t add_stride = 1;
  const int32_t* keep = nullptr;     // key padding: 0 adds `filter`
  float filter = 0.f;
};

struct AttentionKernels {
  // s[0, n): adds the mask over the first `visible` scores (the causal limit; the rest are
  // masked out), then softmax in place; s[visible, n) becomes 0. A row with every score -inf (or
  // visible == 0) becomes all zeros.
  void (*masked_softmax)(float* s, int64_t n, int64_t visible, const ScoreMask& mask);
  // Rotary embedding of one head's first 2 * half floats, the halves as the two parts
  // (y[i] = x[i] cos[i] - x[half + i] sin[i], y[half + i] = x[i] sin[i] + x[half + i] cos[i]);
  // interleaved: the pairs (x[2i], x[2i + 1]) instead. y may be x.
  void (*rotate)(const float* x, float* y, const float* cos, const float* sin, int64_t half, bool interleaved);
};

PYINFER_DECLARE_ISA_TABLE(AttentionKernels, attention_table)

inline const AttentionKernels& attention_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(attention_table);
}

}  // namespace pyinfer
