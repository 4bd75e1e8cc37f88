// 3-D convolutions as 2-D ones per frame (conv.h ConvAlgorithm::Frames): output frame t is the
// sum over temporal taps kt of the 2-D convolution of input frame t * st + kt * dt - pt with the
// weights' slice kt. Each slice is a prepared 2-D convolution of its own, so a video model's
// 3x3x3 layers run on the 2-D algorithms (Winograd F(4x4, 3x3) for most of R3D-18's) instead of
// im2col + GEMM over 27 taps.
//
// Per image: the input is moved once from [C, D, H, W] to [D, C, H, W] (each frame a contiguous
// 2-D input, read by up to KT output frames); per output frame the first tap that reads inside
// the input writes the sum, the others go through a buffer and are added; the frame is then
// copied to its place in [M, OD, OH, OW], and the bias, residual and activation are applied to
// the whole image at the end.
#include "conv/frames.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {

using conv_internal::block_epilogue;
using conv_internal::product;

namespace {

thread_local ScratchBuffer tls_frames_in, tls_frames_acc, tls_frames_tap;

class PreparedConvFrames final : public PreparedKernel {
 public:
  PreparedConvFrames(const ConvGeometry& g, const ConvParams& p, std::shared_ptr<const PackedConvWeights> packed)
      : PreparedKernel("conv"), g_(g), params_(p), packed_(std::move(packed)), ep_{nullptr, p.act} {
    const std::vector<int64_t>& ws = packed_->w_shape();  // [M, Cg, KT, KH, KW]
    const int64_t M = ws[0], Cg = ws[1], KT = ws[2], KHW = ws[3] * ws[4];
    const std::vector<float> w = packed_->unpacked();
    // 2-D geometry of one frame: spatial strides, pads, dilations; the batch is one frame.
    ConvParams q;
    q.x_shape = {1, g.in_channels, g.in_spatial[1], g.in_spatial[2]};
    q.w_shape = {M, Cg, ws[3], ws[4]};
    q.strides = {g.strides[1], g.strides[2]};
    q.pads = {g.pads[1], g.pads[2], g.pads[4], g.pads[5]};
    q.dilations = {g.dilations[1], g.dilations[2]};
    q.group = g.group;
    std::vector<float> slice(M * Cg * KHW);
    for (int64_t kt = 0; kt < KT; ++kt) {
      for (int64_t m = 0; m < M; ++m)
        for (int64_t c = 0; c < Cg; ++c)
          std::memcpy(&slice[(m * Cg + c) * KHW], &w[((m * Cg + c) * KT + kt) * KHW], sizeof(float) * KHW);
      auto pw = std::make_shared<const PackedConvWeights>(q.w_shape, slice.data(), g.group, 1, &packed_->gemm_kernels());
      taps_.push_back(prepare_conv(q, pw));  // no bias: it comes last, with the residual and activation
    }
    algorithm_ = "frames(" + taps_[0]->algorithm() + ")";
    inputs_.push_back({"x", p.x_shape, DType::Float32, true});
    inputs_.push_back({"w", p.w_shape, DType::Float32, false});
    inputs_.push_back({"bias", p.bias_len >= 0 ? std::vector<int64_t>{p.bias_len} : std::vector<int64_t>{},
                       DType::Float32, p.bias_len >= 0});
    inputs_.push_back({"residual", p.has_residual ? g.y_shape : std::vector<int64_t>{}, DType::Float32,
                       p.has_residual});
    outputs_.push_back({"y", g.y_shape, DType::Float32, true});
    const int64_t frame_out = M * g.out_spatial[1] * g.out_spatial[2];
    workspace_bytes_ = int64_t(sizeof(float)) * (g.in_channels * product(g.in_spatial) + 2 * frame_out) +
                       taps_[0]->workspace_bytes();
  }

  bool can_reshape() const override { return true; }

  std::shared_ptr<PreparedKernel> reshape(const Shapes& shapes, const Shapes& /*values*/ = {}) const override {
    ConvParams q = params_;
    q.x_shape = shapes.at(0);
    return prepare_conv(q, packed_);
  }

  void run(const void* const* in, void* const* out, int num_threads) const override {
    const float* x = f32_in(in, 0);
    const float* bias = f32_in(in, 2);
    ConvEpilogue ep = ep_;
    ep.residual = f32_in(in, 3);
    float* y = f32_out(out, 0);
    const int64_t C = g_.in_channels, M = g_.out_channels, D = g_.in_spatial[0], OD = g_.out_spatial[0];
    const int64_t HW = g_.in_spatial[1] * g_.in_spatial[2], P = g_.out_spatial[1] * g_.out_spatial[2];
    const int64_t KT = g_.kernel[0], st = g_.strides[0], dt = g_.dilations[0], pt = g_.pads[0];
    float* frames = tls_frames_in.get(D * C * HW);
    float* acc = tls_frames_acc.get(M * P);
    float* tap = tls_frames_tap.get(M * P);
    for (int64_t n = 0; n < g_.batch; ++n) {
      const float* xn = x + n * C * D * HW;
      const double bytes = double(C) * double(D * HW) * sizeof(float);
      parallel_for(C, conv_internal::copy_threads(bytes, C, num_threads), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c)
          for (int64_t d = 0; d < D; ++d) std::memcpy(frames + (d * C + c) * HW, xn + (c * D + d) * HW, sizeof(float) * HW);
      });
      float* yn = y + n * M * OD * P;
      for (int64_t od = 0; od < OD; ++od) {
        bool first = true;
        for (int64_t kt = 0; kt < KT; ++kt) {
          const int64_t id = od * st + kt * dt - pt;
          if (id < 0 || id >= D) continue;  // temporal padding
          const void* ins[4] = {frames + id * C * HW, nullptr, nullptr, nullptr};
          void* outs[1] = {first ? acc : tap};
          taps_[kt]->run(ins, outs, num_threads);
          if (!first)
            for (int64_t i = 0; i < M * P; ++i) acc[i] += tap[i];
          first = false;
        }
        if (first) std::fill(acc, acc + M * P, 0.f);  // every tap in the padding
        for (int64_t m = 0; m < M; ++m) std::memcpy(yn + (m * OD + od) * P, acc + m * P, sizeof(float) * P);
      }
      if (bias || ep.residual || ep.act.kind != Act::None) {
        const Epilogue e = block_epilogue(g_, bias, ep, n, 0, 0, OD * P);
        gemm_kernels().epilogue(M, OD * P, yn, OD * P, e, 0, 0);
      }
    }
  }

 private:
  ConvGeometry g_;
  ConvParams params_;
  std::shared_ptr<const PackedConvWeights> packed_;
  ConvEpilogue ep_;
  std::vector<PreparedPtr> taps_;  // per temporal tap: the 2-D convolution with its weight slice
};

}  // namespace

bool frames_fit(const ConvGeometry& g) { return g.spatial_rank() == 3; }

PreparedPtr prepare_conv_frames(const ConvGeometry& g, const ConvParams& p,
                                std::shared_ptr<const PackedConvWeights> packed) {
  PYINFER_CHECK(frames_fit(g) && packed, "conv: frames needs a 3-D convolution with packed weights");
  return std::make_shared<PreparedConvFrames>(g, p, std::move(packed));
}

}  // namespace pyinfer
