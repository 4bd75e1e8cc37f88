// Copying a strided view of a C-contiguous array into a C-contiguous output, any element size:
// Slice (any steps, negative ones included), Expand (stride 0 on broadcast axes) and Tile (the
// output seen as [r0, d0, r1, d1, ...] with stride 0 on the repeat axes) are all one call.
#pragma once
#include <cstdint>
#include <vector>

#include "common/broadcast.h"

namespace pyinfer {

struct StridedView {
  Broadcast<1> runs;    // output dims (size-1 dropped, contiguous ones merged) and source strides
  int64_t offset = 0;   // of the first source element, in elements
};

// The view reading src[offset + sum(i[d] * strides[d])] for every output index i of `shape`.
// Throws std::invalid_argument (naming `what`) when it needs more than kMaxBroadcastRank dims.
StridedView strided_view(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, int64_t offset,
                         const char* what);

// dst (C-contiguous, the view's shape) = the view of src; elements of elem_size bytes.
void strided_copy(const void* src, const StridedView& v, void* dst, int64_t elem_size, int num_threads);

// C-contiguous strides (in elements) of shape.
std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

// Integer control inputs (shapes, starts, repeats) as int64: int32 when !wide.
inline std::vector<int64_t> read_ints(const void* p, bool wide, int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = wide ? static_cast<const int64_t*>(p)[i] : static_cast<const int32_t*>(p)[i];
  return v;
}

}  // namespace pyinfer
