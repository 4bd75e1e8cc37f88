#include "common/strided_copy.h"

#include <cstring>

#include "common/check.h"
#include "common/dtype_dispatch.h"

namespace pyinfer {
namespace {

template <class T>
void copy_run(const T* s, int64_t step, T* d, int64_t n) {
  if (step == 0) {
    const T v = *s;
    for (int64_t i = 0; i < n; ++i) d[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) d[i] = s[i * step];
  }
}

}  // namespace

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d) s[d] = s[d + 1] * shape[d + 1];
  return s;
}

StridedView strided_view(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, int64_t offset,
                         const char* what) {
  // Merge dim d into the one after it when stepping over d is stepping over the whole next one.
  std::vector<int64_t> size, stride;
  StridedView v;
  v.offset = offset;
  for (size_t d = 0; d < shape.size(); ++d) {
    v.runs.total *= shape[d];
    if (shape[d] == 1) continue;
    if (!size.empty() && stride.back() == strides[d] * shape[d]) {
      size.back() *= shape[d];
      stride.back() = strides[d];
      continue;
    }
    size.push_back(shape[d]);
    stride.push_back(strides[d]);
  }
  PYINFER_CHECK(size.size() <= static_cast<size_t>(kMaxBroadcastRank),
                what << ": the copy needs " << size.size() << " dims, more than " << kMaxBroadcastRank);
  v.runs.rank = static_cast<int>(size.size());
  for (size_t d = 0; d < size.size(); ++d) v.runs.size[d] = size[d], v.runs.stride[0][d] = stride[d];
  return v;
}

void strided_copy(const void* src, const StridedView& v, void* dst, int64_t elem_size, int num_threads) {
  const char* s = static_cast<const char*>(src) + v.offset * elem_size;
  char* d = static_cast<char*>(dst);
  for_each_run(v.runs, num_threads, [&](const int64_t* off, int64_t out_off, int64_t n, const int64_t* step) {
    const char* from = s + off[0] * elem_size;
    char* to = d + out_off * elem_size;
    if (step[0] == 1) {
      std::memcpy(to, from, static_cast<size_t>(n * elem_size));
      return;
    }
    dispatch_bytes(elem_size, [&](auto tag) {
      using T = typename decltype(tag)::type;
      copy_run(reinterpret_cast<const T*>(from), step[0], reinterpret_cast<T*>(to), n);
    });
  });
}

}  // namespace pyinfer
