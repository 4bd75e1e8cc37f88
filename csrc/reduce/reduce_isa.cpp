// Reduction inner loops, compiled once per SIMD tier (see CMakeLists.txt and common/simd.h).
//
// rows():    inner == 1. Each row of r contiguous floats goes through four vector accumulators
//            (independent dependency chains), which are then combined and reduced horizontally.
// columns(): inner > 1. Vectorized over the outputs (contiguous in a row of x), accumulating the
//            r rows into 4 x N lanes at a time. Sums are added in chunks of kFold rows that are
//            then folded into the total: the rounding error grows with kFold + r / kFold terms
//            instead of r.
// Each output's order of operations depends only on (r, its position), never on how the driver
// splits the work, so results do not depend on the thread count. max / min propagate NaN.
// Everything here stays in this tier's namespace and uses no std:: templates (ODR).
#include "common/simd.h"
#include "reduce/reduce_kernels.h"
#include "reduce/reduce_simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

using reduce_simd::any_nan;
using reduce_simd::load_fill;

constexpr int64_t kFold = 64;  // rows summed into a fresh accumulator before joining the total

// identity: the accumulators' start; combine: a vector of elements into one; finish: an
// accumulator to its result; merge: two accumulators into one; first / combine1: the scalar form
// (first maps the first element).
struct MaxOp {
  static float first(float x) { return x; }
  static float identity() { return -__builtin_inff(); }
  static VecF combine(VecF a, VecF x) { return reduce_simd::max_acc(a, x); }
  static VecF merge(VecF a, VecF b) { return combine(a, b); }
  static float finish(VecF a) { return any_nan(a) ? __builtin_nanf("") : a.hmax(); }
  static float combine1(float a, float x) { return a != a ? a : (a > x ? a : x); }  // x NaN -> x
};
struct MinOp {
  static float first(float x) { return x; }
  static float identity() { return __builtin_inff(); }
  static VecF combine(VecF a, VecF x) { return reduce_simd::min_acc(a, x); }
  static VecF merge(VecF a, VecF b) { return combine(a, b); }
  static float finish(VecF a) { return any_nan(a) ? __builtin_nanf("") : reduce_simd::hmin(a); }
  static float combine1(float a, float x) { return a != a ? a : (a < x ? a : x); }
};
struct SumOp {
  static float first(float x) { return x; }
  static float identity() { return 0.f; }
  static VecF combine(VecF a, VecF x) { return a + x; }
  static VecF merge(VecF a, VecF b) { return a + b; }
  static float finish(VecF a) { return a.hsum(); }
  static float combine1(float a, float x) { return a + x; }
};
struct ProdOp {
  static float first(float x) { return x; }
  static float identity() { return 1.f; }
  static VecF combine(VecF a, VecF x) { return a * x; }
  static VecF merge(VecF a, VecF b) { return a * b; }
  static float finish(VecF a) {
    float lanes[VecF::N];
    a.store(lanes);
    float p = lanes[0];
    for (int i = 1; i < VecF::N; ++i) p *= lanes[i];
    return p;
  }
  static float combine1(float a, float x) { return a * x; }
};
struct SumSquareOp {
  static float first(float x) { return x * x; }
  static float identity() { return 0.f; }
  static VecF combine(VecF a, VecF x) { return fmadd(x, x, a); }
  static VecF merge(VecF a, VecF b) { return a + b; }
  static float finish(VecF a) { return a.hsum(); }
  static float combine1(float a, float x) { return a + x * x; }
};
struct L1Op {
  static float first(float x) { return x < 0 ? -x : x; }
  static float identity() { return 0.f; }
  static VecF combine(VecF a, VecF x) { return a + vabs(x); }
  static VecF merge(VecF a, VecF b) { return a + b; }
  static float finish(VecF a) { return a.hsum(); }
  static float combine1(float a, float x) { return a + (x < 0 ? -x : x); }
};

template <class Op>
inline float reduce_row(const float* p, int64_t r) {
  constexpr int N = VecF::N;
  if (r <= 4) {  // a vector and a horizontal reduction would cost more than r scalar steps
    float a = Op::first(p[0]);
    for (int64_t k = 1; k < r; ++k) a = Op::combine1(a, p[k]);
    return a;
  }
  const VecF id = VecF::set1(Op::identity());
  VecF a0 = id, a1 = id, a2 = id, a3 = id;
  int64_t k = 0;
  for (; k + 4 * N <= r; k += 4 * N) {
    a0 = Op::combine(a0, VecF::load(p + k));
    a1 = Op::combine(a1, VecF::load(p + k + N));
    a2 = Op::combine(a2, VecF::load(p + k + 2 * N));
    a3 = Op::combine(a3, VecF::load(p + k + 3 * N));
  }
  for (; k + N <= r; k += N) a0 = Op::combine(a0, VecF::load(p + k));
  if (k < r) a1 = Op::combine(a1, load_fill(p + k, static_cast<int>(r - k), Op::identity()));
  return Op::finish(Op::merge(Op::merge(a0, a1), Op::merge(a2, a3)));
}

template <class Op>
void rows_op(const float* x, float* y, int64_t rows, int64_t r, bool mean) {
  const float fr = static_cast<float>(r);
  for (int64_t i = 0; i < rows; ++i) {
    const float v = reduce_row<Op>(x + i * r, r);
    y[i] = mean ? v / fr : v;
  }
}

void rows(ReduceKind kind, const float* x, float* y, int64_t rows, int64_t r) {
  switch (kind) {
    case ReduceKind::Max: return rows_op<MaxOp>(x, y, rows, r, false);
    case ReduceKind::Min: return rows_op<MinOp>(x, y, rows, r, false);
    case ReduceKind::Sum: return rows_op<SumOp>(x, y, rows, r, false);
    case ReduceKind::Prod: return rows_op<ProdOp>(x, y, rows, r, false);
    case ReduceKind::SumSquare: return rows_op<SumSquareOp>(x, y, rows, r, false);
    case ReduceKind::L1: return rows_op<L1Op>(x, y, rows, r, false);
    default: return rows_op<SumOp>(x, y, rows, r, true);
  }
}

// W vectors of outputs starting at x / y; kPartial: one vector with only m valid lanes.
template <class Op, int W, bool kPartial>
inline void column_group(const float* x, float* y, int64_t r, int64_t stride, int m, bool mean) {
  constexpr int N = VecF::N;
  const float idf = Op::identity();
  const VecF id = VecF::set1(idf);
  VecF total[W], part[W];
  for (int w = 0; w < W; ++w) total[w] = id;
  for (int64_t k0 = 0; k0 < r; k0 += kFold) {
    const int64_t k1 = r - k0 < kFold ? r : k0 + kFold;
    for (int w = 0; w < W; ++w) part[w] = id;
    for (int64_t k = k0; k < k1; ++k) {
      const float* row = x + k * stride;
      for (int w = 0; w < W; ++w)
        part[w] = Op::combine(part[w], kPartial ? load_fill(row + w * N, m, idf) : VecF::load(row + w * N));
    }
    for (int w = 0; w < W; ++w) total[w] = Op::merge(total[w], part[w]);
  }
  const VecF div = VecF::set1(static_cast<float>(r));
  for (int w = 0; w < W; ++w) {
    const VecF v = mean ? total[w] / div : total[w];
    if (kPartial) v.store_partial(y + w * N, m); else v.store(y + w * N);
  }
}

template <class Op>
void columns_op(const float* x, float* y, int64_t r, int64_t stride, int64_t count, bool mean) {
  constexpr int N = VecF::N;
  int64_t j = 0;
  for (; j + 4 * N <= count; j += 4 * N) column_group<Op, 4, false>(x + j, y + j, r, stride, N, mean);
  for (; j + N <= count; j += N) column_group<Op, 1, false>(x + j, y + j, r, stride, N, mean);
  if (j < count) column_group<Op, 1, true>(x + j, y + j, r, stride, static_cast<int>(count - j), mean);
}

void columns(ReduceKind kind, const float* x, float* y, int64_t r, int64_t stride, int64_t count) {
  switch (kind) {
    case ReduceKind::Max: return columns_op<MaxOp>(x, y, r, stride, count, false);
    case ReduceKind::Min: return columns_op<MinOp>(x, y, r, stride, count, false);
    case ReduceKind::Sum: return columns_op<SumOp>(x, y, r, stride, count, false);
    case ReduceKind::Prod: return columns_op<ProdOp>(x, y, r, stride, count, false);
    case ReduceKind::SumSquare: return columns_op<SumSquareOp>(x, y, r, stride, count, false);
    case ReduceKind::L1: return columns_op<L1Op>(x, y, r, stride, count, false);
    default: return columns_op<SumOp>(x, y, r, stride, count, true);
  }
}

}  // namespace

extern const ReduceKernels reduce_kernels_table = {rows, columns};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
