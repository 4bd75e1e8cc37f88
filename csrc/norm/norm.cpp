// Portable driver of the normalization family: argument checks, work splitting over threads,
// then the active tier's loops (norm_kernels_isa.cpp).
#include "norm/norm.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "common/thread_pool.h"
#include "norm/norm_kernels.h"

namespace pyinfer {
namespace {

// Columns per unit of work: the window's rows of a block stay in L1 (size * 2 KiB), and a
// 56x56 plane still splits into 7 units for the threads.
constexpr int64_t kLrnBlock = 512;

LrnPower power_of(float beta) {
  if (beta == 0.f) return LrnPower::Zero;
  if (beta == 0.5f) return LrnPower::Half;
  if (beta == 0.75f) return LrnPower::ThreeQuarters;
  if (beta == 1.f) return LrnPower::One;
  return LrnPower::General;
}

}  // namespace

void check_lrn(int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta, float bias) {
  PYINFER_CHECK(n >= 0 && c >= 0 && spatial >= 0,
                "lrn: negative extent (" << n << ", " << c << ", " << spatial << ")");
  PYINFER_CHECK(size >= 1, "lrn: size must be >= 1, got " << size);
  PYINFER_CHECK(std::isfinite(alpha) && std::isfinite(beta) && std::isfinite(bias),
                "lrn: alpha, beta and bias must be finite, got " << alpha << ", " << beta << ", " << bias);
}

void lrn(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta,
         float bias, int num_threads) {
  check_lrn(n, c, spatial, size, alpha, beta, bias);
  if (n == 0 || c == 0 || spatial == 0) return;
  PYINFER_CHECK(x && y, "lrn: null data pointer");
  LrnParams p;
  p.channels = c;
  p.stride = spatial;
  p.before = (size - 1) / 2;
  p.after = size - 1 - p.before;
  p.scale = static_cast<float>(static_cast<double>(alpha) / static_cast<double>(size));
  p.beta = beta;
  p.bias = bias;
  p.power = power_of(beta);
  const int64_t blocks = (spatial + kLrnBlock - 1) / kLrnBlock;
  const int64_t units = n * blocks;
  // The cost model: a multiply-add per (element x window) and a power per element.
  const double work = double(n * c * spatial) * double(2 * std::min(size, c) + 20);
  const int threads = threads_for_work(flops_ns(work), units, num_threads);
  const auto& t = norm_kernels();
  parallel_for(units, threads, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t img = u / blocks, s0 = (u % blocks) * kLrnBlock;
      const int64_t off = img * c * spatial + s0;
      t.lrn_columns(p, x + off, y + off, std::min(kLrnBlock, spatial - s0));
    }
  });
}

PreparedPtr prepare_lrn(const std::vector<int64_t>& x_shape, int64_t size, float alpha, float beta, float bias) {
  PYINFER_CHECK(x_shape.size() >= 3, "lrn: x must have rank >= 3 ((N, C, spatial...))");
  int64_t spatial = 1;
  for (size_t i = 2; i < x_shape.size(); ++i) spatial *= x_shape[i];
  const int64_t n = x_shape[0], c = x_shape[1];
  check_lrn(n, c, spatial, size, alpha, beta, bias);
  return KernelBuilder("lrn").input("x", x_shape).output("y", x_shape)
      .remake([size, alpha, beta, bias](const Shapes& s) { return prepare_lrn(s[0], size, alpha, beta, bias); })
      .run([=](const void* const* in, void* const* out, int threads) {
        lrn(f32_in(in, 0), f32_out(out, 0), n, c, spatial, size, alpha, beta, bias, threads);
      });
}

}  // namespace pyinfer
