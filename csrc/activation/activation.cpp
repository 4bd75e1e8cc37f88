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

// Elementwise work below this many floats per thread is not worth waking a worker for.
constexpr int64_t kGrain = 16384;

int threads_for(int64_t work, int num_threads) {
  int64_t useful = std::max<int64_t>(1, work / kGrain);
  return static_cast<int>(std::min<int64_t>(resolve_threads(num_threads), useful));
}

// Split [0, n) into chunks that start on a multiple of 64 floats (whole cache lines, full
// vectors), run fn(begin, end) on each.
template <class F>
void parallel_elements(int64_t n, int num_threads, F fn) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, threads_for(n, num_threads), [&](int64_t b0, int64_t b1) {
    fn(b0 * kBlock, std::min(n, b1 * kBlock));
  });
}

}  // namespace

void unary(Unary op, const float* x, float* y, int64_t n, float a, float b, int num_threads) {
  PYINFER_CHECK(n >= 0, "unary activation: negative element count " << n);
  if (n == 0) return;
  PYINFER_CHECK(x && y, "unary activation: null data pointer");
  const auto& t = activation_table();
  parallel_elements(n, num_threads, [&](int64_t b0, int64_t b1) { t.unary(op, x + b0, y + b0, b1 - b0, a, b); });
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

  parallel_elements(n, num_threads, [&](int64_t b0, int64_t b1) {
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
    parallel_for(outer, threads_for(total, num_threads), [&](int64_t r0, int64_t r1) {
      t.softmax_rows(x + r0 * axis_len, y + r0 * axis_len, r1 - r0, axis_len, log);
    });
    return;
  }
  // Units of work: (outer index, block of up to kSoftmaxBlock inner columns).
  const int64_t blocks = (inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
  parallel_for(outer * blocks, threads_for(total, num_threads), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      int64_t o = u / blocks, c0 = (u % blocks) * kSoftmaxBlock;
      int64_t cols = std::min(kSoftmaxBlock, inner - c0);
      const int64_t base = o * axis_len * inner + c0;
      t.softmax_cols(x + base, y + base, axis_len, inner, cols, log);
    }
  });
}

NormActivation norm_activation(Act act, float alpha, float beta, float lo, float hi) {
  NormActivation r;
  r.on = act != Act::None;
  switch (act) {
    case Act::None:
    case Act::Relu: r.op = Unary::Relu; break;
    case Act::Clip: r.op = Unary::Clip, r.a = lo, r.b = hi; break;
    case Act::LeakyRelu: r.op = Unary::LeakyRelu, r.a = alpha; break;
    case Act::Sigmoid: r.op = Unary::Sigmoid; break;
    case Act::Tanh: r.op = Unary::Tanh; break;
    case Act::HardSigmoid: r.op = Unary::HardSigmoid, r.a = alpha, r.b = beta; break;
    case Act::HardSwish: r.op = Unary::HardSwish; break;
    case Act::Gelu: r.op = Unary::GeluErf; break;
    case Act::GeluTanh: r.op = Unary::GeluTanh; break;
    default: PYINFER_CHECK(false, "batch_norm: unknown activation " << static_cast<int>(act));
  }
  return r;
}

void batch_norm(const float* x, float* y, int64_t n, int64_t c, int64_t spatial, const float* scale,
                const float* bias, const float* mean, const float* var, float epsilon, int num_threads,
                const NormActivation& act) {
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
  parallel_elements(total, num_threads, [&](int64_t b0, int64_t b1) {
    int64_t pos = b0;
    while (pos < b1) {
      int64_t row = pos / spatial, col = pos % spatial;
      int64_t count = std::min(spatial - col, b1 - pos);
      int64_t ch = row % c;
      if (!act.on) t.normalize(x + pos, y + pos, count, mean[ch], a[ch], bias[ch]);
      else t.normalize_act(x + pos, y + pos, count, mean[ch], a[ch], bias[ch], act.op, act.a, act.b);
      pos += count;
    }
  });
}

}  // namespace pyinfer
