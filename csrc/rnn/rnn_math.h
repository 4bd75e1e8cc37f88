// Vector math for the RNN row kernels: sigmoid, tanh, clip and the ONNX RNN activation
// functions on VecF. Include only from *_isa.cpp files, after common/simd.h; everything
// stays in namespace pyinfer::PYINFER_ISA_NS (see simd.h on ODR).
#pragma once
#include "activation/vec_math.h"
#include "common/simd.h"
#include "rnn/rnn_types.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace rnn_math {

// vsigmoid and vtanh come from activation/vec_math.h (shared with the activation kernels).

// min(max(x, -c), c), NaN kept.
static inline VecF vclip(VecF x, float c) {
  return vkeep_nan(x, vmin(vmax(x, VecF::set1(-c)), VecF::set1(c)));
}

// log(1 + e^x) lane by lane (softplus is a rare gate function; libm is accurate here).
static inline VecF vsoftplus(VecF x) {
  float buf[VecF::N];
  x.store(buf);
  for (int i = 0; i < VecF::N; ++i) {
    float v = buf[i];
    float a = v < 0 ? -v : v;
    // max(v, 0) + log1p(e^-|v|): no overflow for large v, no cancellation for small.
    buf[i] = (v > 0 ? v : 0.0f) + __builtin_log1pf(__builtin_expf(-a));
    if (v != v) buf[i] = v;
  }
  return VecF::load(buf);
}

// The activation `a` applied to x. The switch is on a value fixed for the whole node, so
// the branch predictor takes it for free.
static inline VecF activate(VecF x, const rnn::Activation& a) {
  using rnn::ActKind;
  const VecF zero = VecF::zero();
  switch (a.kind) {
    case ActKind::Sigmoid: return vsigmoid(x);
    case ActKind::Tanh: return vtanh(x);
    case ActKind::Relu: return vkeep_nan(x, vmax(x, zero));
    case ActKind::Affine: return fmadd(VecF::set1(a.alpha), x, VecF::set1(a.beta));
    case ActKind::LeakyRelu: return vselect_gt(zero, x, VecF::set1(a.alpha) * x, x);
    case ActKind::ThresholdedRelu: return vselect_gt(VecF::set1(a.alpha), x, zero, x);
    case ActKind::ScaledTanh: return VecF::set1(a.alpha) * vtanh(VecF::set1(a.beta) * x);
    case ActKind::HardSigmoid: {
      VecF y = fmadd(VecF::set1(a.alpha), x, VecF::set1(a.beta));
      return vkeep_nan(y, vmin(vmax(y, zero), VecF::set1(1.0f)));
    }
    case ActKind::Elu:
      return vselect_gt(zero, x, VecF::set1(a.alpha) * (vexp(x) - VecF::set1(1.0f)), x);
    case ActKind::Softsign: return x / (VecF::set1(1.0f) + vabs(x));
    case ActKind::Softplus: return vsoftplus(x);
  }
  return x;
}

// Partial-aware load/store: n == VecF::N is the common full-vector case.
static inline VecF ld(const float* p, int n) { return n == VecF::N ? VecF::load(p) : VecF::load_partial(p, n); }
static inline void st(VecF v, float* p, int n) {
  if (n == VecF::N) v.store(p); else v.store_partial(p, n);
}

}  // namespace rnn_math
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
