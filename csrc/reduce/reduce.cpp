// Portable driver of the reduction family: shape planning, argument checks, work splitting over
// threads, then the active tier's loops (reduce_isa.cpp).
#include "reduce/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/broadcast.h"
#include "common/check.h"
#include "common/thread_pool.h"
#include "reduce/reduce_kernels.h"

namespace pyinfer {
namespace {

// Rows longer than this are reduced in chunks of this length (partial results then combined in
// order): the chunks of one long row can run on several threads, and the float32 sum of a
// chunk adds at most kRowChunk / (4 * N) terms per accumulator. The split depends on r only.
constexpr int64_t kRowChunk = 1 << 14;
// Outputs per unit of work when inner > 1.
constexpr int64_t kColumnBlock = 1024;

const char* const kKindNames[] = {"max", "min", "sum", "mean", "prod", "sum_square", "l1", "l2", "log_sum",
                                   "log_sum_exp"};

const char* kind_name(ReduceKind kind) { return kKindNames[static_cast<int>(kind)]; }


// Threads for reading `elements` floats (the cost model, common/thread_pool.h), over `units` pieces.
int threads_for(int num_threads, int64_t units, int64_t elements) {
  return threads_for_work(bytes_ns(4.0 * double(elements)), units, num_threads);
}

// The in-order combination of one long row's chunk results (max / min: NaN propagates).
float combine_partials(ReduceKind kind, const float* p, int64_t n, int64_t r) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  float a = p[0];
  for (int64_t i = 1; i < n; ++i) {
    const float v = p[i];
    const bool either_nan = std::isnan(a) || std::isnan(v);
    if (kind == ReduceKind::Max) a = either_nan ? nan : std::max(a, v);
    else if (kind == ReduceKind::Min) a = either_nan ? nan : std::min(a, v);
    else if (kind == ReduceKind::Prod) a *= v;
    else a += v;
  }
  return kind == ReduceKind::Mean ? a / static_cast<float>(r) : a;
}

void reduce_long_rows(const float* x, float* y, int64_t outer, int64_t r, ReduceKind kind, int num_threads) {
  const int64_t chunks = (r + kRowChunk - 1) / kRowChunk;
  const ReduceKind chunk_kind = kind == ReduceKind::Mean ? ReduceKind::Sum : kind;  // partials add (or multiply)
  std::vector<float> partial(static_cast<size_t>(outer * chunks));
  const auto& t = reduce_kernels();
  parallel_for(outer * chunks, threads_for(num_threads, outer * chunks, outer * r), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t row = u / chunks, k0 = (u % chunks) * kRowChunk;
      t.rows(chunk_kind, x + row * r + k0, &partial[u], 1, std::min(kRowChunk, r - k0));
    }
  });
  for (int64_t o = 0; o < outer; ++o) y[o] = combine_partials(kind, &partial[o * chunks], chunks, r);
}

}  // namespace

ReduceKind parse_reduce_kind(const std::string& name) {
  for (int k = 0; k <= static_cast<int>(ReduceKind::LogSumExp); ++k)
    if (name == kKindNames[k]) return static_cast<ReduceKind>(k);
  PYINFER_CHECK(false, "reduce: kind must be one of max, min, sum, mean, prod, sum_square, l1, l2, log_sum, "
                       "log_sum_exp; got '" << name << "'");
  return ReduceKind::Sum;
}

ReducePlan plan_reduce(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool all_axes,
                       bool keepdims) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  for (auto d : shape) PYINFER_CHECK(d >= 0, "reduce: negative extent in shape " << shape_str(shape));
  std::vector<bool> reduced(shape.size(), all_axes);
  if (!all_axes) {
    for (auto a : axes) {
      PYINFER_CHECK(a >= -rank && a < rank,
                    "reduce: axis " << a << " is out of range for shape " << shape_str(shape));
      const int64_t d = a < 0 ? a + rank : a;
      PYINFER_CHECK(!reduced[d], "reduce: axis " << a << " is repeated in the axes");
      reduced[d] = true;
    }
  }
  ReducePlan p;
  p.in_size = 1;
  // The array without its extent-1 axes (they move no element), as (extent, reduced) runs.
  std::vector<int64_t> ext;
  std::vector<bool> red;
  for (int64_t d = 0; d < rank; ++d) {
    p.in_size *= shape[d];
    if (reduced[d]) p.count *= shape[d];
    if (!reduced[d]) p.out_shape.push_back(shape[d]);
    else if (keepdims) p.out_shape.push_back(1);
    p.kept_shape.push_back(reduced[d] ? 1 : shape[d]);
    if (shape[d] == 1) continue;
    if (!ext.empty() && red.back() == reduced[d]) {
      ext.back() *= shape[d];
    } else {
      ext.push_back(shape[d]);
      red.push_back(reduced[d]);
    }
  }
  p.out_size = 1;
  for (int64_t d : p.out_shape) p.out_size *= d;
  if (p.in_size == 0) {  // nothing to read: one pass of r = count (0 or not) over the outputs
    p.passes.push_back({p.out_size, p.count, 1});
    return p;
  }
  // The last reduced run first: the runs before it keep their place in the shrinking shape.
  for (int64_t i = static_cast<int64_t>(ext.size()) - 1; i >= 0; --i) {
    if (!red[i]) continue;
    ReducePass pass;
    pass.r = ext[i];
    for (int64_t j = 0; j < i; ++j) pass.outer *= ext[j];
    for (size_t j = i + 1; j < ext.size(); ++j) pass.inner *= ext[j];
    p.passes.push_back(pass);
    ext.erase(ext.begin() + i);
    red.erase(red.begin() + i);
  }
  return p;
}

void check_reduce(int64_t outer, int64_t r, int64_t inner, ReduceKind kind) {
  PYINFER_CHECK(outer >= 0 && r >= 0 && inner >= 0,
                "reduce: negative extent (outer " << outer << ", r " << r << ", inner " << inner << ")");
  PYINFER_CHECK(r > 0 || outer == 0 || inner == 0 || (kind != ReduceKind::Max && kind != ReduceKind::Min),
                "reduce: " << kind_name(kind) << " over an empty set of elements has no value");
}

void reduce(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, ReduceKind kind, int num_threads) {
  check_reduce(outer, r, inner, kind);
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  PYINFER_CHECK(y, "reduce: null output pointer");
  if (r == 0) {  // an empty sum is 0, product 1; a mean 0 / 0
    const float empty = kind == ReduceKind::Mean ? std::numeric_limits<float>::quiet_NaN()
                        : kind == ReduceKind::Prod ? 1.f : 0.f;
    std::fill(y, y + outputs, empty);
    return;
  }
  PYINFER_CHECK(x, "reduce: null input pointer");
  if (r == 1 && !(kind == ReduceKind::SumSquare || kind == ReduceKind::L1)) {  // the identity (mean divides by 1)
    std::memcpy(y, x, static_cast<size_t>(outputs) * sizeof(float));
    return;
  }
  const auto& t = reduce_kernels();
  const int64_t elements = outputs * r;
  if (inner == 1) {
    if (r > kRowChunk) return reduce_long_rows(x, y, outer, r, kind, num_threads);
    parallel_for(outer, threads_for(num_threads, outer, elements),
                 [&](int64_t o0, int64_t o1) { t.rows(kind, x + o0 * r, y + o0, o1 - o0, r); });
    return;
  }
  const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
  parallel_for(outer * blocks, threads_for(num_threads, outer * blocks, elements), [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t o = u / blocks, j0 = (u % blocks) * kColumnBlock;
      t.columns(kind, x + o * r * inner + j0, y + o * inner + j0, r, inner, std::min(kColumnBlock, inner - j0));
    }
  });
}

namespace {

// What the passes compute for `kind`: the first pass maps the elements (squares, magnitudes),
// the later ones combine partial results.
ReduceKind first_pass_kind(ReduceKind kind, bool one_pass) {
  switch (kind) {
    case ReduceKind::Mean: return one_pass ? ReduceKind::Mean : ReduceKind::Sum;
    case ReduceKind::L2: return ReduceKind::SumSquare;
    case ReduceKind::LogSum: return ReduceKind::Sum;
    default: return kind;
  }
}

ReduceKind later_pass_kind(ReduceKind kind) {
  return kind == ReduceKind::Max || kind == ReduceKind::Min || kind == ReduceKind::Prod ? kind : ReduceKind::Sum;
}

// x through plan's passes into y (kind one of Max .. L1 for the first, `later` afterwards).
void run_passes(const ReducePlan& plan, const float* x, float* y, ReduceKind first, ReduceKind later, int threads) {
  if (plan.passes.empty()) {  // every reduced extent is 1: each output reduces one element
    reduce(x, y, plan.out_size, 1, 1, first, threads);
    return;
  }
  std::vector<float> buf[2];
  const float* src = x;
  for (size_t i = 0; i < plan.passes.size(); ++i) {
    const ReducePass& p = plan.passes[i];
    float* dst = y;
    if (i + 1 < plan.passes.size()) {
      buf[i % 2].resize(static_cast<size_t>(p.outer * p.inner));
      dst = buf[i % 2].data();
    }
    reduce(src, dst, p.outer, p.r, p.inner, i == 0 ? first : later, threads);
    src = dst;
  }
}

// log(sum(exp(x - m))) + m with m the max over the reduced axes (0 where it is not finite).
void log_sum_exp(const ReducePlan& plan, const std::vector<int64_t>& shape, const float* x, float* y, int threads) {
  std::vector<float> m(static_cast<size_t>(plan.out_size)), e(static_cast<size_t>(plan.in_size));
  run_passes(plan, x, m.data(), ReduceKind::Max, ReduceKind::Max, threads);
  for (float& v : m) v = std::isfinite(v) ? v : 0.f;
  const Broadcast<2> b = canonical_broadcast<2>({&shape, &plan.kept_shape}, shape);
  for_each_run(b, threads, [&](const int64_t* off, int64_t o, int64_t n, const int64_t* step) {
    for (int64_t i = 0; i < n; ++i) e[o + i] = std::exp(x[off[0] + i * step[0]] - m[off[1] + i * step[1]]);
  });
  run_passes(plan, e.data(), y, ReduceKind::Sum, ReduceKind::Sum, threads);
  for (int64_t i = 0; i < plan.out_size; ++i) y[i] = std::log(y[i]) + m[i];
}

}  // namespace

PreparedPtr prepare_reduce(ReduceKind kind, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes,
                           bool all_axes, bool keepdims) {
  const ReducePlan plan = plan_reduce(shape, axes, all_axes, keepdims);
  for (const ReducePass& p : plan.passes) check_reduce(p.outer, p.r, p.inner, kind);
  const ReduceKind first = first_pass_kind(kind, plan.passes.size() <= 1), later = later_pass_kind(kind);
  return KernelBuilder(std::string("reduce_") + kind_name(kind)).input("x", shape).output("y", plan.out_shape)
      .algorithm(plan.passes.size() > 1 ? "passes" : "one_pass")
      .remake([kind, axes, all_axes, keepdims](const Shapes& s) { return prepare_reduce(kind, s[0], axes, all_axes, keepdims); })
      .run([plan, shape, kind, first, later](const void* const* in, void* const* out, int threads) {
        float* y = f32_out(out, 0);
        if (kind == ReduceKind::LogSumExp) return log_sum_exp(plan, shape, f32_in(in, 0), y, threads);
        run_passes(plan, f32_in(in, 0), y, first, later, threads);
        const float count = static_cast<float>(plan.count);
        for (int64_t i = 0; i < plan.out_size; ++i) {
          if (kind == ReduceKind::Mean && plan.passes.size() > 1) y[i] /= count;
          else if (kind == ReduceKind::L2) y[i] = std::sqrt(y[i]);
          else if (kind == ReduceKind::LogSum) y[i] = std::log(y[i]);
        }
      });
}

}  // namespace pyinfer
