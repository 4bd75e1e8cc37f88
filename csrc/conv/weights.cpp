// A convolution layer's packed weights and the layouts the algorithms read (conv.h:
// PackedConvWeights; the layouts are in conv_internal.h). Layouts are made when a kernel is
// prepared, under the weights' lock, and never change afterwards: a prepared kernel holds
// the ones it reads, so its runs need no lock.
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/weight_memory.h"
#include "common/check.h"
#include "conv/conv_internal.h"
#include "conv/direct.h"
#include "conv/winograd.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::ceil_div;
using conv_internal::list_str;

ConvChannelPanels::~ConvChannelPanels() { free_weights(data); }
ConvWinogradWeights::~ConvWinogradWeights() { free_weights(data); }

namespace {

constexpr int64_t kMaxElements = int64_t(1) << 50;

int64_t checked_product(const std::vector<int64_t>& v, size_t from, const char* what) {
  long double n = 1;
  for (size_t i = from; i < v.size(); ++i) n *= static_cast<long double>(v[i]);
  PYINFER_CHECK(n < static_cast<long double>(kMaxElements), what << ": too many elements");
  return conv_internal::product(v, from);
}

// channels[gi][(m / mw) * mw * K + k * width + m % mw] <-> panels[gi][(m / mr) * stride + k * mr + m % mr],
// width = mw except in the last panel; panel rows past Mg are zero.
template <class Fn>
void for_each_channel_entry(const ConvPanels& panels, int64_t group, int64_t group_floats, int64_t mw, int64_t last,
                            Fn&& fn) {
  const PackedMatrix& a0 = panels.groups[0];
  const int64_t Mg = a0.rows(), K = a0.cols(), mr = a0.kernels().mr, a_stride = a0.panel_stride();
  const int64_t n_panels = ceil_div(Mg, mw);
  for (int64_t gi = 0; gi < group; ++gi) {
    for (int64_t m = 0; m < (n_panels - 1) * mw + last; ++m) {
      const int64_t width = m / mw < n_panels - 1 ? mw : last;
      const int64_t o = gi * group_floats + (m / mw) * mw * K + m % mw;
      const int64_t a = (m / mr) * a_stride + m % mr;
      fn(gi, m < Mg, o, width, a, mr, K);
    }
  }
}

}  // namespace

std::shared_ptr<const ConvChannelPanels> make_channel_panels(const ConvPanels& panels, int64_t group, int64_t mw,
                                                             int64_t vn) {
  const PackedMatrix& a0 = panels.groups[0];
  const int64_t Mg = a0.rows(), K = a0.cols();
  const int64_t n_panels = ceil_div(Mg, mw);
  auto cv = std::make_shared<ConvChannelPanels>();
  cv->mw = mw;
  cv->last = ceil_div(Mg - (n_panels - 1) * mw, vn) * vn;  // the channels left, in whole vectors
  cv->group_floats = ((n_panels - 1) * mw + cv->last) * K;
  const size_t bytes = (static_cast<size_t>(cv->group_floats * group) * sizeof(float) + 63) / 64 * 64;
  cv->data = alloc_weights(bytes);
  float* out = cv->data;
  for_each_channel_entry(panels, group, cv->group_floats, mw, cv->last,
                         [&](int64_t gi, bool real, int64_t o, int64_t width, int64_t a, int64_t mr, int64_t K) {
                           const float* src = panels.groups[gi].data() + a;
                           float* dst = out + o;
                           for (int64_t k = 0; k < K; ++k) dst[k * width] = real ? src[k * mr] : 0.f;
                         });
  return cv;
}

std::shared_ptr<const ConvPanels> panels_from_channels(const ConvChannelPanels& cv, const GemmKernels& kt,
                                                       int64_t group, int64_t Mg, int64_t K) {
  auto panels = std::make_shared<ConvPanels>();
  panels->groups.reserve(group);
  for (int64_t gi = 0; gi < group; ++gi) {
    panels->groups.emplace_back(PackedMatrix::Side::A, false, Mg, K, nullptr, K, 1, &kt);
    PackedMatrix& a = panels->groups.back();
    std::memset(a.mutable_data(), 0, sizeof(float) * a.panel_stride() * ceil_div(Mg, kt.mr));
  }
  for_each_channel_entry(*panels, group, cv.group_floats, cv.mw, cv.last,
                         [&](int64_t gi, bool real, int64_t o, int64_t width, int64_t a, int64_t mr, int64_t K) {
                           if (!real) return;
                           const float* src = cv.data + o;
                           float* dst = panels->groups[gi].mutable_data() + a;
                           for (int64_t k = 0; k < K; ++k) dst[k * mr] = src[k * width];
                         });
  return panels;
}

PackedConvWeights::PackedConvWeights(const std::vector<int64_t>& w_shape, const float* w, int64_t group,
                                     int num_threads, const GemmKernels* kernels)
    : w_shape_(w_shape), group_(group), kernels_(kernels ? kernels : &pyinfer::gemm_kernels()) {
  PYINFER_CHECK(w_shape.size() >= 3 && w_shape.size() <= 18,
                "conv weights: expected rank 3..18 ([M, C/group, K1..Kk]), got shape " << list_str(w_shape));
  PYINFER_CHECK(group >= 1, "conv weights: group must be >= 1, got " << group);
  for (int64_t d : w_shape)
    PYINFER_CHECK(d >= 1, "conv weights: every dimension must be >= 1, got shape " << list_str(w_shape));
  PYINFER_CHECK(w_shape[0] % group == 0, "conv weights: output channels (w.shape[0] = "
                                             << w_shape[0] << ") must be a multiple of group (" << group << ")");
  const int64_t M = w_shape[0], Mg = M / group, K = checked_product(w_shape, 1, "conv weights");
  depthwise_ = w_shape.size() == 4 && w_shape[1] == 1;  // 2-D, one input channel per group
  if (depthwise_) {  // the depthwise kernels read the weights as they are
    raw_.assign(w, w + M * K);
    return;
  }
  auto panels = std::make_shared<ConvPanels>();
  panels->groups.reserve(group);
  for (int64_t gi = 0; gi < group; ++gi)
    panels->groups.emplace_back(PackedMatrix::Side::A, false, Mg, K, w + gi * Mg * K, K, num_threads, kernels_);
  panels_ = std::move(panels);
}

PackedConvWeights::~PackedConvWeights() = default;

std::vector<float> PackedConvWeights::unpacked() const {
  const int64_t M = w_shape_[0], Mg = M / group_, K = checked_product(w_shape_, 1, "conv weights");
  if (depthwise_) return raw_;
  const auto p = panels();
  std::vector<float> w(M * K);
  for (int64_t gi = 0; gi < group_; ++gi) {
    // W_g [Mg, K] as mr-row panels over all of K, each [k][mr] (gemm_kernels.h pack_a):
    // element (m, k) at (m / mr) * mr * K + k * mr + m % mr.
    const PackedMatrix& pm = p->groups[gi];
    const int64_t mr = pm.kernels().mr;
    for (int64_t m = 0; m < Mg; ++m)
      for (int64_t k = 0; k < K; ++k) w[(gi * Mg + m) * K + k] = pm.data()[(m / mr) * mr * K + k * mr + m % mr];
  }
  return w;
}

std::shared_ptr<const ConvPanels> PackedConvWeights::panels() const {
  std::lock_guard<std::mutex> lock(mu_);
  return panels_locked();
}

const std::shared_ptr<const ConvPanels>& PackedConvWeights::panels_locked() const {
  if (panels_) return panels_;
  if (auto held = dropped_panels_.lock()) {  // a kernel still holds them: share, keep from now on
    panels_ = held;
  } else {
    const int64_t Mg = w_shape_[0] / group_, K = conv_internal::product(w_shape_, 1);
    panels_ = panels_from_channels(*channels_, *kernels_, group_, Mg, K);
  }
  keep_panels_ = true;  // calls alternate between layouts: keep both
  return panels_;
}

std::shared_ptr<const ConvChannelPanels> PackedConvWeights::channel_panels(const DirectConvKernels& dk) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (channels_) return channels_;
  channels_ = make_channel_panels(*panels_, group_, dk.channels_mw, dk.vn);
  if (!keep_panels_ && winograd_.empty()) {  // one copy in memory: the panels go when nobody holds them
    dropped_panels_ = panels_;
    panels_.reset();
  }
  return channels_;
}

std::shared_ptr<const ConvWinogradWeights> PackedConvWeights::winograd(const WinogradKernels& wk,
                                                                        int num_threads) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& w : winograd_)
    if (w->tier == &wk) return w;
  // Made from the panels, which stay (the transform cannot give them back).
  auto w = make_winograd_weights(*panels_locked(), wk, num_threads);
  winograd_.push_back(w);
  return w;
}

int64_t PackedConvWeights::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t n = static_cast<int64_t>(raw_.size() * sizeof(float));
  if (panels_)
    for (const PackedMatrix& m : panels_->groups) n += m.size_bytes();
  if (channels_) n += channels_->group_floats * group_ * static_cast<int64_t>(sizeof(float));
  for (const auto& w : winograd_) n += w->floats * static_cast<int64_t>(sizeof(float));
  return n;
}

}  // namespace pyinfer
