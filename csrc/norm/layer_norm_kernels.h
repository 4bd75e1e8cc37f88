// Dispatch table of the layer-norm kernels (see common/isa_probe.h for the pattern); the per-tier
// instances live in layer_norm_isa.cpp.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// One call's rows: pointers at row 0 of each tensor; null where absent / not wanted.
struct LayerNormRows {
  const float* x = nullptr;
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* skip = nullptr;  // skip_rows rows, repeating
  const float* bias = nullptr;
  float* y = nullptr;
  float* mean = nullptr;
  float* inv_std = nullptr;
  float* sum = nullptr;
  int64_t cols = 0;
  int64_t skip_rows = 1;
  float epsilon = 0.f;
  bool rms = false;
  int64_t channels = 0;  // > 0: gamma / beta hold one value per channel, row r's is r mod channels
};

struct LayerNormKernels {
  // Normalizes rows [r0, r1).
  void (*rows)(const LayerNormRows& a, int64_t r0, int64_t r1);
};

PYINFER_DECLARE_ISA_TABLE(LayerNormKernels, layer_norm_table)

inline const LayerNormKernels& layer_norm_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(layer_norm_table);
}

}  // namespace pyinfer
