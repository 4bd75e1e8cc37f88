// 2-D convolution with one input channel per group (depthwise, any channel multiplier):
// conv.h's ConvAlgorithm::Depthwise. The kernels per SIMD tier are in depthwise_isa.cpp and
// depthwise_flat_isa.cpp (depthwise.h).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/cpu_info.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "conv/depthwise.h"
#include "conv/winograd.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::block_epilogue;
using conv_internal::parallel_dynamic;

namespace {

thread_local ScratchBuffer tls_dw;  // padded planes, per thread

// Channels as vector lanes (DepthwiseKernels::lanes): blocks of `vec` channels of one image,
// each moved into [Hp][Wp][vec] with zero borders, computed, and moved back to NCHW planes
// (the Winograd kernels' transpose both ways), the residual and activation then applied on the
// block's planes while they are in cache.
void depthwise_lanes(const ConvGeometry& g, const DepthwisePlane& p, const float* x, const float* w, const float* bias,
                     float* y, int threads, const ConvEpilogue& ep) {
  const DepthwiseKernels& k = depthwise_kernels();
  const WinogradKernels& wk = winograd_kernels();
  const GemmKernels& kt = gemm_kernels();
  const int64_t VN = k.vec, C = g.in_channels, blocks = conv_internal::ceil_div(C, VN);
  const int64_t Hp = p.H + g.pads[0] + g.pads[2], Wp = p.W + g.pads[1] + g.pads[3];
  const int64_t in_plane = p.H * p.W, P = p.OH * p.OW, taps = p.KH * p.KW;
  const int64_t in_floats = Hp * Wp * VN, tile_floats = P * VN, w_floats = taps * VN;
  const bool post = ep.residual || ep.act.kind != Act::None;
  parallel_dynamic(g.batch * blocks, threads, 1, [&](int64_t b, int64_t e) {
    float* in = tls_dw.get(in_floats + tile_floats + w_floats + VN);
    float* tile = in + in_floats;
    float* wl = tile + tile_floats;
    float* bl = wl + w_floats;
    std::memset(in, 0, sizeof(float) * in_floats);  // the borders; each block rewrites the interior
    for (int64_t u = b; u < e; ++u) {
      const int64_t n = u / blocks, c0 = (u % blocks) * VN, nc = std::min(VN, C - c0);
      const float* xb = x + (n * C + c0) * in_plane;
      for (int64_t r = 0; r < p.H; ++r)
        wk.transpose(xb + r * p.W, in_plane, nc, VN, p.W, in + ((r + g.pads[0]) * Wp + g.pads[1]) * VN, VN);
      wk.transpose(w + c0 * taps, taps, nc, VN, taps, wl, VN);  // [tap][channel], missing channels 0
      for (int64_t l = 0; l < VN; ++l) bl[l] = bias && l < nc ? bias[c0 + l] : 0.f;
      k.lanes(p, in, Wp, wl, bl, tile);
      float* yb = y + (n * g.out_channels + c0) * P;
      wk.transpose(tile, VN, P, P, nc, yb, P);
      if (post) {
        const Epilogue pe = block_epilogue(g, nullptr, ep, n, c0, 0, P);
        kt.epilogue(nc, P, yb, P, pe, 0, 0);
      }
    }
  });
}

// The depthwise kernels' arithmetic rate on one core (flops per ns), measured once on this
// machine: a 3x3 layer on a 7 x 7 map (MobileNetV2's last stages, where these kernels are least
// efficient per flop). They do nine multiply-adds per output where a GEMM does hundreds, so the
// cost model's GEMM-measured rate put a depthwise layer's time at a quarter to a fifth of the
// real one (AMD EPYC Zen 4: 86 flops/ns against 13-42 measured on MobileNetV2's depthwise
// layers), and 20-45 us layers stayed on one thread. Measured with one thread, so the
// measurement never asks for itself (depthwise_conv consults it only for 2+ threads).
double depthwise_flops_per_ns() {
  static const double rate = [] {
    constexpr int64_t C = 96, H = 7;
    const ConvGeometry g = make_conv_geometry({1, C, H, H}, {C, 1, 3, 3}, C, {1, 1}, {1, 1, 1, 1}, {1, 1}, C);
    std::vector<float> x(C * H * H, 0.5f), w(C * 9, 0.25f), b(C, 0.f), y(C * H * H);
    const ConvEpilogue ep;
    double best = 1e30;
    for (int r = 0; r < 8; ++r) {  // the first warms the caches and the scratch
      const auto t0 = std::chrono::steady_clock::now();
      depthwise_conv(g, x.data(), w.data(), b.data(), y.data(), 1, ep);
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
      if (r > 0) best = std::min(best, double(ns.count()));
    }
    return 2.0 * double(C * H * H * 9) / std::max(best, 1.0);
  }();
  return rate;
}

}  // namespace

bool is_depthwise_2d(const ConvGeometry& g) { return g.spatial_rank() == 2 && g.in_channels == g.group; }

// One direct kernel call per (image, output channel) plane, or per run of input channels
// (flat kernel); residual / activation follow on the plane while it is in cache.
void depthwise_conv(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    int num_threads, const ConvEpilogue& ep) {
  const int64_t Mg = g.out_channels / g.group;
  const DepthwisePlane p{g.in_spatial[0], g.in_spatial[1], g.out_spatial[0], g.out_spatial[1],
                         g.kernel[0],     g.kernel[1],     g.strides[0],     g.strides[1],
                         g.dilations[0],  g.dilations[1],  g.pads[0],        g.pads[1]};
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW, taps = p.KH * p.KW;
  const DepthwiseKernels& k = depthwise_kernels();
  const GemmKernels& kt = gemm_kernels();
  const bool post = ep.residual || ep.act.kind != Act::None;
  // Threads by the cost model (a depthwise layer does few flops per byte: it streams its planes
  // through L2, so its time is the larger of the two estimates, the flops at the depthwise
  // kernels' own rate); each path splits its own units. One thread asks nothing.
  const double flops = 2.0 * double(g.batch * g.out_channels * out_plane * taps);
  const double bytes = double(g.batch) * double(g.in_channels * in_plane + g.out_channels * out_plane) * sizeof(float);
  const bool one = resolve_threads(num_threads) <= 1;
  const double work_ns = one ? 0.0 : std::max(flops / depthwise_flops_per_ns(), bytes_ns(bytes));
  auto threads_for = [&](int64_t units) { return one ? 1 : threads_for_work(work_ns, units, num_threads); };
  // Channels as lanes for 5x5 and larger kernels (one channel per group, the padded block in
  // half the L2). Measured per layer against the flat kernel (tools/bench_conv.py, AMD EPYC
  // Zen 4, 1 thread; its ratio, onnxruntime's time over pyinfer's in the same run): ConvNeXt's
  // 7x7 layers 0.84-0.90 against 0.29-0.46, MNASNet / EfficientNet's 5x5 layers 0.67-0.96 against
  // 0.47-0.88 (one, 5x5 stride 2 on 56 x 56, 0.81 against 0.88). On 3x3 kernels the flat kernel
  // stays ahead on every MobileNetV2 / ShuffleNetV2 layer (the transposes in and out cost as
  // much as nine taps).
  if (Mg == 1 && taps >= 25 &&
      (p.H + g.pads[0] + g.pads[2]) * (p.W + g.pads[1] + g.pads[3]) * k.vec <= l2_floats() / 2) {
    const int64_t blocks = g.batch * conv_internal::ceil_div(g.in_channels, k.vec);
    const int threads = threads_for(blocks);
    return depthwise_lanes(g, p, x, w, bias, y, threads, ep);
  }
  // The flat kernel wherever it applies: it beats the row kernels below on every
  // MobileNetV2 / ShuffleNetV2 shape measured (tools/bench_conv.py --filter dw).
  if (dw_flat_applies(p, g.pads[2], g.pads[3])) {
    const DwFlatLayout l = dw_flat_layout(p, k.vec);
    const int64_t scratch_floats = dw_flat_scratch_floats(p, l);
    // Units of whole input channels (a channel multiplier reuses the loaded planes), enough
    // of them for the threads to balance, each big enough to pay for zeroing the scratch.
    const int64_t C = g.in_channels;
    const int threads = threads_for(g.batch * C);
    const int64_t per_unit = std::max<int64_t>(1, std::min<int64_t>(C, (g.batch * C + 4 * threads - 1) / (4 * threads)));
    const int64_t units_per_image = (C + per_unit - 1) / per_unit;
    parallel_dynamic(g.batch * units_per_image, threads, 1, [&](int64_t b, int64_t e) {
      float* scratch = tls_dw.get(scratch_floats);
      for (int64_t u = b; u < e; ++u) {
        const int64_t n = u / units_per_image, c0 = (u % units_per_image) * per_unit;
        const int64_t c1 = std::min(C, c0 + per_unit);
        const Epilogue epi = block_epilogue(g, bias, ep, n, 0, 0, out_plane);
        k.flat(p, l, x + n * C * in_plane, w, Mg, c0 * Mg, c1 * Mg, y + n * g.out_channels * out_plane, epi,
               scratch);
      }
    });
    return;
  }
  // Padded borders cost the direct kernel a bounds-checked scalar path (about 40% of a
  // 56x56 MobileNetV2 layer): copy each padded plane into a zero-bordered scratch instead,
  // so every output reads in bounds and takes the vector path.
  DepthwisePlane pp = p;
  pp.H = p.H + g.pads[0] + g.pads[2];
  pp.W = p.W + g.pads[1] + g.pads[3];
  pp.ph = pp.pw = 0;
  const bool pad_copy = (p.ph || p.pw || g.pads[2] || g.pads[3]) && pp.H * pp.W <= (int64_t(1) << 20);
  if (dw_fast_applies(p) && dw_fast_scratch_floats(p) <= (int64_t(1) << 22)) {
    const int64_t planes = g.batch * g.out_channels;
    const int threads = threads_for(planes);
    parallel_dynamic(planes, threads, std::max<int64_t>(1, planes / (8 * threads)), [&](int64_t b, int64_t e) {
      float* scratch = tls_dw.get(dw_fast_scratch_floats(p));
      for (int64_t i = b; i < e; ++i) {
        const int64_t n = i / g.out_channels, m = i % g.out_channels;
        const float* xc = x + (n * g.in_channels + m / Mg) * in_plane;
        float* yp = y + i * out_plane;
        k.plane_fast(p, xc, w + m * taps, bias ? bias[m] : 0.f, yp, scratch);
        if (post) {
          Epilogue pe = block_epilogue(g, nullptr, ep, n, m, 0, out_plane);
          kt.epilogue(1, out_plane, yp, out_plane, pe, 0, 0);
        }
      }
    });
    return;
  }
  const int threads = threads_for(g.batch * g.out_channels);
  parallel_for(g.batch * g.out_channels, threads, [&](int64_t b, int64_t e) {
    std::vector<float> scratch(pad_copy ? pp.W : p.W);
    std::vector<float> padded(pad_copy ? pp.H * pp.W : 0, 0.f);  // borders stay zero
    int64_t loaded = -1;  // input plane now in `padded` (a channel multiplier reuses it)
    for (int64_t i = b; i < e; ++i) {
      const int64_t n = i / g.out_channels, m = i % g.out_channels;
      const int64_t plane = n * g.in_channels + m / Mg;  // group m / Mg's only channel
      const float* xc = x + plane * in_plane;
      float* yp = y + i * out_plane;
      if (pad_copy) {
        if (plane != loaded) {
          for (int64_t r = 0; r < p.H; ++r)
            std::memcpy(&padded[(r + p.ph) * pp.W + p.pw], xc + r * p.W, sizeof(float) * p.W);
          loaded = plane;
        }
        k.plane(pp, padded.data(), w + m * taps, bias ? bias[m] : 0.f, yp, scratch.data());
      } else {
        k.plane(p, xc, w + m * taps, bias ? bias[m] : 0.f, yp, scratch.data());
      }
      if (post) {
        Epilogue pe = block_epilogue(g, nullptr, ep, n, m, 0, out_plane);
        kt.epilogue(1, out_plane, yp, out_plane, pe, 0, 0);
      }
    }
  });
}

}  // namespace pyinfer
