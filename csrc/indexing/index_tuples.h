// What GatherND and ScatterND share: a tuple of indices addressing a slice of data.
#pragma once
#include <cstdint>
#include <vector>

#include "common/check.h"

namespace pyinfer {

// The element offset in data (of `shape`, `strides`) the tuple idx[0..k) addresses from axis
// `first` on; throws naming `what` for an index out of range (negative ones count from the end).
inline int64_t tuple_offset(const int64_t* idx, int64_t k, const std::vector<int64_t>& shape,
                            const std::vector<int64_t>& strides, int64_t first, const char* what) {
  int64_t off = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t dim = shape[first + j], i = idx[j];
    PYINFER_CHECK(i >= -dim && i < dim, what << ": index " << i << " is out of range for an axis of " << dim);
    off += (i < 0 ? i + dim : i) * strides[first + j];
  }
  return off;
}

}  // namespace pyinfer
