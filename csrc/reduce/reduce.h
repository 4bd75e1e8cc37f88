// Float32 reductions over any set of axes: max, min, sum, mean, prod, sum_square, l1, l2,
// log_sum, log_sum_exp (ONNX's Reduce* family).
//
// A C-contiguous array reduced over one consecutive run of axes is viewed as [outer, r, inner]
// and reduced over r into [outer, inner] (one pass); other axis sets run one pass per run of
// reduced axes, the last run first, through a scratch buffer. plan_reduce() turns a shape and
// axes into those passes (and checks them); reduce() is one pass: it splits the outputs over
// threads and calls the active tier's loops (reduce_isa.cpp, table in reduce_kernels.h).
// Bindings: bind_reduce.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

// Max .. L1 are what one pass of the tier loops computes; L2 (sqrt of sum_square), LogSum (log
// of sum) and LogSumExp (max, then sum of exp(x - max), log, + max) finish in the driver.
enum class ReduceKind : int { Max, Min, Sum, Mean, Prod, SumSquare, L1, L2, LogSum, LogSumExp };

// "max", "min", "sum", "mean", "prod", "sum_square", "l1", "l2", "log_sum", "log_sum_exp";
// throws std::invalid_argument for anything else.
ReduceKind parse_reduce_kind(const std::string& name);

// One [outer, r, inner] -> [outer, inner] pass.
struct ReducePass {
  int64_t outer = 1, r = 1, inner = 1;
};

struct ReducePlan {
  std::vector<ReducePass> passes;  // in order; empty when nothing moves (every reduced extent 1)
  int64_t count = 1;               // elements reduced into each output
  int64_t in_size = 0, out_size = 0;
  std::vector<int64_t> out_shape;   // numpy's result shape for the requested keepdims
  std::vector<int64_t> kept_shape;  // the same with keepdims (log_sum_exp broadcasts its max)
};

// The passes reducing an array of `shape` over `axes` (negative axes count from the end;
// all_axes = true ignores `axes` and reduces every axis). Throws std::invalid_argument for an
// axis out of range or repeated.
ReducePlan plan_reduce(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool all_axes,
                       bool keepdims);

// Throws std::invalid_argument unless the extents are non-negative and, for max / min, the
// reduction is not empty (r >= 1 whenever there is an output).
void check_reduce(int64_t outer, int64_t r, int64_t inner, ReduceKind kind);

// One pass: y[o, j] = kind over k < r of x[o, k, j] for x [outer, r, inner] and y [outer, inner],
// both C-contiguous; kind one of Max .. L1. max / min propagate NaN (as numpy.max does); sums
// and products accumulate in float32 in a fixed order per output (so the result does not depend
// on num_threads); mean is that sum / r. An empty sum is 0, product 1, mean NaN.
void reduce(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, ReduceKind kind, int num_threads);

// Prepared reduction of x (`shape`) over `axes` (plan_reduce's rules): input x, output y.
PreparedPtr prepare_reduce(ReduceKind kind, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes,
                           bool all_axes, bool keepdims);

// The integer form (reduce_int.cpp): int32 / int64 x, kind max, min, sum or prod (wrapping), a
// non-empty reduction.
PreparedPtr prepare_reduce_int(ReduceKind kind, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes,
                               bool all_axes, bool keepdims, DType dtype);

}  // namespace pyinfer
