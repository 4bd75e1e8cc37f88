// The squeeze-and-excitation step's loops (squeeze_excite_kernels.h), compiled once per SIMD
// tier. Planes are short (49 floats on a 7 x 7 map): each ends with one masked vector instead
// of a scalar tail. No std:: templates here (ODR across tiers).
#include "common/simd.h"
#include "conv/squeeze_excite_kernels.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

constexpr int64_t V = VecF::N;

inline int tail_of(int64_t n, int64_t i) { return static_cast<int>(n - i < V ? n - i : V); }

void plane_means(const float* x, int64_t planes, int64_t n, float* y) {
  const float inv = 1.f / static_cast<float>(n);
  for (int64_t p = 0; p < planes; ++p, x += n) {
    VecF a0 = VecF::zero(), a1 = VecF::zero();
    int64_t i = 0;
    for (; i + 2 * V <= n; i += 2 * V) {
      a0 = a0 + VecF::load(x + i);
      a1 = a1 + VecF::load(x + i + V);
    }
    for (; i < n; i += V) a0 = a0 + VecF::load_partial(x + i, tail_of(n, i));
    y[p] = (a0 + a1).hsum() * inv;
  }
}

void matvec(const float* wt, const float* b, const float* x, int64_t in, int64_t out, float* y) {
  int64_t o = 0;
  for (; o + 4 * V <= out; o += 4 * V) {  // four vectors of outputs share each x[i]
    VecF a0 = VecF::load(b + o), a1 = VecF::load(b + o + V), a2 = VecF::load(b + o + 2 * V),
         a3 = VecF::load(b + o + 3 * V);
    const float* w = wt + o;
    for (int64_t i = 0; i < in; ++i, w += out) {
      const VecF xi = VecF::set1(x[i]);
      a0 = fmadd(xi, VecF::load(w), a0);
      a1 = fmadd(xi, VecF::load(w + V), a1);
      a2 = fmadd(xi, VecF::load(w + 2 * V), a2);
      a3 = fmadd(xi, VecF::load(w + 3 * V), a3);
    }
    a0.store(y + o);
    a1.store(y + o + V);
    a2.store(y + o + 2 * V);
    a3.store(y + o + 3 * V);
  }
  // The last outputs a vector at a time, over four chains of inputs (a squeeze layer has few
  // outputs and many inputs: one chain would wait on each multiply-add's latency).
  for (; o < out; o += V) {
    const int m = tail_of(out, o);
    VecF a0 = VecF::load_partial(b + o, m), a1 = VecF::zero(), a2 = VecF::zero(), a3 = VecF::zero();
    const float* w = wt + o;
    int64_t i = 0;
    for (; i + 4 <= in; i += 4, w += 4 * out) {
      a0 = fmadd(VecF::set1(x[i]), VecF::load_partial(w, m), a0);
      a1 = fmadd(VecF::set1(x[i + 1]), VecF::load_partial(w + out, m), a1);
      a2 = fmadd(VecF::set1(x[i + 2]), VecF::load_partial(w + 2 * out, m), a2);
      a3 = fmadd(VecF::set1(x[i + 3]), VecF::load_partial(w + 3 * out, m), a3);
    }
    for (; i < in; ++i, w += out) a0 = fmadd(VecF::set1(x[i]), VecF::load_partial(w, m), a0);
    ((a0 + a1) + (a2 + a3)).store_partial(y + o, m);
  }
}

void scale_planes(const float* z, const float* g, int64_t planes, int64_t n, float* y) {
  for (int64_t p = 0; p < planes; ++p, z += n, y += n) {
    const VecF s = VecF::set1(g[p]);
    int64_t i = 0;
    for (; i + V <= n; i += V) (VecF::load(z + i) * s).store(y + i);
    if (i < n) (VecF::load_partial(z + i, tail_of(n, i)) * s).store_partial(y + i, tail_of(n, i));
  }
}

}  // namespace

extern const SqueezeExciteKernels squeeze_excite_table = {plane_means, matvec, scale_planes};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
