// Integer reductions (int32 / int64 max, min, sum, prod over any axes): the shape arithmetic of
// exported graphs (min(k, number of anchors), the product of dims). Same passes as the float32
// kernel (plan_reduce), scalar loops; sums and products wrap like numpy's.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>

#include "common/check.h"
#include "common/wrapping.h"
#include "reduce/reduce.h"

namespace pyinfer {
namespace {

template <class T>
T combine_int(ReduceKind kind, T a, T b) {
  switch (kind) {
    case ReduceKind::Max: return std::max(a, b);
    case ReduceKind::Min: return std::min(a, b);
    case ReduceKind::Sum: return wrapping_add(a, b);
    default: return wrapping_mul(a, b);
  }
}

// One [outer, r, inner] -> [outer, inner] pass (r >= 1).
template <class T>
void reduce_pass_int(const T* x, T* y, const ReducePass& p, ReduceKind kind) {
  for (int64_t o = 0; o < p.outer; ++o) {
    const T* xo = x + o * p.r * p.inner;
    T* yo = y + o * p.inner;
    std::copy(xo, xo + p.inner, yo);
    for (int64_t k = 1; k < p.r; ++k)
      for (int64_t j = 0; j < p.inner; ++j) yo[j] = combine_int(kind, yo[j], xo[k * p.inner + j]);
  }
}

template <class T>
void run_int(const ReducePlan& plan, const T* x, T* y, ReduceKind kind) {
  if (plan.passes.empty()) {  // every reduced extent is 1
    std::copy(x, x + plan.out_size, y);
    return;
  }
  std::vector<T> buf[2];
  const T* src = x;
  for (size_t i = 0; i < plan.passes.size(); ++i) {
    const ReducePass& p = plan.passes[i];
    T* dst = y;
    if (i + 1 < plan.passes.size()) {
      buf[i % 2].resize(static_cast<size_t>(p.outer * p.inner));
      dst = buf[i % 2].data();
    }
    reduce_pass_int(src, dst, p, kind);
    src = dst;
  }
}

}  // namespace

PreparedPtr prepare_reduce_int(ReduceKind kind, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes,
                               bool all_axes, bool keepdims, DType dtype) {
  PYINFER_CHECK(kind == ReduceKind::Max || kind == ReduceKind::Min || kind == ReduceKind::Sum || kind == ReduceKind::Prod,
                "reduce_int: kind must be max, min, sum or prod");
  PYINFER_CHECK(dtype == DType::Int64 || dtype == DType::Int32, "reduce_int: int32 or int64 only");
  const ReducePlan plan = plan_reduce(shape, axes, all_axes, keepdims);
  PYINFER_CHECK(plan.count > 0 && plan.in_size > 0, "reduce_int: an empty reduction");
  KernelBuilder b("reduce_int");
  b.input("x", shape, dtype).output("y", plan.out_shape, dtype);
  b.remake([kind, axes, all_axes, keepdims, dtype](const Shapes& s) {
    return prepare_reduce_int(kind, s[0], axes, all_axes, keepdims, dtype);
  });
  if (dtype == DType::Int64)
    return b.run([plan, kind](const void* const* in, void* const* out, int) {
      run_int(plan, static_cast<const int64_t*>(in[0]), static_cast<int64_t*>(out[0]), kind);
    });
  return b.run([plan, kind](const void* const* in, void* const* out, int) {
    run_int(plan, static_cast<const int32_t*>(in[0]), static_cast<int32_t*>(out[0]), kind);
  });
}

}  // namespace pyinfer
