// One axis of a C-contiguous array: the array seen as [outer, n, inner] (TopK, ArgMax, CumSum,
// Split, Softmax-like kernels walk along n with stride inner).
#pragma once
#include <cstdint>
#include <vector>

#include "common/check.h"

namespace pyinfer {

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};

// axis in [-rank, rank) mapped into [0, rank); throws std::invalid_argument naming `what`.
inline int64_t checked_axis(int64_t axis, int64_t rank, const char* what) {
  PYINFER_CHECK(axis >= -rank && axis < rank, what << ": axis " << axis << " is out of range for rank " << rank);
  return axis < 0 ? axis + rank : axis;
}

// Shape dims must already be known non-negative (check_dims).
inline AxisView axis_view(const std::vector<int64_t>& shape, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) v.outer *= shape[d];
    else if (d == axis) v.n = shape[d];
    else v.inner *= shape[d];
  }
  return v;
}

inline int64_t check_dims(const std::vector<int64_t>& shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    PYINFER_CHECK(d >= 0, what << ": negative dimension in " << shape_str(shape));
    n *= d;
  }
  return n;
}

}  // namespace pyinfer
