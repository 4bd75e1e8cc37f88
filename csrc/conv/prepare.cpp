// Preparing a convolution (conv.h): check the geometry, choose the algorithm, take the
// weights' layout it reads. Each algorithm is in its own file; this one only chooses.
#include <atomic>
#include <memory>
#include <utility>

#include "activation/act_names.h"
#include "common/check.h"
#include "conv/conv_internal.h"
#include "conv/direct.h"
#include "conv/frames.h"
#include "conv/tap_gemm.h"
#include "conv/winograd.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::list_str;

namespace {

std::atomic<int> g_choice{static_cast<int>(ConvAlgorithmChoice::Auto)};

// Which algorithm runs g, from the geometry and the SIMD tier of the kernels the weights are
// packed for (every rule is a measured one: the functions named say where and why).
ConvAlgorithm choose(const ConvGeometry& g, const GemmKernels& kt, const WinogradKernels& wk) {
  if (is_depthwise_2d(g)) return ConvAlgorithm::Depthwise;
  if (!im2col_packed_fits(g)) return ConvAlgorithm::Im2colGemm;
  using C = ConvAlgorithmChoice;
  auto choice = conv_algorithm_choice();
  if (choice == C::DepthwiseFlat || choice == C::DepthwiseLanes) choice = C::Auto;  // depthwise.cpp's switches
  // Mostly padding under the taps (atrous convolutions on small maps): only the useful products.
  if (tap_gemm_fits(g) && (choice == C::TapGemm || ((choice == C::Auto || choice == C::NoWinograd) && tap_gemm_pays(g))))
    return ConvAlgorithm::TapGemm;
  const DirectConvKernels* dk = direct_kernels_for(kt);
  const bool winograd_allowed = choice == C::Auto || choice == C::Winograd;
  if (winograd_allowed && winograd_fits(g, wk) && (choice == C::Winograd || winograd_pays(g, wk)))
    return ConvAlgorithm::Winograd;
  if (choice == C::Im2col || !direct_fits(g, dk)) return ConvAlgorithm::Im2colPacked;
  if (choice == C::DirectChannels) return ConvAlgorithm::DirectChannels;
  if (choice == C::DirectPositions) return ConvAlgorithm::DirectPositions;
  return channels_win(g, *dk) ? ConvAlgorithm::DirectChannels : ConvAlgorithm::DirectPositions;
}

// The weights as one algorithm reads them: the layouts it holds, made when it is prepared.
struct ConvWeightsView {
  std::shared_ptr<const PackedConvWeights> packed;  // keeps raw (depthwise) alive
  std::shared_ptr<const ConvPanels> panels;
  std::shared_ptr<const ConvChannelPanels> channels;
  std::shared_ptr<const ConvWinogradWeights> winograd;
  std::shared_ptr<const ConvTapPanels> taps;
};

ConvWeightsView view_for(ConvAlgorithm alg, std::shared_ptr<const PackedConvWeights> pw, const DirectConvKernels* dk,
                         const WinogradKernels& wk, int num_threads) {
  ConvWeightsView v;
  switch (alg) {
    case ConvAlgorithm::Depthwise: break;
    case ConvAlgorithm::DirectChannels: v.channels = pw->channel_panels(*dk); break;
    case ConvAlgorithm::Winograd: v.winograd = pw->winograd(wk, num_threads); break;
    case ConvAlgorithm::TapGemm: v.taps = make_tap_panels(*pw); break;
    default: v.panels = pw->panels(); break;
  }
  v.packed = std::move(pw);
  return v;
}

class PreparedConv final : public PreparedKernel {
 public:
  PreparedConv(const ConvGeometry& g, const ConvParams& p, ConvAlgorithm alg, std::shared_ptr<const PackedConvWeights> packed)
      : PreparedKernel("conv"), g_(g), alg_(alg), ep_{nullptr, p.act}, params_(p) {
    kt_ = packed ? &packed->gemm_kernels() : &gemm_kernels();
    wk_ = &winograd_kernels();
    // The direct kernels read the packed panels of their own tier; Winograd stores through
    // the transposing store of its own (the active) tier.
    dk_ = alg == ConvAlgorithm::Winograd ? &PYINFER_ACTIVE_ISA_TABLE(direct_conv_table) : direct_kernels_for(*kt_);
    if (packed) weights_ = view_for(alg, std::move(packed), dk_, *wk_, 0);
    if (alg == ConvAlgorithm::DirectPositions || alg == ConvAlgorithm::DirectChannels)
      direct_ = make_direct_plan(g, *dk_, alg == ConvAlgorithm::DirectChannels);
    algorithm_ = conv_algorithm_name(alg);
    inputs_.push_back({"x", p.x_shape, DType::Float32, true});
    inputs_.push_back({"w", p.w_shape, DType::Float32, weights_.packed == nullptr});
    inputs_.push_back({"bias", p.bias_len >= 0 ? std::vector<int64_t>{p.bias_len} : std::vector<int64_t>{},
                       DType::Float32, p.bias_len >= 0});
    inputs_.push_back({"residual", p.has_residual ? g.y_shape : std::vector<int64_t>{}, DType::Float32,
                       p.has_residual});
    outputs_.push_back({"y", g.y_shape, DType::Float32, true});
    workspace_bytes_ = workspace();
  }

  bool can_reshape() const override { return true; }

  std::shared_ptr<PreparedKernel> reshape(const Shapes& shapes, const Shapes& /*values*/ = {}) const override {
    ConvParams q = params_;
    q.x_shape = shapes.at(0);
    if (!weights_.packed) q.w_shape = shapes.at(1);
    return prepare_conv(q, weights_.packed);
  }

  void run(const void* const* in, void* const* out, int num_threads) const override {
    if (g_.batch == 0) return;
    ConvEpilogue ep = ep_;
    ep.residual = f32_in(in, 3);
    const float *x = f32_in(in, 0), *bias = f32_in(in, 2);
    float* y = f32_out(out, 0);
    if (weights_.packed) return run_with(weights_, x, weights_.packed->raw(), bias, y, num_threads, ep);
    const float* w = f32_in(in, 1);
    if (alg_ == ConvAlgorithm::Depthwise || alg_ == ConvAlgorithm::Im2colGemm)
      return run_with(ConvWeightsView{}, x, w, bias, y, num_threads, ep);  // they read w as it is
    // Weights given at run time: packed for this call, for the tier prepare chose.
    auto packed = std::make_shared<const PackedConvWeights>(inputs_[1].shape, w, g_.group, num_threads, kt_);
    run_with(view_for(alg_, std::move(packed), dk_, *wk_, num_threads), x, w, bias, y, num_threads, ep);
  }

 private:
  void run_with(const ConvWeightsView& v, const float* x, const float* w, const float* bias, float* y,
                int num_threads, const ConvEpilogue& ep) const {
    switch (alg_) {
      case ConvAlgorithm::Depthwise: return depthwise_conv(g_, x, w, bias, y, num_threads, ep);
      case ConvAlgorithm::DirectPositions:
        return direct_positions_conv(*direct_, x, *v.panels, bias, y, num_threads, ep);
      case ConvAlgorithm::DirectChannels:
        return direct_channels_conv(*direct_, x, *v.channels, bias, y, num_threads, ep);
      case ConvAlgorithm::Winograd: return winograd_conv(g_, x, *v.winograd, *wk_, *dk_, bias, y, num_threads, ep);
      case ConvAlgorithm::Im2colPacked: return im2col_packed_conv(g_, x, *v.panels, bias, y, num_threads, ep);
      case ConvAlgorithm::Im2colGemm: return im2col_gemm_conv(g_, x, w, v.panels.get(), bias, y, num_threads, ep);
      case ConvAlgorithm::TapGemm: return tap_gemm_conv(g_, x, *v.taps, bias, y, num_threads, ep);
    }
  }

  int64_t workspace() const {
    switch (alg_) {
      case ConvAlgorithm::DirectPositions:
      case ConvAlgorithm::DirectChannels: return direct_workspace_bytes(*direct_);
      case ConvAlgorithm::Winograd: return winograd_workspace_bytes(g_, *wk_);
      case ConvAlgorithm::Im2colGemm: return im2col_gemm_workspace_bytes(g_);
      default: return 0;
    }
  }

  ConvGeometry g_;
  ConvAlgorithm alg_;
  ConvEpilogue ep_;
  ConvParams params_;
  const GemmKernels* kt_ = nullptr;
  const WinogradKernels* wk_ = nullptr;
  const DirectConvKernels* dk_ = nullptr;
  ConvWeightsView weights_;  // empty: the weights come with each run
  DirectPlanPtr direct_;
};

}  // namespace

const char* conv_algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::Depthwise: return "depthwise";
    case ConvAlgorithm::DirectPositions: return "direct_positions";
    case ConvAlgorithm::DirectChannels: return "direct_channels";
    case ConvAlgorithm::Winograd: return "winograd";
    case ConvAlgorithm::Im2colPacked: return "im2col_packed";
    case ConvAlgorithm::Im2colGemm: return "im2col_gemm";
    case ConvAlgorithm::TapGemm: return "tap_gemm";
  }
  return "?";
}

void set_conv_algorithm_choice(ConvAlgorithmChoice c) { g_choice.store(static_cast<int>(c), std::memory_order_relaxed); }
ConvAlgorithmChoice conv_algorithm_choice() {
  return static_cast<ConvAlgorithmChoice>(g_choice.load(std::memory_order_relaxed));
}

PreparedPtr prepare_conv(const ConvParams& p, std::shared_ptr<const PackedConvWeights> packed) {
  const ConvGeometry g =
      make_conv_geometry(p.x_shape, p.w_shape, p.bias_len, p.strides, p.pads, p.dilations, p.group);
  if (packed) {
    PYINFER_CHECK(packed->w_shape() == p.w_shape && packed->group() == p.group,
                  "conv: the packed weights have shape " << list_str(packed->w_shape()) << " (group "
                                                         << packed->group() << "), this convolution needs "
                                                         << list_str(p.w_shape) << " (group " << p.group << ")");
  }
  check_epilogue_act("conv", p.act);
  // 3-D with constant weights: per frame, on the 2-D algorithms (the im2col choice keeps im2col).
  const auto choice = conv_algorithm_choice();
  if (packed && frames_fit(g) && choice != ConvAlgorithmChoice::Im2col) return prepare_conv_frames(g, p, std::move(packed));
  const GemmKernels& kt = packed ? packed->gemm_kernels() : gemm_kernels();
  const ConvAlgorithm alg = choose(g, kt, winograd_kernels());
  return std::make_shared<PreparedConv>(g, p, alg, std::move(packed));
}

PreparedPtr prepare_conv_transpose(const ConvTransposeParams& p) {
  const ConvGeometry g = make_conv_transpose_geometry(p.x_shape, p.w_shape, p.bias_len, p.strides, p.pads,
                                                      p.dilations, p.group, p.output_padding);
  KernelBuilder b("conv_transpose");
  b.input("x", p.x_shape).input("w", p.w_shape);
  if (p.bias_len >= 0) b.input("bias", {p.bias_len});
  else b.unused_input("bias");
  b.output("y", g.y_shape).algorithm("gemm_col2im").workspace(conv_transpose_workspace_bytes(g));
  b.remake([p](const Shapes& s) {
    ConvTransposeParams q = p;
    q.x_shape = s[0], q.w_shape = s[1];
    return prepare_conv_transpose(q);
  });
  return b.run([g](const void* const* in, void* const* out, int threads) {
    conv_transpose(g, f32_in(in, 0), f32_in(in, 1), f32_in(in, 2), f32_out(out, 0), threads);
  });
}

}  // namespace pyinfer
