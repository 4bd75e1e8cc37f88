// Per-tier loops of the activation family (compiled once per ISA tier, see CMakeLists.txt).
// Each elementwise function is a small functor on VecF; map() runs it over full vectors and
// finishes the tail with a masked partial vector, so no scalar remainder loop is needed.
#include "activation/activation.h"
#include "activation/vec_math.h"
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

template <class F>
inline void map(const float* x, float* y, int64_t n, F f) {
  constexpr int N = VecF::N;
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {  // two independent chains hide the polynomial latency
    VecF a = f(VecF::load(x + i)), b = f(VecF::load(x + i + N));
    a.store(y + i);
    b.store(y + i + N);
  }
  for (; i + N <= n; i += N) f(VecF::load(x + i)).store(y + i);
  if (i < n) {
    int rest = static_cast<int>(n - i);
    f(VecF::load_partial(x + i, rest)).store_partial(y + i, rest);
  }
}

void apply_act(const ActParams& act, const float* x, float* y, int64_t n) {
  const float a = act.a, b = act.b;
  with_act(act.kind, [&](auto tag) {
    map(x, y, n, [&](VecF v) { return pyinfer::PYINFER_ISA_NS::activate<decltype(tag)::value>(v, a, b); });
  });
}

void prelu(const float* x, const float* slope, int64_t slope_step, float* y, int64_t n) {
  constexpr int N = VecF::N;
  const VecF zero = VecF::zero();
  int64_t i = 0;
  if (slope_step == 0) {
    const VecF s = VecF::set1(slope[0]);
    for (; i + N <= n; i += N) {
      VecF v = VecF::load(x + i);
      vselect_gt(zero, v, v * s, v).store(y + i);
    }
    if (i < n) {
      int rest = static_cast<int>(n - i);
      VecF v = VecF::load_partial(x + i, rest);
      vselect_gt(zero, v, v * s, v).store_partial(y + i, rest);
    }
    return;
  }
  for (; i + N <= n; i += N) {
    VecF v = VecF::load(x + i);
    vselect_gt(zero, v, v * VecF::load(slope + i), v).store(y + i);
  }
  if (i < n) {
    int rest = static_cast<int>(n - i);
    VecF v = VecF::load_partial(x + i, rest);
    vselect_gt(zero, v, v * VecF::load_partial(slope + i, rest), v).store_partial(y + i, rest);
  }
}

void normalize(const float* x, float* y, int64_t n, float center, float scale, float shift) {
  const VecF m = VecF::set1(center), s = VecF::set1(scale), b = VecF::set1(shift);
  map(x, y, n, [&](VecF v) { return fmadd(v - m, s, b); });
}

void normalize_act(const float* x, float* y, int64_t n, float center, float scale, float shift,
                   const ActParams& act) {
  const VecF m = VecF::set1(center), s = VecF::set1(scale), sh = VecF::set1(shift);
  const float a = act.a, b = act.b;
  with_epilogue_act(act.kind, [&](auto tag) {
    map(x, y, n, [&](VecF v) { return pyinfer::PYINFER_ISA_NS::activate<decltype(tag)::value>(fmadd(v - m, s, sh), a, b); });
  });
}

constexpr int64_t kSumRun = 32;

// One contiguous row: max, then exp(x - max) stored and summed, then scaled by 1/sum
// (log: x - max - log(sum)). NaN anywhere in the row makes the whole row NaN, like the
// textbook formula.
void softmax_row(const float* x, float* y, int64_t len, bool log) {
  constexpr int N = VecF::N;
  const int64_t full = len - len % N;
  const int rest = static_cast<int>(len - full);
  VecF m = VecF::set1(-__builtin_inff());
  for (int64_t i = 0; i < full; i += N) m = vmax_nan(m, VecF::load(x + i));
  // Reduce the lanes by hand: hmax() may drop NaN lanes (x86 max returns its second operand).
  float lanes[VecF::N];
  m.store(lanes);
  float mx = -__builtin_inff();
  for (int k = 0; k < N; ++k) mx = (lanes[k] != lanes[k] || mx != mx) ? __builtin_nanf("") : fmaxf_(mx, lanes[k]);
  for (int64_t i = full; i < len; ++i) mx = (x[i] != x[i] || mx != mx) ? __builtin_nanf("") : fmaxf_(mx, x[i]);
  const VecF vm = VecF::set1(mx);
  // Sum exp(x - max): float lanes over runs of kSumRun vectors, runs added in double, so the
  // rounding error does not grow with the row length.
  double sum = 0.0;
  for (int64_t i = 0; i < full;) {
    const int64_t stop = full - i > kSumRun * N ? i + kSumRun * N : full;
    VecF s = VecF::zero();
    for (; i < stop; i += N) {
      VecF e = vexp(VecF::load(x + i) - vm);
      if (!log) e.store(y + i);
      s = s + e;
    }
    sum += s.hsum();
  }
  if (rest) {
    VecF e = vexp(VecF::load_partial(x + full, rest) - vm);  // masked lanes are not summed
    float tmp[VecF::N];
    e.store(tmp);
    for (int k = 0; k < rest; ++k) sum += tmp[k];
    if (!log) e.store_partial(y + full, rest);
  }
  if (log) {
    const VecF ls = VecF::set1(static_cast<float>(__builtin_log(sum)));
    for (int64_t i = 0; i < full; i += N) ((VecF::load(x + i) - vm) - ls).store(y + i);
    if (rest) ((VecF::load_partial(x + full, rest) - vm) - ls).store_partial(y + full, rest);
    return;
  }
  const VecF inv = VecF::set1(static_cast<float>(1.0 / sum));
  for (int64_t i = 0; i < full; i += N) (VecF::load(y + i) * inv).store(y + i);
  if (rest) (VecF::load_partial(y + full, rest) * inv).store_partial(y + full, rest);
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t len, bool log) {
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * len, y + r * len, len, log);
}

// Columns of an axis_len x cols block (row stride `stride`): every pass walks whole rows of
// the block contiguously, keeping the per-column max and sum in stack scratch.
void softmax_cols(const float* x, float* y, int64_t axis_len, int64_t stride, int64_t cols, bool log) {
  constexpr int N = VecF::N;
  float mx[kSoftmaxBlock], acc[kSoftmaxBlock];
  double total[kSoftmaxBlock];  // float partial sums over kSumRun rows, flushed here
  const int64_t full = cols - cols % N;
  const int rest = static_cast<int>(cols - full);
  auto for_each_vec = [&](auto&& body) {  // body(column offset, lanes)
    for (int64_t c = 0; c < full; c += N) body(c, N);
    if (rest) body(full, rest);
  };
  auto ld = [](const float* p, int w) { return w == VecF::N ? VecF::load(p) : VecF::load_partial(p, w); };
  auto st = [](VecF v, float* p, int w) { if (w == VecF::N) v.store(p); else v.store_partial(p, w); };

  for_each_vec([&](int64_t c, int w) { st(ld(x + c, w), mx + c, w); });
  for (int64_t k = 1; k < axis_len; ++k) {
    const float* row = x + k * stride;
    for_each_vec([&](int64_t c, int w) { st(vmax_nan(ld(mx + c, w), ld(row + c, w)), mx + c, w); });
  }
  for (int64_t c = 0; c < cols; ++c) total[c] = 0.0;
  for (int64_t k0 = 0; k0 < axis_len; k0 += kSumRun) {
    const int64_t k1 = axis_len - k0 > kSumRun ? k0 + kSumRun : axis_len;
    for_each_vec([&](int64_t c, int w) { st(VecF::zero(), acc + c, w); });
    for (int64_t k = k0; k < k1; ++k) {
      const float* row = x + k * stride;
      float* out = y + k * stride;
      for_each_vec([&](int64_t c, int w) {
        VecF e = vexp(ld(row + c, w) - ld(mx + c, w));
        if (!log) st(e, out + c, w);
        st(ld(acc + c, w) + e, acc + c, w);
      });
    }
    for (int64_t c = 0; c < cols; ++c) total[c] += acc[c];
  }
  if (log) {
    for (int64_t c = 0; c < cols; ++c) acc[c] = static_cast<float>(__builtin_log(total[c]));
    for (int64_t k = 0; k < axis_len; ++k) {
      const float* row = x + k * stride;
      float* out = y + k * stride;
      for_each_vec([&](int64_t c, int w) { st((ld(row + c, w) - ld(mx + c, w)) - ld(acc + c, w), out + c, w); });
    }
    return;
  }
  for (int64_t c = 0; c < cols; ++c) acc[c] = static_cast<float>(1.0 / total[c]);
  for (int64_t k = 0; k < axis_len; ++k) {
    float* out = y + k * stride;
    for_each_vec([&](int64_t c, int w) { st(ld(out + c, w) * ld(acc + c, w), out + c, w); });
  }
}

}  // namespace

extern const ActivationTable activation_table = {apply_act, prelu, normalize, softmax_rows, softmax_cols,
                                                 normalize_act};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
