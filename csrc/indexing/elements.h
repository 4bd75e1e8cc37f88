// What GatherElements and ScatterElements share: indices of data's rank walk data's positions
// with the axis coordinate replaced by the index.
#pragma once
#include <cstdint>
#include <vector>

#include "common/check.h"

namespace pyinfer {

// The data offset of row r of `ishape` (all dims but the last; the axis coordinate left out).
inline int64_t element_row_base(int64_t r, const std::vector<int64_t>& ishape, const std::vector<int64_t>& dstrides,
                                int64_t axis) {
  int64_t base = 0;
  for (int64_t d = static_cast<int64_t>(ishape.size()) - 2; d >= 0; --d) {
    const int64_t i = r % ishape[d];
    r /= ishape[d];
    if (d != axis) base += i * dstrides[d];
  }
  return base;
}

// Every index checked against the axis (negative ones count from the end); throws naming `what`.
template <class Index>
void check_element_indices(const Index* idx, int64_t n, int64_t axis_len, const char* what) {
  for (int64_t i = 0; i < n; ++i)
    PYINFER_CHECK(idx[i] >= -axis_len && idx[i] < axis_len,
                  what << ": index " << static_cast<int64_t>(idx[i]) << " is out of range for an axis of " << axis_len);
}

// Checks shared by both: indices of data's rank, within data on every other axis.
void check_element_shapes(const std::vector<int64_t>& data_shape, const std::vector<int64_t>& indices_shape,
                          int64_t axis, const char* what);

}  // namespace pyinfer
