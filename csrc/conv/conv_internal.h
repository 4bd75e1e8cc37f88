// Helpers shared by the convolution drivers (conv.cpp, winograd.cpp); not a public API.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>

#include "common/thread_pool.h"
#include "conv/conv.h"
#include "gemm/epilogue.h"

namespace pyinfer {
namespace conv_internal {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The GEMM epilogue for conv's output block that starts at channel m0 of image n, position
// p0: per-channel bias (row_bias), residual at the same place in its y-shaped tensor.
inline Epilogue block_epilogue(const ConvGeometry& g, const float* bias, const ConvEpilogue* ep, int64_t n,
                               int64_t m0, int64_t p0, int64_t P) {
  Epilogue e;
  e.row_bias = bias ? bias + m0 : nullptr;
  if (ep) {
    e.residual = ep->residual ? ep->residual + (n * g.out_channels + m0) * P + p0 : nullptr;
    e.ld_residual = P;
    e.act = ep->act;
    e.alpha = ep->alpha, e.beta = ep->beta, e.lo = ep->lo, e.hi = ep->hi;
  }
  return e;
}

// Units [0, n) handed out `grain` at a time from a shared counter: a thread that the OS
// delays (a busy machine) leaves its share to the others instead of holding up the call.
// Which thread runs a unit never changes its result.
template <class Fn>
void parallel_dynamic(int64_t n, int threads, int64_t grain, Fn&& fn) {
  if (threads <= 1 || n <= 1) return fn(int64_t(0), n);
  std::atomic<int64_t> next{0};
  parallel_for(threads, threads, [&](int64_t, int64_t) {
    for (;;) {
      const int64_t b = next.fetch_add(grain);
      if (b >= n) break;
      fn(b, std::min(n, b + grain));
    }
  });
}

}  // namespace conv_internal
}  // namespace pyinfer
