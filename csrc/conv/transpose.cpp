// Transposed convolution (conv.h: prepare_conv_transpose) as GEMM + col2im: each input
// position's products with the kernel are added into the output positions it reaches
// (the column-matrix walk of im2col.cpp, run backwards).
#include <algorithm>
#include <vector>

#include "common/cpu_info.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "gemm/gemm.h"

namespace pyinfer {
using conv_internal::product;

namespace {

// Column tiles of about as many floats as the L2 per thread, at least kMinTile columns.
constexpr int64_t kMinTile = 128;

void fill_bias(float* y, const float* bias, int64_t channels, int64_t positions) {
  for (int64_t m = 0; m < channels; ++m) {
    const float v = bias ? bias[m] : 0.f;
    float* p = y + m * positions;
    for (int64_t i = 0; i < positions; ++i) p[i] = v;
  }
}

int64_t transpose_tile(const ConvGeometry& g) {
  const int64_t Mg = g.out_channels / g.group;
  return conv_internal::tile_width(Mg * product(g.kernel), product(g.in_spatial), l2_floats(), kMinTile);
}

}  // namespace

int64_t conv_transpose_workspace_bytes(const ConvGeometry& g) {
  return g.out_channels / g.group * product(g.kernel) * transpose_tile(g) * int64_t(sizeof(float));
}

void conv_transpose(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    int num_threads) {
  const int64_t Cg = g.in_channels / g.group, Mg = g.out_channels / g.group;
  const int64_t kprod = product(g.kernel), Kt = Mg * kprod;
  const int64_t s_in = product(g.in_spatial), P = product(g.out_spatial);
  const int64_t T = transpose_tile(g);
  const int64_t items = g.batch * g.group;
  if (items == 0) return;
  const double flops = 2.0 * double(items) * double(Kt) * double(s_in) * double(Cg);
  const int threads = conv_internal::conv_threads(flops, std::max<int64_t>(items, resolve_threads(num_threads)),
                                                  num_threads);
  const std::vector<int64_t> offs = conv_internal::kernel_offsets(g);

  // One (image, group) block. Its tiles add into overlapping outputs, so they run in order;
  // parallelism inside a block comes from sgemm and from splitting col2im by channel.
  auto run_item = [&](int64_t item, std::vector<float>& col, int inner_threads) {
    const int64_t n = item / g.group, gi = item % g.group;
    const float* x_g = x + (n * g.in_channels + gi * Cg) * s_in;
    const float* w_g = w + gi * Cg * Kt;  // [Cg, Mg * kprod]
    float* y_g = y + (n * g.out_channels + gi * Mg) * P;
    fill_bias(y_g, bias ? bias + gi * Mg : nullptr, Mg, P);
    for (int64_t p0 = 0; p0 < s_in; p0 += T) {
      const int64_t cols = std::min(T, s_in - p0);
      // col [Kt, cols] = W_g^T x X_g[:, p0:p0+cols]
      sgemm(true, false, Kt, cols, Cg, 1.f, w_g, Kt, x_g + p0, s_in, 0.f, col.data(), cols, inner_threads);
      const double bytes = 2.0 * double(Kt) * double(cols) * sizeof(float);
      parallel_for(Mg, conv_internal::copy_threads(bytes, Mg, inner_threads), [&](int64_t m0, int64_t m1) {
        conv_internal::col2im_channels(g, offs, col.data(), p0, cols, m0, m1, y_g);
      });
    }
  };

  if (threads == 1 || items >= threads) {
    parallel_for(items, threads, [&](int64_t b, int64_t e) {
      std::vector<float> col(Kt * T);
      for (int64_t it = b; it < e; ++it) run_item(it, col, 1);
    });
  } else {
    std::vector<float> col(Kt * T);
    for (int64_t it = 0; it < items; ++it) run_item(it, col, threads);
  }
}

}  // namespace pyinfer
