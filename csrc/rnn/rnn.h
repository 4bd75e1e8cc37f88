// ONNX LSTM / GRU / RNN (float32, opset 7 and 14 forms): the problem description and the
// portable entry points (types shared with the row kernels: rnn_types.h). See docs/RNN.md for how each ONNX gate
// equation maps onto the code.
//
// Work split:
//   rnn.cpp        portable driver: weight packing (Weights), the input projection GEMM for all
//                  steps, the time loop (one recurrent product per step, hidden units split
//                  across threads), sequence lengths, layouts, directions.
//   rnn_isa.cpp    per-tier kernels: the step's recurrent product over packed panels and the
//                  gate nonlinearities of one batch row (vector math in rnn_math.h).
//   bind_rnn.cpp   argument parsing and shape checks (RnnWeights, lstm/gru/rnn), then
//                  run_rnn() without the GIL.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/prepared.h"
#include "gemm/gemm.h"
#include "rnn/rnn_types.h"

namespace pyinfer {
namespace rnn {

enum class Cell : int32_t { Lstm, Gru, Rnn };

// Gates per cell: LSTM i,o,f,c; GRU z,r,h; RNN one.
inline int64_t gate_count(Cell cell) { return cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1; }
// Activations per direction: LSTM f,g,h; GRU f,g; RNN f.
inline int64_t activation_count(Cell cell) { return cell == Cell::Lstm ? 3 : cell == Cell::Gru ? 2 : 1; }

// Turns the ONNX attributes activations / activation_alpha / activation_beta into one
// ActParams per slot (num_directions * activation_count(cell) entries, forward first).
// Names are matched case-insensitively. Alpha and beta values are consumed in order by the
// activations that take them (onnxruntime's reading of the spec); a missing value takes the
// default of the ONNX operator of the same name. Throws std::invalid_argument on unknown
// names, a wrong count, or values left over.
std::vector<ActParams> parse_activations(Cell cell, int64_t num_directions,
                                          const std::vector<std::string>& names,
                                          const std::vector<float>& alphas,
                                          const std::vector<float>& betas);

// R of one direction, gates [g0, g0 + G), packed for the step kernel: panels of w = u * vec
// hidden units, gate-interleaved (layout: rnn_types.h), so a step streams each panel once.
struct GatePanels {
  int64_t G = 0, u = 0, w = 0, blocks = 0;
  struct Free { void operator()(float* p) const; };
  std::unique_ptr<float, Free> data;
};

// The constant part of a node, prepared once (per session when W, R, B are initializers):
// per direction W^T packed for the input-projection GEMM, R packed for the step kernel and
// the biases folded. Immutable after construction: concurrent runs may share it. The packed
// layouts belong to the SIMD tier active at construction, whose kernels every run uses.
class Weights {
 public:
  // W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H] or null (zeros); shapes checked by the caller.
  Weights(Cell cell, int64_t num_directions, int64_t hidden, int64_t input_size, const float* W,
          const float* R, const float* B, bool linear_before_reset, int num_threads);

  struct Direction {
    std::unique_ptr<PackedMatrix> w;  // op(B) = W^T: [I, G*H]
    GatePanels r;                     // all gates; two-pass GRU: z, r only
    GatePanels rh;                    // two-pass GRU (linear_before_reset = 0): gate h
    // Added to X W^T by the projection GEMM: Wb + Rb, except GRU linear_before_reset = 1,
    // whose h gate gets Wbh alone (Rbh sits inside the reset product: rbh).
    std::vector<float> xbias, rbh;
  };

  Cell cell;
  int64_t num_directions, hidden, input_size;
  bool linear_before_reset;  // GRU only
  std::vector<Direction> dirs;
  const RowKernels& kernels() const { return *kernels_; }
  bool two_pass_gru() const { return cell == Cell::Gru && !linear_before_reset; }

 private:
  const RowKernels* kernels_;
};

// One ONNX RNN-family node, shapes already checked by the caller (bind_rnn.cpp).
struct Problem {
  Cell cell = Cell::Lstm;
  int64_t seq_len = 0, batch = 0, input_size = 0, hidden = 0;
  int64_t num_directions = 1;
  bool reverse = false;  // direction == "reverse" (only meaningful with one direction)
  int layout = 0;        // 0: [seq, batch, ...]; 1: [batch, seq, ...]
  const Weights* weights = nullptr;  // W, R, B prepared; its sizes match the ones above
  // Inputs (row-major, ONNX shapes). Optional ones may be null.
  const float* X = nullptr;          // layout 0: [S, B, I]; layout 1: [B, S, I]
  const int64_t* seq_lens = nullptr; // [B], each in [0, S] (null: all S)
  const float* initial_h = nullptr;  // like Y_h            (null: zeros)
  const float* initial_c = nullptr;  // like Y_c, LSTM only (null: zeros)
  const float* P = nullptr;          // [D, 3*H], LSTM only (null: no peepholes)
  const ActParams* activations = nullptr;   // D * activation_count(cell)
  bool has_clip = false;
  float clip = 0.f;
  bool input_forget = false;         // LSTM
  // Outputs; a null pointer means nobody wants that output and its work is skipped.
  float* Y = nullptr;    // layout 0: [S, D, B, H]; layout 1: [B, S, D, H]
  float* Y_h = nullptr;  // layout 0: [D, B, H];    layout 1: [B, D, H]
  float* Y_c = nullptr;  // LSTM only, like Y_h
  int num_threads = 0;
};

// Runs the node. Scratch comes from a grow-only per-thread arena; nothing is allocated in
// the time loop.
void run_rnn(const Problem& p);

// "lstm" | "gru" | "rnn": the kernel API's name of a cell.
const char* cell_label(Cell cell);

// One node's attributes and the shape of X, for prepare_rnn.
struct NodeParams {
  Cell cell = Cell::Lstm;
  std::vector<int64_t> x_shape;
  std::string direction = "forward";
  int layout = 0;
  int64_t hidden_size = -1;  // the attribute (-1: absent); must match R
  std::vector<std::string> activations;
  std::vector<float> activation_alpha, activation_beta;
  bool has_clip = false;
  float clip = 0.f;
  bool input_forget = false, linear_before_reset = false;
  bool has_sequence_lens = false, has_initial_h = false, has_initial_c = false, has_peepholes = false;
};

// The node as a prepared kernel (common/prepared.h) on prepared weights: inputs X, W, R, B
// (unused: the weights hold them), sequence_lens (int32 [batch]; values checked per run),
// initial_h, initial_c, P (LSTM peepholes); outputs Y, Y_h (, Y_c for LSTM), each optional.
PreparedPtr prepare_rnn(const NodeParams& p, std::shared_ptr<const Weights> weights);

}  // namespace rnn

PYINFER_DECLARE_ISA_TABLE(rnn::RowKernels, rnn_row_kernels)

namespace rnn {
inline const RowKernels& row_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(rnn_row_kernels);
}
}  // namespace rnn
}  // namespace pyinfer
