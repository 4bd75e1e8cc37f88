// Convolution as a sum over kernel taps of 1x1 products, each over only the output positions
// whose input for that tap lies inside the map (tap_gemm.h).
//
// An atrous convolution whose dilation is close to its map's size (DeepLabV3's ASPP: 3x3 at
// rate 12 on a 14 x 14 map) reads the zero padding with most of its tap x position products:
// there a tap's outer rows / columns reach the input for only 2 of 14 output rows / columns,
// and 82% of what im2col + GEMM multiplies is zero. (Taps that never reach the input are cut
// from the graph earlier, optimizer/conv_taps.py; this handles the ones that reach it for some
// positions.) Here each tap is one GEMM, W_tap [Mg, Cg] times the input rectangle it reads
// [Cg, positions], added into the output rectangle it writes; the work is the useful products
// only. The bias, residual and activation go on afterwards, in one pass over the output.
#include "conv/tap_gemm.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "common/scratch.h"
#include "conv/conv_internal.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {

using conv_internal::block_epilogue;
using conv_internal::ceil_div;
using conv_internal::product;

namespace {

// When the per-tap products replace the other algorithms (tap_gemm_pays), from timings of both
// at 1 thread on an AMD EPYC (Zen 4), 3x3 convolutions of 64-960 channels on 14 x 14 to
// 56 x 56 maps at rates 2-24: below a useful share of 0.75 the per-tap GEMMs took 0.49-0.86x the
// time of the direct / im2col kernels, at 0.82-0.91 0.88-1.12x. Undilated convolutions keep
// their kernels even on tiny maps where the share is low (the direct kernels skip the padding
// themselves: 1.05-2.7x faster on 2 x 2 to 7 x 7 maps), and so do groups of fewer than 64 input
// channels (the per-tap GEMMs are then too shallow: 1.2x slower at 32 channels).
constexpr double kUsefulShareMax = 0.75;
constexpr int64_t kMinGroupChannels = 64;

thread_local ScratchBuffer tls_gather, tls_rect;

// One axis of the geometry (a 1-D convolution's missing height is an axis of size 1).
struct Axis {
  int64_t in = 1, out = 1, k = 1, stride = 1, dilation = 1, pad = 0;
  // Output positions [lo, hi) whose input for tap t lies inside [0, in).
  void reach(int64_t t, int64_t& lo, int64_t& hi) const {
    const int64_t off = t * dilation - pad;  // input = o * stride + off
    lo = off >= 0 ? 0 : ceil_div(-off, stride);
    hi = in - 1 - off < 0 ? 0 : (in - 1 - off) / stride + 1;
    lo = std::min(lo, out);
    hi = std::min(std::max(hi, lo), out);
  }
};

void axes_of(const ConvGeometry& g, Axis& h, Axis& w) {
  const int64_t r = g.spatial_rank(), last = r - 1;
  auto fill = [&](Axis& a, int64_t d) {
    a.in = g.in_spatial[d], a.out = g.out_spatial[d], a.k = g.kernel[d];
    a.stride = g.strides[d], a.dilation = g.dilations[d], a.pad = g.pads[d];
  };
  if (r == 2) fill(h, 0);
  fill(w, last);
}

}  // namespace

bool tap_gemm_fits(const ConvGeometry& g) {
  return (g.spatial_rank() == 1 || g.spatial_rank() == 2) && !is_depthwise_2d(g);
}

double tap_useful_share(const ConvGeometry& g) {
  Axis h, w;
  axes_of(g, h, w);
  auto share = [](const Axis& a) {
    int64_t sum = 0;
    for (int64_t t = 0; t < a.k; ++t) {
      int64_t lo, hi;
      a.reach(t, lo, hi);
      sum += hi - lo;
    }
    return double(sum) / double(a.k * a.out);
  };
  return share(h) * share(w);  // taps are pairs (th, tw): the axes' reaches multiply
}

bool tap_gemm_pays(const ConvGeometry& g) {
  const bool dilated = std::any_of(g.dilations.begin(), g.dilations.end(), [](int64_t d) { return d > 1; });
  return tap_gemm_fits(g) && dilated && g.in_channels / g.group >= kMinGroupChannels &&
         tap_useful_share(g) < kUsefulShareMax;
}

std::shared_ptr<const ConvTapPanels> make_tap_panels(const PackedConvWeights& pw) {
  const std::vector<int64_t>& ws = pw.w_shape();
  const int64_t group = pw.group(), Mg = ws[0] / group, Cg = ws[1], taps = product(ws, 2);
  const std::vector<float> w = pw.unpacked();  // [M, Cg * taps]
  auto out = std::make_shared<ConvTapPanels>();
  out->taps.reserve(group * taps);
  std::vector<float> wt(Mg * Cg);
  for (int64_t gi = 0; gi < group; ++gi)
    for (int64_t t = 0; t < taps; ++t) {
      for (int64_t m = 0; m < Mg; ++m)
        for (int64_t c = 0; c < Cg; ++c) wt[m * Cg + c] = w[((gi * Mg + m) * Cg + c) * taps + t];
      out->taps.emplace_back(PackedMatrix::Side::A, false, Mg, Cg, wt.data(), Cg, 1, &pw.gemm_kernels());
    }
  return out;
}

void tap_gemm_conv(const ConvGeometry& g, const float* x, const ConvTapPanels& w, const float* bias, float* y,
                   int num_threads, const ConvEpilogue& ep) {
  Axis ah, aw;
  axes_of(g, ah, aw);
  const int64_t Cg = g.in_channels / g.group, Mg = g.out_channels / g.group;
  const int64_t S = ah.in * aw.in, P = ah.out * aw.out, taps = ah.k * aw.k;
  PYINFER_CHECK(int64_t(w.taps.size()) == g.group * taps, "conv: tap weights for " << w.taps.size()
                                                                                    << " taps, the geometry has "
                                                                                    << g.group * taps);
  const GemmKernels& kt = w.taps[0].kernels();
  for (int64_t n = 0; n < g.batch; ++n) {
    float* yn = y + n * g.out_channels * P;
    std::memset(yn, 0, sizeof(float) * g.out_channels * P);
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const float* xg = x + (n * g.in_channels + gi * Cg) * S;
      float* yg = yn + gi * Mg * P;
      for (int64_t th = 0; th < ah.k; ++th) {
        int64_t oh0, oh1;
        ah.reach(th, oh0, oh1);
        for (int64_t tw = 0; tw < aw.k; ++tw) {
          int64_t ow0, ow1;
          aw.reach(tw, ow0, ow1);
          const int64_t rows = oh1 - oh0, cols = ow1 - ow0, npos = rows * cols;
          if (npos == 0) continue;
          const PackedMatrix& wt = w.taps[gi * taps + th * aw.k + tw];
          const int64_t ih0 = oh0 * ah.stride + th * ah.dilation - ah.pad;
          const int64_t iw0 = ow0 * aw.stride + tw * aw.dilation - aw.pad;
          // B: the input rectangle the tap reads, [Cg, npos]; whole rows read in place.
          const float* b = xg + ih0 * aw.in;
          int64_t ldb = S;
          if (!(cols == aw.in && aw.stride == 1 && (rows == 1 || ah.stride == 1))) {
            float* buf = tls_gather.get(Cg * npos);
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t r = 0; r < rows; ++r) {
                const float* src = xg + c * S + (ih0 + r * ah.stride) * aw.in + iw0;
                float* dst = buf + c * npos + r * cols;
                if (aw.stride == 1) std::memcpy(dst, src, sizeof(float) * cols);
                else
                  for (int64_t j = 0; j < cols; ++j) dst[j] = src[j * aw.stride];
              }
            b = buf;
            ldb = npos;
          }
          // C: whole output rows are the output's own memory; a narrower rectangle goes
          // through a buffer and is added in.
          if (cols == aw.out) {
            sgemm_packed_a(wt, npos, false, b, ldb, 1.f, 1.f, yg + oh0 * aw.out, P, num_threads);
            continue;
          }
          float* rect = tls_rect.get(Mg * npos);
          sgemm_packed_a(wt, npos, false, b, ldb, 1.f, 0.f, rect, npos, num_threads);
          for (int64_t m = 0; m < Mg; ++m)
            for (int64_t r = 0; r < rows; ++r) {
              float* dst = yg + m * P + (oh0 + r) * aw.out + ow0;
              const float* src = rect + m * npos + r * cols;
              for (int64_t j = 0; j < cols; ++j) dst[j] += src[j];
            }
        }
      }
    }
    if (bias || ep.residual || ep.act.kind != Act::None) {
      const Epilogue e = block_epilogue(g, bias, ep, n, 0, 0, P);
      kt.epilogue(g.out_channels, P, yn, P, e, 0, 0);
    }
  }
}

}  // namespace pyinfer
