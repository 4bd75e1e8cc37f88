// Per-tier row kernels of LSTM / GRU / RNN: the gate nonlinearities of one batch row, run
// right after the step's recurrent GEMM. One pass over the row: each vector of hidden units
// loads its gate pre-activations, applies clip and the activations, updates the state and
// stores H_t (and the Y row) without intermediate buffers. Compiled once per tier.
#include "common/simd.h"
#include "rnn/rnn_math.h"
#include "rnn/rnn_types.h"

namespace pyinfer {
namespace PYINFER_ISA_NS {
namespace {

using rnn::Activation;
using rnn_math::activate;
using rnn_math::ld;
using rnn_math::st;
using rnn_math::vclip;

inline int lanes(int64_t H, int64_t j) { return H - j < VecF::N ? static_cast<int>(H - j) : VecF::N; }

// ONNX LSTM (gate order i, o, f, c; peepholes i, o, f):
//   i = f(Xi + Hi + Pi.C_{t-1} + b_i)      f = f(Xf + Hf + Pf.C_{t-1} + b_f)   (or 1 - i)
//   c~ = g(Xc + Hc + b_c)                  C_t = f.C_{t-1} + i.c~     (no sigma around it)
//   o = f(Xo + Ho + Po.C_t + b_o)          H_t = o.h(C_t)
void lstm_row(int64_t H, const float* gx, const float* gr, const float* bias, const float* peep,
              float* c, float* h, float* y, const Activation* acts, const float* clip,
              bool input_forget) {
  const Activation &af = acts[0], &ag = acts[1], &ah = acts[2];
  const VecF one = VecF::set1(1.0f);
  for (int64_t j = 0; j < H; j += VecF::N) {
    const int n = lanes(H, j);
    VecF c_prev = ld(c + j, n);
    VecF pi = ld(gx + j, n) + ld(gr + j, n) + ld(bias + j, n);
    VecF po = ld(gx + H + j, n) + ld(gr + H + j, n) + ld(bias + H + j, n);
    VecF pf = ld(gx + 2 * H + j, n) + ld(gr + 2 * H + j, n) + ld(bias + 2 * H + j, n);
    VecF pc = ld(gx + 3 * H + j, n) + ld(gr + 3 * H + j, n) + ld(bias + 3 * H + j, n);
    if (peep) {
      pi = fmadd(ld(peep + j, n), c_prev, pi);
      pf = fmadd(ld(peep + 2 * H + j, n), c_prev, pf);
    }
    if (clip) {
      pi = vclip(pi, *clip);
      pf = vclip(pf, *clip);
      pc = vclip(pc, *clip);
    }
    VecF ig = activate(pi, af);
    VecF fg = input_forget ? one - ig : activate(pf, af);
    VecF cg = activate(pc, ag);
    VecF c_new = fmadd(fg, c_prev, ig * cg);
    if (peep) po = fmadd(ld(peep + H + j, n), c_new, po);
    if (clip) po = vclip(po, *clip);
    VecF og = activate(po, af);
    // clip applies to the input of every activation, h's included; the state keeps C_t.
    VecF hv = og * activate(clip ? vclip(c_new, *clip) : c_new, ah);
    st(c_new, c + j, n);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

// GRU, linear_before_reset = 0, before the second recurrent GEMM:
//   z = f(Xz + Hz + b_z), r = f(Xr + Hr + b_r); rh = r.H_{t-1}
void gru_zr_row(int64_t H, const float* gx, const float* gr, const float* bias, const float* h_prev,
                float* z, float* rh, const Activation* f, const float* clip) {
  for (int64_t j = 0; j < H; j += VecF::N) {
    const int n = lanes(H, j);
    VecF pz = ld(gx + j, n) + ld(gr + j, n) + ld(bias + j, n);
    VecF pr = ld(gx + H + j, n) + ld(gr + H + j, n) + ld(bias + H + j, n);
    if (clip) {
      pz = vclip(pz, *clip);
      pr = vclip(pr, *clip);
    }
    st(activate(pz, *f), z + j, n);
    st(activate(pr, *f) * ld(h_prev + j, n), rh + j, n);
  }
}

// GRU, linear_before_reset = 0, after it: h~ = g(Xh + (r.H_{t-1})Rh^T + Wbh + Rbh);
//   H_t = (1 - z).h~ + z.H_{t-1} = h~ + z.(H_{t-1} - h~)
void gru_h_row(int64_t H, const float* gxh, const float* grh, const float* bias, const float* z,
               float* h, float* y, const Activation* g, const float* clip) {
  for (int64_t j = 0; j < H; j += VecF::N) {
    const int n = lanes(H, j);
    VecF ph = ld(gxh + j, n) + ld(grh + j, n) + ld(bias + j, n);
    if (clip) ph = vclip(ph, *clip);
    VecF hh = activate(ph, *g);
    VecF hv = fmadd(ld(z + j, n), ld(h + j, n) - hh, hh);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

// GRU, linear_before_reset = 1: h~ = g(Xh + Wbh + r.(Hh + Rbh)), everything in one pass.
void gru_lbr_row(int64_t H, const float* gx, const float* gr, const float* bias_zr,
                 const float* wbh, const float* rbh, float* h, float* y, const Activation* acts,
                 const float* clip) {
  const Activation &af = acts[0], &ag = acts[1];
  for (int64_t j = 0; j < H; j += VecF::N) {
    const int n = lanes(H, j);
    VecF pz = ld(gx + j, n) + ld(gr + j, n) + ld(bias_zr + j, n);
    VecF pr = ld(gx + H + j, n) + ld(gr + H + j, n) + ld(bias_zr + H + j, n);
    if (clip) {
      pz = vclip(pz, *clip);
      pr = vclip(pr, *clip);
    }
    VecF zg = activate(pz, af);
    VecF rg = activate(pr, af);
    VecF ph = fmadd(rg, ld(gr + 2 * H + j, n) + ld(rbh + j, n), ld(gx + 2 * H + j, n) + ld(wbh + j, n));
    if (clip) ph = vclip(ph, *clip);
    VecF hh = activate(ph, ag);
    VecF hv = fmadd(zg, ld(h + j, n) - hh, hh);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

// RNN: H_t = f(Xi + Hi + Wbi + Rbi)
void rnn_row(int64_t H, const float* gx, const float* gr, const float* bias, float* h, float* y,
             const Activation* f, const float* clip) {
  for (int64_t j = 0; j < H; j += VecF::N) {
    const int n = lanes(H, j);
    VecF p = ld(gx + j, n) + ld(gr + j, n) + ld(bias + j, n);
    if (clip) p = vclip(p, *clip);
    VecF hv = activate(p, *f);
    st(hv, h + j, n);
    if (y) st(hv, y + j, n);
  }
}

void activate_array(int64_t n, float* x, const Activation* a) {
  for (int64_t j = 0; j < n; j += VecF::N) {
    const int k = lanes(n, j);
    st(activate(ld(x + j, k), *a), x + j, k);
  }
}

}  // namespace

extern const rnn::RowKernels rnn_row_kernels = {lstm_row, gru_zr_row, gru_h_row, gru_lbr_row, rnn_row,
                                               activate_array};

}  // namespace PYINFER_ISA_NS
}  // namespace pyinfer
