// ONNX LSTM / GRU / RNN (float32, opset 7 and 14 forms): the problem description and the
// portable entry points (types shared with the row kernels: rnn_types.h). See docs/RNN.md for how each ONNX gate
// equation maps onto the code.
//
// Work split:
//   rnn.cpp        portable driver: input projection GEMM for all steps, the time loop with one
//                  recurrent GEMM per step, sequence lengths, layouts, directions, threads.
//   rnn_isa.cpp    per-tier row kernels: the gate nonlinearities of one batch row, fused right
//                  after the recurrent GEMM (vector math in rnn_math.h).
//   bind_rnn.cpp   argument parsing and shape checks, then run_rnn() without the GIL.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "rnn/rnn_types.h"

namespace pyinfer {
namespace rnn {

enum class Cell : int32_t { Lstm, Gru, Rnn };

// Gates per cell: LSTM i,o,f,c; GRU z,r,h; RNN one.
inline int64_t gate_count(Cell cell) { return cell == Cell::Lstm ? 4 : cell == Cell::Gru ? 3 : 1; }
// Activations per direction: LSTM f,g,h; GRU f,g; RNN f.
inline int64_t activation_count(Cell cell) { return cell == Cell::Lstm ? 3 : cell == Cell::Gru ? 2 : 1; }

// Turns the ONNX attributes activations / activation_alpha / activation_beta into one
// Activation per slot (num_directions * activation_count(cell) entries, forward first).
// Names are matched case-insensitively. Alpha and beta values are consumed in order by the
// activations that take them (onnxruntime's reading of the spec); a missing value takes the
// default of the ONNX operator of the same name. Throws std::invalid_argument on unknown
// names, a wrong count, or values left over.
std::vector<Activation> parse_activations(Cell cell, int64_t num_directions,
                                          const std::vector<std::string>& names,
                                          const std::vector<float>& alphas,
                                          const std::vector<float>& betas);

// One ONNX RNN-family node, shapes already checked by the caller (bind_rnn.cpp).
struct Problem {
  Cell cell = Cell::Lstm;
  int64_t seq_len = 0, batch = 0, input_size = 0, hidden = 0;
  int64_t num_directions = 1;
  bool reverse = false;  // direction == "reverse" (only meaningful with one direction)
  int layout = 0;        // 0: [seq, batch, ...]; 1: [batch, seq, ...]
  // Inputs (row-major, ONNX shapes). Optional ones may be null.
  const float* X = nullptr;          // layout 0: [S, B, I]; layout 1: [B, S, I]
  const float* W = nullptr;          // [D, G*H, I]
  const float* R = nullptr;          // [D, G*H, H]
  const float* B = nullptr;          // [D, 2*G*H]          (null: zeros)
  const int64_t* seq_lens = nullptr; // [B], each in [0, S] (null: all S)
  const float* initial_h = nullptr;  // like Y_h            (null: zeros)
  const float* initial_c = nullptr;  // like Y_c, LSTM only (null: zeros)
  const float* P = nullptr;          // [D, 3*H], LSTM only (null: no peepholes)
  const Activation* activations = nullptr;  // D * activation_count(cell)
  bool has_clip = false;
  float clip = 0.f;
  bool input_forget = false;         // LSTM
  bool linear_before_reset = false;  // GRU
  // Outputs; a null pointer means nobody wants that output and its work is skipped.
  float* Y = nullptr;    // layout 0: [S, D, B, H]; layout 1: [B, S, D, H]
  float* Y_h = nullptr;  // layout 0: [D, B, H];    layout 1: [B, D, H]
  float* Y_c = nullptr;  // LSTM only, like Y_h
  int num_threads = 0;
};

// Runs the node. Allocates all scratch before the time loop; releases nothing but memory.
void run_rnn(const Problem& p);

}  // namespace rnn

namespace isa_scalar { extern const rnn::RowKernels rnn_row_kernels; }
#ifdef PYINFER_HAVE_AVX2
namespace isa_avx2 { extern const rnn::RowKernels rnn_row_kernels; }
#endif
#ifdef PYINFER_HAVE_AVX512
namespace isa_avx512 { extern const rnn::RowKernels rnn_row_kernels; }
#endif

namespace rnn {
inline const RowKernels& row_kernels() {
#if defined(PYINFER_HAVE_AVX512) && defined(PYINFER_HAVE_AVX2)
  return select_isa(isa_scalar::rnn_row_kernels, isa_avx2::rnn_row_kernels,
                    isa_avx512::rnn_row_kernels);
#else
  return isa_scalar::rnn_row_kernels;
#endif
}
}  // namespace rnn
}  // namespace pyinfer
