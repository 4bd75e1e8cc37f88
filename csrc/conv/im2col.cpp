// im2col + GEMM convolutions (conv.h: Im2colPacked, Im2colGemm) and the column-matrix walk
// they share with the transposed convolution (transpose.cpp).
//
// Both walk the same index map: a "grid" position o (conv: an output position; transposed
// conv: an input position) and a kernel offset k touch the "target" position
//   t_d = o_d * stride_d + k_d * dilation_d - pad_begin_d        (for every spatial d)
// in the other tensor (conv: the input it reads; transposed conv: the output it adds to),
// and only when 0 <= t_d < target_d. The column matrix has one row per (channel, kernel
// offset) and one column per grid position; it is built (or consumed) a tile of grid
// positions at a time, so its size stays bounded whatever the image size.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/scratch.h"
#include "common/cpu_info.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "conv/im2col.h"
#include "gemm/gemm.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::block_epilogue;
using conv_internal::ceil_div;
using conv_internal::parallel_dynamic;
using conv_internal::product;

namespace {


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

}  // namespace

// Kernel offsets off[r][d] = k_d * dilation_d - pad_begin_d for every flat kernel index r.
std::vector<int64_t> conv_internal::kernel_offsets(const ConvGeometry& g) {
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
void conv_internal::im2col_rows(const ConvGeometry& g, const std::vector<int64_t>& offs, const float* x_g,
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
void conv_internal::col2im_channels(const ConvGeometry& g, const std::vector<int64_t>& offs, const float* col,
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

namespace {

thread_local ScratchBuffer tls_tile;  // the packed column panels of one tile, per thread

// --- 1-D / 2-D convolution: im2col straight into packed panels ------------------------------
//
// For each tile of output positions, the tile's column matrix [K, cols] is written directly
// in the GEMM's packed-B layout (full K, panels of nr columns), sized to stay in L2, and the
// macro-kernel multiplies the pre-packed weights into it: no column buffer, no second pack,
// and each output tile gets its epilogue while hot. Work units are (image, group, tile,
// row chunk); when tiles are fewer than the threads need (small maps) the output channels
// are split too. The K blocking and the accumulation order depend on the shape only, so
// results are bit-identical for any thread count.

// Packed tiles hold about half the L2 (the tile plus the weights stay in it).
int64_t panel_budget() { return l2_floats() / 2; }

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

}  // namespace

bool im2col_packed_fits(const ConvGeometry& g) {
  return (g.spatial_rank() == 1 || g.spatial_rank() == 2) && !is_depthwise_2d(g);
}

void im2col_packed_conv(const ConvGeometry& g, const float* x, const ConvPanels& w, const float* bias, float* y,
                        int num_threads, const ConvEpilogue& ep) {
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
    const double bytes = double(rows) * double(s.W) * sizeof(float);
    parallel_for(rows, conv_internal::copy_threads(bytes, rows, num_threads), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        ik.split_phases(x + r * s.W, s.W, s.sw, s.phase_w, phased.data() + r * s.sw * s.phase_w);
    });
    x = phased.data();
  }
  const int64_t s_in = s.phased ? s.H * s.sw * s.phase_w : s.H * s.W;
  const int64_t Cg = s.C, Mg = g.out_channels / g.group;
  const int64_t K = Cg * s.KH * s.KW, P = s.OH * s.OW;
  const GemmKernels& kt = w.groups[0].kernels();
  const int64_t NR = kt.nr, MR = kt.mr, a_stride = w.groups[0].panel_stride();
  // K blocks of at most the GEMM's kc, balanced (the macro-kernel keeps a kc x nr panel in L1).
  const int64_t kblocks = ceil_div(K, gemm_blocking(kt.mr, kt.nr).kc), kc_blk = ceil_div(K, kblocks);
  // Tile width: a multiple of nr within the budget; rounding the tile count down keeps a
  // small remainder (e.g. 49 positions = 48 + 1) inside one tile rather than its own pass.
  const int64_t nc_max = std::max(NR, panel_budget() / K / NR * NR);
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
  const int use_threads = conv_internal::conv_threads(flops, blocks * m_split, threads);

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
      const float* a = w.groups[gi].data() + mp0 * a_stride;
      for (int64_t pc = 0; pc < K; pc += kc_blk) {
        const int64_t kc = std::min(kc_blk, K - pc);
        const bool last = pc + kc >= K;
        kt.macro(rows, cols, kc, a + pc * MR, a_stride, pb + pc * NR, NR * K, c, P, 1.f,
                 pc == 0 ? 0.f : 1.f, last ? &epi : nullptr, m0, p0);
      }
    }
  });
}

// --- any rank: im2col tiles + GEMM ----------------------------------------------------------

namespace {

// Column tiles hold about as many floats as the L2 per thread, but at least kMinTile columns
// so the GEMM keeps a useful width when the kernel is very deep.
constexpr int64_t kMinTile = 128;

// 1x1, stride 1, no padding: the input is the column matrix.
bool pointwise(const ConvGeometry& g) {
  bool r = product(g.kernel) == 1;
  for (size_t d = 0; d < g.kernel.size(); ++d)
    r = r && g.strides[d] == 1 && g.pads[d] == 0 && g.pads[d + g.kernel.size()] == 0;
  return r;
}

int64_t gemm_tile(const ConvGeometry& g) {
  const int64_t K = g.in_channels / g.group * product(g.kernel), P = product(g.out_spatial);
  return pointwise(g) ? P : conv_internal::tile_width(K, P, l2_floats(), kMinTile);
}

}  // namespace

int64_t im2col_gemm_workspace_bytes(const ConvGeometry& g) {
  const int64_t K = g.in_channels / g.group * product(g.kernel);
  return pointwise(g) ? 0 : K * gemm_tile(g) * int64_t(sizeof(float));
}

void im2col_gemm_conv(const ConvGeometry& g, const float* x, const float* w, const ConvPanels* panels,
                      const float* bias, float* y, int num_threads, const ConvEpilogue& ep) {
  const int64_t Cg = g.in_channels / g.group, Mg = g.out_channels / g.group;
  const int64_t kprod = product(g.kernel), K = Cg * kprod;
  const int64_t s_in = product(g.in_spatial), P = product(g.out_spatial);
  const bool in_place = pointwise(g);
  const int64_t T = gemm_tile(g);
  const int64_t tiles = (P + T - 1) / T;
  const int64_t items = g.batch * g.group * tiles;
  if (items == 0) return;
  const double flops = 2.0 * double(g.batch * g.out_channels) * double(P) * double(K);
  // The cost model on the whole convolution: threads over blocks when there are enough of them,
  // else inside each block's im2col and product (which size their own regions again).
  const int threads = conv_internal::conv_threads(flops, std::max<int64_t>(items, resolve_threads(num_threads)),
                                                  num_threads);
  const std::vector<int64_t> offs = conv_internal::kernel_offsets(g);

  // One (image, group, tile) block: Y_g[:, p0:p0+n] = act(W_g [Mg, K] x col [K, n] + bias ...).
  // inner_threads > 1 when blocks run one after another: then im2col and sgemm thread.
  auto run_item = [&](int64_t item, std::vector<float>& col, int inner_threads) {
    const int64_t tile = item % tiles, ng = item / tiles;
    const int64_t n = ng / g.group, gi = ng % g.group;
    const int64_t p0 = tile * T, cols = std::min(T, P - p0);
    const float* x_g = x + (n * g.in_channels + gi * Cg) * s_in;
    float* y_g = y + (n * g.out_channels + gi * Mg) * P;
    const Epilogue e = block_epilogue(g, bias, ep, n, gi * Mg, p0, P);
    const float* b_op = x_g + p0;
    int64_t ldb = s_in;
    if (!in_place) {
      const double bytes = double(K) * double(cols) * sizeof(float);
      parallel_for(K, conv_internal::copy_threads(bytes, K, inner_threads), [&](int64_t r0, int64_t r1) {
        conv_internal::im2col_rows(g, offs, x_g, p0, cols, r0, r1, col.data());
      });
      b_op = col.data();
      ldb = cols;
    }
    if (panels)
      sgemm_packed_a(panels->groups[gi], cols, false, b_op, ldb, 1.f, 0.f, y_g + p0, P, inner_threads, &e);
    else
      sgemm(false, false, Mg, cols, K, 1.f, w + gi * Mg * K, K, b_op, ldb, 0.f, y_g + p0, P, inner_threads, &e);
  };

  const int64_t col_size = in_place ? 0 : K * T;
  if (threads == 1 || items >= threads) {
    parallel_for(items, threads, [&](int64_t b, int64_t e) {
      std::vector<float> col(col_size);  // this thread's column buffer
      for (int64_t it = b; it < e; ++it) run_item(it, col, 1);
    });
  } else {
    std::vector<float> col(col_size);
    for (int64_t it = 0; it < items; ++it) run_item(it, col, threads);
  }
}

}  // namespace pyinfer
