// What the convolution algorithms share (not a public API): the weights' layouts, one
// driver per algorithm (each in its own file) and their small helpers. prepare.cpp chooses
// the algorithm and calls its driver.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "conv/conv.h"
#include "gemm/epilogue.h"
#include "gemm/gemm.h"

namespace pyinfer {

struct DirectConvKernels;
struct WinogradKernels;

// --- the weights' layouts (weights.cpp); each is immutable once made ---------------------

// Per group, W_g [Mg, Cg * prod(kernel)] packed as the GEMM's left operand (packed-A panels
// of mr rows over all of K): what the positions kernel, im2col + GEMM and the Winograd
// weight transform read.
struct ConvPanels {
  std::vector<PackedMatrix> groups;
};

// The channels kernel's layout (direct.h): per group, panels of mw output channels,
// [panel][k][c], the last panel `last` channels wide (whole vectors).
struct ConvChannelPanels {
  float* data = nullptr;
  int64_t group_floats = 0, mw = 0, last = 0;
  ConvChannelPanels() = default;
  ConvChannelPanels(const ConvChannelPanels&) = delete;
  ConvChannelPanels& operator=(const ConvChannelPanels&) = delete;
  ~ConvChannelPanels();
};

// The Winograd transform of 3x3 weights (36 x Kp x Cp floats, winograd.h) for one SIMD tier.
struct ConvWinogradWeights {
  float* data = nullptr;
  int64_t floats = 0;
  const WinogradKernels* tier = nullptr;
  ConvWinogradWeights() = default;
  ConvWinogradWeights(const ConvWinogradWeights&) = delete;
  ConvWinogradWeights& operator=(const ConvWinogradWeights&) = delete;
  ~ConvWinogradWeights();
};

// The channels layout made from panels / panels made from the channels layout.
std::shared_ptr<const ConvChannelPanels> make_channel_panels(const ConvPanels& panels, int64_t group, int64_t mw,
                                                             int64_t vn);
std::shared_ptr<const ConvPanels> panels_from_channels(const ConvChannelPanels& cv, const GemmKernels& kt,
                                                       int64_t group, int64_t Mg, int64_t K);
// The Winograd transform of ungrouped 3x3 panels for the tier wk (winograd.cpp).
std::shared_ptr<const ConvWinogradWeights> make_winograd_weights(const ConvPanels& panels, const WinogradKernels& wk,
                                                                 int num_threads);

// --- one driver per algorithm ----------------------------------------------------------

// What each driver applies while storing an output block: y = act(conv + bias + residual).
// residual (may be null) has y's shape.
struct ConvEpilogue {
  const float* residual = nullptr;
  ActParams act;
};

// depthwise.cpp: 2-D, one input channel per group; w [M, 1, KH, KW].
bool is_depthwise_2d(const ConvGeometry& g);
void depthwise_conv(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    int num_threads, const ConvEpilogue& ep);

// direct.cpp: the geometry-only part of a direct convolution, computed once per prepared
// kernel (padded plane, tap offsets, position offsets); opaque outside direct.cpp.
struct DirectPlan;
struct DirectPlanDeleter {
  void operator()(DirectPlan* p) const;
};
using DirectPlanPtr = std::unique_ptr<DirectPlan, DirectPlanDeleter>;
// The direct kernels of the tier that packed these weights (same panel layout), or null.
const DirectConvKernels* direct_kernels_for(const GemmKernels& kt);
bool direct_fits(const ConvGeometry& g, const DirectConvKernels* dk);
// Whether the channels kernel beats the positions kernel on g (a measured rule).
bool channels_win(const ConvGeometry& g, const DirectConvKernels& dk);
DirectPlanPtr make_direct_plan(const ConvGeometry& g, const DirectConvKernels& dk, bool channels);
int64_t direct_workspace_bytes(const DirectPlan& plan);
void direct_positions_conv(const DirectPlan& plan, const float* x, const ConvPanels& w, const float* bias, float* y,
                           int num_threads, const ConvEpilogue& ep);
void direct_channels_conv(const DirectPlan& plan, const float* x, const ConvChannelPanels& w, const float* bias,
                          float* y, int num_threads, const ConvEpilogue& ep);

// winograd.cpp: 2-D 3x3, stride 1, dilation 1, one group, a scratch size within bounds.
bool winograd_fits(const ConvGeometry& g, const WinogradKernels& wk);
// Where it fits, whether it beats the direct kernels (measured: tools/bench_conv.py).
bool winograd_pays(const ConvGeometry& g, const WinogradKernels& wk);
int64_t winograd_workspace_bytes(const ConvGeometry& g, const WinogradKernels& wk);
void winograd_conv(const ConvGeometry& g, const float* x, const ConvWinogradWeights& w, const WinogradKernels& wk,
                   const DirectConvKernels& dk, const float* bias, float* y, int num_threads,
                   const ConvEpilogue& ep);

// im2col.cpp: im2col into the GEMM's packed panels (1-D / 2-D), and im2col tiles + GEMM
// (any rank; w: the raw weights, or null with packed panels).
bool im2col_packed_fits(const ConvGeometry& g);
void im2col_packed_conv(const ConvGeometry& g, const float* x, const ConvPanels& w, const float* bias, float* y,
                        int num_threads, const ConvEpilogue& ep);
void im2col_gemm_conv(const ConvGeometry& g, const float* x, const float* w, const ConvPanels* panels,
                      const float* bias, float* y, int num_threads, const ConvEpilogue& ep);
int64_t im2col_gemm_workspace_bytes(const ConvGeometry& g);
// transpose.cpp
void conv_transpose(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                    int num_threads);
int64_t conv_transpose_workspace_bytes(const ConvGeometry& g);

namespace conv_internal {

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

inline int64_t product(const std::vector<int64_t>& v, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

std::string list_str(const std::vector<int64_t>& v);

// The GEMM epilogue for conv's output block that starts at channel m0 of image n, position
// p0: per-channel bias (row_bias), residual at the same place in its y-shaped tensor.
inline Epilogue block_epilogue(const ConvGeometry& g, const float* bias, const ConvEpilogue& ep, int64_t n,
                               int64_t m0, int64_t p0, int64_t P) {
  Epilogue e;
  e.row_bias = bias ? bias + m0 : nullptr;
  e.residual = ep.residual ? ep.residual + (n * g.out_channels + m0) * P + p0 : nullptr;
  e.ld_residual = P;
  e.act = ep.act;
  return e;
}

// Column tiles of `positions` columns, or fewer so that rows x columns stays within budget
// floats (at least min_tile columns).
inline int64_t tile_width(int64_t rows, int64_t positions, int64_t budget, int64_t min_tile) {
  if (rows * positions <= budget) return positions;
  return std::min(positions, std::max(min_tile, budget / rows));
}

// im2col.cpp: kernel offsets off[r][d] = k_d * dilation_d - pad_begin_d per flat kernel index
// r; the column matrix rows [r0, r1) of one group for grid positions p0 + [0, T); and the
// reverse walk that adds a column matrix into one group's output channels [m0, m1).
std::vector<int64_t> kernel_offsets(const ConvGeometry& g);
void im2col_rows(const ConvGeometry& g, const std::vector<int64_t>& offs, const float* x_g, int64_t p0, int64_t T,
                 int64_t r0, int64_t r1, float* col);
void col2im_channels(const ConvGeometry& g, const std::vector<int64_t>& offs, const float* col, int64_t p0,
                     int64_t T, int64_t m0, int64_t m1, float* y_g);

inline bool has_post(const Epilogue& e) { return e.row_bias || e.residual || e.act.kind != Act::None; }

// Units [0, n) handed out about `grain` at a time (the pool's chunks): a thread that the OS
// delays (a busy machine) leaves its share to the others instead of holding up the call.
// Which thread runs a unit never changes its result.
template <class Fn>
void parallel_dynamic(int64_t n, int threads, int64_t grain, Fn&& fn) {
  if (threads <= 1 || n <= 1) return fn(int64_t(0), n);
  parallel_for_chunks(n, threads, ceil_div(n, std::max<int64_t>(1, grain)), fn);
}

// Threads for a convolution's main loop: its multiply-adds at the tier's rate (the cost
// model, common/thread_pool.h), at most `units`.
inline int conv_threads(double flops, int64_t units, int num_threads) {
  return threads_for_work(flops_ns(flops), units, num_threads);
}
// Threads for a copy of `bytes` (padding, transposes) in `units` pieces.
inline int copy_threads(double bytes, int64_t units, int num_threads) {
  return threads_for_work(bytes_ns(2.0 * bytes), units, num_threads);
}

}  // namespace conv_internal
}  // namespace pyinfer
