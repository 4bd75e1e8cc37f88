// The direct (im2col-free) convolution kernels, 1-D / 2-D, any stride (conv.h:
// DirectPositions, DirectChannels; the kernels per SIMD tier are in direct_isa.cpp, the
// method in direct.h). make_direct_plan does the geometry-only work once per prepared kernel
// (padded plane, tap offsets, position offsets); the drivers pad the input and split the
// work over threads.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/scratch.h"
#include "common/cpu_info.h"
#include "common/thread_pool.h"
#include "conv/conv_internal.h"
#include "conv/direct.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
using conv_internal::block_epilogue;
using conv_internal::ceil_div;
using conv_internal::conv_threads;
using conv_internal::copy_threads;
using conv_internal::has_post;
using conv_internal::parallel_dynamic;
using conv_internal::product;

// Each (image, group) input is zero-padded (and split into its stride phases) once into
// scratch; the kernel then reads the taps in place. Work units are (image, group, position
// chunk, row chunk): chunks of positions whose inputs stay in L2 while all weight panels pass
// over them. Every output is one accumulation over all of K in a fixed order, so any thread
// count gives the same bits.

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

namespace {

// Inputs of one position chunk (channels x (chunk + halo)) kept to about this many floats: a
// quarter of the L2 (256 KiB of a 1 MiB L2, where it was measured), the weight panels pass by.
int64_t direct_chunk_budget() { return l2_floats() / 4; }

thread_local ScratchBuffer tls_direct;

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

// The padded plane stored whole, without its stride phases (the copy the channels kernel
// reads: it broadcasts one float per tap, so strided taps cost it nothing, while splitting
// the phases took a gather and a few memsets per phase row: 512 channels, 3x3 stride 2 on
// 28 x 28, spent 0.5 of its 0.8 ms there).
PaddedPlane unstrided(PaddedPlane p) {
  p.sh = p.sw = 1;
  p.Hs = p.Hp, p.Ws = p.Wp;
  p.rows = {0}, p.cols = {0};
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

}  // namespace

bool direct_fits(const ConvGeometry& g, const DirectConvKernels* dk) {
  if (!dk || (g.spatial_rank() != 1 && g.spatial_rank() != 2) || is_depthwise_2d(g)) return false;
  const PaddedPlane p = padded_plane(g);
  // Offsets are int32; keep the per-group buffer (phases, or the whole padded plane the
  // channels kernel reads) well inside that.
  return p.Hp * p.Wp < (int64_t(1) << 28) && direct_group_floats(g, p, dk->nr) < (int64_t(1) << 30) &&
         direct_group_floats(g, unstrided(p), dk->nr) < (int64_t(1) << 30);
}

// Which direct kernel suits g better (measured: tools/bench_conv.py); one of them beats or
// ties im2col + GEMM on every layer measured (stride 1, 2 and 4, stems, 1x1 stride 2), so
// one of them always runs.
//
// One rule for every shape: compare the lanes each kernel computes per output. The
// positions kernel computes every position of its grid, rounded up to a vector: in place
// (1x1 stride 1) ceil(P / VN) * VN per P outputs; on a padded grid Q = (OH - 1) * Ws + OW
// positions (each row's extra columns are wasted), and on maps up to channels_max_ow wide it pays
// pos_grid_cost per lane (direct.h). The cv kernel computes ceil(M / VN) * VN channels per
// M (its last panel is narrowed to whole vectors) and pays its transposition, charged 8%.
// Measured on the ResNet-50 / MobileNetV2 / SqueezeNet 1x1 layers (AVX-512): the positions
// kernel wins every map from 13x13 up, cv the 7x7 ones by 5-20%; on 14x14 with K >= 256
// cv gains 0-3% only (ResNet-50's stage 3).
// 3x3 / strided layers: cv at 28x28 out and below, the positions kernel at 56x56.
bool channels_win(const ConvGeometry& g, const DirectConvKernels& dk) {
  const int64_t K = g.in_channels / g.group * product(g.kernel);
  if (K < kChannelsMinK || dk.channels_max_ow == 0) return false;
  const int64_t M = g.out_channels / g.group, VN = dk.vn;
  const PaddedPlane pp = padded_plane(g);
  // Output rows of whole vectors: the positions kernel wastes no lane there (measured: 3x3
  // layers at 16 and 32 wide 5-13% faster than cv).
  if (!pp.in_place && pp.OW % VN == 0) return false;
  const int64_t P = pp.OH * pp.OW, Q = (pp.OH - 1) * pp.Ws + pp.OW;
  double pos_waste = double(ceil_div(Q, VN) * VN) / double(P);
  if (!pp.in_place && pp.OW <= dk.channels_max_ow) pos_waste *= dk.pos_grid_cost;
  const double channels_waste = double(ceil_div(M, VN) * VN) / double(M);
  return channels_waste * 1.08 < pos_waste;
}

namespace {

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

// The input as it is (no padding): tap (c, kh, kw) at c * H * W + kh * dh * W + kw * dw from
// an output position's first input (the channels kernel reads single floats, any stride).
std::vector<int32_t> unpadded_taps(const PaddedPlane& pp, int64_t Cg) {
  std::vector<int32_t> offs(Cg * pp.KH * pp.KW);
  for (int64_t c = 0, k = 0; c < Cg; ++c)
    for (int64_t kh = 0; kh < pp.KH; ++kh)
      for (int64_t kw = 0; kw < pp.KW; ++kw, ++k)
        offs[k] = static_cast<int32_t>(c * pp.H * pp.W + kh * pp.dh * pp.W + kw * pp.dw);
  return offs;
}

}  // namespace

// Everything about a direct convolution that depends on the geometry alone.
struct DirectPlan {
  ConvGeometry g;
  const DirectConvKernels* dk = nullptr;
  PaddedPlane pp;
  PaddedPlane copy;       // what pad_input stores: pp, or (channels kernel) pp without phases
  bool channels = false;  // which kernel: output channels (true) or positions as vector lanes
  // Channels kernel without padding: it reads the input itself (it broadcasts one float per
  // tap, so strided positions need no stride-phase copy: a 1x1 stride-2 downsampling layer
  // spent a quarter of its time making one).
  bool unpadded = false;
  int64_t group_floats = 0;   // one (image, group) of the padded input (or of x: unpadded)
  std::vector<int32_t> offs;  // tap offsets in the weights' K order (c, kh, kw)
  std::vector<int32_t> pos;   // channels kernel: where each output position's taps start
};

void DirectPlanDeleter::operator()(DirectPlan* p) const { delete p; }

DirectPlanPtr make_direct_plan(const ConvGeometry& g, const DirectConvKernels& dk, bool channels) {
  DirectPlanPtr plan(new DirectPlan);
  DirectPlan& d = *plan;
  d.g = g, d.dk = &dk, d.pp = padded_plane(g), d.channels = channels;
  const PaddedPlane& pp = d.pp;
  d.copy = channels ? unstrided(pp) : pp;
  const int64_t Cg = g.in_channels / g.group;
  d.unpadded = channels && !pp.in_place && pp.pt == 0 && pp.pl == 0 && pp.pb == 0 && pp.pr == 0;
  if (d.unpadded) {
    d.group_floats = Cg * pp.H * pp.W;
    d.offs = unpadded_taps(pp, Cg);
  } else {
    const PaddedPlane& c = d.copy;
    d.group_floats = direct_group_floats(g, c, dk.nr);
    d.offs = tap_offsets(c, Cg, c.phases() * c.Hs * c.Ws, c.Hs * c.Ws);
  }
  if (channels) {
    // Output (oh, ow) starts at row oh * sh, column ow * sw of the plane read (x, or the
    // padded copy: its first rows and columns are the padding).
    const int64_t P = pp.OH * pp.OW, row = d.unpadded ? pp.W : d.copy.Ws;
    d.pos.resize(P);
    for (int64_t p = 0; p < P; ++p)
      d.pos[p] = static_cast<int32_t>((p / pp.OW) * pp.sh * row + p % pp.OW * pp.sw);
  }
  return plan;
}

namespace {

bool use_windows(const ConvGeometry& g, const PaddedPlane& pp);

}  // namespace

int64_t direct_workspace_bytes(const DirectPlan& d) {
  const bool copies = !d.unpadded && !d.pp.in_place && (d.channels || !use_windows(d.g, d.pp));
  return copies ? d.g.batch * d.g.group * d.group_floats * int64_t(sizeof(float)) : 0;
}

namespace {

// The padded input of every (image, group) at xp + ng * group_floats (direct.h): x itself
// when the kernels read it in place.
const float* pad_input(const DirectPlan& d, const float* x, int threads) {
  const ConvGeometry& g = d.g;
  const PaddedPlane& pp = d.copy;
  const DirectConvKernels& dk = *d.dk;
  if (pp.in_place || d.unpadded) return x;
  const int64_t Cg = g.in_channels / g.group;
  const int64_t plane = pp.Hs * pp.Ws, nph = pp.phases(), cstride = nph * plane;
  const int64_t in_plane = pp.H * pp.W;
  const int64_t gfloats = d.group_floats;
  const int64_t groups = g.batch * g.group;
  float* xp = tls_direct.get(groups * gfloats);
  // One unit per (image, group, channel); each group's slack is zeroed with its last
  // channel (stale floats there could be denormals: slow, though never stored).
  const double bytes = double(groups) * double(gfloats) * sizeof(float);
  parallel_for(groups * Cg, copy_threads(bytes, groups * Cg, threads), [&](int64_t b, int64_t e) {
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
  return xp;
}

// --- Large stride-1 maps: padded row windows ----------------------------------------------
//
// A padded copy of a large input (VGG's 64 x 226 x 226 = 13 MB) falls out of the caches
// between being written and being read: the copy alone cost about a third of the layer.
// Above window_min_floats() per group, each work unit instead pads just the padded rows its
// positions read (its chunk's rows plus the kernel's), channel after channel, into a
// per-thread window that the kernel reads while it is still in L2; the rows shared by
// neighbouring chunks are copied twice. The offsets are the window's (channel stride
// wrows * Wp); positions and outputs are shifted by the window's first row.
int64_t window_min_floats() { return l2_floats(); }    // a padded group the size of the L2
int64_t window_budget() { return l2_floats() / 2; }      // floats per window: half the L2

thread_local ScratchBuffer tls_window;

bool use_windows(const ConvGeometry& g, const PaddedPlane& pp) {
  return !pp.in_place && pp.sh == 1 && pp.sw == 1 &&
         g.in_channels / g.group * pp.Hp * pp.Wp >= window_min_floats();
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
// units per thread; threads as the cost model gives for its flops, never more than the units.
struct DirectSplit {
  int64_t m_split, units;
  int threads;
};

DirectSplit direct_split(int64_t blocks, int64_t m_panels, int threads, const ConvGeometry& g, int64_t P,
                         int64_t K) {
  const int64_t m_split =
      threads > 1 && blocks < 4 * threads ? std::min(m_panels, ceil_div(4 * threads, blocks)) : 1;
  const double flops = 2.0 * double(g.batch * g.out_channels) * double(P) * double(K);
  return {m_split, blocks * m_split, conv_threads(flops, blocks * m_split, threads)};
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

}  // namespace

void direct_positions_conv(const DirectPlan& d, const float* x, const ConvPanels& w, const float* bias, float* y,
                           int num_threads, const ConvEpilogue& ep) {
  const ConvGeometry& g = d.g;
  const DirectConvKernels& dk = *d.dk;
  const PaddedPlane& pp = d.pp;
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
  // Window mode: chunks of whole padded rows whose window fits window_budget().
  const int64_t reach = (pp.KH - 1) * pp.dh;  // padded rows a position reads below its own
  const int64_t win_rows_max = std::max<int64_t>(1, window_budget() / (Cg * pp.Wp) - reach - 1);
  const float* padded = windows ? nullptr : pad_input(d, x, threads);
  const int64_t chunk_max = windows
      ? std::max(NR, win_rows_max * row_len / NR * NR)
      // Position chunks: a multiple of nr whose inputs (plus the kernel's halo rows) fit the budget.
      : std::max(NR, (direct_chunk_budget() / (Cg * pp.phases()) - pp.halo()) / NR * NR);
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
  const int64_t a_stride = w.groups[0].panel_stride();
  // A window holds the rows of its chunk's positions plus the kernel's reach (the last chunk
  // may be up to a strip longer than the others: one more row).
  const int64_t wrows = ceil_div(chunk + NR, row_len) + 1 + reach;
  std::vector<int32_t> win_offs;
  if (windows) win_offs = tap_offsets(pp, Cg, wrows * pp.Wp, 0);
  const std::vector<int32_t>& offs = windows ? win_offs : d.offs;
  const int64_t K = static_cast<int64_t>(offs.size());
  const DirectSplit split = direct_split(groups * n_chunks, m_panels, threads, g, P, K);
  const int64_t m_split = split.m_split;

  parallel_dynamic(split.units, split.threads, 1, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      const DirectUnit wu = direct_unit(u, m_split, n_chunks, g.group, m_panels);
      const int64_t ch = wu.chunk, ng = wu.ng, n = wu.n, gi = wu.gi, mp0 = wu.mp0, mp1 = wu.mp1;
      if (mp0 == mp1) continue;
      int64_t q0 = ch * chunk, q1 = ch == n_chunks - 1 ? Q : q0 + chunk;
      const float* xp = windows ? nullptr : padded + ng * d.group_floats;
      int64_t r0 = 0;  // the window's first padded row (= output row: stride 1)
      if (windows) {
        r0 = q0 / row_len;
        float* w = tls_window.get(Cg * wrows * pp.Wp + NR);
        pad_window(pp, Cg, x + ng * Cg * pp.H * pp.W, r0, wrows, NR, w);
        xp = w;
        q0 -= r0 * row_len, q1 -= r0 * row_len;
      }
      const Epilogue epi = block_epilogue(g, bias, ep, n, gi * Mg, r0 * s.OW, P);
      dk.compute(s, offs.data(), K, xp, w.groups[gi].data(), a_stride, Mg, mp0, mp1, q0, q1,
                 y + (n * g.out_channels + gi * Mg) * P + r0 * s.OW, has_post(epi) ? &epi : nullptr);
    }
  });
}

namespace {

// Positions per work unit of the channels kernel (a multiple of its micro-tile), and its K block.
constexpr int64_t kChannelsChunk = 192;
constexpr int64_t kChannelsKc = 128;

thread_local ScratchBuffer tls_tile;  // one work unit's [positions, channels] tile

}  // namespace

// Output channels as vectors (direct.h, channels_*): per work unit (image, group, position
// chunk, channel-panel range) the kernel fills a [positions, channels] tile in scratch, which
// is then transposed into y and gets the epilogue.
void direct_channels_conv(const DirectPlan& d, const float* x, const ConvChannelPanels& w, const float* bias,
                          float* y, int num_threads, const ConvEpilogue& ep) {
  const ConvGeometry& g = d.g;
  const DirectConvKernels& dk = *d.dk;
  const PaddedPlane& pp = d.pp;
  const int64_t Mg = g.out_channels / g.group;
  const int64_t OH = pp.OH, OW = pp.OW;
  const int64_t P = OH * OW, MW = dk.channels_mw, NP = dk.channels_np;
  const int64_t groups = g.batch * g.group;
  const int threads = resolve_threads(num_threads);
  const float* wcv = w.data;
  const int64_t w_group = w.group_floats;
  const float* xp = pad_input(d, x, threads);
  const int64_t K = static_cast<int64_t>(d.offs.size());
  const int64_t kblocks = ceil_div(K, kChannelsKc), kc = ceil_div(K, kblocks);

  // Position chunks of equal size (the kernel balances its tiles inside each). Many threads
  // on a small map (3x3 512 @7: 8 panels, one chunk): more chunks until there are about 4
  // units per thread, down to 4 micro-tiles each (every chunk streams its panels' weights
  // once, so smaller ones would trade compute for weight traffic). A position's sum is the
  // same in any chunk.
  const int64_t m_panels = ceil_div(Mg, MW);
  int64_t n_chunks = ceil_div(P, kChannelsChunk);
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
      dk.channels_compute(d.offs.data(), K, kc, xp + ng * d.group_floats, d.pos.data() + p0, cols,
                          wcv + gi * w_group + mp0 * MW * K, rows, t, ldt);
      float* yb = y + (n * g.out_channels + gi * Mg + m0) * P + p0;
      const Epilogue epi = block_epilogue(g, bias, ep, n, gi * Mg, 0, P);
      dk.channels_store(t, ldt, cols, rows, yb, P, has_post(epi) ? &epi : nullptr, m0, p0);
    }
  });
}

}  // namespace pyinfer
