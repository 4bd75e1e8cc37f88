// The portable LSTM / GRU / RNN driver (see rnn.h and docs/RNN.md).
//
// Weights (once per session for constant W, R, B; else once per call): W^T packed for the
// GEMM, R packed into gate-interleaved panels for the step kernel, biases folded.
// Per run and direction:
//   1. one GEMM for the input projection of every time step, biases added by its epilogue:
//      XW = X * W^T + xbias   [S*B, G*H]  (X is [S*B, I] in either layout; only row order differs);
//   2. the time loop. Each step's participant (thread) owns a range of R's panels, i.e. of
//      hidden units: it computes H_{t-1} R^T for its units and every gate (step kernel), then
//      runs the row kernels on those units (still in L1), writing H_t and the Y row. The
//      next step needs all of H_t: one barrier per step (two for the two-pass GRU). H is
//      double-buffered (read H_{t-1}, write H_t) so no participant overwrites what another
//      still reads.
// Sequence lengths: every direction walks the same time index for all batch rows; a row is
// simply skipped at the steps past its length, so its state stays frozen. In the forward
// direction that freezes it after its last valid step; in the reverse direction, which walks
// t = maxlen-1 .. 0, a row keeps its initial state until t = len-1, i.e. it processes exactly
// its own sequence reversed. Y is zero at skipped steps.
// Scratch comes from a grow-only per-thread arena, sized before the time loop.
#include "rnn/rnn.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "activation/act_names.h"
#include "common/check.h"
#include "common/thread_pool.h"
#include "gemm/gemm.h"

namespace pyinfer {
namespace rnn {

namespace {

// The gate functions the ONNX RNN family names (matched case-insensitively); their defaults
// are those of the ONNX operator of the same name (act_defaults). ScaledTanh has no ONNX
// defaults; alpha = beta = 1 makes it plain tanh.
const Act kGateFunctions[] = {Act::Relu, Act::Tanh,        Act::Sigmoid, Act::Affine,   Act::LeakyRelu, Act::ThresholdedRelu,
                              Act::ScaledTanh, Act::HardSigmoid, Act::Elu, Act::Softsign, Act::Softplus};

std::string lower_case(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

const char* cell_name(Cell cell) { return cell == Cell::Lstm ? "LSTM" : cell == Cell::Gru ? "GRU" : "RNN"; }

}  // namespace

std::vector<ActParams> parse_activations(Cell cell, int64_t num_directions,
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
  std::vector<ActParams> out;
  size_t next_alpha = 0, next_beta = 0;
  for (const std::string& name : list) {
    const Act* kind = nullptr;
    for (const Act& a : kGateFunctions)
      if (lower_case(name) == lower_case(act_name(a))) kind = &a;
    PYINFER_CHECK(kind != nullptr,
                  cell_name(cell) << ": unknown activation '" << name
                                  << "' (expected one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, "
                                     "ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus)");
    ActParams act = act_defaults(*kind);
    const int params = act_param_count(*kind);
    if (params >= 1 && next_alpha < alphas.size()) act.a = alphas[next_alpha++];
    if (params >= 2 && next_beta < betas.size()) act.b = betas[next_beta++];
    // The RNN operators define ThresholdedRelu as x >= alpha ? x : 0, the operator of that
    // name as x > alpha: x >= a is x > (the float below a).
    if (act.kind == Act::ThresholdedRelu) act.a = std::nextafter(act.a, -std::numeric_limits<float>::infinity());
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
    const std::vector<ActParams> first = out;
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

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

float* alloc_floats(int64_t n) {
  const size_t bytes = (static_cast<size_t>(n) * sizeof(float) + 63) / 64 * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes > 0 ? bytes : 64));
  if (!p) throw std::bad_alloc();
  return p;
}

// A grow-only 64-byte aligned buffer, one per calling thread: the scratch of a run (input
// projections, states, step products) without zero-filling or page faults on every call.
class Arena {
 public:
  ~Arena() { std::free(data_); }
  float* get(int64_t n) {
    if (n > cap_) {
      std::free(data_);
      data_ = nullptr;
      cap_ = 0;
      data_ = alloc_floats(n);
      cap_ = n;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  int64_t cap_ = 0;
};

thread_local Arena tls_arena;

// Panels about 4 vectors wide: a tile of 4 vectors x up to 6 batch rows fills the registers
// with few loads per multiply-add, and a 4-vector panel of K <= 512 (<= 128 KB) stays in L2
// across row groups. At least two panels when H allows, so that two threads can split a step.
int64_t choose_u(int64_t G, int64_t H, int vec) {
  const int64_t by_width = std::max<int64_t>(1, 4 / G);
  const int64_t half = ceil_div(ceil_div(H, vec), 2);
  return std::max<int64_t>(1, std::min(by_width, half));
}

// Packs gates [g0, g0 + G) of R (one direction, [G_all*H, H]) as GatePanels (rnn_types.h).
void pack_gates(GatePanels& out, const RowKernels& k, const float* R, int64_t H, int64_t g0, int64_t G) {
  out.G = G;
  out.u = choose_u(G, H, k.vec);
  out.w = out.u * k.vec;
  out.blocks = ceil_div(H, out.w);
  const int64_t K = H, row = G * out.w;  // floats per depth in a panel
  float* dst = alloc_floats(out.blocks * K * row);
  out.data.reset(dst);
  for (int64_t blk = 0; blk < out.blocks; ++blk) {
    float* panel = dst + blk * K * row;
    for (int64_t g = 0; g < G; ++g)
      for (int64_t s = 0; s < out.w; ++s) {
        const int64_t j = blk * out.w + s;
        float* d = panel + g * out.w + s;
        if (j < H) {
          const float* src = R + ((g0 + g) * H + j) * H;
          for (int64_t kk = 0; kk < K; ++kk) d[kk * row] = src[kk];
        } else {
          for (int64_t kk = 0; kk < K; ++kk) d[kk * row] = 0.f;
        }
      }
  }
}

// One direction's scratch (carved from the arena).
struct DirState {
  const float* xw = nullptr;  // [S*B, GH] input projection (+ biases)
  float* h[2] = {nullptr, nullptr};  // H double buffer [B, H] (two-pass GRU: h[0] only)
  float* c = nullptr;         // LSTM [B, H]
  float* rec = nullptr;       // [B, GH]: H_{t-1} R^T (two-pass GRU: z, r gates [B, 2H])
  float* z = nullptr;         // two-pass GRU [B, H]
  float* rh = nullptr;        // two-pass GRU [B, H]
  float* rech = nullptr;      // two-pass GRU [B, H]
};

// What the tasks of one direction's time loop share. A task is one panel of one pass of one
// step: the product for the panel's units (every gate, every batch row), then the row
// kernels on those units while the product is still in L1.
struct DirCtx {
  const Problem& p;
  const Layout& L;
  int64_t d;
  const DirState& st;
  const int64_t* len;
  int64_t max_len;
  const Weights::Direction& dw;
  const RowKernels& k;
  bool reverse, two_pass;
  const ActParams* acts;
  const float* clip;
  const float* peep;

  DirCtx(const Problem& p_, const Layout& L_, int64_t d_, const DirState& st_, const int64_t* len_,
         int64_t max_len_)
      : p(p_), L(L_), d(d_), st(st_), len(len_), max_len(max_len_), dw(p_.weights->dirs[d_]),
        k(p_.weights->kernels()), reverse(p_.reverse || d_ == 1), two_pass(p_.weights->two_pass_gru()),
        acts(p_.activations + d_ * activation_count(p_.cell)), clip(p_.has_clip ? &p_.clip : nullptr),
        peep(p_.P ? p_.P + d_ * 3 * p_.hidden : nullptr) {}

  int64_t time_of(int64_t step) const { return reverse ? max_len - 1 - step : step; }

  // Pass 1 of `step` (every gate; two-pass GRU: z and r), panels [blk0, blk1) of dw.r. Reads
  // all of H_{t-1}; writes H_t (or z, r (.) H_{t-1}) for those panels' units only. A task of a
  // step that threads share is one panel (its product still in L1 for the gates); one thread
  // takes every panel at once, so that the gate functions of all units overlap.
  void pass1(int64_t step, int64_t blk0, int64_t blk1) const {
    const int64_t B = p.batch, H = p.hidden, GH = gate_count(p.cell) * H;
    const int64_t ldr = two_pass ? 2 * H : GH;
    const int64_t j0 = blk0 * dw.r.w, n = std::min(H, blk1 * dw.r.w) - j0;
    const int64_t t = time_of(step);
    const int cur = static_cast<int>(step & 1);
    const float* hp = st.h[two_pass ? 0 : cur];
    float* hn = two_pass ? st.h[0] : st.h[cur ^ 1];
    k.step(B, H, hp, H, dw.r.data.get(), dw.r.G, dw.r.u, H, blk0, blk1, st.rec, ldr);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t o = b * H + j0;
      if (t >= len[b]) {  // past this row's end: state frozen, Y stays 0
        if (hn != hp) std::memcpy(hn + o, hp + o, n * sizeof(float));
        continue;
      }
      const float* gx = st.xw + L.x_row(t, b) * GH + j0;
      const float* gr = st.rec + b * ldr + j0;
      float* y = p.Y ? p.Y + L.y_off(t, d, b) + j0 : nullptr;
      switch (p.cell) {
        case Cell::Lstm:
          k.lstm(n, H, gx, gr, peep ? peep + j0 : nullptr, st.c + o, hn + o, y, acts, clip, p.input_forget);
          break;
        case Cell::Rnn:
          k.rnn(n, gx, gr, hn + o, y, acts, clip);
          break;
        case Cell::Gru:
          if (two_pass)
            k.gru_zr(n, H, gx, gr, hp + o, st.z + o, st.rh + o, acts, clip);
          else
            k.gru_lbr(n, H, gx, gr, dw.rbh.data() + j0, hp + o, hn + o, y, acts, clip);
          break;
      }
    }
  }

  // Pass 2 of the two-pass GRU, panel blk of dw.rh: (r (.) H_{t-1}) Rh^T needs every unit's
  // r, i.e. all of pass 1. Inactive rows carry stale rh; their product is never used.
  void pass2(int64_t step, int64_t blk) const {
    const int64_t B = p.batch, H = p.hidden, GH = 3 * H;
    const int64_t j0 = blk * dw.rh.w, n = std::min(H, j0 + dw.rh.w) - j0;
    const int64_t t = time_of(step);
    k.step(B, H, st.rh, H, dw.rh.data.get(), 1, dw.rh.u, H, blk, blk + 1, st.rech, H);
    for (int64_t b = 0; b < B; ++b) {
      if (t >= len[b]) continue;
      const int64_t o = b * H + j0;
      const float* gxh = st.xw + L.x_row(t, b) * GH + 2 * H + j0;
      float* y = p.Y ? p.Y + L.y_off(t, d, b) + j0 : nullptr;
      k.gru_h(n, gxh, st.rech + o, st.z + o, st.h[0] + o, y, acts + 1, clip);
    }
  }
};

void run_serial(const DirCtx& c) {
  for (int64_t step = 0; step < c.max_len; ++step) {
    c.pass1(step, 0, c.dw.r.blocks);
    if (c.two_pass)
      for (int64_t blk = 0; blk < c.dw.rh.blocks; ++blk) c.pass2(step, blk);
  }
}

// The shared state of a multi-threaded time loop. Phases (a step's pass) run in order; a
// phase starts when every task of the one before is done (`done` counts finished tasks).
// Each participant first claims the panels of its own share (the same every step, so its
// panels stay in its core's cache), then any others nobody has claimed yet: a participant
// the OS has descheduled delays a step by at most the one panel it is computing. When that
// wait grows far beyond a task's time (more threads than free cores), the waiting participant
// becomes the only one that claims tasks for the rest of the run ("solo"): one stall per run
// instead of one per step.
class TaskSync {
 public:
  explicit TaskSync(int64_t slots) : claim_(new Slot[static_cast<size_t>(slots)]) {}

  // Claims slot i for phase stamp (phase index + 1); false if someone already has.
  bool claim(int64_t i, int64_t stamp) {
    int64_t v = claim_[i].v.load(std::memory_order_relaxed);
    return v < stamp && claim_[i].v.compare_exchange_strong(v, stamp);
  }
  // Whether `part` may still claim tasks.
  bool active(int part) const {
    const int s = solo_.load(std::memory_order_relaxed);
    return s < 0 || s == part;
  }
  void finished() {
    done_.fetch_add(1);  // seq_cst: pairs with the sleepers' increment in wait_done
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lk(mu_);
      cv_.notify_all();
    }
  }
  // Until `target` tasks are done: spins briefly (tasks are short), then sleeps; after
  // stall_ns of waiting, `part` goes solo.
  void wait_done(int64_t target, int part, int64_t stall_ns) {
    for (int i = 0; i < kSpins; ++i) {
      if (done_.load(std::memory_order_acquire) >= target) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    const auto deadline = Clock::now() + std::chrono::nanoseconds(stall_ns);
    auto ready = [&] { return done_.load() >= target; };
    std::unique_lock<std::mutex> lk(mu_);
    sleepers_.fetch_add(1);
    while (!ready()) {
      if (solo_.load() >= 0) {
        cv_.wait(lk, ready);
      } else if (!cv_.wait_until(lk, deadline, ready)) {
        int none = -1;
        solo_.compare_exchange_strong(none, part);
      }
    }
    sleepers_.fetch_sub(1);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kSpins = 2000;  // some tens of microseconds of pause instructions
  struct alignas(64) Slot {
    std::atomic<int64_t> v{0};
  };
  std::unique_ptr<Slot[]> claim_;
  alignas(64) std::atomic<int64_t> done_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<int> solo_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
};

// Participant `part` of `parts`: claims and runs tasks phase after phase.
void run_participant(const DirCtx& c, TaskSync& sync, int part, int parts) {
  using Clock = std::chrono::steady_clock;
  const int64_t n1 = c.dw.r.blocks, n2 = c.two_pass ? c.dw.rh.blocks : 0;
  int64_t before = 0, phase = 0;  // tasks of the phases before this one
  int64_t task_ns = 0, tasks = 0;  // this participant's own timings, for the stall limit
  for (int64_t step = 0; step < c.max_len; ++step) {
    for (int pass = 0; pass < (c.two_pass ? 2 : 1); ++pass, ++phase) {
      const int64_t n = pass ? n2 : n1, slot0 = pass ? n1 : 0;
      // A stall: well beyond what a few tasks take here (1 ms until we know).
      const int64_t stall_ns = tasks ? 200000 + 20 * (task_ns / tasks) : 1000000;
      sync.wait_done(before, part, stall_ns);
      if (!sync.active(part)) return;  // another participant went solo
      for (int j = 0; j < parts; ++j) {  // own share forwards, then the others' backwards
        const int owner = (part + j) % parts;
        const int64_t b0 = n * owner / parts, b1 = n * (owner + 1) / parts;
        for (int64_t i = 0; i < b1 - b0; ++i) {
          const int64_t blk = j == 0 ? b0 + i : b1 - 1 - i;
          if (!sync.claim(slot0 + blk, phase + 1)) continue;
          const auto t0 = Clock::now();
          if (pass) c.pass2(step, blk); else c.pass1(step, blk, blk + 1);
          task_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
          ++tasks;
          sync.finished();
        }
      }
      before += n;
    }
  }
}

// Runs the time loop of direction d on up to `parts` threads (1: on the caller).
void run_direction(const DirCtx& c, int parts) {
  if (parts <= 1) {
    run_serial(c);
    return;
  }
  TaskSync sync(c.dw.r.blocks + (c.two_pass ? c.dw.rh.blocks : 0));
  // Whatever chunks the pool hands out (one per thread, or all of them to the caller when
  // another region is active), claiming keeps every task done exactly once, in phase order.
  parallel_for(parts, parts, [&](int64_t b, int64_t e) {
    run_participant(c, sync, static_cast<int>(b), parts);
    (void)e;
  });
}

// One step's recurrent product and gate functions, in one core's nanoseconds (the cost model,
// common/thread_pool.h): B x GH x H multiply-adds and ~20 vector operations per gate value.
double step_ns(int64_t B, int64_t GH, int64_t H) {
  return flops_ns(2.0 * double(B) * double(GH) * double(H) + 20.0 * double(B) * double(GH));
}

}  // namespace

void GatePanels::Free::operator()(float* p) const { std::free(p); }

Weights::Weights(Cell cell_, int64_t D, int64_t H, int64_t I, const float* W, const float* R,
                 const float* B, bool lbr, int num_threads)
    : cell(cell_), num_directions(D), hidden(H), input_size(I),
      linear_before_reset(cell_ == Cell::Gru && lbr), kernels_(&row_kernels()) {
  PYINFER_CHECK((D == 1 || D == 2) && H > 0 && I >= 0, "rnn weights: bad sizes");
  const int64_t G = gate_count(cell), GH = G * H;
  for (int64_t d = 0; d < D; ++d) {
    Direction dir;
    dir.w = std::make_unique<PackedMatrix>(PackedMatrix::Side::B, true, I, GH, W + d * GH * I,
                                           std::max<int64_t>(I, 1), num_threads);
    const float* Rd = R + d * GH * H;
    pack_gates(dir.r, *kernels_, Rd, H, 0, two_pass_gru() ? 2 : G);
    if (two_pass_gru()) pack_gates(dir.rh, *kernels_, Rd, H, 2, 1);
    dir.xbias.assign(GH, 0.f);
    dir.rbh.assign(H, 0.f);
    if (B) {
      const float* wb = B + d * 2 * GH;
      const float* rb = wb + GH;
      for (int64_t j = 0; j < GH; ++j) dir.xbias[j] = wb[j] + rb[j];
      if (cell == Cell::Gru && linear_before_reset)
        for (int64_t j = 0; j < H; ++j) {
          dir.xbias[2 * H + j] = wb[2 * H + j];
          dir.rbh[j] = rb[2 * H + j];
        }
    }
    dirs.push_back(std::move(dir));
  }
}

void run_rnn(const Problem& p) {
  PYINFER_CHECK(p.weights != nullptr, "rnn: no weights");
  const Weights& wt = *p.weights;
  const int64_t S = p.seq_len, B = p.batch, I = p.input_size, H = p.hidden, D = p.num_directions;
  const int64_t G = gate_count(p.cell), GH = G * H;
  PYINFER_CHECK(S >= 0 && B >= 0 && I >= 0 && H > 0 && (D == 1 || D == 2), "rnn: bad problem sizes");
  PYINFER_CHECK(wt.cell == p.cell && wt.num_directions == D && wt.hidden == H && wt.input_size == I,
                "rnn: prepared weights do not match the problem");
  const Layout L{S, B, D, H, p.layout};
  const int threads = resolve_threads(p.num_threads);

  // Y is zero wherever a row is past its length (and at steps past every row's length).
  if (p.Y) {
    bool all_full = true;
    if (p.seq_lens)
      for (int64_t b = 0; b < B; ++b) all_full = all_full && p.seq_lens[b] == S;
    if (!all_full) std::fill(p.Y, p.Y + S * D * B * H, 0.f);
  }

  // Scratch, 64-byte aligned pieces: xw per direction, then each direction's state.
  const bool two_pass = wt.two_pass_gru();
  auto round = [](int64_t n) { return (n + 15) / 16 * 16; };
  const int64_t xw_n = round(S * B * GH), hb_n = round(B * H), rec_n = round(B * (two_pass ? 2 * H : GH));
  const int64_t dir_n = 3 * hb_n + rec_n + (two_pass ? 3 * hb_n : 0);  // h[2], c, rec (+ z, rh, rech)
  const int64_t lens_n = round(B * 2);  // int64 lengths, as 2 floats each
  float* arena = tls_arena.get(D * (xw_n + dir_n) + lens_n);
  int64_t* len = reinterpret_cast<int64_t*>(arena + D * (xw_n + dir_n));
  int64_t max_len = 0;
  for (int64_t b = 0; b < B; ++b) {
    len[b] = p.seq_lens ? p.seq_lens[b] : S;
    max_len = std::max(max_len, len[b]);
  }

  DirState st[2];
  for (int64_t d = 0; d < D; ++d) {
    float* base = arena + d * (xw_n + dir_n);
    float* xw = base;
    float* q = base + xw_n;
    DirState& s = st[d];
    s.xw = xw;
    s.h[0] = q, q += hb_n;
    s.h[1] = q, q += hb_n;  // two-pass GRU: unused
    s.c = q, q += hb_n;     // LSTM only
    s.rec = q, q += rec_n;
    if (two_pass) s.z = q, q += hb_n, s.rh = q, q += hb_n, s.rech = q;

    // 1. The input projection of all steps (+ biases): the big GEMM gets every thread.
    if (S * B > 0) {
      Epilogue ep;
      ep.col_bias = wt.dirs[d].xbias.data();
      sgemm_packed_b(false, S * B, p.X, std::max<int64_t>(I, 1), *wt.dirs[d].w, 1.f, 0.f, xw, GH,
                     threads, &ep);
    }
    for (int64_t b = 0; b < B; ++b) {
      float* h0 = s.h[0] + b * H;
      if (p.initial_h) std::memcpy(h0, p.initial_h + L.state_off(d, b), H * sizeof(float));
      else std::fill(h0, h0 + H, 0.f);
      if (p.cell == Cell::Lstm) {
        float* c0 = s.c + b * H;
        if (p.initial_c) std::memcpy(c0, p.initial_c + L.state_off(d, b), H * sizeof(float));
        else std::fill(c0, c0 + H, 0.f);
      }
    }
  }

  // 2. The recurrences.
  if (B > 0 && max_len > 0) {
    // Directions on threads of their own when the whole loop of one pays for a hand-off; steps
    // split over threads when one step does (every step is a hand-off: its tasks wait for the
    // step before).
    const double one_step = step_ns(B, GH, H);
    if (D == 2 && threads_for_work(2.0 * double(max_len) * one_step, 2, threads) >= 2) {
      // The two directions are independent: one thread each, no barriers.
      parallel_for(2, 2, [&](int64_t d0, int64_t d1) {
        for (int64_t d = d0; d < d1; ++d) run_serial(DirCtx(p, L, d, st[d], len, max_len));
      });
    } else {
      const int parts = threads_for_work(one_step, wt.dirs[0].r.blocks, threads);
      for (int64_t d = 0; d < D; ++d) run_direction(DirCtx(p, L, d, st[d], len, max_len), parts);
    }
  }

  // Final states: each row's last valid state; zeros for an empty sequence (as onnxruntime).
  // The double buffer holds H_t in h[max_len % 2] (two-pass GRU: always h[0]).
  for (int64_t d = 0; d < D; ++d) {
    const float* h = st[d].h[two_pass ? 0 : max_len % 2];
    for (int64_t b = 0; b < B; ++b) {
      const bool empty = len[b] == 0;
      if (p.Y_h) {
        float* dst = p.Y_h + L.state_off(d, b);
        if (empty) std::fill(dst, dst + H, 0.f); else std::memcpy(dst, h + b * H, H * sizeof(float));
      }
      if (p.Y_c && p.cell == Cell::Lstm) {
        float* dst = p.Y_c + L.state_off(d, b);
        if (empty) std::fill(dst, dst + H, 0.f); else std::memcpy(dst, st[d].c + b * H, H * sizeof(float));
      }
    }
  }
}

const char* cell_label(Cell cell) { return cell == Cell::Lstm ? "lstm" : cell == Cell::Gru ? "gru" : "rnn"; }

PreparedPtr prepare_rnn(const NodeParams& a, std::shared_ptr<const Weights> wt) {
  const char* f = cell_label(a.cell);
  PYINFER_CHECK(a.layout == 0 || a.layout == 1, f << ": layout must be 0 or 1, got " << a.layout);
  int64_t D = 1;
  const bool reverse = a.direction == "reverse";
  if (a.direction == "bidirectional") D = 2;
  else PYINFER_CHECK(a.direction == "forward" || reverse,
                     f << ": direction must be 'forward', 'reverse' or 'bidirectional', got '" << a.direction << "'");
  PYINFER_CHECK(a.x_shape.size() == 3, f << ": X must be 3-D");
  PYINFER_CHECK(wt->cell == a.cell, f << ": W is an RnnWeights made for " << cell_label(wt->cell));
  PYINFER_CHECK(wt->linear_before_reset == (a.cell == Cell::Gru && a.linear_before_reset),
                f << ": W is an RnnWeights made with linear_before_reset=" << wt->linear_before_reset
                  << ", the call says " << a.linear_before_reset);
  const int64_t S = a.layout == 0 ? a.x_shape[0] : a.x_shape[1];
  const int64_t Bt = a.layout == 0 ? a.x_shape[1] : a.x_shape[0];
  const int64_t I = a.x_shape[2], H = wt->hidden;
  PYINFER_CHECK(wt->num_directions == D, f << ": direction '" << a.direction << "' needs " << D
                                            << " direction(s) of weights, W has " << wt->num_directions);
  PYINFER_CHECK(wt->input_size == I, f << ": X has input size " << I << " (last dimension) but W has "
                                       << wt->input_size);
  if (a.hidden_size >= 0) {
    PYINFER_CHECK(a.hidden_size > 0, f << ": hidden_size must be positive, got " << a.hidden_size);
    PYINFER_CHECK(a.hidden_size == H, f << ": hidden_size is " << a.hidden_size << " but R has hidden size " << H
                                        << " (its last dimension)");
  }
  PYINFER_CHECK(!a.has_clip || a.clip > 0.f, f << ": clip must be a positive threshold, got " << a.clip);
  const std::vector<ActParams> acts = parse_activations(a.cell, D, a.activations, a.activation_alpha,
                                                        a.activation_beta);
  const int64_t G = gate_count(a.cell);
  const std::vector<int64_t> state = a.layout == 0 ? std::vector<int64_t>{D, Bt, H} : std::vector<int64_t>{Bt, D, H};
  const bool lstm = a.cell == Cell::Lstm;

  Problem base;
  base.cell = a.cell, base.seq_len = S, base.batch = Bt, base.input_size = I, base.hidden = H;
  base.num_directions = D, base.reverse = reverse, base.layout = a.layout;
  base.has_clip = a.has_clip, base.clip = a.clip, base.input_forget = lstm && a.input_forget;

  KernelBuilder b(f);
  b.input("X", a.x_shape).unused_input("W", {D, G * H, I}).unused_input("R", {D, G * H, H})
      .unused_input("B", {D, 2 * G * H});
  auto optional = [&](const char* name, bool has, std::vector<int64_t> shape, DType t = DType::Float32) {
    if (has) b.input(name, std::move(shape), t);
    else b.unused_input(name, std::move(shape), t);
  };
  optional("sequence_lens", a.has_sequence_lens, {Bt}, DType::Int32);
  optional("initial_h", a.has_initial_h, state);
  optional("initial_c", lstm && a.has_initial_c, state);
  optional("P", lstm && a.has_peepholes, {D, 3 * H});
  b.output("Y", a.layout == 0 ? std::vector<int64_t>{S, D, Bt, H} : std::vector<int64_t>{Bt, S, D, H},
           DType::Float32, false);
  b.output("Y_h", state, DType::Float32, false);
  if (lstm) b.output("Y_c", state, DType::Float32, false);
  b.remake([a, wt](const Shapes& s) {
    NodeParams q = a;
    q.x_shape = s[0];
    return prepare_rnn(q, wt);
  });
  return b.run([base, wt, acts, S, Bt, f](const void* const* in, void* const* out, int threads) {
    Problem p = base;
    p.weights = wt.get();
    p.activations = acts.data();
    p.X = f32_in(in, 0);
    std::vector<int64_t> lens;
    if (in[4]) {  // data, not shape: checked on every run
      const int32_t* l = static_cast<const int32_t*>(in[4]);
      lens.assign(l, l + Bt);
      for (int64_t i = 0; i < Bt; ++i)
        PYINFER_CHECK(lens[i] >= 0 && lens[i] <= S,
                      f << ": sequence_lens[" << i << "] = " << lens[i] << " is outside [0, seq_length = " << S << "]");
      p.seq_lens = lens.data();
    }
    p.initial_h = f32_in(in, 5);
    p.initial_c = f32_in(in, 6);
    p.P = f32_in(in, 7);
    p.Y = f32_out(out, 0);
    p.Y_h = f32_out(out, 1);
    p.Y_c = base.cell == Cell::Lstm ? f32_out(out, 2) : nullptr;
    p.num_threads = threads;
    run_rnn(p);
  });
}

}  // namespace rnn
}  // namespace pyinfer
