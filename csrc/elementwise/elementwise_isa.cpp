// The per-tier inner loops of the elementwise family (compiled once per ISA tier).
// Each loop works on one contiguous run; elementwise.cpp does shapes and threading.
#include "elementwise/elementwise.h"
#include "elementwise/elementwise_simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

// Each op: v() on vectors, s() on single floats (for the broadcast-broadcast degenerate run).
struct AddOp {
  static VecF v(VecF a, VecF b) { return a + b; }
};
struct SubOp {
  static VecF v(VecF a, VecF b) { return a - b; }
};
struct MulOp {
  static VecF v(VecF a, VecF b) { return a * b; }
};
struct DivOp {
  static VecF v(VecF a, VecF b) { return a / b; }
};
// NaN in either operand propagates (like numpy.maximum / ONNX Max).
struct MaxOp {
  static VecF v(VecF a, VecF b) { return vmax_nan(a, b); }
};
struct MinOp {
  static VecF v(VecF a, VecF b) { return vkeep_nan(a, vmin(a, b)); }
};

// Partial loads fill unused lanes with 0; ops on them (0/0) are discarded by store_partial.
template <class Op>
void binary_run(const float* a, int64_t a_step, const float* b, int64_t b_step, float* y, int64_t n) {
  constexpr int W = VecF::N;
  int64_t i = 0;
  if (a_step && b_step) {
    for (; i + W <= n; i += W) Op::v(VecF::load(a + i), VecF::load(b + i)).store(y + i);
    if (i < n) {
      int r = static_cast<int>(n - i);
      Op::v(VecF::load_partial(a + i, r), VecF::load_partial(b + i, r)).store_partial(y + i, r);
    }
  } else if (a_step) {
    const VecF bv = VecF::set1(*b);
    for (; i + W <= n; i += W) Op::v(VecF::load(a + i), bv).store(y + i);
    if (i < n) {
      int r = static_cast<int>(n - i);
      Op::v(VecF::load_partial(a + i, r), bv).store_partial(y + i, r);
    }
  } else if (b_step) {
    const VecF av = VecF::set1(*a);
    for (; i + W <= n; i += W) Op::v(av, VecF::load(b + i)).store(y + i);
    if (i < n) {
      int r = static_cast<int>(n - i);
      Op::v(av, VecF::load_partial(b + i, r)).store_partial(y + i, r);
    }
  } else {
    float v;
    Op::v(VecF::set1(*a), VecF::set1(*b)).store_partial(&v, 1);
    for (; i < n; ++i) y[i] = v;
  }
}

// pow has no vector form here: the libm call is exact and handles every special case
// (negative base with integral exponent, 0^-1, NaN^0 = 1...). Squaring is exact, so it
// gets a vector path (the common x^2 of normalisation layers).
void pow_run(const float* a, int64_t a_step, const float* b, int64_t b_step, float* y, int64_t n) {
  if (!b_step && *b == 2.0f && a_step) {
    binary_run<MulOp>(a, 1, a, 1, y, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] = __builtin_powf(a[i * a_step], b[i * b_step]);
}

void binary(BinaryOp op, const float* a, int64_t a_step, const float* b, int64_t b_step, float* y, int64_t n) {
  switch (op) {
    case BinaryOp::Add: return binary_run<AddOp>(a, a_step, b, b_step, y, n);
    case BinaryOp::Sub: return binary_run<SubOp>(a, a_step, b, b_step, y, n);
    case BinaryOp::Mul: return binary_run<MulOp>(a, a_step, b, b_step, y, n);
    case BinaryOp::Div: return binary_run<DivOp>(a, a_step, b, b_step, y, n);
    case BinaryOp::Pow: return pow_run(a, a_step, b, b_step, y, n);
    case BinaryOp::Max: return binary_run<MaxOp>(a, a_step, b, b_step, y, n);
    case BinaryOp::Min: return binary_run<MinOp>(a, a_step, b, b_step, y, n);
  }
}

struct SqrtOp {
  static VecF v(VecF x) { return vsqrt(x); }
};
struct ExpOp {
  static VecF v(VecF x) { return vexp(x); }
};
struct LogOp {
  static VecF v(VecF x) { return vlog(x); }
};
struct AbsOp {
  static VecF v(VecF x) { return vabs(x); }
};
struct NegOp {  // x * -1 (not 0 - x) so that neg(+0) = -0
  static VecF v(VecF x) { return x * VecF::set1(-1.0f); }
};
struct ReciprocalOp {
  static VecF v(VecF x) { return VecF::set1(1.0f) / x; }
};
struct FloorOp {
  static VecF v(VecF x) { return vround_down(x); }
};
struct CeilOp {  // -floor(-x): ceil(-0.5) = -0 as numpy gives
  static VecF v(VecF x) { return VecF::set1(-1.0f) * vround_down(x * VecF::set1(-1.0f)); }
};

template <class Op>
void unary_run(const float* x, float* y, int64_t n) {
  constexpr int W = VecF::N;
  int64_t i = 0;
  for (; i + W <= n; i += W) Op::v(VecF::load(x + i)).store(y + i);
  if (i < n) {
    int r = static_cast<int>(n - i);
    Op::v(VecF::load_partial(x + i, r)).store_partial(y + i, r);
  }
}

void unary(UnaryOp op, const float* x, float* y, int64_t n) {
  switch (op) {
    case UnaryOp::Sqrt: return unary_run<SqrtOp>(x, y, n);
    case UnaryOp::Exp: return unary_run<ExpOp>(x, y, n);
    case UnaryOp::Log: return unary_run<LogOp>(x, y, n);
    case UnaryOp::Abs: return unary_run<AbsOp>(x, y, n);
    case UnaryOp::Neg: return unary_run<NegOp>(x, y, n);
    case UnaryOp::Reciprocal: return unary_run<ReciprocalOp>(x, y, n);
    case UnaryOp::Floor: return unary_run<FloorOp>(x, y, n);
    case UnaryOp::Ceil: return unary_run<CeilOp>(x, y, n);
  }
}

}  // namespace

extern const ElementwiseKernels elementwise_table = {binary, unary};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
