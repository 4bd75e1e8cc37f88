// Vector float32 math (exp is simd.h's vexp): expm1, log1p on [0, 1], tanh, sigmoid and erf,
// built only on the VecF interface of simd.h, and activate<A>: the one implementation of every
// activation of act.h, used by the activation kernels, the GEMM / conv / batch-norm epilogues
// and the RNN gates alike.
//
// Include only from *_isa.cpp files (after common/simd.h); everything lives in the tier's
// namespace. Accuracy measured against float64 references (all three tiers; see
// tests/kernels/test_activation.py): max relative error sigmoid 1.6e-7, tanh 1.4e-7,
// erf 9e-8 (~1 ulp), elu/celu (expm1) 2e-7, softplus 2.2e-7, mish 2.8e-7. NaN propagates;
// +-inf and huge magnitudes give the exact limits (sigmoid(-100) = 0, tanh(50) = 1).
#pragma once
#include "activation/act.h"
#include "common/simd.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {

static constexpr float kFltMax = 3.402823466e+38f;

static inline VecF vneg(VecF x) { return VecF::zero() - x; }

// exp(x) - 1 without the cancellation near 0: the polynomial r + r^2 P(r) directly for
// |x| < ln2/2, exp(x) - 1 elsewhere (there |result| >= 0.29, so exp's error grows < 4x).
static inline VecF vexpm1(VecF x) {
  VecF p = VecF::set1(1.9875691500E-4f);
  p = fmadd(p, x, VecF::set1(1.3981999507E-3f));
  p = fmadd(p, x, VecF::set1(8.3334519073E-3f));
  p = fmadd(p, x, VecF::set1(4.1665795894E-2f));
  p = fmadd(p, x, VecF::set1(1.6666665459E-1f));
  p = fmadd(p, x, VecF::set1(5.0000001201E-1f));
  VecF small = fmadd(p * x, x, x);
  VecF big = vexp(x) - VecF::set1(1.0f);  // NaN stays NaN; -inf -> -1, +inf -> inf
  return vselect_gt(VecF::set1(0.34657359f), vabs(x), small, big);
}

// log(1 + u) for u in [0, 1] (NaN propagates). v = 1 + u is reduced to m in
// [sqrt(1/2), sqrt(2)] (m = v or v/2), log(m) by Cephes' logf polynomial, and Goldberg's
// correction u / (v - 1) restores the bits lost when 1 + u was rounded.
static inline VecF vlog1p_unit(VecF u) {
  const VecF one = VecF::set1(1.0f);
  VecF v = u + one;
  const VecF sqrt2 = VecF::set1(1.41421356f);
  VecF e = vselect_gt(v, sqrt2, one, VecF::zero());
  VecF f = vselect_gt(v, sqrt2, v * VecF::set1(0.5f), v) - one;  // exact (Sterbenz)
  VecF logv = vlog_reduced(f, e);
  VecF d = v - one;  // exact; 0 only when u is below half an ulp of 1
  VecF corrected = logv * (u / vmax(d, VecF::set1(1e-30f)));
  return vkeep_nan(u, vselect_gt(d, VecF::zero(), corrected, u));
}

// 1 / (1 + exp(-x)): exp(-x) = inf for x < -88.7 gives exactly 0, and 0 for x > 104 gives 1.
static inline VecF vsigmoid(VecF x) {
  return vrecip_ge1(VecF::set1(1.0f) + vexp(vneg(x)));
}

// tanh: Cephes' odd polynomial for |x| <= 0.625 (keeps full relative accuracy near 0),
// 1 - 2 / (exp(2|x|) + 1) with the sign of x beyond (exactly +-1 once exp overflows).
static inline VecF vtanh(VecF x) {
  VecF ax = vabs(x);
  VecF z = x * x;
  VecF p = VecF::set1(-5.70498872745E-3f);
  p = fmadd(p, z, VecF::set1(2.06390887954E-2f));
  p = fmadd(p, z, VecF::set1(-5.37397155531E-2f));
  p = fmadd(p, z, VecF::set1(1.33314422036E-1f));
  p = fmadd(p, z, VecF::set1(-3.33332819422E-1f));
  VecF small = fmadd(p * z, x, x);
  VecF e = vexp(ax + ax);
  VecF big = VecF::set1(1.0f) - VecF::set1(2.0f) / (e + VecF::set1(1.0f));
  big = vselect_gt(VecF::zero(), x, vneg(big), big);
  return vselect_gt(ax, VecF::set1(0.625f), big, small);  // NaN: comparison false -> small = NaN
}

// erf, after N. Juffa's vectorizable erff: for |x| <= 0.9277 an odd polynomial in x; beyond,
// erf(t) = 1 - exp(q(t)) with a degree-7 polynomial q (|x| clamped to 10, where erf is 1).
// erf_tail(t) = exp(q(t)) ~ erfc(t) for t > 0.9277, used by gelu for x << 0 so that
// 1 + erf(z) does not cancel.
static inline VecF verf_small(VecF a) {
  VecF s = a * a;
  VecF r = VecF::set1(-5.96761703e-4f);
  r = fmadd(r, s, VecF::set1(4.99119423e-3f));
  r = fmadd(r, s, VecF::set1(-2.67681349e-2f));
  r = fmadd(r, s, VecF::set1(1.12819925e-1f));
  r = fmadd(r, s, VecF::set1(-3.76125336e-1f));
  r = fmadd(r, s, VecF::set1(1.28379166e-1f));
  return fmadd(r, a, a);
}
static inline VecF verfc_tail(VecF t) {  // t >= 0.9277 (and NaN-free: callers clamp)
  t = vmin(t, VecF::set1(10.0f));
  VecF s = t * t;
  VecF r = fmadd(VecF::set1(-1.72853470e-5f), t, VecF::set1(3.83197126e-4f));
  VecF u = fmadd(VecF::set1(-3.88396438e-3f), t, VecF::set1(2.42546219e-2f));
  r = fmadd(r, s, u);
  r = fmadd(r, t, VecF::set1(-1.06777877e-1f));
  r = fmadd(r, t, VecF::set1(-6.34846687e-1f));
  r = fmadd(r, t, VecF::set1(-1.28717512e-1f));
  r = fmadd(r, t, vneg(t));
  return vexp(r);
}
static const float kErfSplit = 0.927734375f;
static inline VecF verf(VecF x) {
  VecF ax = vabs(x);
  VecF big = VecF::set1(1.0f) - verfc_tail(vmax(ax, VecF::set1(kErfSplit)));
  big = vselect_gt(VecF::zero(), x, vneg(big), big);
  VecF res = vselect_gt(ax, VecF::set1(kErfSplit), big, verf_small(x));
  return vkeep_nan(x, res);
}

// --- activations (act.h) ---------------------------------------------------------------------

static inline VecF vclamp01(VecF v) { return vmin(vmax(v, VecF::zero()), VecF::set1(1.0f)); }

// x * Phi(x), Phi(x) = (1 + erf(x/sqrt2)) / 2, with the erfc tail for x << 0: relative error
// 2e-7 for x > -2, <= 7e-5 on [-6, -2] (values < 5e-2 there; absolute < 1e-8).
static inline VecF vgelu(VecF v) {
  const VecF zero = VecF::zero(), one = VecF::set1(1.0f);
  VecF z = v * VecF::set1(0.70710678118654752f);
  VecF az = vabs(z);
  VecF half_tail = VecF::set1(0.5f) * verfc_tail(vmax(az, VecF::set1(kErfSplit)));
  VecF outer = vselect_gt(z, zero, one - half_tail, half_tail);
  VecF inner = fmadd(VecF::set1(0.5f), verf_small(z), VecF::set1(0.5f));
  VecF phi = vselect_gt(az, VecF::set1(kErfSplit), outer, inner);
  return vkeep_nan(v, vselect_gt(VecF::set1(-kFltMax), v, zero, v * phi));  // -inf * 0 -> 0
}

// x/2 (1 + tanh(u)) = x * sigmoid(2u): no cancellation for x << 0 (relative error 3.4e-7 for
// x > -2, 1.1e-6 on [-4, -2], up to 1.3e-5 below -4 where values are < 1e-4 and the rounding
// of u is amplified by exp).
static inline VecF vgelu_tanh(VecF v) {
  VecF u = v * fmadd(v * v, VecF::set1(0.044715f * 0.7978845608028654f), VecF::set1(0.7978845608028654f));
  VecF r = v * vrecip_ge1(VecF::set1(1.0f) + vexp(VecF::set1(-2.0f) * u));
  return vselect_gt(VecF::set1(-kFltMax), v, VecF::zero(), r);
}

// The activation A with parameters a, b (act.h) on a vector. NaN in gives NaN out.
template <Act A>
static inline VecF activate(VecF v, float a, float b) {
  const VecF zero = VecF::zero(), one = VecF::set1(1.0f);
  if constexpr (A == Act::None) return v;
  if constexpr (A == Act::Relu) return vmax_nan(v, zero);
  if constexpr (A == Act::LeakyRelu) return vselect_gt(zero, v, v * VecF::set1(a), v);
  if constexpr (A == Act::Sigmoid) return vsigmoid(v);
  if constexpr (A == Act::Tanh) return vtanh(v);
  // a > b gives b everywhere (ONNX: min > max sets all to max)
  if constexpr (A == Act::Clip) return vkeep_nan(v, vmin(vmax(v, VecF::set1(a)), VecF::set1(b)));
  if constexpr (A == Act::HardSigmoid) return vkeep_nan(v, vclamp01(fmadd(v, VecF::set1(a), VecF::set1(b))));
  if constexpr (A == Act::HardSwish) {  // x * clamp(x/6 + 1/2, 0, 1); exactly 0 where the factor is 0
    VecF f = vclamp01(fmadd(v, VecF::set1(1.0f / 6.0f), VecF::set1(0.5f)));
    return vkeep_nan(v, vselect_gt(f, zero, v * f, zero));
  }
  if constexpr (A == Act::Elu) return vselect_gt(v, zero, v, VecF::set1(a) * vexpm1(v));
  if constexpr (A == Act::Selu) return VecF::set1(b) * vselect_gt(v, zero, v, VecF::set1(a) * vexpm1(v));
  if constexpr (A == Act::Celu) {
    const VecF va = VecF::set1(a);
    return vselect_gt(v, zero, v, va * vexpm1(v / va));
  }
  if constexpr (A == Act::Softplus)  // max(x, 0) + log1p(exp(-|x|)): no overflow, exact limits
    return vmax_nan(v, zero) + vlog1p_unit(vexp(vneg(vabs(v))));
  if constexpr (A == Act::Softsign) {  // x / (1 + |x|), with the limits +-1 at +-inf (not inf/inf)
    VecF r = v / (one + vabs(v));
    return vselect_gt(vabs(v), VecF::set1(kFltMax), vselect_gt(v, zero, one, vneg(one)), r);
  }
  if constexpr (A == Act::ThresholdedRelu) return vkeep_nan(v, vselect_gt(v, VecF::set1(a), v, zero));
  if constexpr (A == Act::Erf) return verf(v);
  if constexpr (A == Act::Gelu) return vgelu(v);
  if constexpr (A == Act::GeluTanh) return vgelu_tanh(v);
  if constexpr (A == Act::Mish) {  // x tanh(log(1 + e^x)) = x n / (n + 2), n = e^x (e^x + 2)
    VecF e = vexp(v);
    VecF m = e * (e + VecF::set1(2.0f));
    VecF r = v * (m / (m + VecF::set1(2.0f)));
    r = vselect_gt(v, VecF::set1(20.0f), v, r);  // tanh(softplus(x)) == 1 in float; avoids inf/inf
    return vselect_gt(VecF::set1(-kFltMax), v, zero, r);
  }
  if constexpr (A == Act::Silu)  // x / (1 + exp(-x)); 0 at -inf (not -inf / inf)
    return vselect_gt(VecF::set1(-kFltMax), v, zero, v * vrecip_ge1(one + vexp(vneg(v))));
  if constexpr (A == Act::Affine) return fmadd(VecF::set1(a), v, VecF::set1(b));
  if constexpr (A == Act::ScaledTanh) return VecF::set1(a) * vtanh(VecF::set1(b) * v);
  return v;
}

template <Act A>
struct ActTag {
  static constexpr Act value = A;
};

// f(ActTag<A>{}) for A = act: one instantiation per activation, where a loop is worth
// specialising (the elementwise kernels).
#define PYINFER_ACT_CASE(name) \
  case Act::name:              \
    return f(ActTag<Act::name>{});
template <class F>
static inline void with_act(Act act, F&& f) {
  switch (act) { PYINFER_ACTIVATIONS(PYINFER_ACT_CASE) }
}

// The same for the activations a fused epilogue applies (act.h); anything else runs as None
// (prepare refuses it before a kernel gets there).
template <class F>
static inline auto with_epilogue_act(Act act, F&& f) {
  switch (act) {
    PYINFER_EPILOGUE_ACTIVATIONS(PYINFER_ACT_CASE)
    default: return f(ActTag<Act::None>{});
  }
}
#undef PYINFER_ACT_CASE

// activate<A> chosen at run time, per vector (RNN gates: a few vectors per step and gate).
static inline VecF activate_any(VecF v, const ActParams& p) {
  VecF r = v;
  with_act(p.kind, [&](auto tag) { r = activate<decltype(tag)::value>(v, p.a, p.b); });
  return r;
}

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
