// Vector code of the GEMM / conv epilogue (see epilogue.h). Included only from *_isa.cpp
// files, inside nothing: it opens pyinfer::PYINFER_ISA_NS itself, so every tier gets its own
// copy (no inline function is shared between tiers).
#pragma once
#include "common/simd.h"
#include "gemm/epilogue.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

// sign(x) * (1 - e) / (1 + e), e = exp(-2|x|): no overflow, exact limits +-1.
inline VecF ep_tanh(VecF x) {
  const VecF one = VecF::set1(1.f);
  const VecF e = vexp(VecF::set1(-2.f) * vabs(x));
  const VecF t = (one - e) / (one + e);
  return vselect_gt(VecF::zero(), x, VecF::zero() - t, t);
}

// erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
inline VecF ep_erf(VecF x) {
  const VecF ax = vabs(x), one = VecF::set1(1.f);
  const VecF t = one / fmadd(VecF::set1(0.3275911f), ax, one);
  VecF p = VecF::set1(1.061405429f);
  p = fmadd(p, t, VecF::set1(-1.453152027f));
  p = fmadd(p, t, VecF::set1(1.421413741f));
  p = fmadd(p, t, VecF::set1(-0.284496736f));
  p = fmadd(p, t, VecF::set1(0.254829592f));
  const VecF y = one - p * t * vexp(VecF::zero() - ax * ax);
  return vselect_gt(VecF::zero(), x, VecF::zero() - y, y);
}

template <Act A>
inline VecF ep_activate(VecF x, const Epilogue& ep) {
  const VecF zero = VecF::zero(), one = VecF::set1(1.f);
  VecF r = x;
  if constexpr (A == Act::Relu) r = vmax(x, zero);
  if constexpr (A == Act::Clip) r = vmin(vmax(x, VecF::set1(ep.lo)), VecF::set1(ep.hi));
  if constexpr (A == Act::LeakyRelu) r = vselect_gt(zero, x, x * VecF::set1(ep.alpha), x);
  if constexpr (A == Act::Sigmoid) r = one / (one + vexp(zero - x));
  if constexpr (A == Act::Tanh) r = ep_tanh(x);
  if constexpr (A == Act::HardSigmoid)
    r = vmin(vmax(fmadd(x, VecF::set1(ep.alpha), VecF::set1(ep.beta)), zero), one);
  if constexpr (A == Act::HardSwish)
    r = x * vmin(vmax(fmadd(x, VecF::set1(1.f / 6.f), VecF::set1(0.5f)), zero), one);
  if constexpr (A == Act::Gelu)
    r = VecF::set1(0.5f) * x * (one + ep_erf(x * VecF::set1(0.70710678118654752f)));
  if constexpr (A == Act::GeluTanh) {
    const VecF inner = VecF::set1(0.7978845608028654f) * fmadd(VecF::set1(0.044715f) * x, x * x, x);
    r = VecF::set1(0.5f) * x * (one + ep_tanh(inner));
  }
  if constexpr (A == Act::None) return r;
  return vkeep_nan(x, r);  // NaN in, NaN out (max/min would drop it)
}

template <Act A>
void ep_rows(int64_t rows, int64_t cols, float* c, int64_t ldc, const Epilogue& ep, int64_t i0,
             int64_t j0) {
  constexpr int VN = VecF::N;
  const float* cb = ep.col_bias ? ep.col_bias + j0 : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = c + r * ldc;
    const VecF rb = VecF::set1(ep.row_bias ? ep.row_bias[i0 + r] : 0.f);
    const float* res = ep.residual ? ep.residual + (i0 + r) * ep.ld_residual + j0 : nullptr;
    for (int64_t j = 0; j < cols; j += VN) {
      const int n = cols - j < VN ? static_cast<int>(cols - j) : VN;
      const bool full = n == VN;
      VecF x = (full ? VecF::load(row + j) : VecF::load_partial(row + j, n)) + rb;
      if (cb) x = x + (full ? VecF::load(cb + j) : VecF::load_partial(cb + j, n));
      if (res) x = x + (full ? VecF::load(res + j) : VecF::load_partial(res + j, n));
      x = ep_activate<A>(x, ep);
      if (full)
        x.store(row + j);
      else
        x.store_partial(row + j, n);
    }
  }
}

// The epilogue on rows x cols of C (top-left at (i0, j0) in the epilogue's coordinates).
void apply_epilogue(int64_t rows, int64_t cols, float* c, int64_t ldc, const Epilogue& ep,
                    int64_t i0, int64_t j0) {
  switch (ep.act) {
    case Act::None: return ep_rows<Act::None>(rows, cols, c, ldc, ep, i0, j0);
    case Act::Relu: return ep_rows<Act::Relu>(rows, cols, c, ldc, ep, i0, j0);
    case Act::Clip: return ep_rows<Act::Clip>(rows, cols, c, ldc, ep, i0, j0);
    case Act::LeakyRelu: return ep_rows<Act::LeakyRelu>(rows, cols, c, ldc, ep, i0, j0);
    case Act::Sigmoid: return ep_rows<Act::Sigmoid>(rows, cols, c, ldc, ep, i0, j0);
    case Act::Tanh: return ep_rows<Act::Tanh>(rows, cols, c, ldc, ep, i0, j0);
    case Act::HardSigmoid: return ep_rows<Act::HardSigmoid>(rows, cols, c, ldc, ep, i0, j0);
    case Act::HardSwish: return ep_rows<Act::HardSwish>(rows, cols, c, ldc, ep, i0, j0);
    case Act::Gelu: return ep_rows<Act::Gelu>(rows, cols, c, ldc, ep, i0, j0);
    case Act::GeluTanh: return ep_rows<Act::GeluTanh>(rows, cols, c, ldc, ep, i0, j0);
  }
}

}  // namespace
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
