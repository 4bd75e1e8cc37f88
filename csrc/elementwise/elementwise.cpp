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

// Below this many output elements one run takes a single thread without asking the cost model.
constexpr int64_t kMinParallelElements = 1 << 15;
// Long inner runs are cut into pieces of this size so that few rows still spread over threads.
constexpr int64_t kInnerChunk = 1 << 14;

// The broadcast reduced to its essentials: dims of size 1 dropped, and adjacent dims merged
// when both operands either vary or are broadcast along both (so a same-shape op is 1-D and a
// per-channel NCHW op is 3-D: N, C, H*W).
struct Canonical {
  int rank = 0;
  int64_t size[kMaxBroadcastRank];
  int64_t a_stride[kMaxBroadcastRank];  // 0 where a is broadcast
  int64_t b_stride[kMaxBroadcastRank];
};

Canonical canonicalise(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape,
                       const std::vector<int64_t>& out) {
  const int r = static_cast<int>(out.size());
  int64_t size[kMaxBroadcastRank];
  bool a_full[kMaxBroadcastRank], b_full[kMaxBroadcastRank];
  int n = 0;
  for (int d = 0; d < r; ++d) {
    if (out[d] == 1) continue;
    int da = d - (r - static_cast<int>(a_shape.size())), db = d - (r - static_cast<int>(b_shape.size()));
    bool af = da >= 0 && a_shape[da] != 1, bf = db >= 0 && b_shape[db] != 1;
    if (n > 0 && a_full[n - 1] == af && b_full[n - 1] == bf) {
      size[n - 1] *= out[d];
    } else {
      size[n] = out[d];
      a_full[n] = af;
      b_full[n] = bf;
      ++n;
    }
  }
  Canonical c;
  c.rank = n;
  int64_t sa = 1, sb = 1;
  for (int d = n - 1; d >= 0; --d) {
    c.size[d] = size[d];
    c.a_stride[d] = a_full[d] ? sa : 0;
    c.b_stride[d] = b_full[d] ? sb : 0;
    if (a_full[d]) sa *= size[d];
    if (b_full[d]) sb *= size[d];
  }
  return c;
}

std::string shape_str(const std::vector<int64_t>& s) {
  MessageBuilder m;
  m << "(";
  for (size_t i = 0; i < s.size(); ++i) m << (i ? ", " : "") << s[i];
  m << (s.size() == 1 ? ",)" : ")");
  return m.str();
}

// y = a op b over the canonical broadcast c of `total` outputs.
void binary_canonical(BinaryOp op, const Canonical& c, int64_t total, const float* a, const float* b, float* y,
                      int num_threads) {
  if (total == 0) return;
  const ElementwiseKernels& k = elementwise_kernels();
  if (c.rank == 0) {  // every dim is 1: one element
    k.binary(op, a, 0, b, 0, y, 1);
    return;
  }
  if (c.rank == 1 && total < kMinParallelElements) {  // one run, one thread: no pool, no odometer
    k.binary(op, a, c.a_stride[0], b, c.b_stride[0], y, total);
    return;
  }
  const int inner_dim = c.rank - 1;
  const int64_t inner = c.size[inner_dim];
  const int64_t rows = total / inner;
  const int64_t pieces = (inner + kInnerChunk - 1) / kInnerChunk;  // per row
  // The cost model: two floats read and one written per element.
  const int threads = threads_for_work(bytes_ns(12.0 * double(total)), rows * pieces, num_threads);

  parallel_for(rows * pieces, threads, [&](int64_t begin, int64_t end) {
    // Decode the first row's position over the outer dims, then walk them like an odometer.
    int64_t row = begin / pieces, piece = begin % pieces;
    int64_t idx[kMaxBroadcastRank] = {0};
    int64_t a_off = 0, b_off = 0;
    for (int d = inner_dim - 1; d >= 0; --d) {
      idx[d] = row % c.size[d];
      row /= c.size[d];
      a_off += idx[d] * c.a_stride[d];
      b_off += idx[d] * c.b_stride[d];
    }
    const int64_t a_step = c.a_stride[inner_dim], b_step = c.b_stride[inner_dim];
    int64_t y_off = (begin / pieces) * inner;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t lo = piece * kInnerChunk, hi = std::min(inner, lo + kInnerChunk);
      k.binary(op, a + a_off + lo * a_step, a_step, b + b_off + lo * b_step, b_step, y + y_off + lo, hi - lo);
      if (++piece == pieces) {  // next row
        piece = 0;
        y_off += inner;
        for (int d = inner_dim - 1; d >= 0; --d) {
          a_off += c.a_stride[d];
          b_off += c.b_stride[d];
          if (++idx[d] < c.size[d]) break;
          a_off -= idx[d] * c.a_stride[d];
          b_off -= idx[d] * c.b_stride[d];
          idx[d] = 0;
        }
      }
    }
  });
}

}  // namespace

std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                     const char* what) {
  PYINFER_CHECK(a.size() <= static_cast<size_t>(kMaxBroadcastRank) && b.size() <= static_cast<size_t>(kMaxBroadcastRank),
                what << ": ranks above " << kMaxBroadcastRank << " are not supported (shapes "
                     << shape_str(a) << " and " << shape_str(b) << ")");
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t da = d + a.size() >= r ? a[d + a.size() - r] : 1;
    int64_t db = d + b.size() >= r ? b[d + b.size() - r] : 1;
    PYINFER_CHECK(da >= 0 && db >= 0, what << ": negative dimension in " << shape_str(a) << " or "
                                           << shape_str(b));
    PYINFER_CHECK(da == db || da == 1 || db == 1,
                  what << ": shapes " << shape_str(a) << " and " << shape_str(b)
                       << " do not broadcast (dimension " << d << ": " << da << " vs " << db << ")");
    out[d] = da == 1 ? db : da;
  }
  return out;
}

void binary_broadcast(BinaryOp op, const float* a, const std::vector<int64_t>& a_shape, const float* b,
                      const std::vector<int64_t>& b_shape, float* y, int num_threads) {
  const std::vector<int64_t> out = broadcast_shape(a_shape, b_shape, "binary_broadcast");
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  binary_canonical(op, canonicalise(a_shape, b_shape, out), total, a, b, y, num_threads);
}

void unary(UnaryOp op, const float* x, float* y, int64_t n, int num_threads) {
  if (n <= 0) return;
  const ElementwiseKernels& k = elementwise_kernels();
  const int64_t pieces = (n + kInnerChunk - 1) / kInnerChunk;
  // The cost model: a float read and written, and (Exp, Log...) about 16 vector operations each.
  const int threads = threads_for_work(bytes_ns(8.0 * double(n)) + flops_ns(16.0 * double(n)), pieces, num_threads);
  parallel_for(pieces, threads, [&](int64_t begin, int64_t end) {
    const int64_t lo = begin * kInnerChunk, hi = std::min(n, end * kInnerChunk);
    k.unary(op, x + lo, y + lo, hi - lo);
  });
}

PreparedPtr prepare_binary(BinaryOp op, const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape) {
  const std::vector<int64_t> out = broadcast_shape(a_shape, b_shape, binary_op_name(op));
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  const Canonical c = canonicalise(a_shape, b_shape, out);
  return KernelBuilder(binary_op_name(op)).input("a", a_shape).input("b", b_shape).output("y", out)
      .remake([op](const Shapes& s) { return prepare_binary(op, s[0], s[1]); })
      .run([op, c, total](const void* const* in, void* const* o, int threads) {
        binary_canonical(op, c, total, f32_in(in, 0), f32_in(in, 1), f32_out(o, 0), threads);
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
  static const char* const names[] = {"sqrt", "exp", "log", "abs", "neg", "reciprocal"};
  return names[static_cast<int>(op)];
}

}  // namespace pyinfer
