// The portable LSTM / GRU / RNN driver (see rnn.h and docs/RNN.md).
//
// Per direction:
//   1. one GEMM for the input projection of every time step: XW = X * W^T   [S*B, G*H]
//      (X is [S*B, I] as stored in either layout; only the row order differs);
//   2. the time loop: per step one GEMM for the recurrent part, rec = H_{t-1} * R^T [B, G*H]
//      (R^T packed once per call: see PackedMatrix in gemm/gemm.h),
//      then the per-tier row kernel adds XW row + rec row + biases, applies the gates and
//      writes H_t (and the Y row) in one pass.
// Sequence lengths: every direction walks the same time index for all batch rows; a row is
// simply skipped at the steps past its length, so its state stays frozen. In the forward
// direction that freezes it after its last valid step; in the reverse direction, which walks
// t = maxlen-1 .. 0, a row keeps its initial state until t = len-1, i.e. it processes exactly
// its own sequence reversed. Y is zero at skipped steps.
// All scratch is allocated before the time loop.
#include "rnn/rnn.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/thread_pool.h"
#include "gemm/gemm.h"

namespace pyinfer {
namespace rnn {

namespace {

struct ActInfo {
  const char* name;
  ActKind kind;
  bool uses_alpha, uses_beta;
  float alpha, beta;  // defaults: those of the ONNX operator of the same name
};

// ScaledTanh has no ONNX defaults; alpha = beta = 1 makes it plain tanh.
const ActInfo kActivations[] = {
    {"relu", ActKind::Relu, false, false, 0.f, 0.f},
    {"tanh", ActKind::Tanh, false, false, 0.f, 0.f},
    {"sigmoid", ActKind::Sigmoid, false, false, 0.f, 0.f},
    {"affine", ActKind::Affine, true, true, 1.f, 0.f},
    {"leakyrelu", ActKind::LeakyRelu, true, false, 0.01f, 0.f},
    {"thresholdedrelu", ActKind::ThresholdedRelu, true, false, 1.f, 0.f},
    {"scaledtanh", ActKind::ScaledTanh, true, true, 1.f, 1.f},
    {"hardsigmoid", ActKind::HardSigmoid, true, true, 0.2f, 0.5f},
    {"elu", ActKind::Elu, true, false, 1.f, 0.f},
    {"softsign", ActKind::Softsign, false, false, 0.f, 0.f},
    {"softplus", ActKind::Softplus, false, false, 0.f, 0.f},
};

const char* cell_name(Cell cell) { return cell == Cell::Lstm ? "LSTM" : cell == Cell::Gru ? "GRU" : "RNN"; }

}  // namespace

std::vector<Activation> parse_activations(Cell cell, int64_t num_directions,
                                          const std::vector<std::string>& names,
                                          const std::vector<float>& alphas,
                                          const std::vector<float>& betas) {
  const size_t per_dir = static_cast<size_t>(activation_count(cell));
  std::vector<std::string> list = names;
  if (list.empty()) {
    static const char* const lstm[] = {"Sigmoid", "Tanh", "Tanh"};
    static const char* const gru[] = {"Sigmoid", "Tanh"};
    static const char* const rnn[] = {"Tanh"};
    const char* const* defaults = cell == Cell::Lstm ? lstm : cell == Cell::Gru ? gru : rnn;
    list.assign(defaults, defaults + per_dir);
  }
  // A bidirectional node given one direction's list (and its alphas/betas) uses it for both.
  const bool shared = num_directions == 2 && list.size() == per_dir;
  PYINFER_CHECK(shared || list.size() == per_dir * static_cast<size_t>(num_directions),
                cell_name(cell) << ": expected " << per_dir * num_directions << " activations ("
                                << per_dir << " per direction), got " << list.size());
  std::vector<Activation> out;
  size_t next_alpha = 0, next_beta = 0;
  for (const std::string& name : list) {
    std::string lower = name;
    for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const ActInfo* info = nullptr;
    for (const auto& a : kActivations)
      if (lower == a.name) info = &a;
    PYINFER_CHECK(info != nullptr,
                  cell_name(cell) << ": unknown activation '" << name
                                  << "' (expected one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                                     "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)");
    Activation act{info->kind, info->alpha, info->beta};
    if (info->uses_alpha && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (info->uses_beta && next_beta < betas.size()) act.beta = betas[next_beta++];
    out.push_back(act);
  }
  // Values nobody consumed mean the model meant another pairing: refuse rather than guess.
  PYINFER_CHECK(next_alpha == alphas.size(),
                cell_name(cell) << ": " << alphas.size() << " activation_alpha values but the activations take only "
                                << next_alpha << " (values are consumed in order by the activations that take an "
                                   "alpha: Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu)");
  PYINFER_CHECK(next_beta == betas.size(),
                cell_name(cell) << ": " << betas.size() << " activation_beta values but the activations take only "
                                << next_beta << " (values are consumed in order by the activations that take a "
                                   "beta: Affine, ScaledTanh, HardSigmoid)");
  if (shared) {
    const std::vector<Activation> first = out;
    out.insert(out.end(), first.begin(), first.end());
  }
  return out;
}

namespace {

// Row offsets (in rows of the stored tensor) for time t, batch b.
struct Layout {
  int64_t S, B, D, H;
  int layout;
  int64_t x_row(int64_t t, int64_t b) const { return layout == 0 ? t * B + b : b * S + t; }
  // Offset of the H-vector in Y for (t, d, b).
  int64_t y_off(int64_t t, int64_t d, int64_t b) const {
    return (layout == 0 ? (t * D + d) * B + b : (b * S + t) * D + d) * H;
  }
  // Offset in initial_h / Y_h / initial_c / Y_c for (d, b).
  int64_t state_off(int64_t d, int64_t b) const { return (layout == 0 ? d * B + b : b * D + d) * H; }
};

// Runs one direction's time loop. xw: its input projection [S*B, G*H].
void run_direction(const Problem& p, const Layout& L, int64_t d, const float* xw, int gemm_threads) {
  const int64_t S = p.seq_len, B = p.batch, H = p.hidden, G = gate_count(p.cell), GH = G * H;
  if (B == 0) return;
  const bool reverse = p.reverse || d == 1;
  const RowKernels& k = row_kernels();
  const Activation* acts = p.activations + d * activation_count(p.cell);
  // R^T packed once per call into the GEMM's panels ([GH, H] rows of R become contiguous
  // K x nr strips): each step streams it instead of reading R^T columns at a stride.
  // The two-pass GRU multiplies by its h-gate columns separately: a packing of its own.
  const bool gru_two_pass = p.cell == Cell::Gru && !p.linear_before_reset;
  const float* R = p.R + d * GH * H;
  const int64_t n_rec = gru_two_pass ? 2 * H : GH;
  const PackedMatrix Rp(PackedMatrix::Side::B, true, H, n_rec, R, H, gemm_threads);
  const PackedMatrix Rh(PackedMatrix::Side::B, true, H, gru_two_pass ? H : 0, R + 2 * H * H, H, 1);
  const float* clip = p.has_clip ? &p.clip : nullptr;

  // Biases folded once: where ONNX adds Wb and Rb side by side, one vector does.
  std::vector<float> bias(GH, 0.f), rbh(H, 0.f);  // rbh: GRU lbr=1 keeps Rbh apart
  if (p.B) {
    const float* wb = p.B + d * 2 * GH;
    const float* rb = wb + GH;
    for (int64_t j = 0; j < GH; ++j) bias[j] = wb[j] + rb[j];
    if (p.cell == Cell::Gru && p.linear_before_reset)
      for (int64_t j = 0; j < H; ++j) {
        bias[2 * H + j] = wb[2 * H + j];
        rbh[j] = rb[2 * H + j];
      }
  }
  const float* peep = p.P ? p.P + d * 3 * H : nullptr;

  std::vector<int64_t> len(B, S);
  if (p.seq_lens) std::copy(p.seq_lens, p.seq_lens + B, len.begin());
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) max_len = std::max(max_len, len[b]);

  std::vector<float> h(B * H, 0.f), c(p.cell == Cell::Lstm ? B * H : 0, 0.f);
  if (p.initial_h)
    for (int64_t b = 0; b < B; ++b) std::memcpy(&h[b * H], p.initial_h + L.state_off(d, b), H * sizeof(float));
  if (p.initial_c && p.cell == Cell::Lstm)
    for (int64_t b = 0; b < B; ++b) std::memcpy(&c[b * H], p.initial_c + L.state_off(d, b), H * sizeof(float));

  // rec: H_{t-1} R^T for all gates (or z, r only in the two-pass GRU), [B, GH].
  std::vector<float> rec(B * GH, 0.f);
  std::vector<float> z(gru_two_pass ? B * H : 0), rh(gru_two_pass ? B * H : 0), rech(gru_two_pass ? B * H : 0);
  bool h_is_zero = p.initial_h == nullptr;  // step one without initial_h: H_{t-1} R^T = 0

  for (int64_t step = 0; step < max_len; ++step) {
    const int64_t t = reverse ? max_len - 1 - step : step;
    if (h_is_zero)
      std::fill(rec.begin(), rec.end(), 0.f);
    else
      sgemm_packed_b(false, B, h.data(), H, Rp, 1.f, 0.f, rec.data(), GH, gemm_threads);

    for (int64_t b = 0; b < B; ++b) {
      if (t >= len[b]) continue;  // past this row's end: state frozen, Y stays 0
      const float* gx = xw + L.x_row(t, b) * GH;
      const float* gr = rec.data() + b * GH;
      float* hb = h.data() + b * H;
      float* y = p.Y ? p.Y + L.y_off(t, d, b) : nullptr;
      switch (p.cell) {
        case Cell::Lstm:
          k.lstm(H, gx, gr, bias.data(), peep, c.data() + b * H, hb, y, acts, clip, p.input_forget);
          break;
        case Cell::Rnn:
          k.rnn(H, gx, gr, bias.data(), hb, y, acts, clip);
          break;
        case Cell::Gru:
          if (gru_two_pass)
            k.gru_zr(H, gx, gr, bias.data(), hb, z.data() + b * H, rh.data() + b * H, acts, clip);
          else
            k.gru_lbr(H, gx, gr, bias.data(), bias.data() + 2 * H, rbh.data(), hb, y, acts, clip);
          break;
      }
    }
    if (gru_two_pass) {
      // Inactive rows carry stale rh; their result is never used.
      sgemm_packed_b(false, B, rh.data(), H, Rh, 1.f, 0.f, rech.data(), H, gemm_threads);
      for (int64_t b = 0; b < B; ++b) {
        if (t >= len[b]) continue;
        const float* gxh = xw + L.x_row(t, b) * GH + 2 * H;
        float* y = p.Y ? p.Y + L.y_off(t, d, b) : nullptr;
        k.gru_h(H, gxh, rech.data() + b * H, bias.data() + 2 * H, z.data() + b * H, h.data() + b * H, y,
                acts + 1, clip);
      }
    }
    h_is_zero = false;
  }

  // Final states: each row's last valid state; zeros for an empty sequence (as onnxruntime).
  for (int64_t b = 0; b < B; ++b) {
    const bool empty = len[b] == 0;
    if (p.Y_h) {
      float* dst = p.Y_h + L.state_off(d, b);
      if (empty) std::fill(dst, dst + H, 0.f); else std::memcpy(dst, &h[b * H], H * sizeof(float));
    }
    if (p.Y_c && p.cell == Cell::Lstm) {
      float* dst = p.Y_c + L.state_off(d, b);
      if (empty) std::fill(dst, dst + H, 0.f); else std::memcpy(dst, &c[b * H], H * sizeof(float));
    }
  }
}

}  // namespace

void run_rnn(const Problem& p) {
  const int64_t S = p.seq_len, B = p.batch, I = p.input_size, H = p.hidden, D = p.num_directions;
  const int64_t GH = gate_count(p.cell) * H;
  PYINFER_CHECK(S >= 0 && B >= 0 && I >= 0 && H > 0 && (D == 1 || D == 2), "rnn: bad problem sizes");
  const Layout L{S, B, D, H, p.layout};
  const int threads = resolve_threads(p.num_threads);

  // Y is zero wherever a row is past its length (and at steps past every row's length).
  if (p.Y) {
    bool all_full = true;
    if (p.seq_lens)
      for (int64_t b = 0; b < B; ++b) all_full = all_full && p.seq_lens[b] == S;
    if (!all_full) std::fill(p.Y, p.Y + S * D * B * H, 0.f);
  }

  // 1. Input projections of all steps, both directions: the big GEMM gets every thread.
  std::vector<float> xw(static_cast<size_t>(D * S * B * GH));
  for (int64_t d = 0; d < D; ++d) {
    float* dst = xw.data() + d * S * B * GH;
    if (S * B == 0) continue;
    if (I == 0) {
      std::fill(dst, dst + S * B * GH, 0.f);
      continue;
    }
    // X W^T with W [GH, I] read in place (the GEMM packs it per block as it goes).
    sgemm(false, true, S * B, GH, I, 1.f, p.X, I, p.W + d * GH * I, I, 0.f, dst, GH, threads);
  }

  // 2. The recurrences. A step's GEMM is small (B x GH x H): below ~64K multiply-adds
  // threading costs more than it gains.
  const int step_threads = (B * GH * H < (1 << 16)) ? 1 : threads;
  if (D == 2 && threads >= 2) {
    // The two directions are independent: one thread each (nested GEMMs run serially).
    parallel_for(2, 2, [&](int64_t d0, int64_t d1) {
      for (int64_t d = d0; d < d1; ++d) run_direction(p, L, d, xw.data() + d * S * B * GH, 1);
    });
  } else {
    for (int64_t d = 0; d < D; ++d) run_direction(p, L, d, xw.data() + d * S * B * GH, step_threads);
  }
}

}  // namespace rnn
}  // namespace pyinfer
