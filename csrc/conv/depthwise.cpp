// 2-D convolution with one input channel per group (depthwise, any channel multiplier):
// conv.h's ConvAlgorithm::Depthwise. The kernels per SIMD tier are in depthwise_isa.cpp and
// depthwise_flat_isa.cpp (depthwise.h).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "common/cpu_info.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "conv/depthwise.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::block_epilogue;
using conv_internal::parallel_dynamic;

namespace {

thread_local ScratchBuffer tls_dw;  // padded planes, per thread

// Channels as vector lanes (DepthwiseKernels::lanes): blocks of `vec` channels of one image,
// each moved into [Hp][Wp][vec] with zero borders, computed, and moved back to NCHW planes with
// the residual and activation, all inside the kernel.
void depthwise_lanes(const ConvGeometry& g, DepthwisePlane p, const float* x, const float* w, const float* bias,
                     float* y, int threads, const ConvEpilogue& ep) {
  const DepthwiseKernels& k = depthwise_kernels();
  p.pb = g.pads[2], p.pr = g.pads[3];
  const int64_t VN = k.vec, C = g.in_channels, blocks = conv_internal::ceil_div(C, VN);
  const int64_t in_plane = p.H * p.W, P = p.OH * p.OW, taps = p.KH * p.KW;
  parallel_dynamic(g.batch * blocks, threads, 1, [&](int64_t b, int64_t e) {
    float* scratch = tls_dw.get(dw_lanes_scratch_floats(p, VN));
    std::memset(scratch, 0, sizeof(float) * dw_lanes_padded_floats(p, VN));  // the borders
    for (int64_t u = b; u < e; ++u) {
      const int64_t n = u / blocks, c0 = (u % blocks) * VN;
      const int nc = static_cast<int>(std::min(VN, C - c0));
      const Epilogue pe = block_epilogue(g, nullptr, ep, n, c0, 0, P);
      k.lanes(p, x + (n * C + c0) * in_plane, nc, w + c0 * taps, bias ? bias + c0 : nullptr,
              y + (n * g.out_channels + c0) * P, pe, scratch);
    }
  });
}

// The flat kernel (dw_flat_applies): units of whole input channels (a channel multiplier reuses
// the loaded planes), enough of them for the threads to balance, each big enough to pay for
// zeroing the scratch.
void depthwise_flat(const ConvGeometry& g, const DepthwisePlane& p, const float* x, const float* w, const float* bias,
                    float* y, int threads, const ConvEpilogue& ep) {
  const DepthwiseKernels& k = depthwise_kernels();
  const DwFlatLayout l = dw_flat_layout(p, k.vec);
  const int64_t scratch_floats = dw_flat_scratch_floats(p, l);
  const int64_t C = g.in_channels, Mg = g.out_channels / g.group, in_plane = p.H * p.W, out_plane = p.OH * p.OW;
  const int64_t per_unit = std::max<int64_t>(1, std::min<int64_t>(C, (g.batch * C + 4 * threads - 1) / (4 * threads)));
  const int64_t units_per_image = (C + per_unit - 1) / per_unit;
  parallel_dynamic(g.batch * units_per_image, threads, 1, [&](int64_t b, int64_t e) {
    float* scratch = tls_dw.get(scratch_floats);
    for (int64_t u = b; u < e; ++u) {
      const int64_t n = u / units_per_image, c0 = (u % units_per_image) * per_unit;
      const int64_t c1 = std::min(C, c0 + per_unit);
      const Epilogue epi = block_epilogue(g, bias, ep, n, 0, 0, out_plane);
      k.flat(p, l, x + n * C * in_plane, w, Mg, c0 * Mg, c1 * Mg, y + n * g.out_channels * out_plane, epi, scratch);
    }
  });
}

// Whether the lanes kernel beats the flat one on a 3x3 layer of this shape, on this machine and
// tier: both timed once per shape (one image, one thread, best of 3 each, interleaved) and the
// answer kept for the process. Measured on AMD EPYC Zen 4 the answer depends on the tier and
// the map: with AVX-512 lanes won up to 24 x 24 inputs (7 x 7: 0.70x the flat kernel's time)
// and lost 5-15% on 28 x 28 and 56 x 56; with AVX2 it won everywhere (0.55-0.85x); a rule fitted
// to one machine would be wrong on the next. Timed on at most 256 of the layer's channels (both
// kernels' time is linear in them), so the cost stays bounded: MobileNetV2's shapes ~2 ms, once.
bool lanes_pays(const ConvGeometry& g, const DepthwisePlane& p) {
  struct Key {
    int64_t v[14];
    bool operator<(const Key& o) const { return std::lexicographical_compare(v, v + 14, o.v, o.v + 14); }
  };
  const Key key{{g.in_channels, p.H, p.W, p.KH, p.KW, p.sh, p.sw, p.dh, p.dw, g.pads[0], g.pads[1], g.pads[2],
                 g.pads[3], static_cast<int64_t>(active_isa())}};
  static std::mutex mu;
  static std::map<Key, bool> known;
  std::lock_guard<std::mutex> lock(mu);
  const auto it = known.find(key);
  if (it != known.end()) return it->second;
  ConvGeometry one = g;
  const int64_t C = std::min<int64_t>(g.in_channels, 256);
  one.batch = 1, one.in_channels = one.out_channels = one.group = C;
  std::vector<float> x(C * p.H * p.W, 0.5f), w(C * p.KH * p.KW, 0.125f), y(C * p.OH * p.OW);
  const ConvEpilogue none;
  auto time_ns = [&](auto&& run) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    return double(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  };
  double lanes = 1e30, flat = 1e30;
  for (int r = 0; r < 4; ++r) {  // the first round warms caches and scratch
    const double tl = time_ns([&] { depthwise_lanes(one, p, x.data(), w.data(), nullptr, y.data(), 1, none); });
    const double tf = time_ns([&] { depthwise_flat(one, p, x.data(), w.data(), nullptr, y.data(), 1, none); });
    if (r > 0) lanes = std::min(lanes, tl), flat = std::min(flat, tf);
  }
  return known[key] = lanes < 0.97 * flat;  // a near tie keeps the flat kernel
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
  // Channels as lanes (one channel per group, the padded block in half the L2) for 5x5 and
  // larger kernels; measured per layer against the flat kernel (tools/bench_conv.py, AMD EPYC
  // Zen 4, 1 thread; its ratio, onnxruntime's time over pyinfer's in the same run): ConvNeXt's
  // 7x7 layers 0.84-0.90 against 0.29-0.46, MNASNet / EfficientNet's 5x5 layers 0.67-0.96
  // against 0.47-0.88. For 3x3 kernels the two are close and which wins depends on the machine
  // and the map: timed once per shape (lanes_pays).
  const bool flat = dw_flat_applies(p, g.pads[2], g.pads[3]);
  const ConvAlgorithmChoice choice = conv_algorithm_choice();  // the tests' switch
  auto lanes_chosen = [&] {
    if (choice == ConvAlgorithmChoice::DepthwiseLanes) return true;
    if (choice == ConvAlgorithmChoice::DepthwiseFlat) return !flat && taps >= 25;
    return taps >= 25 || (flat && lanes_pays(g, p));
  };
  if (Mg == 1 && (p.H + g.pads[0] + g.pads[2]) * (p.W + g.pads[1] + g.pads[3]) * k.vec <= l2_floats() / 2 &&
      lanes_chosen()) {
    const int64_t blocks = g.batch * conv_internal::ceil_div(g.in_channels, k.vec);
    return depthwise_lanes(g, p, x, w, bias, y, threads_for(blocks), ep);
  }
  // The flat kernel wherever it applies: it beats the row kernels below on every
  // MobileNetV2 / ShuffleNetV2 shape measured (tools/bench_conv.py --filter dw).
  if (flat) return depthwise_flat(g, p, x, w, bias, y, threads_for(g.batch * g.in_channels), ep);
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
