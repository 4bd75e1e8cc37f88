// Vector helpers of the RNN row kernels: clip and partial loads / stores. Include only from
// *_isa.cpp files, after common/simd.h; everything stays in namespace pyinfer::PYINFER_ISA_NS (see simd.h on ODR).
#pragma once
#include "activation/vec_math.h"
#include "common/simd.h"
#include "rnn/rnn_types.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace rnn_math {

// The gate functions are activate_any / activate<A> of activation/vec_math.h: the same code
// as the activation kernels and the epilogues.

// min(max(x, -c), c), NaN kept.
static inline VecF vclip(VecF x, float c) {
  return vkeep_nan(x, vmin(vmax(x, VecF::set1(-c)), VecF::set1(c)));
}

// Partial-aware load/store: n == VecF::N is the common full-vector case.
static inline VecF ld(const float* p, int n) { return n == VecF::N ? VecF::load(p) : VecF::load_partial(p, n); }
static inline void st(VecF v, float* p, int n) {
  if (n == VecF::N) v.store(p); else v.store_partial(p, n);
}

}  // namespace rnn_math
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
