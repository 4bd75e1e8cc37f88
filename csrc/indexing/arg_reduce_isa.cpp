// ArgMax / ArgMin over the rows of a float32 slice, a vector of columns at a time: the running
// best and its row index (as floats) are chosen lane by lane with vselect_gt.
#include "common/simd.h"
#include "indexing/arg_reduce.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

// largest / last as template parameters: one select pair per row and vector.
template <bool Largest, bool Last>
inline void step(VecF x, VecF fi, VecF& b, VecF& a) {
  if (Largest && !Last) {  // x > b
    a = vselect_gt(x, b, fi, a), b = vselect_gt(x, b, x, b);
  } else if (Largest) {  // x >= b: not b > x
    a = vselect_gt(b, x, a, fi), b = vselect_gt(b, x, b, x);
  } else if (!Last) {  // x < b
    a = vselect_gt(b, x, fi, a), b = vselect_gt(b, x, x, b);
  } else {  // x <= b: not x > b
    a = vselect_gt(x, b, a, fi), b = vselect_gt(x, b, b, x);
  }
}

template <bool Largest, bool Last>
void rows(const float* x, int64_t n, int64_t inner, float* best, float* at, float* nan) {
  for (int64_t j = 0; j < inner; j += VecF::N) {
    const int m = inner - j < VecF::N ? static_cast<int>(inner - j) : VecF::N;
    VecF b = VecF::load_partial(x + j, m), a = VecF::zero(), nn = vkeep_nan(b, VecF::zero());
    for (int64_t i = 1; i < n; ++i) {
      const VecF v = VecF::load_partial(x + i * inner + j, m);
      step<Largest, Last>(v, VecF::set1(static_cast<float>(i)), b, a);
      nn = vkeep_nan(v, nn);
    }
    b.store_partial(best + j, m), a.store_partial(at + j, m), nn.store_partial(nan + j, m);
  }
}

void rows_f32(const float* x, int64_t n, int64_t inner, bool largest, bool last, float* best, float* at, float* nan) {
  if (largest) return last ? rows<true, true>(x, n, inner, best, at, nan) : rows<true, false>(x, n, inner, best, at, nan);
  return last ? rows<false, true>(x, n, inner, best, at, nan) : rows<false, false>(x, n, inner, best, at, nan);
}

}  // namespace

extern const ArgReduceKernels arg_reduce_kernels_table = {rows_f32};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
