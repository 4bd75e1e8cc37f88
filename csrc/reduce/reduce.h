// Float32 reductions over one consecutive run of axes: max, min, sum, mean.
//
// A C-contiguous array is viewed as [outer, r, inner] and reduced over r into [outer, inner].
// plan_reduce() turns an array shape and a list of axes into that view (and checks them);
// reduce() is the portable driver: it checks its arguments, splits the outputs over threads
// and calls the active tier's loops (reduce_isa.cpp, table in reduce_kernels.h).
// Bindings: bind_reduce.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

enum class ReduceKind : int { Max, Min, Sum, Mean };

// "max" / "min" / "sum" / "mean"; throws std::invalid_argument for anything else.
ReduceKind parse_reduce_kind(const std::string& name);

struct ReduceShape {
  int64_t outer = 1, r = 1, inner = 1;
  std::vector<int64_t> out_shape;  // numpy's result shape for the requested keepdims
};

// The [outer, r, inner] view of an array of `shape` reduced over `axes` (negative axes count
// from the end; all_axes = true ignores `axes` and reduces every axis). Throws
// std::invalid_argument for an axis out of range, a repeated axis, or reduced axes that are
// not one consecutive run once axes of extent 1 (which do not change the memory layout) are
// left out.
ReduceShape plan_reduce(const std::vector<int64_t>& shape, const std::vector<int64_t>& axes, bool all_axes,
                        bool keepdims);

// Throws std::invalid_argument unless the extents are non-negative and, for max / min, the
// reduction is not empty (r >= 1 whenever there is an output).
void check_reduce(int64_t outer, int64_t r, int64_t inner, ReduceKind kind);

// y[o, j] = kind over k < r of x[o, k, j] for x [outer, r, inner] and y [outer, inner], both
// C-contiguous. max / min propagate NaN (any NaN gives NaN, as numpy.max does); sum adds in
// float32 in a fixed order per output (so the result does not depend on num_threads); mean is
// that sum / r. An empty sum is 0 and an empty mean NaN.
void reduce(const float* x, float* y, int64_t outer, int64_t r, int64_t inner, ReduceKind kind, int num_threads);

// Prepared reduction of x (`shape`) over `axes` (plan_reduce's rules): input x, output y.
PreparedPtr prepare_reduce(ReduceKind kind, const std::vector<int64_t>& shape, const std::vector<int64_t>& axes,
                           bool all_axes, bool keepdims);

}  // namespace pyinfer
