#include "elementwise/elementwise.h"

#include <algorithm>
#include <string>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/thread_pool.h"

namespace pyinfer {

PYINFER_DECLARE_ISA_TABLE(ElementwiseKernels, elementwise_table)

const ElementwiseKernels& elementwise_kernels() {
  return PYINFER_ACTIVE_ISA_TABLE(elementwise_table);
}

namespace {

// y = a op b over the canonical broadcast c.
void binary_canonical(BinaryOp op, const Broadcast<2>& c, const float* a, const float* b, float* y, int num_threads) {
  const ElementwiseKernels& k = elementwise_kernels();
  for_each_run(c, num_threads, [&](const int64_t* off, int64_t y_off, int64_t n, const int64_t* step) {
    k.binary(op, a + off[0], step[0], b + off[1], step[1], y + y_off, n);
  });
}

}  // namespace

std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                     const char* what) {
  return broadcast_shapes({a, b}, what);
}

void binary_broadcast(BinaryOp op, const float* a, const std::vector<int64_t>& a_shape, const float* b,
                      const std::vector<int64_t>& b_shape, float* y, int num_threads) {
  const std::vector<int64_t> out = broadcast_shape(a_shape, b_shape, "binary_broadcast");
  binary_canonical(op, canonical_broadcast<2>({&a_shape, &b_shape}, out), a, b, y, num_threads);
}

void unary(UnaryOp op, const float* x, float* y, int64_t n, int num_threads) {
  if (n <= 0) return;
  const ElementwiseKernels& k = elementwise_kernels();
  const int64_t pieces = (n + kBroadcastInnerChunk - 1) / kBroadcastInnerChunk;
  // The cost model: a float read and written, and (Exp, Log...) about 16 vector operations each.
  const int threads = threads_for_work(bytes_ns(8.0 * double(n)) + flops_ns(16.0 * double(n)), pieces, num_threads);
  parallel_for(pieces, threads, [&](int64_t begin, int64_t end) {
    const int64_t lo = begin * kBroadcastInnerChunk, hi = std::min(n, end * kBroadcastInnerChunk);
    k.unary(op, x + lo, y + lo, hi - lo);
  });
}

PreparedPtr prepare_binary(BinaryOp op, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape) {
  const std::vector<int64_t> out = broadcast_shape(a_shape, b_shape, binary_op_name(op));
  const Broadcast<2> c = canonical_broadcast<2>({&a_shape, &b_shape}, out);
  return KernelBuilder(binary_op_name(op)).input("a", a_shape).input("b", b_shape).output("y", out)
      .remake([op](const Shapes& s) { return prepare_binary(op, s[0], s[1]); })
      .run([op, c](const void* const* in, void* const* o, int threads) {
        binary_canonical(op, c, f32_in(in, 0), f32_in(in, 1), f32_out(o, 0), threads);
      });
}

PreparedPtr prepare_math(UnaryOp op, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    PYINFER_CHECK(d >= 0, unary_op_name(op) << ": negative dimension in " << shape_str(shape));
    n *= d;
  }
  return KernelBuilder(unary_op_name(op)).input("x", shape).output("y", shape)
      .remake([op](const Shapes& s) { return prepare_math(op, s[0]); })
      .run([op, n](const void* const* in, void* const* o, int threads) {
        unary(op, f32_in(in, 0), f32_out(o, 0), n, threads);
      });
}

const char* binary_op_name(BinaryOp op) {
  static const char* const names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
  return names[static_cast<int>(op)];
}

const char* unary_op_name(UnaryOp op) {
  static const char* const names[] = {"sqrt", "exp", "log", "abs", "neg", "reciprocal", "floor", "ceil"};
  return names[static_cast<int>(op)];
}

}  // namespace pyinfer
