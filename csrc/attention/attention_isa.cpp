// The softmax of one row of attention scores with its masks, compiled once per SIMD tier (see
// CMakeLists.txt, common/simd.h). Everything here stays in this tier's namespace (ODR).
#include "attention/attention_kernels.h"
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int N = VecF::N;
// Exponentials are summed in float over runs of this many vectors, the runs in double: the
// rounding error does not grow with T (as the softmax kernel of activation/).
constexpr int64_t kSumRun = 32;

inline VecF load_n(const float* p, int n) { return n == N ? VecF::load(p) : VecF::load_partial(p, n); }
inline void store_n(VecF v, float* p, int n) {
  if (n == N) v.store(p);
  else v.store_partial(p, n);
}

// s[j] + the masks' terms at j (n lanes).
inline VecF masked(const float* s, int64_t j, int n, const ScoreMask& m) {
  VecF v = load_n(s + j, n);
  if (m.add) v = v + (m.add_stride ? load_n(m.add + j, n) : VecF::set1(m.add[0]));
  if (m.keep) {
    float f[N];
    for (int l = 0; l < n; ++l) f[l] = m.keep[j + l] ? 0.f : m.filter;
    v = v + load_n(f, n);
  }
  return v;
}

void masked_softmax(float* s, int64_t n, int64_t visible, const ScoreMask& m) {
  const bool any_mask = m.add || m.keep;
  VecF vmx = VecF::set1(-__builtin_inff());
  for (int64_t j = 0; j < visible; j += N) {
    const int c = visible - j < N ? static_cast<int>(visible - j) : N;
    VecF v = any_mask ? masked(s, j, c, m) : load_n(s + j, c);
    if (any_mask) store_n(v, s + j, c);
    vmx = vmax(c < N ? v.first_lanes(c, -__builtin_inff()) : v, vmx);  // lanes past the row must not win
  }
  const float mx = vmx.hmax();
  if (!(mx > -__builtin_inff())) {  // every visible score masked out (or none visible): zeros
    for (int64_t j = 0; j < n; ++j) s[j] = 0.f;
    return;
  }
  const VecF vm = VecF::set1(mx);
  double sum = 0.0;
  for (int64_t j = 0; j < visible;) {
    VecF acc = VecF::zero();
    const int64_t stop = visible - j > kSumRun * N ? j + kSumRun * N : visible;
    for (; j < stop; j += N) {
      const int c = stop - j < N ? static_cast<int>(stop - j) : N;
      const VecF e = vexp(load_n(s + j, c) - vm);
      store_n(e, s + j, c);
      acc = acc + (c == N ? e : e.first_lanes(c, 0.f));  // partial lanes: only the stored ones count
    }
    sum += double(acc.hsum());
  }
  const VecF inv = VecF::set1(float(1.0 / sum));
  for (int64_t j = 0; j < visible; j += N) {
    const int c = visible - j < N ? static_cast<int>(visible - j) : N;
    store_n(load_n(s + j, c) * inv, s + j, c);
  }
  for (int64_t j = visible; j < n; ++j) s[j] = 0.f;
}

void rotate(const float* x, float* y, const float* cos, const float* sin, int64_t half, bool interleaved) {
  if (interleaved) {  // pairs: a scalar loop (GPT-J / interleaved caches are rare and memory-bound)
    for (int64_t i = 0; i < half; ++i) {
      const float a = x[2 * i], b = x[2 * i + 1];
      y[2 * i] = a * cos[i] - b * sin[i];
      y[2 * i + 1] = a * sin[i] + b * cos[i];
    }
    return;
  }
  for (int64_t i = 0; i < half; i += N) {
    const int c = half - i < N ? static_cast<int>(half - i) : N;
    const VecF a = load_n(x + i, c), b = load_n(x + half + i, c);
    const VecF co = load_n(cos + i, c), si = load_n(sin + i, c);
    store_n(a * co - b * si, y + i, c);
    store_n(fmadd(a, si, b * co), y + half + i, c);
  }
}

}  // namespace

extern const AttentionKernels attention_table = {masked_softmax, rotate};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
