// Winograd F(4x4, 3x3) convolution driver: weight transform, blocking, threads
// (conv/winograd.h for the method and the layouts).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "common/scratch.h"
#include "common/cpu_info.h"
#include "common/weight_memory.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "conv/direct.h"
#include "conv/winograd.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::block_epilogue;
using conv_internal::ceil_div;
using conv_internal::has_post;
using conv_internal::parallel_dynamic;

int winograd_panel_width(int64_t K, const WinogradKernels& wk) {
  // Relative speed of the nv-vector micro-tiles (fewer weight vectors per broadcast tile value).
  static const double kSpeed[5] = {0, 0.6, 0.9, 0, 1.0};
  int best = 1;
  double best_cost = 1e300;
  for (int nv = 1; nv <= wk.max_nv; nv *= 2) {
    const double cost = static_cast<double>(ceil_div(K, nv * wk.vn) * nv * wk.vn) / kSpeed[nv];
    if (cost < best_cost) best = nv, best_cost = cost;
  }
  return best * wk.vn;
}

namespace {

// V and M of one block of tiles stay within about half the L2 (block_budget); a layer whose
// single tile would need more than kMaxBlockFloats goes elsewhere (winograd_fits).
constexpr int64_t kMaxBlockFloats = int64_t(1) << 17;
constexpr int64_t kMaxBlockTiles = 64;
int64_t block_budget() { return l2_floats() / 2; }
// The transposed, padded input of one image, at most (floats): larger maps go elsewhere.
constexpr int64_t kMaxInputFloats = int64_t(1) << 26;

// The L3 (one instance: every thread of a call reads the same transformed weights U), in floats.
int64_t l3_instance_floats() {
  const CacheInfo& c = cpu_info().cache;
  return (c.l3.bytes > 0 ? c.l3.bytes : c.l2.bytes) / int64_t(sizeof(float));
}
// Transformed weights above a quarter of the L3 take the shared schedule (conv_winograd): the
// block schedule reads all of U once per block of tiles, from L3 only while U stays there.
// (8 MiB on the 32 MiB L3 of the Zen 5 it was measured on.)
int64_t shared_min_weights() { return l3_instance_floats() / 4; }
// Shared schedule: V and M of a chunk of tiles within about half the L3, at most 16 MiB, and
// about this many tiles per output-transform unit.
int64_t shared_budget() { return std::min<int64_t>(int64_t(1) << 22, l3_instance_floats() / 2); }
constexpr int64_t kSharedRowTiles = 16;

// The calling thread's (shared by the call's workers): the transposed input, and V and M of
// the shared schedule. Each thread's own: V and M of its blocks, its band of output rows.
thread_local ScratchBuffer tls_input, tls_shared_v, tls_shared_m;
thread_local ScratchBuffer tls_v, tls_m, tls_out;
thread_local std::vector<int64_t> tls_yoff;
// Images transposed together by the block schedule: up to this many floats (32 MiB).
constexpr int64_t kGroupInputFloats = int64_t(1) << 23;

struct WinoShape {
  int64_t C, K, H, W, OH, OW, pt, pl;
  int64_t TH, TW, Cp, Kp, Hp, Wp;
  int pw;
};

WinoShape wino_shape(const ConvGeometry& g, const WinogradKernels& wk) {
  WinoShape s;
  s.C = g.in_channels, s.K = g.out_channels;
  s.H = g.in_spatial[0], s.W = g.in_spatial[1], s.OH = g.out_spatial[0], s.OW = g.out_spatial[1];
  s.pt = g.pads[0], s.pl = g.pads[1];
  s.TH = ceil_div(s.OH, 4), s.TW = ceil_div(s.OW, 4);
  s.pw = winograd_panel_width(s.K, wk);
  s.Cp = ceil_div(s.C, wk.vn) * wk.vn, s.Kp = ceil_div(s.K, s.pw) * s.pw;
  s.Hp = 4 * s.TH + 2, s.Wp = 4 * s.TW + 2;  // every tile's window, past the pads too
  return s;
}

}  // namespace

std::shared_ptr<const ConvWinogradWeights> make_winograd_weights(const ConvPanels& panels, const WinogradKernels& wk,
                                                                 int threads) {
  const PackedMatrix& a = panels.groups[0];
  const int64_t K = a.rows(), KC = a.cols(), C = KC / 9, mr = a.kernels().mr, stride = a.panel_stride();
  const int pw_width = winograd_panel_width(K, wk);
  const int64_t Kp = ceil_div(K, pw_width) * pw_width, Cp = ceil_div(C, wk.vn) * wk.vn;
  // The packed-A panels (gemm_kernels.h) hold each tap's output channels in runs of mr:
  // unpacked to wt[tap][k], zero past K.
  std::vector<float> wt(KC * Kp, 0.f);
  parallel_for(KC, threads, [&](int64_t k0, int64_t k1) {
    for (int64_t kk = k0; kk < k1; ++kk)
      for (int64_t m0 = 0; m0 < K; m0 += mr)  // a panel's mr rows of tap kk are contiguous
        std::memcpy(&wt[kk * Kp + m0], a.data() + (m0 / mr) * stride + kk * mr, sizeof(float) * std::min(mr, K - m0));
  });
  auto w = std::make_shared<ConvWinogradWeights>();
  w->floats = 36 * Kp * Cp;
  w->tier = &wk;
  w->data = alloc_weights(static_cast<size_t>(w->floats) * sizeof(float));
  if (Cp > C) std::memset(w->data, 0, sizeof(float) * w->floats);  // the rows of padding channels
  float* out = w->data;
  parallel_for(C, threads, [&](int64_t c0, int64_t c1) { wk.transform_weights(wt.data(), Kp, pw_width, Cp, c0, c1, out); });
  return w;
}

bool winograd_fits(const ConvGeometry& g, const WinogradKernels& wk) {
  if (g.spatial_rank() != 2 || g.group != 1 || g.kernel[0] != 3 || g.kernel[1] != 3) return false;
  for (int d = 0; d < 2; ++d)
    if (g.strides[d] != 1 || g.dilations[d] != 1) return false;
  const WinoShape s = wino_shape(g, wk);
  return s.Hp * s.Wp * s.Cp <= kMaxInputFloats && s.Cp + s.Kp <= kMaxBlockFloats / 36;
}

// Measured on Zen 5 (tools/bench_conv.py with and without --no-winograd, 1 and 2 threads):
// ResNet / VGG 3x3 layers run 2-3x faster (64 @ 56 to 512 @ 14), 32 x 32 channels at 32 x 32
// ~1.4x; fewer channels (16 x 16, 24 x 24) lose to the transforms. A 7 x 7 map with 512
// channels (4 tiles) comes out about even (0.88x at 1 thread, 1.04x at 2) for 4x its weights'
// memory (38 MB), so few tiles need small transformed weights: few products per weight make
// Winograd a stream of U, which pays only while U stays cached, within an eighth of the L3
// (4 MiB of Zen 5's 32).
bool winograd_pays(const ConvGeometry& g, const WinogradKernels& wk) {  // the same boundaries at 1 and 2 threads
  const int64_t C = g.in_channels, K = g.out_channels;
  const WinoShape s = wino_shape(g, wk);
  const int64_t tiles = s.TH * s.TW, u_bytes = 36 * s.Kp * s.Cp * int64_t(sizeof(float));
  const int64_t cached_u_bytes = l3_instance_floats() * int64_t(sizeof(float)) / 8;
  return C >= 16 && K >= 16 && C * K >= 1024 && (tiles >= 8 || u_bytes <= cached_u_bytes);
}

int64_t winograd_workspace_bytes(const ConvGeometry& g, const WinogradKernels& wk) {
  const WinoShape s = wino_shape(g, wk);
  return s.Hp * s.Wp * s.Cp * int64_t(sizeof(float));  // the transposed input of one image
}

// dk: the direct kernels of wk's tier, for their transposing store (channels_store).
void winograd_conv(const ConvGeometry& g, const float* x, const ConvWinogradWeights& w, const WinogradKernels& wk,
                   const DirectConvKernels& dk, const float* bias, float* y, int num_threads,
                   const ConvEpilogue& ep) {
  const float* u = w.data;
  const WinoShape s = wino_shape(g, wk);
  const int64_t T = s.TH * s.TW, P = s.OH * s.OW, ldrow = s.Wp * s.Cp, ybrow = 4 * s.TW * s.Kp;
  const int64_t panels = s.Kp / s.pw;
  // The cost model on the whole call: the products (36 per tile and channel pair), plus about a
  // quarter for the transforms; the pieces either schedule can split into.
  const double flops = 1.25 * 2.0 * 36.0 * double(T * g.batch) * double(s.Cp) * double(s.Kp);
  const int threads = conv_internal::conv_threads(flops, std::max(T * g.batch, 36 * panels), num_threads);
  // Two schedules. Small weights, enough tiles: each thread takes blocks of tiles through all three steps
  // with V and M in L2 and U read once per block. Weights too large for that (U of 512 x 512
  // channels is 38 MB: blocks of 3 tiles would read it from memory every 3 tiles): the steps
  // run one after another over chunks of many tiles, the threads splitting tiles for the
  // transforms and (point, weight panel) pairs for the products, so U is read once per chunk.
  // The shared schedule also gives threads work when the tiles are too few to make a block
  // (a micro-tile's worth) for each thread.
  const bool shared = 36 * s.Kp * s.Cp > shared_min_weights() || (threads > 1 && T * g.batch < 6 * threads);
  int64_t nb = shared ? std::max<int64_t>(1, shared_budget() / (36 * (s.Cp + s.Kp)))
                      : std::min(kMaxBlockTiles, std::max<int64_t>(1, block_budget() / (36 * (s.Cp + s.Kp))));
  if (threads > 1 && !shared) nb = std::min(nb, std::max<int64_t>(4, ceil_div(T * g.batch, 2 * threads)));
  const int64_t blocks = ceil_div(T, nb);
  nb = ceil_div(T, blocks);
  // Images are transposed in groups (the blocks of all of a group's images share one parallel
  // region: a batch of small maps has fewer blocks per image than threads).
  const int64_t img_floats = s.Hp * ldrow;
  const int64_t group = shared ? 1 : std::max<int64_t>(1, std::min(g.batch, kGroupInputFloats / img_floats));
  float* xt = tls_input.get(group * img_floats);
  std::vector<int64_t> toff(T);  // tile t's window in an image of xt
  for (int64_t t = 0; t < T; ++t) toff[t] = 4 * (t / s.TW) * ldrow + 4 * (t % s.TW) * s.Cp;

  for (int64_t n0 = 0; n0 < g.batch; n0 += group) {
    const int64_t images = std::min(group, g.batch - n0);
    // The input as [row][column][channel], zero-padded to every tile's window.
    const double bytes = double(images * s.Hp) * double(ldrow) * sizeof(float);
    parallel_for(images * s.Hp, conv_internal::copy_threads(bytes, images * s.Hp, threads), [&](int64_t r0, int64_t r1) {
      for (int64_t ir = r0; ir < r1; ++ir) {
        const int64_t i = ir / s.Hp, r = ir % s.Hp;
        float* row = xt + i * img_floats + r * ldrow;
        const int64_t h = r - s.pt;
        if (h < 0 || h >= s.H) {
          std::memset(row, 0, sizeof(float) * ldrow);
          continue;
        }
        const int64_t w_end = std::min(s.Wp, s.pl + s.W);  // columns past Wp are never read
        std::memset(row, 0, sizeof(float) * s.pl * s.Cp);
        wk.transpose(x + (n0 + i) * s.C * s.H * s.W + h * s.W, s.H * s.W, s.C, s.Cp, w_end - s.pl,
                     row + s.pl * s.Cp, s.Cp);
        std::memset(row + w_end * s.Cp, 0, sizeof(float) * (s.Wp - w_end) * s.Cp);
      }
    });
    // Tiles [t0, t1) of image n from M (ldm, tile t at m + (t - t0) * Kp): transformed back
    // into a per-thread band of output rows, then stored to NCHW row segment by row segment
    // with the epilogue.
    auto finish_tiles = [&](int64_t n, const float* m, int64_t ldm, int64_t t0, int64_t t1) {
      const int64_t ty0 = t0 / s.TW, ty1 = (t1 - 1) / s.TW;
      float* yb = tls_out.get(4 * (ty1 - ty0 + 1) * ybrow);
      std::vector<int64_t>& yoff = tls_yoff;
      yoff.resize(t1 - t0);
      for (int64_t t = t0; t < t1; ++t) yoff[t - t0] = 4 * (t / s.TW - ty0) * ybrow + 4 * (t % s.TW) * s.Kp;
      wk.output_transform(m, ldm, s.Kp, t1 - t0, yoff.data(), yb, ybrow);
      const Epilogue epi = block_epilogue(g, bias, ep, n, 0, 0, P);
      const bool post = has_post(epi);
      float* yn = y + n * s.K * P;
      for (int64_t ty = ty0; ty <= ty1; ++ty) {
        const int64_t ow0 = ty == ty0 ? 4 * (t0 % s.TW) : 0;
        const int64_t ow1 = ty == ty1 ? std::min(s.OW, 4 * ((t1 - 1) % s.TW) + 4) : s.OW;
        for (int64_t r = 0; r < 4 && 4 * ty + r < s.OH; ++r) {
          const int64_t oh = 4 * ty + r;
          dk.channels_store(yb + (4 * (ty - ty0) + r) * ybrow + ow0 * s.Kp, s.Kp, ow1 - ow0, s.K, yn + oh * s.OW + ow0, P,
                      post ? &epi : nullptr, 0, oh * s.OW + ow0);
        }
      }
    };
    if (!shared) {
      parallel_dynamic(images * blocks, threads, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t ib = b0; ib < b1; ++ib) {
          const int64_t i = ib / blocks, b = ib % blocks;
          const int64_t t0 = b * nb, t1 = std::min(T, t0 + nb), cnt = t1 - t0;
          float* v = tls_v.get(36 * cnt * s.Cp);
          float* m = tls_m.get(36 * cnt * s.Kp);
          wk.input_transform(xt + i * img_floats, ldrow, s.Cp, toff.data() + t0, cnt, v, cnt * s.Cp);
          wk.multiply(v, cnt * s.Cp, cnt, s.Cp, u, s.Kp, s.pw, m, cnt * s.Kp, 0, 36, 0, panels);
          finish_tiles(n0 + i, m, cnt * s.Kp, t0, t1);
        }
      });
      continue;
    }
    float* v = tls_shared_v.get(36 * nb * s.Cp);
    float* m = tls_shared_m.get(36 * nb * s.Kp);
    const int64_t rows_per_unit = std::max<int64_t>(1, ceil_div(kSharedRowTiles, s.TW));
    for (int64_t t0 = 0; t0 < T; t0 += nb) {
      const int64_t t1 = std::min(T, t0 + nb), cnt = t1 - t0;
      const int64_t ldv = cnt * s.Cp, ldm = cnt * s.Kp;
      parallel_dynamic(cnt, threads, 4, [&](int64_t i0, int64_t i1) {
        wk.input_transform(xt, ldrow, s.Cp, toff.data() + t0 + i0, i1 - i0, v + i0 * s.Cp, ldv);
      });
      parallel_dynamic(36 * panels, threads, 1, [&](int64_t w0, int64_t w1) {
        for (int64_t w = w0; w < w1; ++w) {
          const int f = static_cast<int>(w / panels);
          wk.multiply(v, ldv, cnt, s.Cp, u, s.Kp, s.pw, m, ldm, f, f + 1, w % panels, w % panels + 1);
        }
      });
      // Whole tile rows per unit where the chunk allows (each unit stores its own rows).
      const int64_t units = ceil_div(cnt, rows_per_unit * s.TW);
      parallel_dynamic(units, threads, 1, [&](int64_t q0, int64_t q1) {
        for (int64_t q = q0; q < q1; ++q) {
          const int64_t a = t0 + q * rows_per_unit * s.TW, b = std::min(t1, a + rows_per_unit * s.TW);
          finish_tiles(n0, m + (a - t0) * s.Kp, ldm, a, b);
        }
      });
    }
  }
}

}  // namespace pyinfer
