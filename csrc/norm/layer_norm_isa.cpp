// Layer / RMS normalization rows, compiled once per SIMD tier (see CMakeLists.txt, common/simd.h).
//
// Per row, one pass over memory: the first sweep reads x (and skip), forms s = x + skip + bias
// (stored into the sum output, or where the row's output goes, when there is something to add)
// and sums it; the second sums (s - mean)^2 around the exact mean, the third writes
// y = (s - mean) * inv_std * gamma + beta. A transformer row (384 - 1024 floats) stays in L1
// between the sweeps, so the later two cost arithmetic only. Everything here stays in this
// tier's namespace (ODR, see simd.h).
#include "common/simd.h"
#include "norm/layer_norm_kernels.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int N = VecF::N;

inline VecF load_n(const float* p, int n) { return n == N ? VecF::load(p) : VecF::load_partial(p, n); }
inline void store_n(VecF v, float* p, int n) {
  if (n == N) v.store(p);
  else v.store_partial(p, n);
}

// s = x + skip + bias at j (n lanes; absent terms are null).
inline VecF load_sum(const LayerNormRows& a, const float* x, const float* skip, int64_t j, int n) {
  VecF s = load_n(x + j, n);
  if (skip) s = s + load_n(skip + j, n);
  if (a.bias) s = s + load_n(a.bias + j, n);
  return s;
}

// Sum of s (kSquares: of s^2) over the row. With kAdd, s = x + skip + bias is formed here and
// stored to s_out.
template <bool kAdd, bool kSquares>
double row_sum(const LayerNormRows& a, const float* x, const float* skip, float* s_out) {
  const int64_t n = a.cols;
  VecF a0 = VecF::zero(), a1 = VecF::zero();
  int64_t j = 0;
  for (; j + 2 * N <= n; j += 2 * N) {
    const VecF s0 = kAdd ? load_sum(a, x, skip, j, N) : VecF::load(x + j);
    const VecF s1 = kAdd ? load_sum(a, x, skip, j + N, N) : VecF::load(x + j + N);
    if (kAdd) {
      s0.store(s_out + j);
      s1.store(s_out + j + N);
    }
    a0 = kSquares ? fmadd(s0, s0, a0) : a0 + s0;
    a1 = kSquares ? fmadd(s1, s1, a1) : a1 + s1;
  }
  for (; j < n; j += N) {  // partial loads give 0 past the row
    const int m = n - j < N ? static_cast<int>(n - j) : N;
    const VecF s = kAdd ? load_sum(a, x, skip, j, m) : load_n(x + j, m);
    if (kAdd) store_n(s, s_out + j, m);
    a0 = kSquares ? fmadd(s, s, a0) : a0 + s;
  }
  return double((a0 + a1).hsum());
}

// Sum of (s - mean)^2 over the row (in L1 by now).
double row_centered_squares(const float* s, int64_t n, float mean) {
  const VecF vm = VecF::set1(mean);
  VecF q0 = VecF::zero(), q1 = VecF::zero();
  int64_t j = 0;
  for (; j + 2 * N <= n; j += 2 * N) {
    const VecF d0 = VecF::load(s + j) - vm, d1 = VecF::load(s + j + N) - vm;
    q0 = fmadd(d0, d0, q0);
    q1 = fmadd(d1, d1, q1);
  }
  for (; j < n; j += N) {
    const int m = n - j < N ? static_cast<int>(n - j) : N;
    float d[N];
    (load_n(s + j, m) - vm).store(d);
    const VecF dv = load_n(d, m);  // lanes past the row are 0, not -mean
    q0 = fmadd(dv, dv, q0);
  }
  return double((q0 + q1).hsum());
}

// y = (s - mean) * (inv_std * g) + b for one scale g and shift b (a channel's).
inline void write_row_affine(int64_t n, const float* s, float* y, float mean, float scale, float shift) {
  const VecF vm = VecF::set1(mean), vs = VecF::set1(scale), vb = VecF::set1(shift);
  for (int64_t j = 0; j < n; j += N) {
    const int m = n - j < N ? static_cast<int>(n - j) : N;
    store_n(fmadd(load_n(s + j, m) - vm, vs, vb), y + j, m);
  }
}

// y = (s - mean) * inv_std * gamma (+ beta).
inline void write_row(const LayerNormRows& a, const float* s, float* y, float mean, float inv_std) {
  const VecF vm = VecF::set1(mean), vi = VecF::set1(inv_std);
  const int64_t n = a.cols;
  for (int64_t j = 0; j < n; j += N) {
    const int m = n - j < N ? static_cast<int>(n - j) : N;
    const VecF t = (load_n(s + j, m) - vm) * vi;
    const VecF g = load_n(a.gamma + j, m);
    store_n(a.beta ? fmadd(t, g, load_n(a.beta + j, m)) : t * g, y + j, m);
  }
}

void rows(const LayerNormRows& a, int64_t r0, int64_t r1) {
  const int64_t n = a.cols;
  const bool add = a.skip || a.bias;
  for (int64_t r = r0; r < r1; ++r) {
    const float* x = a.x + r * n;
    const float* skip = a.skip ? a.skip + (r % a.skip_rows) * n : nullptr;
    float* y = a.y + r * n;
    // Where s lives between the sweeps: the sum output, else y itself (written last, in place).
    float* s_buf = a.sum ? a.sum + r * n : y;
    const float* s = add ? s_buf : x;
    float mean = 0.f;
    double sq;
    if (a.rms) {
      sq = add ? row_sum<true, true>(a, x, skip, s_buf) : row_sum<false, true>(a, x, skip, nullptr);
    } else {
      // The mean first, then the squares around it: exact where E[s^2] - E[s]^2 would cancel.
      const double total = add ? row_sum<true, false>(a, x, skip, s_buf) : row_sum<false, false>(a, x, skip, nullptr);
      mean = float(total / double(n));
      sq = row_centered_squares(s, n, mean);
    }
    const float inv_std = float(1.0 / __builtin_sqrt(sq / double(n) + double(a.epsilon)));
    if (a.channels) {
      const int64_t c = r % a.channels;
      write_row_affine(n, s, y, mean, inv_std * a.gamma[c], a.beta ? a.beta[c] : 0.f);
    } else {
      write_row(a, s, y, mean, inv_std);
    }
    if (a.mean) a.mean[r] = mean;
    if (a.inv_std) a.inv_std[r] = inv_std;
    if (a.sum && !add) {  // nothing added: the sum is x itself
      for (int64_t j = 0; j < n; ++j) a.sum[r * n + j] = x[j];
    }
  }
}

}  // namespace

extern const LayerNormKernels layer_norm_table = {rows};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
