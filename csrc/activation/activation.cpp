// Portable drivers of the activation family: argument checks, work splitting over threads,
// then the active tier's loops (activation_kernels_isa.cpp).
#include "activation/activation.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"
#include "common/thread_pool.h"

namespace pyinfer {
namespace {

constexpr int64_t kBlock = 64;  // floats: parallel pieces start on whole cache lines, full vectors

// Vector operations per element: a few for the piecewise-linear ones, ~20 for exp / log / erf
// based ones (vec_math.h).
double act_ops(Act a) {
  switch (a) {
    case Act::None: case Act::Relu: case Act::LeakyRelu: case Act::Clip: case Act::HardSigmoid:
    case Act::HardSwish: case Act::ThresholdedRelu: case Act::Affine: case Act::Softsign:
      return 3.0;
    default:
      return 20.0;
  }
}

// Threads for n elements read and written with `ops` vector operations each (the cost model,
// common/thread_pool.h).
int threads_for(int64_t n, double ops, int num_threads) {
  const double ns = bytes_ns(8.0 * double(n)) + flops_ns(ops * double(n));
  return threads_for_work(ns, (n + kBlock - 1) / kBlock, num_threads);
}

// Split [0, n) into chunks that start on a multiple of kBlock floats, run fn(begin, end) on each.
template <class F>
void parallel_elements(int64_t n, double ops, int num_threads, F fn) {
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, threads_for(n, ops, num_threads), [&](int64_t b0, int64_t b1) {
    fn(b0 * kBlock, std::min(n, b1 * kBlock));
  });
}

}  // namespace

void activate(const ActParams& act, const float* x, float* y, int64_t n, int num_threads) {
  PYINFER_CHECK(n >= 0, "activation: negative element count " << n);
  if (n == 0) return;
  PYINFER_CHECK(x && y, "activation: null data pointer");
  const auto& t = activation_table();
  const double ops = act_ops(act.kind);
  if (threads_for(n, ops, num_threads) == 1) return t.activate(act, x, y, n);  // small: no pool round trip
  parallel_elements(n, ops, num_threads, [&](int64_t b0, int64_t b1) { t.activate(act, x + b0, y + b0, b1 - b0); });
}

void check_prelu_shapes(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& slope_shape) {
  const size_t rank = x_shape.size();
  PYINFER_CHECK(slope_shape.size() <= rank,
                "prelu: slope has rank " << slope_shape.size() << ", more than the input's rank " << rank);
  for (int64_t d : x_shape) PYINFER_CHECK(d >= 0, "prelu: negative input dimension");
  // Right-aligned, every slope dimension is 1 or the input's dimension.
  const size_t lead = rank - slope_shape.size();
  for (size_t i = 0; i < slope_shape.size(); ++i) {
    PYINFER_CHECK(slope_shape[i] == 1 || slope_shape[i] == x_shape[lead + i],
                  "prelu: slope dimension " << slope_shape[i] << " does not broadcast to input dimension "
                                            << x_shape[lead + i] << " (input axis " << lead + i << ")");
  }
}

void prelu(const float* x, const std::vector<int64_t>& x_shape, const float* slope,
           const std::vector<int64_t>& slope_shape, float* y, int num_threads) {
  check_prelu_shapes(x_shape, slope_shape);
  const size_t rank = x_shape.size();
  int64_t n = 1, slope_n = 1;
  for (int64_t d : x_shape) n *= d;
  for (int64_t d : slope_shape) slope_n *= d;
  std::vector<int64_t> s(rank, 1);
  for (size_t i = 0; i < slope_shape.size(); ++i) s[rank - slope_shape.size() + i] = slope_shape[i];
  if (n == 0) return;
  PYINFER_CHECK(slope_n >= 1, "prelu: slope is empty");

  // Merge adjacent axes of the same kind (slope follows the input / slope is broadcast);
  // axes of size 1 vanish. groups[i] = {size, slope stride or 0}.
  struct Group { int64_t size; bool full; int64_t stride; };
  std::vector<Group> groups;
  for (size_t i = 0; i < rank; ++i) {
    if (x_shape[i] == 1) continue;
    bool full = s[i] != 1;
    if (!groups.empty() && groups.back().full == full) groups.back().size *= x_shape[i];
    else groups.push_back({x_shape[i], full, 0});
  }
  if (groups.empty()) groups.push_back({1, true, 0});
  int64_t stride = 1;
  for (size_t i = groups.size(); i-- > 0;) {
    groups[i].stride = groups[i].full ? stride : 0;
    if (groups[i].full) stride *= groups[i].size;
  }
  const int64_t row_len = groups.back().size;
  const int64_t slope_step = groups.back().full ? 1 : 0;
  const auto& t = activation_table();

  parallel_elements(n, 3.0, num_threads, [&](int64_t b0, int64_t b1) {
    int64_t pos = b0;
    while (pos < b1) {
      int64_t row = pos / row_len, col = pos % row_len;
      int64_t count = std::min(row_len - col, b1 - pos);
      int64_t off = 0;  // slope offset of this row: unravel row over the outer groups
      for (size_t g = groups.size() - 1, r = static_cast<size_t>(row); g-- > 0;) {
        off += static_cast<int64_t>(r % groups[g].size) * groups[g].stride;
        r /= groups[g].size;
      }
      t.prelu(x + pos, slope + off + col * slope_step, slope_step, y + pos, count);
      pos += count;
    }
  });
}

void softmax(const float* x, float* y, int64_t outer, int64_t axis_len, int64_t inner, bool log,
             int num_threads) {
  PYINFER_CHECK(outer >= 0 && axis_len >= 0 && inner >= 0,
                "softmax: negative extent (" << outer << ", " << axis_len << ", " << inner << ")");
  if (outer == 0 || axis_len == 0 || inner == 0) return;
  const auto& t = activation_table();
  const int64_t total = outer * axis_len * inner;
  if (inner == 1) {
    parallel_for(outer, threads_for(total, 20.0, num_threads), [&](int64_t r0, int64_t r1) {
      t.softmax_rows(x + r0 * axis_len, y + r0 * axis_len, r1 - r0, axis_len, log);
    });
    return;
  }
  // Units of work: (outer index, block of up to kSoftmaxBlock inner columns).
  const int64_t blocks = (inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
  parallel_for(outer * blocks, threads_for(total, 20.0, num_threads), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t o = u / blocks, c0 = (u % blocks) * kSoftmaxBlock;
      int64_t cols = std::min(kSoftmaxBlock, inner - c0);
      const int64_t base = o * axis_len * inner + c0;
      t.softmax_cols(x + base, y + base, axis_len, inner, cols, log);
    }
  });
}

void batch_norm(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, const float* scale,
                const float* bias, const float* mean, const float* var, float epsilon, int num_threads,
                const ActParams& act) {
  PYINFER_CHECK(n >= 0 && c >= 0 && spatial >= 0,
                "batch_norm: negative extent (" << n << ", " << c << ", " << spatial << ")");
  PYINFER_CHECK(std::isfinite(epsilon) && epsilon >= 0.0f, "batch_norm: epsilon must be finite and >= 0, got " << epsilon);
  const int64_t total = n * c * spatial;
  if (total == 0) return;
  // Per channel y = (x - mean) * a + bias with a = scale / sqrt(var + eps) rounded once from
  // double; subtracting the mean first (rather than folding it into the bias) keeps x ~ mean
  // accurate when the mean is large.
  std::vector<float> a(c);
  for (int64_t i = 0; i < c; ++i)
    a[i] = static_cast<float>(scale[i] / std::sqrt(static_cast<double>(var[i]) + epsilon));
  const auto& t = activation_table();
  parallel_elements(total, 2.0 + act_ops(act.kind), num_threads, [&](int64_t b0, int64_t b1) {
    int64_t pos = b0;
    while (pos < b1) {
      int64_t row = pos / spatial, col = pos % spatial;
      int64_t count = std::min(spatial - col, b1 - pos);
      int64_t ch = row % c;
      if (act.kind == Act::None) t.normalize(x + pos, y + pos, count, mean[ch], a[ch], bias[ch]);
      else t.normalize_act(x + pos, y + pos, count, mean[ch], a[ch], bias[ch], act);
      pos += count;
    }
  });
}

// --- prepared kernels -----------------------------------------------------------------------

namespace {


int64_t elements(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

}  // namespace

PreparedPtr prepare_activation(const ActParams& act, const std::vector<int64_t>& shape) {
  for (int64_t d : shape) PYINFER_CHECK(d >= 0, "activation: negative dimension in " << shape_str(shape));
  const int64_t n = elements(shape);
  return KernelBuilder("activation").input("x", shape).output("y", shape)
      .remake([act](const Shapes& s) { return prepare_activation(act, s[0]); })
      .run([act, n](const void* const* in, void* const* out, int threads) {
        activate(act, f32_in(in, 0), f32_out(out, 0), n, threads);
      });
}

PreparedPtr prepare_prelu(const std::vector<int64_t>& x_shape, const std::vector<int64_t>& slope_shape) {
  check_prelu_shapes(x_shape, slope_shape);
  return KernelBuilder("prelu").input("x", x_shape).input("slope", slope_shape).output("y", x_shape)
      .remake([](const Shapes& s) { return prepare_prelu(s[0], s[1]); })
      .run([x_shape, slope_shape](const void* const* in, void* const* out, int threads) {
        prelu(f32_in(in, 0), x_shape, f32_in(in, 1), slope_shape, f32_out(out, 0), threads);
      });
}

PreparedPtr prepare_softmax(const std::vector<int64_t>& shape, int64_t axis, bool log, bool flatten) {
  const char* op = log ? "log_softmax" : "softmax";
  const int64_t rank = static_cast<int64_t>(shape.size());
  PYINFER_CHECK(rank >= 1, op << ": x must have rank >= 1");
  PYINFER_CHECK(axis >= -rank && axis < rank,
                op << ": axis " << axis << " is out of range for an input of shape " << shape_str(shape));
  const int64_t a = axis < 0 ? axis + rank : axis;
  for (int64_t d : shape) PYINFER_CHECK(d >= 0, op << ": negative dimension in " << shape_str(shape));
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t i = 0; i < rank; ++i) (i < a ? outer : i == a || flatten ? len : inner) *= shape[i];
  return KernelBuilder(op).input("x", shape).output("y", shape).algorithm(inner == 1 ? "rows" : "columns")
      .remake([axis, log, flatten](const Shapes& s) { return prepare_softmax(s[0], axis, log, flatten); })
      .run([outer, len, inner, log](const void* const* in, void* const* out, int threads) {
        softmax(f32_in(in, 0), f32_out(out, 0), outer, len, inner, log, threads);
      });
}

PreparedPtr prepare_batch_norm(const std::vector<int64_t>& x_shape, float epsilon, const ActParams& act) {
  PYINFER_CHECK(x_shape.size() >= 2, "batch_norm: x must have rank >= 2 ((N, C, ...)), got shape "
                                         << shape_str(x_shape));
  PYINFER_CHECK(std::isfinite(epsilon) && epsilon >= 0.0f,
                "batch_norm: epsilon must be finite and >= 0, got " << epsilon);
  for (int64_t d : x_shape) PYINFER_CHECK(d >= 0, "batch_norm: negative dimension in " << shape_str(x_shape));
  const int64_t n = x_shape[0], c = x_shape[1], spatial = elements(x_shape) / std::max<int64_t>(1, n * c);
  KernelBuilder b("batch_norm");
  b.input("x", x_shape);
  for (const char* name : {"scale", "bias", "mean", "var"}) b.input(name, {c});
  b.remake([epsilon, act](const Shapes& s) { return prepare_batch_norm(s[0], epsilon, act); });
  return b.output("y", x_shape).run([n, c, spatial, epsilon, act](const void* const* in, void* const* out, int threads) {
    batch_norm(f32_in(in, 0), f32_out(out, 0), n, c, spatial, f32_in(in, 1), f32_in(in, 2), f32_in(in, 3),
               f32_in(in, 4), epsilon, threads, act);
  });
}

}  // namespace pyinfer
