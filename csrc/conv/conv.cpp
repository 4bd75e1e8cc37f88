// Convolution as im2col + GEMM, transposed convolution as GEMM + col2im (see conv.h).
//
// Both walk the same index map: a "grid" position o (conv: an output position; transposed
// conv: an input position) and a kernel offset k touch the "target" position
//   t_d = o_d * stride_d + k_d * dilation_d - pad_begin_d        (for every spatial d)
// in the other tensor (conv: the input it reads; transposed conv: the output it adds to),
// and only when 0 <= t_d < target_d. The column matrix has one row per (channel, kernel
// offset) and one column per grid position; it is built (or consumed) a tile of grid
// positions at a time, so its size stays bounded whatever the image size.
#include "conv/conv.h"
#include "common/scratch.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "common/check.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "conv/depthwise.h"
#include "conv/direct.h"
#include "conv/im2col.h"
#include "conv/winograd_conv.h"
#include "gemm/gemm.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::block_epilogue;
using conv_internal::ceil_div;
using conv_internal::parallel_dynamic;

namespace {

// Column tiles hold about this many floats (1 MiB) per thread, but at least kMinTile columns
// so the GEMM keeps a useful width when the kernel is very deep.
constexpr int64_t kColBudget = int64_t(1) << 18;
constexpr int64_t kMinTile = 128;
// Bounds that keep every index computation below far from int64 overflow.
constexpr int64_t kMaxParam = int64_t(1) << 31;
constexpr int64_t kMaxElements = int64_t(1) << 50;

int64_t product(const std::vector<int64_t>& v, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// Common checks of conv and conv_transpose; fills everything but out_channels/out_spatial.
ConvGeometry check_common(const char* op, const std::vector<int64_t>& x_shape,
                          const std::vector<int64_t>& w_shape, const std::vector<int64_t>& strides,
                          const std::vector<int64_t>& pads, const std::vector<int64_t>& dilations,
                          int64_t group) {
  PYINFER_CHECK(x_shape.size() >= 3,
                op << ": x must have rank >= 3 ([N, C, spatial...]), got shape " << list_str(x_shape));
  PYINFER_CHECK(w_shape.size() == x_shape.size(),
                op << ": w must have the rank of x (" << x_shape.size() << "), got shape "
                   << list_str(w_shape) << " for x of shape " << list_str(x_shape));
  const size_t nd = x_shape.size() - 2;
  PYINFER_CHECK(strides.size() == nd, op << ": expected " << nd << " strides, got " << strides.size());
  PYINFER_CHECK(dilations.size() == nd, op << ": expected " << nd << " dilations, got " << dilations.size());
  PYINFER_CHECK(pads.size() == 2 * nd,
                op << ": expected " << 2 * nd << " pads ([begin..., end...]), got " << pads.size());
  PYINFER_CHECK(group >= 1, op << ": group must be >= 1, got " << group);
  for (size_t d = 0; d < nd; ++d) {
    PYINFER_CHECK(strides[d] >= 1 && strides[d] < kMaxParam,
                  op << ": strides must be positive, got " << list_str(strides));
    PYINFER_CHECK(dilations[d] >= 1 && dilations[d] < kMaxParam,
                  op << ": dilations must be positive, got " << list_str(dilations));
    PYINFER_CHECK(pads[d] >= 0 && pads[d + nd] >= 0 && pads[d] < kMaxParam && pads[d + nd] < kMaxParam,
                  op << ": pads must be non-negative, got " << list_str(pads));
    PYINFER_CHECK(w_shape[d + 2] >= 1,
                  op << ": kernel dimensions must be >= 1, w has shape " << list_str(w_shape));
  }
  ConvGeometry g;
  g.batch = x_shape[0];
  g.in_channels = x_shape[1];
  g.group = group;
  g.in_spatial.assign(x_shape.begin() + 2, x_shape.end());
  g.kernel.assign(w_shape.begin() + 2, w_shape.end());
  g.strides = strides;
  g.dilations = dilations;
  g.pads = pads;
  g.output_padding.assign(nd, 0);
  PYINFER_CHECK(g.in_channels >= 1, op << ": x has no channels (shape " << list_str(x_shape) << ")");
  PYINFER_CHECK(g.in_channels % group == 0,
                op << ": input channels (" << g.in_channels << ") are not divisible by group (" << group << ")");
  return g;
}

void finish_output_shape(const char* op, ConvGeometry& g, const std::vector<int64_t>& x_shape) {
  for (size_t d = 0; d < g.out_spatial.size(); ++d)
    PYINFER_CHECK(g.out_spatial[d] >= 1,
                  op << ": empty output: spatial dimension " << d << " would be " << g.out_spatial[d]
                     << " (input shape " << list_str(x_shape) << ", kernel " << list_str(g.kernel)
                     << ", strides " << list_str(g.strides) << ", pads " << list_str(g.pads)
                     << ", dilations " << list_str(g.dilations) << ")");
  g.y_shape = {g.batch, g.out_channels};
  g.y_shape.insert(g.y_shape.end(), g.out_spatial.begin(), g.out_spatial.end());
  long double n = 1;
  for (int64_t v : g.y_shape) n *= static_cast<long double>(v);
  PYINFER_CHECK(n < static_cast<long double>(kMaxElements),
                op << ": output shape " << list_str(g.y_shape) << " is too large");
}

// Walks grid positions [p0, p0 + count) of `grid` (row-major), for one kernel offset given
// as off[d] = k_d * dilation_d - pad_begin_d. The positions are cut into lines along the
// last dimension; for each, visit(j, len, a, b, t0) gets the tile columns [j, j + len) of
// the line, the sub-range [a, b) whose targets are inside `target` (a == b if none), and
// the flat target index t0 of column a; column c in [a, b) maps to t0 + (c - a) * stride_last.
template <class Visit>
void walk_lines(const std::vector<int64_t>& grid, const std::vector<int64_t>& target,
                const std::vector<int64_t>& strides, const int64_t* off, int64_t p0, int64_t count,
                Visit&& visit) {
  const size_t nd = grid.size(), last = nd - 1;
  int64_t o[16];  // grid coordinates of the current position (nd <= 16 is checked by callers)
  int64_t rem = p0;
  for (size_t d = nd; d-- > 0;) {
    o[d] = rem % grid[d];
    rem /= grid[d];
  }
  const int64_t s = strides[last], T = target[last], f = off[last];
  // Grid positions along the last dimension whose target is in [0, T): [lo, hi).
  const int64_t lo = f >= 0 ? 0 : (-f + s - 1) / s;
  const int64_t hi = std::max<int64_t>(lo, T - 1 - f < 0 ? 0 : (T - 1 - f) / s + 1);
  int64_t j = 0;
  while (j < count) {
    const int64_t len = std::min(grid[last] - o[last], count - j);
    bool inside = true;
    int64_t base = 0;  // flat target index of the line's row (outer dimensions)
    for (size_t d = 0; d < last; ++d) {
      const int64_t t = o[d] * strides[d] + off[d];
      if (t < 0 || t >= target[d]) {
        inside = false;
        break;
      }
      base = base * target[d] + t;
    }
    int64_t a = j, b = j, t0 = 0;
    if (inside) {
      const int64_t first = std::max(o[last], lo), end = std::min(o[last] + len, hi);
      if (first < end) {
        a = j + (first - o[last]);
        b = j + (end - o[last]);
        t0 = base * T + first * s + f;
      }
    }
    visit(j, len, a, b, t0);
    j += len;
    o[last] += len;
    for (size_t d = last; d > 0 && o[d] == grid[d]; --d) {
      o[d] = 0;
      ++o[d - 1];
    }
  }
}

// Kernel offsets off[r][d] = k_d * dilation_d - pad_begin_d for every flat kernel index r.
std::vector<int64_t> kernel_offsets(const ConvGeometry& g) {
  const size_t nd = g.kernel.size();
  const int64_t kprod = product(g.kernel);
  std::vector<int64_t> offs(kprod * nd);
  for (int64_t r = 0; r < kprod; ++r) {
    int64_t rem = r;
    for (size_t d = nd; d-- > 0;) {
      offs[r * nd + d] = (rem % g.kernel[d]) * g.dilations[d] - g.pads[d];
      rem /= g.kernel[d];
    }
  }
  return offs;
}

// col[r, c] (row stride T) for rows r in [r0, r1) of one group's column matrix, grid
// (= output) positions p0 + c, c in [0, T). x_g: the group's input channels, [Cg, S_in].
void im2col_rows(const ConvGeometry& g, const std::vector<int64_t>& offs, const float* x_g,
                 int64_t p0, int64_t T, int64_t r0, int64_t r1, float* col) {
  const size_t nd = g.kernel.size();
  const int64_t kprod = product(g.kernel), s_in = product(g.in_spatial);
  const int64_t s = g.strides.back();
  for (int64_t r = r0; r < r1; ++r) {
    const float* src = x_g + (r / kprod) * s_in;
    float* dst = col + r * T;
    walk_lines(g.out_spatial, g.in_spatial, g.strides, &offs[(r % kprod) * nd], p0, T,
               [&](int64_t j, int64_t len, int64_t a, int64_t b, int64_t t0) {
                 for (int64_t c = j; c < a; ++c) dst[c] = 0.f;
                 if (s == 1) {
                   if (b > a) std::memcpy(dst + a, src + t0, sizeof(float) * (b - a));
                 } else {
                   const float* sp = src + t0;
                   for (int64_t c = a; c < b; ++c, sp += s) dst[c] = *sp;
                 }
                 for (int64_t c = b; c < j + len; ++c) dst[c] = 0.f;
               });
  }
}

// Adds col[r, c] (row stride T) into y_g for output channels [m0, m1) of one group, grid
// (= input) positions p0 + c. y_g: the group's output channels, [Mg, S_out].
void col2im_channels(const ConvGeometry& g, const std::vector<int64_t>& offs, const float* col,
                     int64_t p0, int64_t T, int64_t m0, int64_t m1, float* y_g) {
  const size_t nd = g.kernel.size();
  const int64_t kprod = product(g.kernel), s_out = product(g.out_spatial);
  const int64_t s = g.strides.back();
  for (int64_t m = m0; m < m1; ++m) {
    float* dst = y_g + m * s_out;
    for (int64_t k = 0; k < kprod; ++k) {
      const float* src = col + (m * kprod + k) * T;
      walk_lines(g.in_spatial, g.out_spatial, g.strides, &offs[k * nd], p0, T,
                 [&](int64_t, int64_t, int64_t a, int64_t b, int64_t t0) {
                   float* dp = dst + t0;
                   for (int64_t c = a; c < b; ++c, dp += s) *dp += src[c];
                 });
    }
  }
}

int64_t tile_width(int64_t rows, int64_t positions) {
  if (rows * positions <= kColBudget) return positions;
  return std::min(positions, std::max(kMinTile, kColBudget / rows));
}

void fill_bias(float* y, const float* bias, int64_t channels, int64_t positions) {
  for (int64_t m = 0; m < channels; ++m) {
    const float v = bias ? bias[m] : 0.f;
    float* p = y + m * positions;
    for (int64_t i = 0; i < positions; ++i) p[i] = v;
  }
}

}  // namespace

ConvGeometry make_conv_geometry(const std::vector<int64_t>& x_shape,
                                const std::vector<int64_t>& w_shape, int64_t bias_len,
                                const std::vector<int64_t>& strides,
                                const std::vector<int64_t>& pads,
                                const std::vector<int64_t>& dilations, int64_t group) {
  const char* op = "conv";
  ConvGeometry g = check_common(op, x_shape, w_shape, strides, pads, dilations, group);
  PYINFER_CHECK(g.spatial_rank() <= 16, op << ": at most 16 spatial dimensions are supported");
  g.out_channels = w_shape[0];
  PYINFER_CHECK(g.out_channels >= 1 && g.out_channels % group == 0,
                op << ": output channels (w.shape[0] = " << g.out_channels
                   << ") must be a positive multiple of group (" << group << ")");
  PYINFER_CHECK(w_shape[1] == g.in_channels / group,
                op << ": w.shape[1] must be input channels / group = " << g.in_channels << " / " << group
                   << " = " << g.in_channels / group << ", got w of shape " << list_str(w_shape));
  PYINFER_CHECK(bias_len < 0 || bias_len == g.out_channels,
                op << ": bias must have " << g.out_channels << " values (one per output channel), got " << bias_len);
  const size_t nd = g.kernel.size();
  g.out_spatial.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t span = (g.kernel[d] - 1) * g.dilations[d] + 1;
    const int64_t padded = g.in_spatial[d] + g.pads[d] + g.pads[d + nd];
    g.out_spatial[d] = padded < span ? 0 : (padded - span) / g.strides[d] + 1;
  }
  finish_output_shape(op, g, x_shape);
  return g;
}

ConvGeometry make_conv_transpose_geometry(const std::vector<int64_t>& x_shape,
                                          const std::vector<int64_t>& w_shape, int64_t bias_len,
                                          const std::vector<int64_t>& strides,
                                          const std::vector<int64_t>& pads,
                                          const std::vector<int64_t>& dilations, int64_t group,
                                          const std::vector<int64_t>& output_padding) {
  const char* op = "conv_transpose";
  ConvGeometry g = check_common(op, x_shape, w_shape, strides, pads, dilations, group);
  PYINFER_CHECK(g.spatial_rank() <= 16, op << ": at most 16 spatial dimensions are supported");
  PYINFER_CHECK(w_shape[0] == g.in_channels,
                op << ": w.shape[0] must equal the input channels (" << g.in_channels << "), got w of shape "
                   << list_str(w_shape));
  PYINFER_CHECK(w_shape[1] >= 1, op << ": w.shape[1] (output channels / group) must be >= 1");
  g.out_channels = w_shape[1] * group;
  PYINFER_CHECK(bias_len < 0 || bias_len == g.out_channels,
                op << ": bias must have " << g.out_channels << " values (one per output channel), got " << bias_len);
  const size_t nd = g.kernel.size();
  PYINFER_CHECK(output_padding.size() == nd,
                op << ": expected " << nd << " output_padding values, got " << output_padding.size());
  g.output_padding = output_padding;
  g.out_spatial.resize(nd);
  for (size_t d = 0; d < nd; ++d) {
    PYINFER_CHECK(output_padding[d] >= 0 && output_padding[d] < std::max(g.strides[d], g.dilations[d]),
                  op << ": output_padding must be non-negative and smaller than the stride or the dilation, got "
                     << list_str(output_padding) << " with strides " << list_str(g.strides)
                     << " and dilations " << list_str(g.dilations));
    const int64_t span = (g.kernel[d] - 1) * g.dilations[d] + 1;
    g.out_spatial[d] = g.strides[d] * (g.in_spatial[d] - 1) + output_padding[d] + span - g.pads[d] -
                       g.pads[d + nd];
  }
  PYINFER_CHECK(product(g.in_spatial) >= 1,
                op << ": x has an empty spatial dimension (shape " << list_str(x_shape) << ")");
  finish_output_shape(op, g, x_shape);
  return g;
}

namespace {

// Per-thread tile buffers (common/scratch.h): packed column panels, padded depthwise planes.
thread_local ScratchBuffer tls_tile;
thread_local ScratchBuffer tls_dw;

bool is_depthwise_2d(const ConvGeometry& g) { return g.spatial_rank() == 2 && g.in_channels == g.group; }

// 2-D convolution with one input channel per group (depthwise, any channel multiplier):
// one direct kernel call per (image, output channel) plane; residual / activation follow on
// the plane while it is in cache.
void depthwise_conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                      float* y, int num_threads, const ConvEpilogue* ep) {
  const int64_t Mg = g.out_channels / g.group;
  const DepthwisePlane p{g.in_spatial[0], g.in_spatial[1], g.out_spatial[0], g.out_spatial[1],
                         g.kernel[0],     g.kernel[1],     g.strides[0],     g.strides[1],
                         g.dilations[0],  g.dilations[1],  g.pads[0],        g.pads[1]};
  const int64_t in_plane = p.H * p.W, out_plane = p.OH * p.OW, taps = p.KH * p.KW;
  const DepthwiseKernels& k = depthwise_kernels();
  const GemmKernels& kt = gemm_kernels();
  const bool post = ep && (ep->residual || ep->act != Act::None);
  // The flat kernel wherever it applies: it beats the row kernels below on every
  // MobileNetV2 / ShuffleNetV2 shape measured (tools/bench_conv.py --filter dw).
  if (dw_flat_applies(p, g.pads[2], g.pads[3])) {
    const DwFlatLayout l = dw_flat_layout(p, k.vec);
    const int64_t scratch_floats = dw_flat_scratch_floats(p, l);
    // Units of whole input channels (a channel multiplier reuses the loaded planes), enough
    // of them for the threads to balance, each big enough to pay for zeroing the scratch.
    const int threads = resolve_threads(num_threads);
    const int64_t C = g.in_channels;
    const int64_t per_unit = std::max<int64_t>(1, std::min<int64_t>(C, (g.batch * C + 4 * threads - 1) / (4 * threads)));
    const int64_t units_per_image = (C + per_unit - 1) / per_unit;
    const double flops = 2.0 * double(g.batch * g.out_channels * out_plane * taps);
    // A second thread costs a hand-off (cheap while the pool's workers still spin after the
    // previous kernel, a wake-up otherwise): worth it from about 0.5 MFLOP (~10 us) per thread.
    const int use_threads = static_cast<int>(std::min<double>(threads, std::max(1.0, flops / 5e5)));
    parallel_dynamic(g.batch * units_per_image, use_threads, 1, [&](int64_t b, int64_t e) {
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
    const int threads = resolve_threads(num_threads);
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
  parallel_for(g.batch * g.out_channels, num_threads, [&](int64_t b, int64_t e) {
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

// --- 1-D / 2-D convolution: im2col straight into packed panels ------------------------------
//
// For each tile of output positions, the tile's column matrix [K, cols] is written directly
// in the GEMM's packed-B layout (full K, panels of nr columns), sized to stay in L2, and the
// macro-kernel multiplies the pre-packed weights into it: no column buffer, no second pack,
// and each output tile gets its epilogue while hot. Work units are (image, group, tile,
// row chunk); when tiles are fewer than the threads need (small maps) the output channels
// are split too. The K blocking and the accumulation order depend on the shape only, so
// results are bit-identical for any thread count.

// Packed tiles hold about this many floats (512 KiB: the tile plus the weights stay in L2).
constexpr int64_t kPanelBudget = int64_t(1) << 17;



bool packed_path_applies(const ConvGeometry& g) {
  return (g.spatial_rank() == 1 || g.spatial_rank() == 2) && !is_depthwise_2d(g);
}

Im2colShape im2col_shape(const ConvGeometry& g) {
  const int64_t Cg = g.in_channels / g.group;
  Im2colShape s{Cg, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0};
  const size_t last = g.kernel.size() - 1;
  if (last == 1) {
    s.H = g.in_spatial[0], s.OH = g.out_spatial[0], s.KH = g.kernel[0];
    s.sh = g.strides[0], s.dh = g.dilations[0], s.ph = g.pads[0];
  }
  s.W = g.in_spatial[last], s.OW = g.out_spatial[last], s.KW = g.kernel[last];
  s.sw = g.strides[last], s.dw = g.dilations[last], s.pw = g.pads[last];
  // 1x1, stride 1, no padding: the positions are one long line (the input rows themselves).
  bool pointwise = s.KH == 1 && s.KW == 1;
  for (size_t d = 0; d <= last; ++d)
    pointwise = pointwise && g.strides[d] == 1 && g.pads[d] == 0 && g.pads[d + last + 1] == 0;
  if (pointwise) {
    s.W = s.OW = s.H * s.W;
    s.H = s.OH = 1;
  }
  return s;
}

void conv_packed_panels(const ConvGeometry& g, const float* x, const PackedConvWeights& pw,
                        const float* bias, float* y, int num_threads, const ConvEpilogue* ep) {
  Im2colShape s = im2col_shape(g);
  const Im2colKernels& ik = im2col_kernels();
  // Column stride > 1 with several taps per row (stems, 3x3 s2): split each input row into
  // its stride phases once, so im2col copies runs of consecutive floats instead of
  // gathering one float in sw, KW times over.
  std::vector<float> phased;
  if (s.sw > 1 && s.KW > 1) {
    s.phased = true;
    s.phase_w = ceil_div(s.W, s.sw);
    const int64_t rows = g.batch * g.in_channels * s.H;
    phased.resize(rows * s.sw * s.phase_w);
    parallel_for(rows, num_threads, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        ik.split_phases(x + r * s.W, s.W, s.sw, s.phase_w, phased.data() + r * s.sw * s.phase_w);
    });
    x = phased.data();
  }
  const int64_t s_in = s.phased ? s.H * s.sw * s.phase_w : s.H * s.W;
  const int64_t Cg = s.C, Mg = g.out_channels / g.group;
  const int64_t K = Cg * s.KH * s.KW, P = s.OH * s.OW;
  const GemmKernels& kt = pw.groups[0].kernels();
  const int64_t NR = kt.nr, MR = kt.mr, a_stride = pw.groups[0].panel_stride();
  // K blocks of at most kt.kc, balanced (the macro-kernel keeps a kc x nr panel in L1).
  const int64_t kblocks = ceil_div(K, kt.kc), kc_blk = ceil_div(K, kblocks);
  // Tile width: a multiple of nr within the budget; rounding the tile count down keeps a
  // small remainder (e.g. 49 positions = 48 + 1) inside one tile rather than its own pass.
  const int64_t nc_max = std::max(NR, kPanelBudget / K / NR * NR);
  const int64_t tiles = std::max<int64_t>(1, P / nc_max);
  const int64_t nc = ceil_div(ceil_div(P, tiles), NR) * NR;
  const int64_t n_tiles = ceil_div(P, nc);
  const int threads = resolve_threads(num_threads);
  const int64_t blocks = g.batch * g.group * n_tiles;
  // Few tiles for the threads (small maps): split the output channels too.
  const int64_t m_panels = ceil_div(Mg, MR);
  const int64_t m_split =
      threads > 1 && blocks < 2 * threads ? std::min(m_panels, ceil_div(2 * threads, blocks)) : 1;
  const double flops = 2.0 * double(g.batch * g.out_channels) * double(P) * double(K);
  const int use_threads =
      static_cast<int>(std::min<double>(threads, std::max(1.0, flops / double(1 << 20))));

  parallel_dynamic(blocks * m_split, use_threads, 1, [&](int64_t b, int64_t e) {
    float* pb = tls_tile.get(nc * K);
    int64_t packed_block = -1;
    for (int64_t u = b; u < e; ++u) {
      const int64_t blk = u / m_split, ms = u % m_split;
      const int64_t tile = blk % n_tiles, ng = blk / n_tiles;
      const int64_t n = ng / g.group, gi = ng % g.group;
      const int64_t p0 = tile * nc, cols = std::min(nc, P - p0);
      const int64_t mp0 = ms * m_panels / m_split, mp1 = (ms + 1) * m_panels / m_split;
      if (mp0 == mp1) continue;
      const int64_t m0 = mp0 * MR, rows = std::min(Mg, mp1 * MR) - m0;
      if (blk != packed_block) {
        ik.pack(s, x + (n * g.in_channels + gi * Cg) * s_in, p0, cols, NR, pb);
        packed_block = blk;
      }
      const Epilogue epi = block_epilogue(g, bias, ep, n, gi * Mg, 0, P);
      float* c = y + (n * g.out_channels + gi * Mg + m0) * P + p0;
      const float* a = pw.groups[gi].data() + mp0 * a_stride;
      for (int64_t pc = 0; pc < K; pc += kc_blk) {
        const int64_t kc = std::min(kc_blk, K - pc);
        const bool last = pc + kc >= K;
        kt.macro(rows, cols, kc, a + pc * MR, a_stride, pb + pc * NR, NR * K, c, P, 1.f,
                 pc == 0 ? 0.f : 1.f, last ? &epi : nullptr, m0, p0);
      }
    }
  });
}

// --- 1-D / 2-D convolution: direct (conv/direct.h) -----------------------------------------
//
// Each (image, group) input is zero-padded (and split into its stride phases) once into
// scratch; the kernel then reads the taps in place. Work units are (image, group, position chunk, row chunk): chunks of positions
// whose inputs stay in L2 while all weight panels pass over them. Every output is one
// accumulation over all of K in a fixed order, so any thread count gives the same bits.

// Inputs of one position chunk (channels x (chunk + halo)) kept to about this many floats.
constexpr int64_t kDirectChunkBudget = int64_t(1) << 16;

thread_local ScratchBuffer tls_direct;

// 0: auto; 1: the positions-as-vectors kernel wherever a direct kernel applies; 2: never
// direct (im2col + GEMM); 3: the cv kernel wherever a direct kernel applies.
std::atomic<int> g_direct_mode{0};

// The direct kernels of the tier that packed these weights (same panel layout), or null.
const DirectConvKernels* direct_kernels_for(const GemmKernels& kt) {
#if defined(PYINFER_HAVE_AVX512) && defined(PYINFER_HAVE_AVX2)
  const DirectConvKernels* tables[] = {&isa_scalar::direct_conv_table, &isa_avx2::direct_conv_table,
                                       &isa_avx512::direct_conv_table};
#else
  const DirectConvKernels* tables[] = {&isa_scalar::direct_conv_table};
#endif
  for (const DirectConvKernels* d : tables)
    if (d->gemm == &kt && d->mr == kt.mr && d->nr == kt.nr) return d;
  return nullptr;
}

// The padded plane of a 1-D / 2-D geometry ([top, left, bottom, right] pads, Hp x Wp) and
// its stride phases. With strides sh, sw the padded plane is stored as phase planes of
// Hs x Ws floats (Hs = ceil(Hp / sh), Ws = ceil(Wp / sw)): phase (a, b) holds the padded
// rows a, a + sh, ... and columns b, b + sw, ... Output (oh, ow) reads tap (kh, kw) at
// phase ((kh*dh) % sh, (kw*dw) % sw), row oh + (kh*dh) / sh, column ow + (kw*dw) / sw: a
// stride-1 access, so both direct kernels run any stride on contiguous runs of positions.
// Only the phases some tap reads are stored (a 1x1 stride-2 kernel: one, the subsampled
// input). Stride 1 is the plain padded plane. 1x1 stride 1 without padding: the input is
// used in place, as one row of H * W positions per channel (in_place; no copy at all).
struct PaddedPlane {
  int64_t H, W, KH, KW, dh, dw, sh, sw, pt, pl, pb, pr, Hp, Wp;
  int64_t Hs, Ws;                       // one phase plane
  int64_t OH, OW;                       // the output plane (1 x H * W when in_place)
  bool in_place;
  std::vector<int64_t> rows, cols;      // the phases used, ascending
  int64_t phases() const { return static_cast<int64_t>(rows.size() * cols.size()); }
  // Largest tap offset within one phase plane (the kernel's reach past a position).
  int64_t halo() const { return (KH - 1) * dh / sh * Ws + (KW - 1) * dw / sw; }
};

// The distinct values (k * d) % s for k in [0, K), ascending.
std::vector<int64_t> used_phases(int64_t K, int64_t d, int64_t s) {
  std::vector<int64_t> v;
  for (int64_t k = 0; k < K && static_cast<int64_t>(v.size()) < s; ++k) {
    const int64_t f = k * d % s;
    if (std::find(v.begin(), v.end(), f) == v.end()) v.push_back(f);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// 1x1, stride 1, no padding: each group's input [Cg, H * W] is already the B matrix of rows
// the direct kernels read (conv/direct.h), so it is used as it is.
bool pointwise_in_place(const ConvGeometry& g) {
  bool r = product(g.kernel) == 1;
  for (size_t d = 0; d < g.kernel.size(); ++d)
    r = r && g.strides[d] == 1 && g.pads[d] == 0 && g.pads[d + g.kernel.size()] == 0;
  return r;
}

PaddedPlane padded_plane(const ConvGeometry& g) {
  PaddedPlane p{1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, false, {}, {}};
  if (g.spatial_rank() == 2) {
    p.H = g.in_spatial[0], p.KH = g.kernel[0], p.dh = g.dilations[0], p.sh = g.strides[0];
    p.pt = g.pads[0], p.pb = g.pads[2], p.pl = g.pads[1], p.pr = g.pads[3];
  } else {
    p.pl = g.pads[0], p.pr = g.pads[1];
  }
  p.W = g.in_spatial.back(), p.KW = g.kernel.back(), p.dw = g.dilations.back(), p.sw = g.strides.back();
  p.Hp = p.H + p.pt + p.pb;
  p.Wp = p.W + p.pl + p.pr;
  p.Hs = ceil_div(p.Hp, p.sh);
  p.Ws = ceil_div(p.Wp, p.sw);
  p.OH = g.spatial_rank() == 2 ? g.out_spatial[0] : 1;
  p.OW = g.out_spatial.back();
  p.in_place = pointwise_in_place(g);
  if (p.in_place) {  // one long row: every strip lies in it, no grid column is dropped
    p.W = p.Wp = p.Ws = p.OW = p.H * p.W;
    p.H = p.Hp = p.Hs = p.OH = 1;
  }
  p.rows = used_phases(p.KH, p.dh, p.sh);
  p.cols = used_phases(p.KW, p.dw, p.sw);
  return p;
}

// Floats per group in the padded buffer: Cg channels of phase planes, then the slack the
// last position strip reads past them (nr + the largest tap offset within a row), rounded
// to a cache line. In place: the group's input, no slack (the kernels read no further).
int64_t direct_group_floats(const ConvGeometry& g, const PaddedPlane& p, int64_t nr) {
  const int64_t Cg = g.in_channels / g.group;
  if (p.in_place) return Cg * p.Ws;
  return (Cg * p.phases() * p.Hs * p.Ws + nr + (p.KW - 1) * p.dw + 15) / 16 * 16;
}

// Whether the direct path can run g (shape-wise) with these kernels.
bool direct_fits(const ConvGeometry& g, const DirectConvKernels* dk) {
  if (!dk || (g.spatial_rank() != 1 && g.spatial_rank() != 2) || is_depthwise_2d(g)) return false;
  const PaddedPlane p = padded_plane(g);
  // Offsets are int32; keep the per-group buffer well inside that.
  return p.Hp * p.Wp < (int64_t(1) << 28) && direct_group_floats(g, p, dk->nr) < (int64_t(1) << 30);
}

// Which direct kernel suits g better (measured: tools/bench_conv.py); one of them beats or
// ties im2col + GEMM on every layer measured (stride 1, 2 and 4, stems, 1x1 stride 2), so
// one of them always runs.
//
// One rule for every shape: compare the lanes each kernel computes per output. The
// positions kernel computes every position of its grid, rounded up to a vector: in place
// (1x1 stride 1) ceil(P / VN) * VN per P outputs; on a padded grid Q = (OH - 1) * Ws + OW
// positions (each row's extra columns are wasted), and on maps up to cv_max_ow wide it pays
// pos_grid_cost per lane (direct.h). The cv kernel computes ceil(M / VN) * VN channels per
// M (its last panel is narrowed to whole vectors) and pays its transposition, charged 8%.
// Measured on the ResNet-50 / MobileNetV2 / SqueezeNet 1x1 layers (AVX-512): the positions
// kernel wins every map from 13x13 up, cv the 7x7 ones by 5-20%; on 14x14 with K >= 256
// cv gains 0-3% only (ResNet-50's stage 3).
// 3x3 / strided layers: cv at 28x28 out and below, the positions kernel at 56x56.
bool cv_wins(const ConvGeometry& g, const DirectConvKernels& dk) {
  const int64_t K = g.in_channels / g.group * product(g.kernel);
  if (K < kCvMinK || dk.cv_max_ow == 0) return false;
  const int64_t M = g.out_channels / g.group, VN = dk.vn;
  const PaddedPlane pp = padded_plane(g);
  // Output rows of whole vectors: the positions kernel wastes no lane there (measured: 3x3
  // layers at 16 and 32 wide 5-13% faster than cv).
  if (!pp.in_place && pp.OW % VN == 0) return false;
  const int64_t P = pp.OH * pp.OW, Q = (pp.OH - 1) * pp.Ws + pp.OW;
  double pos_waste = double(ceil_div(Q, VN) * VN) / double(P);
  if (!pp.in_place && pp.OW <= dk.cv_max_ow) pos_waste *= dk.pos_grid_cost;
  const double cv_waste = double(ceil_div(M, VN) * VN) / double(M);
  return cv_waste * 1.08 < pos_waste;
}

// The padded input of every (image, group): xp + ng * group_floats (see direct.h), and the
// tap offsets in the weights' K order (c, kh, kw).
struct PaddedInput {
  const float* xp;
  int64_t group_floats;
  std::vector<int32_t> offs;
};

// Tap k = (c, kh, kw)'s offset from a position's first input: channels cstride floats
// apart, each holding its stride phases `plane` floats apart (see PaddedPlane).
std::vector<int32_t> tap_offsets(const PaddedPlane& pp, int64_t Cg, int64_t cstride, int64_t plane) {
  const int64_t ncols = static_cast<int64_t>(pp.cols.size());
  auto index_of = [](const std::vector<int64_t>& v, int64_t f) {
    return static_cast<int64_t>(std::lower_bound(v.begin(), v.end(), f) - v.begin());
  };
  std::vector<int32_t> offs(Cg * pp.KH * pp.KW);
  for (int64_t c = 0, k = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < pp.KH; ++kh)
      for (int64_t kw = 0; kw < pp.KW; ++kw, ++k) {
        const int64_t th = kh * pp.dh, tw = kw * pp.dw;
        const int64_t ph = index_of(pp.rows, th % pp.sh) * ncols + index_of(pp.cols, tw % pp.sw);
        offs[k] = static_cast<int32_t>(c * cstride + ph * plane + th / pp.sh * pp.Ws + tw / pp.sw);
      }
  return offs;
}

PaddedInput pad_input(const ConvGeometry& g, const PaddedPlane& pp, const float* x,
                      const DirectConvKernels& dk, int threads) {
  const int64_t nr = dk.nr;
  const int64_t Cg = g.in_channels / g.group;
  const int64_t plane = pp.Hs * pp.Ws, nph = pp.phases(), cstride = nph * plane;
  const int64_t in_plane = pp.H * pp.W;
  const int64_t gfloats = direct_group_floats(g, pp, nr);
  const int64_t groups = g.batch * g.group;
  float* xp = pp.in_place ? nullptr : tls_direct.get(groups * gfloats);
  PaddedInput r{pp.in_place ? x : xp, gfloats, tap_offsets(pp, Cg, cstride, plane)};
  if (pp.in_place) return r;
  // One unit per (image, group, channel); each group's slack is zeroed with its last
  // channel (stale floats there could be denormals: slow, though never stored).
  parallel_for(groups * Cg, threads, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const int64_t ng = u / Cg, c = u % Cg;
      const float* src = x + (ng * Cg + c) * in_plane;  // (n, gi) groups are consecutive in x
      float* dst = xp + ng * gfloats + c * cstride;
      for (int64_t fr : pp.rows)
        for (int64_t fc : pp.cols) {
          // Phase columns j whose input column j * sw + fc - pl lies in [0, W): [j0, j1).
          const int64_t j0 = std::min(pp.Ws, fc >= pp.pl ? 0 : ceil_div(pp.pl - fc, pp.sw));
          const int64_t j1 = std::max(j0, std::min(pp.Ws, ceil_div(pp.pl + pp.W - fc, pp.sw)));
          for (int64_t i = 0; i < pp.Hs; ++i, dst += pp.Ws) {
            const int64_t ir = i * pp.sh + fr - pp.pt;  // input row
            if (ir < 0 || ir >= pp.H) {
              std::memset(dst, 0, sizeof(float) * pp.Ws);
              continue;
            }
            std::memset(dst, 0, sizeof(float) * j0);
            const int64_t col = j0 * pp.sw + fc - pp.pl;  // first input column read
            const float* s = src + ir * pp.W + col;
            if (pp.sw == 1)
              std::memcpy(dst + j0, s, sizeof(float) * (j1 - j0));
            else
              dk.gather_cols(s, pp.W - col, j1 - j0, pp.sw, dst + j0);
            std::memset(dst + j1, 0, sizeof(float) * (pp.Ws - j1));
          }
        }
      if (c == Cg - 1) std::memset(dst, 0, sizeof(float) * (gfloats - Cg * cstride));
    }
  });
  return r;
}

// --- Large stride-1 maps: padded row windows ----------------------------------------------
//
// A padded copy of a large input (VGG's 64 x 226 x 226 = 13 MB) falls out of the caches
// between being written and being read: the copy alone cost about a third of the layer.
// Above kWindowMinFloats per group, each work unit instead pads just the padded rows its
// positions read (its chunk's rows plus the kernel's), channel after channel, into a
// per-thread window that the kernel reads while it is still in L2; the rows shared by
// neighbouring chunks are copied twice. The offsets are the window's (channel stride
// wrows * Wp); positions and outputs are shifted by the window's first row.
constexpr int64_t kWindowMinFloats = int64_t(1) << 18;  // 1 MiB
constexpr int64_t kWindowBudget = int64_t(1) << 17;      // floats per window (512 KiB, in L2)

thread_local ScratchBuffer tls_window;

bool use_windows(const ConvGeometry& g, const PaddedPlane& pp) {
  return !pp.in_place && pp.sh == 1 && pp.sw == 1 &&
         g.in_channels / g.group * pp.Hp * pp.Wp >= kWindowMinFloats;
}

// Padded rows [r0, r0 + wrows) of every channel of one group (rows past Hp are left unset:
// no position of the window's chunk reads them), channel stride wrows * Wp, plus nr floats of
// slack after the last channel (a strip's whole vectors may read there; never stored).
void pad_window(const PaddedPlane& pp, int64_t Cg, const float* x, int64_t r0, int64_t wrows,
                int64_t nr, float* dst) {
  const int64_t cstride = wrows * pp.Wp, r1 = std::min(pp.Hp, r0 + wrows);
  for (int64_t c = 0; c < Cg; ++c) {
    const float* src = x + c * pp.H * pp.W;
    float* d = dst + c * cstride;
    for (int64_t r = r0; r < r1; ++r, d += pp.Wp) {
      const int64_t ir = r - pp.pt;
      if (ir < 0 || ir >= pp.H) {
        std::memset(d, 0, sizeof(float) * pp.Wp);
        continue;
      }
      std::memset(d, 0, sizeof(float) * pp.pl);
      std::memcpy(d + pp.pl, src + ir * pp.W, sizeof(float) * pp.W);
      std::memset(d + pp.pl + pp.W, 0, sizeof(float) * pp.pr);
    }
  }
  std::memset(dst + Cg * cstride, 0, sizeof(float) * nr);
}

// How the direct kernels split a convolution: `blocks` (image, group, position chunk) blocks,
// each split over m_split output-panel ranges when the blocks alone give fewer than about 4
// units per thread; threads only from about 1 MFLOP of work each, never more than the units.
struct DirectSplit {
  int64_t m_split, units;
  int threads;
};

DirectSplit direct_split(int64_t blocks, int64_t m_panels, int threads, const ConvGeometry& g, int64_t P,
                         int64_t K) {
  const int64_t m_split =
      threads > 1 && blocks < 4 * threads ? std::min(m_panels, ceil_div(4 * threads, blocks)) : 1;
  const double flops = 2.0 * double(g.batch * g.out_channels) * double(P) * double(K);
  const int use_threads = static_cast<int>(std::min<double>(threads, std::max(1.0, flops / double(1 << 20))));
  return {m_split, blocks * m_split, static_cast<int>(std::min<int64_t>(use_threads, blocks * m_split))};
}

// One work unit of the direct kernels, u in [0, images * groups * n_chunks * m_split): image n,
// group gi (ng = n * group + gi), position chunk `chunk`, and output panels [mp0, mp1).
struct DirectUnit {
  int64_t n, gi, ng, chunk, mp0, mp1;
};

DirectUnit direct_unit(int64_t u, int64_t m_split, int64_t n_chunks, int64_t group, int64_t m_panels) {
  const int64_t blk = u / m_split, ms = u % m_split;
  const int64_t ng = blk / n_chunks;
  return {ng / group, ng % group, ng, blk % n_chunks, ms * m_panels / m_split, (ms + 1) * m_panels / m_split};
}

void conv_direct(const ConvGeometry& g, const float* x, const PackedConvWeights& pw,
                 const DirectConvKernels& dk, const float* bias, float* y, int num_threads,
                 const ConvEpilogue* ep) {
  const PaddedPlane pp = padded_plane(g);
  const int64_t Cg = g.in_channels / g.group, Mg = g.out_channels / g.group;
  DirectConvShape s{Cg, pp.Ws, pp.Hs * pp.Ws, pp.OH, pp.OW};
  // Output rows of whole vectors: the kernel walks output positions, each vector in one row
  // (direct.h), instead of the padded grid with its extra columns and row-straddling strips
  // (the stems: 112 / 224 wide; CIFAR's 32 / 16). Stems 5-10% faster, CIFAR's K = 27 layer ~25%.
  s.rows = !pp.in_place && pp.OW % dk.vn == 0;
  const int64_t P = s.OH * s.OW;
  const int64_t Q = s.rows ? P : (s.OH - 1) * pp.Ws + s.OW;  // positions the kernel walks
  const int64_t row_len = s.rows ? s.OW : pp.Wp;              // of them per output row
  const int64_t NR = dk.nr, MR = dk.mr;
  const int64_t groups = g.batch * g.group;
  const int threads = resolve_threads(num_threads);
  const bool windows = use_windows(g, pp);
  // Window mode: chunks of whole padded rows whose window fits kWindowBudget.
  const int64_t reach = (pp.KH - 1) * pp.dh;  // padded rows a position reads below its own
  const int64_t win_rows_max = std::max<int64_t>(1, kWindowBudget / (Cg * pp.Wp) - reach - 1);
  const PaddedInput in = windows ? PaddedInput{nullptr, 0, {}} : pad_input(g, pp, x, dk, threads);
  const int64_t chunk_max = windows
      ? std::max(NR, win_rows_max * row_len / NR * NR)
      // Position chunks: a multiple of nr whose inputs (plus the kernel's halo rows) fit the budget.
      : std::max(NR, (kDirectChunkBudget / (Cg * pp.phases()) - pp.halo()) / NR * NR);
  const int64_t m_panels = ceil_div(Mg, MR);
  // Many threads on a small batch: more, smaller position chunks until (image, group, chunk,
  // row panel) gives about 4 units per thread, each still a few strips long (the weights are
  // small next to the positions' inputs here). A position's sum is the same in any chunk.
  int64_t n_chunks = ceil_div(Q, chunk_max);
  if (threads > 1 && groups * n_chunks * m_panels < 4 * threads)
    n_chunks = std::max(n_chunks, std::min(ceil_div(Q, 4 * NR), ceil_div(4 * threads, groups * m_panels)));
  const int64_t chunk = ceil_div(ceil_div(Q, n_chunks), NR) * NR;
  // A last chunk shorter than a strip joins the one before it (196 positions in chunks of 48:
  // 48, 48, 48, 52 rather than 48, 48, 48, 48, 4 -- a 4-position chunk streams every weight
  // panel for a quarter-vector of work).
  n_chunks = std::max<int64_t>(1, Q / chunk + (Q % chunk >= NR ? 1 : 0));
  const int64_t a_stride = pw.groups[0].panel_stride();
  // A window holds the rows of its chunk's positions plus the kernel's reach (the last chunk
  // may be up to a strip longer than the others: one more row).
  const int64_t wrows = ceil_div(chunk + NR, row_len) + 1 + reach;
  std::vector<int32_t> win_offs;
  if (windows) win_offs = tap_offsets(pp, Cg, wrows * pp.Wp, 0);
  const std::vector<int32_t>& offs = windows ? win_offs : in.offs;
  const int64_t K = static_cast<int64_t>(offs.size());
  const DirectSplit split = direct_split(groups * n_chunks, m_panels, threads, g, P, K);
  const int64_t m_split = split.m_split;

  parallel_dynamic(split.units, split.threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const DirectUnit wu = direct_unit(u, m_split, n_chunks, g.group, m_panels);
      const int64_t ch = wu.chunk, ng = wu.ng, n = wu.n, gi = wu.gi, mp0 = wu.mp0, mp1 = wu.mp1;
      if (mp0 == mp1) continue;
      int64_t q0 = ch * chunk, q1 = ch == n_chunks - 1 ? Q : q0 + chunk;
      const float* xp = windows ? nullptr : in.xp + ng * in.group_floats;
      int64_t r0 = 0;  // the window's first padded row (= output row: stride 1)
      if (windows) {
        r0 = q0 / row_len;
        float* w = tls_window.get(Cg * wrows * pp.Wp + NR);
        pad_window(pp, Cg, x + ng * Cg * pp.H * pp.W, r0, wrows, NR, w);
        xp = w;
        q0 -= r0 * row_len, q1 -= r0 * row_len;
      }
      const Epilogue epi = block_epilogue(g, bias, ep, n, gi * Mg, r0 * s.OW, P);
      const bool post = epi.row_bias || epi.residual || epi.act != Act::None;
      dk.compute(s, offs.data(), K, xp, pw.groups[gi].data(), a_stride, Mg, mp0, mp1, q0, q1,
                 y + (n * g.out_channels + gi * Mg) * P + r0 * s.OW, post ? &epi : nullptr);
    }
  });
}

}  // namespace

// The weights in the cv kernel's layout (direct.h): per group, panels of mw output channels,
// [panel][k][c], the last panel `last` channels wide (whole vectors). A layer holds one layout:
// the packed-A panels from packing; when a call first needs the cv layout it is made from the
// panels and the panels are freed; a later call that needs the panels again rebuilds them, and
// from then on the layer keeps both (its calls alternate between kernels). Calls hold `mu`
// shared while they read either layout; a switch holds it exclusively.
struct ConvCvPanels {
  std::shared_mutex mu;
  float* data = nullptr;
  int64_t group_floats = 0, mw = 0, last = 0;
  bool panels_released = false, keep_both = false;
  ~ConvCvPanels() { std::free(data); }
};

namespace {

// cv[gi][(m / mw) * mw * K + k * width + m % mw] <-> packed A[(m / mr) * stride + k * mr + m % mr],
// width = mw except in the last panel; packed-A rows past Mg are zero.
template <class Fn>
void for_each_cv_entry(const PackedConvWeights& pw, const ConvCvPanels& cv, Fn&& fn) {
  const PackedMatrix& a0 = pw.groups[0];
  const int64_t Mg = a0.rows(), K = a0.cols(), mr = a0.kernels().mr, a_stride = a0.panel_stride();
  const int64_t panels = ceil_div(Mg, cv.mw);
  for (int64_t gi = 0; gi < pw.group; ++gi) {
    for (int64_t m = 0; m < (panels - 1) * cv.mw + cv.last; ++m) {
      const int64_t width = m / cv.mw < panels - 1 ? cv.mw : cv.last;
      const int64_t o = gi * cv.group_floats + (m / cv.mw) * cv.mw * K + m % cv.mw;
      const int64_t a = (m / mr) * a_stride + m % mr;
      fn(gi, m < Mg, o, width, a, mr, K);
    }
  }
}

void build_cv(const PackedConvWeights& pw, ConvCvPanels& cv, int64_t mw, int64_t vn) {
  const PackedMatrix& a0 = pw.groups[0];
  const int64_t Mg = a0.rows(), K = a0.cols();
  const int64_t panels = ceil_div(Mg, mw);
  cv.mw = mw;
  cv.last = ceil_div(Mg - (panels - 1) * mw, vn) * vn;  // the channels left, in whole vectors
  cv.group_floats = ((panels - 1) * mw + cv.last) * K;
  const size_t bytes = (static_cast<size_t>(cv.group_floats * pw.group) * sizeof(float) + 63) / 64 * 64;
  cv.data = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!cv.data) throw std::bad_alloc();
  for_each_cv_entry(pw, cv, [&](int64_t gi, bool real, int64_t o, int64_t width, int64_t a, int64_t mr, int64_t K) {
    const float* src = pw.groups[gi].data() + a;
    float* dst = cv.data + o;
    for (int64_t k = 0; k < K; ++k) dst[k * width] = real ? src[k * mr] : 0.f;
  });
}

void rebuild_panels(const PackedConvWeights& pw, ConvCvPanels& cv) {
  std::vector<float*> out(pw.group);
  for (int64_t gi = 0; gi < pw.group; ++gi) {
    PackedMatrix& a = const_cast<PackedMatrix&>(pw.groups[gi]);  // storage only, under the lock
    out[gi] = a.reallocate_data();
    std::memset(out[gi], 0, sizeof(float) * a.panel_stride() * ceil_div(a.rows(), a.kernels().mr));
  }
  for_each_cv_entry(pw, cv, [&](int64_t gi, bool real, int64_t o, int64_t width, int64_t a, int64_t mr, int64_t K) {
    if (!real) return;
    const float* src = cv.data + o;
    float* dst = out[gi] + a;
    for (int64_t k = 0; k < K; ++k) dst[k * mr] = src[k * width];
  });
}

// The layout a call needs, held (shared) until the returned lock goes. With `own` false the
// weights belong to this call alone (packed from raw weights for it): nothing is freed.
std::shared_lock<std::shared_mutex> use_layout(const PackedConvWeights& pw, bool cv_layout, int64_t mw,
                                               int64_t vn, bool own) {
  ConvCvPanels& cv = *pw.cv;
  for (;;) {
    std::shared_lock<std::shared_mutex> reading(cv.mu);
    if (cv_layout ? cv.data != nullptr : !cv.panels_released) return reading;
    reading.unlock();
    std::unique_lock<std::shared_mutex> switching(cv.mu);
    if (cv_layout && !cv.data) {
      build_cv(pw, cv, mw, vn);
      if (own && !cv.keep_both) {
        for (const PackedMatrix& a : pw.groups) const_cast<PackedMatrix&>(a).release_data();
        cv.panels_released = true;
      }
    } else if (!cv_layout && cv.panels_released) {
      rebuild_panels(pw, cv);
      cv.panels_released = false;
      cv.keep_both = true;
    }
  }
}

// The input as it is (no padding): tap (c, kh, kw) at c * H * W + kh * dh * W + kw * dw from
// an output position's first input (the cv kernel reads single floats, any stride).
PaddedInput unpadded_taps(const ConvGeometry& g, const PaddedPlane& pp, const float* x) {
  const int64_t Cg = g.in_channels / g.group;
  PaddedInput r{x, Cg * pp.H * pp.W, std::vector<int32_t>(Cg * pp.KH * pp.KW)};
  for (int64_t c = 0, k = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < pp.KH; ++kh)
      for (int64_t kw = 0; kw < pp.KW; ++kw, ++k)
        r.offs[k] = static_cast<int32_t>(c * pp.H * pp.W + kh * pp.dh * pp.W + kw * pp.dw);
  return r;
}

// Positions per work unit of the cv path (a multiple of its micro-tile), and its K block.
constexpr int64_t kCvChunk = 192;
constexpr int64_t kCvKc = 128;

// Output channels as vectors (direct.h, cv_*): per work unit (image, group, position chunk,
// channel-panel range) the kernel fills a [positions, channels] tile in scratch, which is
// then transposed into y and gets the epilogue.
void conv_direct_cv(const ConvGeometry& g, const float* x, const PackedConvWeights& pw,
                    const DirectConvKernels& dk, const float* bias, float* y, int num_threads,
                    const ConvEpilogue* ep) {
  const PaddedPlane pp = padded_plane(g);
  const int64_t Mg = g.out_channels / g.group;
  const int64_t OH = pp.OH, OW = pp.OW;
  const int64_t P = OH * OW, MW = dk.cv_mw, NP = dk.cv_np;
  const int64_t groups = g.batch * g.group;
  const int threads = resolve_threads(num_threads);
  const float* wcv = pw.cv->data;  // use_layout made it (conv_forward)
  const int64_t w_group = pw.cv->group_floats;
  // Without padding the kernel reads the input itself: it broadcasts one float per tap, so
  // strided positions need no stride-phase copy (a 1x1 stride-2 downsampling layer spent a
  // quarter of its time making one).
  const bool unpadded = !pp.in_place && pp.pt == 0 && pp.pl == 0 && pp.pb == 0 && pp.pr == 0;
  const PaddedInput in = unpadded ? unpadded_taps(g, pp, x) : pad_input(g, pp, x, dk, threads);
  const int64_t K = static_cast<int64_t>(in.offs.size());
  const int64_t kblocks = ceil_div(K, kCvKc), kc = ceil_div(K, kblocks);
  std::vector<int32_t> pos(P);  // where each output position's taps start in xp's planes
  for (int64_t p = 0; p < P; ++p)
    pos[p] = static_cast<int32_t>(unpadded ? (p / OW) * pp.sh * pp.W + p % OW * pp.sw : (p / OW) * pp.Ws + p % OW);

  // Position chunks of equal size (the kernel balances its tiles inside each). Many threads
  // on a small map (3x3 512 @7: 8 panels, one chunk): more chunks until there are about 4
  // units per thread, down to 4 micro-tiles each (every chunk streams its panels' weights
  // once, so smaller ones would trade compute for weight traffic). A position's sum is the
  // same in any chunk.
  const int64_t m_panels = ceil_div(Mg, MW);
  int64_t n_chunks = ceil_div(P, kCvChunk);
  if (threads > 1 && groups * n_chunks * m_panels < 4 * threads)
    n_chunks = std::max(n_chunks, std::min(P / (4 * NP), ceil_div(4 * threads, groups * m_panels)));
  const DirectSplit split = direct_split(groups * n_chunks, m_panels, threads, g, P, K);
  const int64_t m_split = split.m_split;

  parallel_dynamic(split.units, split.threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const DirectUnit wu = direct_unit(u, m_split, n_chunks, g.group, m_panels);
      const int64_t ch = wu.chunk, ng = wu.ng, n = wu.n, gi = wu.gi, mp0 = wu.mp0, mp1 = wu.mp1;
      if (mp0 == mp1) continue;
      const int64_t p0 = ch * P / n_chunks, cols = (ch + 1) * P / n_chunks - p0;
      const int64_t m0 = mp0 * MW, rows = std::min(Mg, mp1 * MW) - m0;
      const int64_t ldt = ceil_div(rows, dk.vn) * dk.vn;
      float* t = tls_tile.get(cols * ldt);
      dk.cv_compute(in.offs.data(), K, kc, in.xp + ng * in.group_floats, pos.data() + p0, cols,
                    wcv + gi * w_group + mp0 * MW * K, rows, t, ldt);
      float* yb = y + (n * g.out_channels + gi * Mg + m0) * P + p0;
      const Epilogue epi = block_epilogue(g, bias, ep, n, gi * Mg, 0, P);
      const bool post = epi.row_bias || epi.residual || epi.act != Act::None;
      dk.cv_store(t, ldt, cols, rows, yb, P, post ? &epi : nullptr, m0, p0);
    }
  });
}

int64_t checked_product(const std::vector<int64_t>& v, size_t from, const char* what) {
  long double n = 1;
  for (size_t i = from; i < v.size(); ++i) n *= static_cast<long double>(v[i]);
  PYINFER_CHECK(n < static_cast<long double>(kMaxElements), what << ": too many elements");
  return product(v, from);
}

}  // namespace

PackedConvWeights pack_conv_weights(const std::vector<int64_t>& w_shape, const float* w,
                                    int64_t group, int num_threads) {
  PYINFER_CHECK(w_shape.size() >= 3 && w_shape.size() <= 18,
                "conv weights: expected rank 3..18 ([M, C/group, K1..Kk]), got shape " << list_str(w_shape));
  PYINFER_CHECK(group >= 1, "conv weights: group must be >= 1, got " << group);
  for (int64_t d : w_shape)
    PYINFER_CHECK(d >= 1, "conv weights: every dimension must be >= 1, got shape " << list_str(w_shape));
  PYINFER_CHECK(w_shape[0] % group == 0, "conv weights: output channels (w.shape[0] = " << w_shape[0]
                                             << ") must be a multiple of group (" << group << ")");
  PackedConvWeights pw;
  pw.w_shape = w_shape;
  pw.group = group;
  const int64_t M = w_shape[0], Mg = M / group, K = checked_product(w_shape, 1, "conv weights");
  if (w_shape.size() == 4 && w_shape[1] == 1) {  // depthwise 2-D: the direct kernel's input
    pw.raw.assign(w, w + M * K);
    return pw;
  }
  pw.cv = std::make_shared<ConvCvPanels>();
  if (w_shape.size() == 4 && w_shape[2] == 3 && w_shape[3] == 3 && group == 1)
    pw.wino = std::make_shared<ConvWinogradWeights>();
  pw.groups.reserve(group);
  for (int64_t gi = 0; gi < group; ++gi)
    pw.groups.emplace_back(PackedMatrix::Side::A, false, Mg, K, w + gi * Mg * K, K, num_threads);
  return pw;
}

void conv_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                  float* y, int num_threads, const PackedConvWeights* packed,
                  const ConvEpilogue* ep) {
  const int64_t Cg = g.in_channels / g.group, Mg = g.out_channels / g.group;
  if (packed) {
    std::vector<int64_t> want = {g.out_channels, Cg};
    want.insert(want.end(), g.kernel.begin(), g.kernel.end());
    PYINFER_CHECK(packed->w_shape == want && packed->group == g.group,
                  "conv: packed weights of shape " << list_str(packed->w_shape) << " (group "
                      << packed->group << ") do not fit this convolution (needs " << list_str(want)
                      << ", group " << g.group << ")");
    PYINFER_CHECK(packed->depthwise() == is_depthwise_2d(g), "conv: packed weights of the wrong kind");
    if (packed->depthwise()) w = packed->raw.data();
  }
  if (is_depthwise_2d(g) && g.batch > 0)
    return depthwise_conv2d(g, x, w, bias, y, num_threads, ep);
  if (packed_path_applies(g) && g.batch > 0) {
    std::vector<int64_t> w_shape = {g.out_channels, Cg};
    w_shape.insert(w_shape.end(), g.kernel.begin(), g.kernel.end());
    PackedConvWeights local;
    if (!packed) local = pack_conv_weights(w_shape, w, g.group, num_threads);
    const PackedConvWeights& pw = packed ? *packed : local;
    const DirectConvKernels* dk = direct_kernels_for(pw.groups[0].kernels());
    const int mode = g_direct_mode.load(std::memory_order_relaxed);
    const bool wino = pw.wino && (mode == 0 || mode == 4) && winograd_fits(g) &&
                      (mode == 4 || winograd_pays(g));
    const bool direct = !wino && mode != 2 && direct_fits(g, dk);
    const bool cv = direct && (mode == 3 || ((mode == 0 || mode >= 4) && cv_wins(g, *dk)));
    const auto layout = use_layout(pw, cv, cv ? dk->cv_mw : 0, cv ? dk->vn : 0, packed != nullptr);
    if (wino) return conv_winograd(g, x, pw, bias, y, num_threads, ep);  // reads the panels once
    if (cv) return conv_direct_cv(g, x, pw, *dk, bias, y, num_threads, ep);
    if (direct) return conv_direct(g, x, pw, *dk, bias, y, num_threads, ep);
    return conv_packed_panels(g, x, pw, bias, y, num_threads, ep);
  }
  const int64_t kprod = product(g.kernel), K = Cg * kprod;
  const int64_t s_in = product(g.in_spatial), P = product(g.out_spatial);
  bool pointwise = kprod == 1;
  for (size_t d = 0; d < g.kernel.size(); ++d)
    pointwise = pointwise && g.strides[d] == 1 && g.pads[d] == 0 && g.pads[d + g.kernel.size()] == 0;
  const int64_t T = pointwise ? P : tile_width(K, P);
  const int64_t tiles = (P + T - 1) / T;
  const int64_t items = g.batch * g.group * tiles;
  if (items == 0) return;
  const int threads = resolve_threads(num_threads);
  const std::vector<int64_t> offs = kernel_offsets(g);

  // One (image, group, tile) block: Y_g[:, p0:p0+n] = act(W_g [Mg, K] x col [K, n] + bias ...).
  // inner_threads > 1 when blocks run one after another: then im2col and sgemm thread.
  auto run_item = [&](int64_t item, std::vector<float>& col, int inner_threads) {
    const int64_t tile = item % tiles, ng = item / tiles;
    const int64_t n = ng / g.group, gi = ng % g.group;
    const int64_t p0 = tile * T, cols = std::min(T, P - p0);
    const float* x_g = x + (n * g.in_channels + gi * Cg) * s_in;
    float* y_g = y + (n * g.out_channels + gi * Mg) * P;
    const Epilogue e = block_epilogue(g, bias, ep, n, gi * Mg, p0, P);
    const float* b_op = x_g + p0;  // 1x1, stride 1, no padding: the input is the column matrix
    int64_t ldb = s_in;
    if (!pointwise) {
      parallel_for(K, inner_threads, [&](int64_t r0, int64_t r1) {
        im2col_rows(g, offs, x_g, p0, cols, r0, r1, col.data());
      });
      b_op = col.data();
      ldb = cols;
    }
    if (packed)
      sgemm_packed_a(packed->groups[gi], cols, false, b_op, ldb, 1.f, 0.f, y_g + p0, P, inner_threads, &e);
    else
      sgemm(false, false, Mg, cols, K, 1.f, w + gi * Mg * K, K, b_op, ldb, 0.f, y_g + p0, P, inner_threads, &e);
  };

  const int64_t col_size = pointwise ? 0 : K * T;
  if (items >= threads) {
    parallel_for(items, threads, [&](int64_t b, int64_t e) {
      std::vector<float> col(col_size);  // this thread's column buffer
      for (int64_t it = b; it < e; ++it) run_item(it, col, 1);
    });
  } else {
    std::vector<float> col(col_size);
    for (int64_t it = 0; it < items; ++it) run_item(it, col, threads);
  }
}

int64_t packed_conv_weight_bytes(const PackedConvWeights& pw) {
  int64_t n = static_cast<int64_t>(pw.raw.size() * sizeof(float));
  if (!pw.cv) return n;
  std::shared_lock<std::shared_mutex> reading(pw.cv->mu);
  for (const PackedMatrix& m : pw.groups) n += m.data() ? m.size_bytes() : 0;
  if (pw.cv->data) n += pw.cv->group_floats * pw.group * static_cast<int64_t>(sizeof(float));
  if (pw.wino) {
    std::shared_lock<std::shared_mutex> wino_reading(pw.wino->mu);
    if (pw.wino->data) n += pw.wino->floats * static_cast<int64_t>(sizeof(float));
  }
  return n;
}

void set_conv_direct_mode(int mode) {
  PYINFER_CHECK(mode >= 0 && mode <= 5, "conv direct mode must be 0 (auto), 1 (direct), 2 (im2col), 3 (direct cv), 4 (winograd) or 5 (auto without winograd), got " << mode);
  g_direct_mode.store(mode, std::memory_order_relaxed);
}

void conv_transpose_forward(const ConvGeometry& g, const float* x, const float* w,
                            const float* bias, float* y, int num_threads) {
  const int64_t Cg = g.in_channels / g.group, Mg = g.out_channels / g.group;
  const int64_t kprod = product(g.kernel), Kt = Mg * kprod;
  const int64_t s_in = product(g.in_spatial), P = product(g.out_spatial);
  const int64_t T = tile_width(Kt, s_in);
  const int64_t items = g.batch * g.group;
  if (items == 0) return;
  const int threads = resolve_threads(num_threads);
  const std::vector<int64_t> offs = kernel_offsets(g);

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
      parallel_for(Mg, inner_threads, [&](int64_t m0, int64_t m1) {
        col2im_channels(g, offs, col.data(), p0, cols, m0, m1, y_g);
      });
    }
  };

  if (items >= threads) {
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
