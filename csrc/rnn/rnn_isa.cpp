// Per-tier kernels of LSTM / GRU / RNN, compiled once per tier:
//   step_*   the recurrent product H_{t-1} R^T of one step for a range of gate-interleaved
//            panels (the packed layout is described in rnn_types.h);
//   *_row    the gate nonlinearities of one batch row over a range of hidden units. One pass:
//            each vector of hidden units loads its gate pre-activations, applies clip and the
//            activations, updates the state and stores H_t (and the Y row), no buffers.
#include "common/simd.h"
#include "rnn/rnn_math.h"
#include "rnn/rnn_types.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

using rnn_math::ld;
using rnn_math::st;
using rnn_math::vclip;

inline int lanes(int64_t H, int64_t j) { return H - j < VecF::N ? static_cast<int>(H - j) : VecF::N; }

// Accumulators kept in registers by the step kernel: AVX-512 has 32 vector registers,
// AVX2 and SSE (scalar tier) 16; the rest hold panel loads and the broadcast of h.
constexpr int kMaxAcc = VecF::N == 16 ? 24 : 12;

// MB batch rows x one panel of V vectors per depth (V = gates * u). The panel streams once;
// each depth k broadcasts h[m][k] against the V vectors. Output vector v is gate v / u,
// vector v % u of the panel's units; `units` (<= u * N) of them exist (< H). Few
// accumulators cannot hide the FMA latency: then KU sets take alternate depths and are
// summed at the end (a fixed order: results do not depend on the thread count).
template <int MB, int V>
void step_panel(int64_t K, const float* h, int64_t ldh, const float* panel, int64_t u, int64_t H,
                int64_t units, float* out, int64_t ldo) {
  constexpr int KU = MB * V >= 8 ? 1 : 2;
  VecF acc[KU][MB][V];
  for (int q = 0; q < KU; ++q)
    for (int m = 0; m < MB; ++m)
      for (int v = 0; v < V; ++v) acc[q][m][v] = VecF::zero();
  const float* p = panel;
  int64_t k = 0;
  for (; k + KU <= K; k += KU) {
    for (int q = 0; q < KU; ++q, p += V * VecF::N) {
      for (int m = 0; m < MB; ++m) {
        const VecF hb = VecF::set1(h[m * ldh + k + q]);
        for (int v = 0; v < V; ++v) acc[q][m][v] = fmadd(hb, VecF::load(p + v * VecF::N), acc[q][m][v]);
      }
    }
  }
  for (; k < K; ++k, p += V * VecF::N) {
    for (int m = 0; m < MB; ++m) {
      const VecF hb = VecF::set1(h[m * ldh + k]);
      for (int v = 0; v < V; ++v) acc[0][m][v] = fmadd(hb, VecF::load(p + v * VecF::N), acc[0][m][v]);
    }
  }
  for (int q = 1; q < KU; ++q)
    for (int m = 0; m < MB; ++m)
      for (int v = 0; v < V; ++v) acc[0][m][v] = acc[0][m][v] + acc[q][m][v];
  for (int v = 0; v < V; ++v) {
    const int64_t g = v / u, col = (v % u) * VecF::N;
    if (col >= units) continue;
    const int n = lanes(units, col);
    for (int m = 0; m < MB; ++m) st(acc[0][m][v], out + m * ldo + g * H + col, n);
  }
}

using PanelFn = void (*)(int64_t, const float*, int64_t, const float*, int64_t, int64_t, int64_t,
                         float*, int64_t);

// Only tiles that fit the registers are instantiated (step() never asks for others).
template <int MB, int V>
PanelFn tile() {
  if constexpr (MB * V <= kMaxAcc) return step_panel<MB, V>;
  return step_panel<1, V>;
}

template <int MB>
PanelFn panel_fn_v(int64_t V) {
  switch (V) {
    case 1: return tile<MB, 1>();
    case 2: return tile<MB, 2>();
    case 3: return tile<MB, 3>();
    case 4: return tile<MB, 4>();
    case 5: return tile<MB, 5>();
    case 6: return tile<MB, 6>();
    case 7: return tile<MB, 7>();
    default: return tile<MB, 8>();
  }
}

PanelFn panel_fn(int64_t MB, int64_t V) {
  switch (MB) {
    case 1: return panel_fn_v<1>(V);
    case 2: return panel_fn_v<2>(V);
    case 3: return panel_fn_v<3>(V);
    case 4: return panel_fn_v<4>(V);
    case 5: return panel_fn_v<5>(V);
    case 6: return panel_fn_v<6>(V);
    case 7: return panel_fn_v<7>(V);
    default: return panel_fn_v<8>(V);
  }
}

// Panel by panel; within a panel the batch rows go MB at a time, so the panel (K * V
// vectors) is read from memory once and from L1 by the following row groups.
void step(int64_t B, int64_t K, const float* h, int64_t ldh, const float* panels, int64_t G,
          int64_t u, int64_t H, int64_t blk0, int64_t blk1, float* rec, int64_t ldr) {
  const int64_t V = G * u, w = u * VecF::N, panel_floats = K * V * VecF::N;
  if (V < 1 || V > 8) return;  // the driver never packs wider panels (rnn.cpp, choose_u)
  int64_t mb = kMaxAcc / V;
  mb = mb < 1 ? 1 : mb > 8 ? 8 : mb;
  mb = (B + (B + mb - 1) / mb - 1) / ((B + mb - 1) / mb);  // balanced groups: 8 rows = 4 + 4, not 6 + 2
  const PanelFn full = panel_fn(mb, V);
  for (int64_t blk = blk0; blk < blk1; ++blk) {
    const int64_t j0 = blk * w, units = H - j0 < w ? H - j0 : w;
    const float* panel = panels + blk * panel_floats;
    for (int64_t b = 0; b < B; b += mb) {
      const int64_t rows = B - b < mb ? B - b : mb;
      const PanelFn fn = rows == mb ? full : panel_fn(rows, V);
      fn(K, h + b * ldh, ldh, panel, u, H, units, rec + b * ldr + j0, ldr);
    }
  }
}

// ONNX LSTM (gate order i, o, f, c; peepholes i, o, f; biases already in gx):
//   i = f(Xi + Hi + Pi.C_{t-1})      f = f(Xf + Hf + Pf.C_{t-1})   (or 1 - i)
//   c~ = g(Xc + Hc)                  C_t = f.C_{t-1} + i.c~     (no sigma around it)
//   o = f(Xo + Ho + Po.C_t)          H_t = o.h(C_t)
// STANDARD: the ONNX default activations (Sigmoid, Tanh, Tanh), called directly, so that the
// compiler interleaves the five gate functions of a vector (one switch on the activation kind
// per call kept them apart: a fifth of a 128-unit LSTM's step time).
template <bool STANDARD>
void lstm_units(int64_t n_units, int64_t H, const float* gx, const float* gr, const float* peep,
                float* c, float* h, float* y, const ActParams* acts, const float* clip,
                bool input_forget) {
  const ActParams &af = acts[0], &ag = acts[1], &ah = acts[2];
  auto f = [&](VecF v) { return STANDARD ? vsigmoid(v) : activate_any(v, af); };
  auto g = [&](VecF v) { return STANDARD ? vtanh(v) : activate_any(v, ag); };
  auto hf = [&](VecF v) { return STANDARD ? vtanh(v) : activate_any(v, ah); };
  const VecF one = VecF::set1(1.0f);
  for (int64_t j = 0; j < n_units; j += VecF::N) {
    const int n = lanes(n_units, j);
    VecF c_prev = ld(c + j, n);
    VecF pi = ld(gx + j, n) + ld(gr + j, n);
    VecF po = ld(gx + H + j, n) + ld(gr + H + j, n);
    VecF pf = ld(gx + 2 * H + j, n) + ld(gr + 2 * H + j, n);
    VecF pc = ld(gx + 3 * H + j, n) + ld(gr + 3 * H + j, n);
    if (peep) {
      pi = fmadd(ld(peep + j, n), c_prev, pi);
      pf = fmadd(ld(peep + 2 * H + j, n), c_prev, pf);
    }
    if (clip) {
      pi = vclip(pi, *clip);
      pf = vclip(pf, *clip);
      pc = vclip(pc, *clip);
    }
    VecF ig = f(pi);
    VecF fg = input_forget ? one - ig : f(pf);
    VecF cg = g(pc);
    VecF c_new = fmadd(fg, c_prev, ig * cg);
    if (peep) po = fmadd(ld(peep + H + j, n), c_new, po);
    if (clip) po = vclip(po, *clip);
    VecF og = f(po);
    // clip applies to the input of every activation, h's included; the state keeps C_t.
    VecF hv = og * hf(clip ? vclip(c_new, *clip) : c_new);
    st(c_new, c + j, n);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

void lstm_row(int64_t n_units, int64_t H, const float* gx, const float* gr, const float* peep,
              float* c, float* h, float* y, const ActParams* acts, const float* clip,
              bool input_forget) {
  const bool standard = acts[0].kind == Act::Sigmoid && acts[1].kind == Act::Tanh && acts[2].kind == Act::Tanh;
  if (standard)
    lstm_units<true>(n_units, H, gx, gr, peep, c, h, y, acts, clip, input_forget);
  else
    lstm_units<false>(n_units, H, gx, gr, peep, c, h, y, acts, clip, input_forget);
}

// GRU, linear_before_reset = 0, before the second recurrent product:
//   z = f(Xz + Hz), r = f(Xr + Hr); rh = r.H_{t-1}
void gru_zr_row(int64_t n_units, int64_t H, const float* gx, const float* gr, const float* h_prev,
                float* z, float* rh, const ActParams* f, const float* clip) {
  for (int64_t j = 0; j < n_units; j += VecF::N) {
    const int n = lanes(n_units, j);
    VecF pz = ld(gx + j, n) + ld(gr + j, n);
    VecF pr = ld(gx + H + j, n) + ld(gr + H + j, n);
    if (clip) {
      pz = vclip(pz, *clip);
      pr = vclip(pr, *clip);
    }
    st(activate_any(pz, *f), z + j, n);
    st(activate_any(pr, *f) * ld(h_prev + j, n), rh + j, n);
  }
}

// GRU, linear_before_reset = 0, after it: h~ = g(Xh + (r.H_{t-1})Rh^T) (gxh holds Wbh + Rbh);
//   H_t = (1 - z).h~ + z.H_{t-1} = h~ + z.(H_{t-1} - h~)
void gru_h_row(int64_t n_units, const float* gxh, const float* grh, const float* z, float* h,
               float* y, const ActParams* g, const float* clip) {
  for (int64_t j = 0; j < n_units; j += VecF::N) {
    const int n = lanes(n_units, j);
    VecF ph = ld(gxh + j, n) + ld(grh + j, n);
    if (clip) ph = vclip(ph, *clip);
    VecF hh = activate_any(ph, *g);
    VecF hv = fmadd(ld(z + j, n), ld(h + j, n) - hh, hh);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

// GRU, linear_before_reset = 1: h~ = g(Xh + Wbh + r.(Hh + Rbh)), everything in one pass.
// STANDARD: f, g = Sigmoid, Tanh (the defaults), called directly as in lstm_units.
template <bool STANDARD>
void gru_lbr_units(int64_t n_units, int64_t H, const float* gx, const float* gr, const float* rbh,
                   const float* h_prev, float* h, float* y, const ActParams* acts, const float* clip) {
  const ActParams &af = acts[0], &ag = acts[1];
  auto f = [&](VecF v) { return STANDARD ? vsigmoid(v) : activate_any(v, af); };
  auto g = [&](VecF v) { return STANDARD ? vtanh(v) : activate_any(v, ag); };
  for (int64_t j = 0; j < n_units; j += VecF::N) {
    const int n = lanes(n_units, j);
    VecF pz = ld(gx + j, n) + ld(gr + j, n);
    VecF pr = ld(gx + H + j, n) + ld(gr + H + j, n);
    if (clip) {
      pz = vclip(pz, *clip);
      pr = vclip(pr, *clip);
    }
    VecF zg = f(pz);
    VecF rg = f(pr);
    VecF ph = fmadd(rg, ld(gr + 2 * H + j, n) + ld(rbh + j, n), ld(gx + 2 * H + j, n));
    if (clip) ph = vclip(ph, *clip);
    VecF hh = g(ph);
    VecF hv = fmadd(zg, ld(h_prev + j, n) - hh, hh);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

void gru_lbr_row(int64_t n_units, int64_t H, const float* gx, const float* gr, const float* rbh,
                 const float* h_prev, float* h, float* y, const ActParams* acts, const float* clip) {
  if (acts[0].kind == Act::Sigmoid && acts[1].kind == Act::Tanh)
    gru_lbr_units<true>(n_units, H, gx, gr, rbh, h_prev, h, y, acts, clip);
  else
    gru_lbr_units<false>(n_units, H, gx, gr, rbh, h_prev, h, y, acts, clip);
}

// RNN: H_t = f(Xi + Hi) (gx holds Wbi + Rbi)
void rnn_row(int64_t n_units, const float* gx, const float* gr, float* h, float* y,
             const ActParams* f, const float* clip) {
  for (int64_t j = 0; j < n_units; j += VecF::N) {
    const int n = lanes(n_units, j);
    VecF p = ld(gx + j, n) + ld(gr + j, n);
    if (clip) p = vclip(p, *clip);
    VecF hv = activate_any(p, *f);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

void activate_array(int64_t n, float* x, const ActParams* a) {
  for (int64_t j = 0; j < n; j += VecF::N) {
    const int k = lanes(n, j);
    st(activate_any(ld(x + j, k), *a), x + j, k);
  }
}

}  // namespace

extern const rnn::RowKernels rnn_row_kernels = {VecF::N,    kMaxAcc,     step,    lstm_row,
                                               gru_zr_row, gru_h_row,   gru_lbr_row, rnn_row,
                                               activate_array};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
