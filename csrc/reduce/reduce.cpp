// Portable driver of the reduction family: shape planning, argument checks, work splitting over
// threads, then the active tier's loops (reduce_isa.cpp).
#include "reduce/reduce.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

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

const char* kind_name(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::Max: return "max";
    case ReduceKind::Min: return "min";
    case ReduceKind::Sum: return "sum";
    default: return "mean";
  }
}

std::string shape_str(const std::vector<int64_t>& shape) {
  MessageBuilder os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

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
    else a += v;
  }
  return kind == ReduceKind::Mean ? a / static_cast<float>(r) : a;
}

void reduce_long_rows(const float* x, float* y, int64_t outer, int64_t r, ReduceKind kind, int num_threads) {
  const int64_t chunks = (r + kRowChunk - 1) / kRowChunk;
  const ReduceKind chunk_kind = kind == ReduceKind::Mean ? ReduceKind::Sum : kind;
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
  if (name == "max") return ReduceKind::Max;
  if (name == "min") return ReduceKind::Min;
  if (name == "sum") return ReduceKind::Sum;
  if (name == "mean") return ReduceKind::Mean;
  PYINFER_CHECK(false, "reduce: kind must be 'max', 'min', 'sum' or 'mean', got '" << name << "'");
  return ReduceKind::Sum;
}

ReduceShape plan_reduce(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool all_axes,
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
  // The reduced axes of extent != 1 must form one run [first, last] in which every axis of
  // extent != 1 is reduced; axes of extent 1 anywhere do not move any element.
  int64_t first = -1, last = -1;
  for (int64_t d = 0; d < rank; ++d)
    if (reduced[d] && shape[d] != 1) {
      if (first < 0) first = d;
      last = d;
    }
  ReduceShape s;
  if (first < 0) first = last = rank;  // nothing to reduce: r = 1, every element its own output
  for (int64_t d = first; d <= last && d < rank; ++d)
    PYINFER_CHECK(reduced[d] || shape[d] == 1,
                  "reduce: the reduced axes of shape " << shape_str(shape)
                      << " are not one consecutive run of axes (axis " << d << " lies between them)");
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) s.r *= shape[d];
    else if (d < first) s.outer *= shape[d];
    else s.inner *= shape[d];
    if (!reduced[d]) s.out_shape.push_back(shape[d]);
    else if (keepdims) s.out_shape.push_back(1);
  }
  return s;
}

void check_reduce(int64_t outer, int64_t r, int64_t inner, ReduceKind kind) {
  PYINFER_CHECK(outer >= 0 && r >= 0 && inner >= 0,
                "reduce: negative extent (outer " << outer << ", r " << r << ", inner " << inner << ")");
  PYINFER_CHECK(r > 0 || outer == 0 || inner == 0 || kind == ReduceKind::Sum || kind == ReduceKind::Mean,
                "reduce: " << kind_name(kind) << " over an empty set of elements has no value");
}

void reduce(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, ReduceKind kind, int num_threads) {
  check_reduce(outer, r, inner, kind);
  const int64_t outputs = outer * inner;
  if (outputs == 0) return;
  PYINFER_CHECK(y, "reduce: null output pointer");
  if (r == 0) {  // an empty sum is 0; its mean 0 / 0
    std::fill(y, y + outputs, kind == ReduceKind::Sum ? 0.f : std::numeric_limits<float>::quiet_NaN());
    return;
  }
  PYINFER_CHECK(x, "reduce: null input pointer");
  if (r == 1) {  // every kind is the identity (mean divides by 1)
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

PreparedPtr prepare_reduce(ReduceKind kind, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes,
                           bool all_axes, bool keepdims) {
  const ReduceShape s = plan_reduce(shape, axes, all_axes, keepdims);
  check_reduce(s.outer, s.r, s.inner, kind);
  return KernelBuilder(std::string("reduce_") + kind_name(kind)).input("x", shape).output("y", s.out_shape)
      .remake([kind, axes, all_axes, keepdims](const Shapes& in) { return prepare_reduce(kind, in[0], axes, all_axes, keepdims); })
      .run([s, kind](const void* const* in, void* const* out, int threads) {
        reduce(f32_in(in, 0), f32_out(out, 0), s.outer, s.r, s.inner, kind, threads);
      });
}

}  // namespace pyinfer
