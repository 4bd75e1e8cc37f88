// The vectorized part of NonMaxSuppression: one candidate box against the boxes kept so far.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pyinfer {

// Kept boxes as structure-of-arrays (corners with y1 <= y2, x1 <= x2, and their areas > 0).
struct KeptBoxes {
  const float *y1, *x1, *y2, *x2, *area;
  int64_t count;
};

struct IouKernels {
  // Whether the box (y1, x1, y2, x2) of area > 0 overlaps any kept box with
  // intersection / union > threshold (onnxruntime's float32 arithmetic).
  bool (*overlaps_any)(const KeptBoxes& kept, float y1, float x1, float y2, float x2, float area, float threshold);
};

PYINFER_DECLARE_ISA_TABLE(IouKernels, iou_kernels_table)

inline const IouKernels& iou_kernels() { return PYINFER_ACTIVE_ISA_TABLE(iou_kernels_table); }

}  // namespace pyinfer
