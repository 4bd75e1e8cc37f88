// Float32 elementwise kernels: binary ops with NumPy broadcasting, and unary math.
//
// The portable part (elementwise.cpp) checks and canonicalises shapes, then splits the work
// across threads; the per-tier part (elementwise_isa.cpp) only ever sees contiguous runs:
// y[i] = a[i*sa] op b[i*sb] with sa, sb in {0, 1}, so one vector loop serves the same-shape,
// scalar-operand and per-channel cases alike.
#pragma once
#include <cstdint>
#include <vector>

#include "common/broadcast.h"
#include "common/prepared.h"

namespace pyinfer {

enum class BinaryOp : int { Add = 0, Sub, Mul, Div, Pow, Max, Min };
enum class UnaryOp : int { Sqrt = 0, Exp, Log, Abs, Neg, Reciprocal, Floor, Ceil };

// One table per ISA tier (defined in elementwise_isa.cpp).
struct ElementwiseKernels {
  // y[i] = a[i * a_step] op b[i * b_step] for i in [0, n); a_step, b_step are 0 or 1.
  // y may alias a or b when that operand's step is 1.
  void (*binary)(BinaryOp op, const float* a, int64_t a_step, const float* b, int64_t b_step,
                 float* y, int64_t n);
  // y[i] = op(x[i]); y may alias x.
  void (*unary)(UnaryOp op, const float* x, float* y, int64_t n);
};

const ElementwiseKernels& elementwise_kernels();

// The NumPy broadcast of two shapes; throws std::invalid_argument (naming `what`) if they
// are incompatible or either rank exceeds kMaxBroadcastRank.
std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                     const char* what);

// y = a op b, broadcast; y has shape broadcast_shape(a_shape, b_shape), C-contiguous.
// Shapes must already be checked with broadcast_shape().
void binary_broadcast(BinaryOp op, const float* a, const std::vector<int64_t>& a_shape, const float* b,
                      const std::vector<int64_t>& b_shape, float* y, int num_threads);

void unary(UnaryOp op, const float* x, float* y, int64_t n, int num_threads);

// The kernel API's names ("add", "maximum"; "sqrt", "reciprocal", "floor").
const char* binary_op_name(BinaryOp op);
const char* unary_op_name(UnaryOp op);

// Prepared kernels (common/prepared.h): y = a op b (inputs a, b, broadcast; the broadcast is
// worked out once), and y = op(x).
PreparedPtr prepare_binary(BinaryOp op, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape);
PreparedPtr prepare_math(UnaryOp op, const std::vector<int64_t>& shape);

}  // namespace pyinfer
