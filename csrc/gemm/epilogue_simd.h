// Vector code of the GEMM / conv epilogue (see epilogue.h). Included only from *_isa.cpp
// files, inside nothing: it opens pyinfer::PYINFER_ISA_NS itself, so every tier gets its own
// copy (no inline function is shared between tiers).
#pragma once
#include "activation/vec_math.h"
#include "common/simd.h"
#include "gemm/epilogue.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

// The epilogue's activation: activate<A> of activation/vec_math.h, the same code the
// elementwise activation kernels run, so fused and unfused give the same numbers.
template <Act A>
inline VecF ep_activate(VecF x, const Epilogue& ep) {
  return activate<A>(x, ep.act.a, ep.act.b);
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
// inline: not every file that includes this calls it.
inline void apply_epilogue(int64_t rows, int64_t cols, float* c, int64_t ldc, const Epilogue& ep,
                    int64_t i0, int64_t j0) {
  with_epilogue_act(ep.act.kind, [&](auto tag) {
    ep_rows<decltype(tag)::value>(rows, cols, c, ldc, ep, i0, j0);
  });
}

}  // namespace
}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
