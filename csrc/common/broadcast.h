// NumPy broadcasting of K operands onto one C-contiguous output, reduced to its essentials so
// that kernels only ever loop over runs: out[i] = f(op0[i * step0], op1[i * step1], ...) with
// each step 0 (broadcast along the run) or the operand's stride. Shared by the float32
// arithmetic (elementwise/), the comparisons, Where and the integer arithmetic of shapes.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "common/thread_pool.h"

namespace pyinfer {

constexpr int kMaxBroadcastRank = 8;

// The NumPy broadcast of `shapes`; throws std::invalid_argument (naming `what`) if they are
// incompatible, a dimension is negative or a rank exceeds kMaxBroadcastRank.
std::vector<int64_t> broadcast_shapes(const std::vector<std::vector<int64_t>>& shapes, const char* what);

// The broadcast with dims of size 1 dropped and adjacent dims merged where every operand either
// varies along both or is broadcast along both (a same-shape op is 1-D, a per-channel NCHW op
// N, C, H*W). stride[k][d] is 0 where operand k is broadcast.
template <int K>
struct Broadcast {
  int rank = 0;
  int64_t total = 1;  // output elements
  int64_t size[kMaxBroadcastRank] = {};
  int64_t stride[K][kMaxBroadcastRank] = {};
};

// `shapes` must broadcast to `out` (checked by broadcast_shapes()).
template <int K>
Broadcast<K> canonical_broadcast(const std::array<const std::vector<int64_t>*, K>& shapes,
                                 const std::vector<int64_t>& out) {
  const int r = static_cast<int>(out.size());
  int64_t size[kMaxBroadcastRank];
  bool full[K][kMaxBroadcastRank];
  int n = 0;
  Broadcast<K> c;
  for (int d = 0; d < r; ++d) {
    c.total *= out[d];
    if (out[d] == 1) continue;
    bool f[K], same = n > 0;
    for (int k = 0; k < K; ++k) {
      const int dk = d - (r - static_cast<int>(shapes[k]->size()));
      f[k] = dk >= 0 && (*shapes[k])[dk] != 1;
      if (n > 0 && full[k][n - 1] != f[k]) same = false;
    }
    if (same) {
      size[n - 1] *= out[d];
      continue;
    }
    size[n] = out[d];
    for (int k = 0; k < K; ++k) full[k][n] = f[k];
    ++n;
  }
  c.rank = n;
  int64_t s[K];
  for (int k = 0; k < K; ++k) s[k] = 1;
  for (int d = n - 1; d >= 0; --d) {
    c.size[d] = size[d];
    for (int k = 0; k < K; ++k) {
      c.stride[k][d] = full[k][d] ? s[k] : 0;
      if (full[k][d]) s[k] *= size[d];
    }
  }
  return c;
}

// Below this many output elements one run takes a single thread without asking the cost model.
constexpr int64_t kBroadcastParallelElements = 1 << 15;
// Long inner runs are cut into pieces of this size so that few rows still spread over threads.
constexpr int64_t kBroadcastInnerChunk = 1 << 14;

// Calls run(off, out_off, n, step) for every run of the output, in pieces over threads:
// operand k's elements are at off[k] + i * step[k] for i < n, the output's at out_off + i.
template <int K, class Run>
void for_each_run(const Broadcast<K>& c, int num_threads, Run run) {
  if (c.total == 0) return;
  int64_t step[K], zero[K];
  for (int k = 0; k < K; ++k) zero[k] = 0;
  if (c.rank == 0) {  // every dim is 1: one element
    run(zero, 0, 1, zero);
    return;
  }
  const int inner_dim = c.rank - 1;
  for (int k = 0; k < K; ++k) step[k] = c.stride[k][inner_dim];
  if (c.rank == 1 && c.total < kBroadcastParallelElements) {  // one run, one thread
    run(zero, 0, c.total, step);
    return;
  }
  const int64_t inner = c.size[inner_dim], rows = c.total / inner;
  const int64_t pieces = (inner + kBroadcastInnerChunk - 1) / kBroadcastInnerChunk;  // per row
  // The cost model (common/thread_pool.h): K operands read and one output written, ~4 bytes each.
  const int threads = threads_for_work(bytes_ns(4.0 * (K + 1) * double(c.total)), rows * pieces, num_threads);
  parallel_for(rows * pieces, threads, [&](int64_t begin, int64_t end) {
    // Decode the first row's position over the outer dims, then walk them like an odometer.
    int64_t row = begin / pieces, piece = begin % pieces;
    int64_t idx[kMaxBroadcastRank] = {0};
    int64_t off[K];
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = inner_dim - 1; d >= 0; --d) {
      idx[d] = row % c.size[d];
      row /= c.size[d];
      for (int k = 0; k < K; ++k) off[k] += idx[d] * c.stride[k][d];
    }
    int64_t out_off = (begin / pieces) * inner;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t lo = piece * kBroadcastInnerChunk, hi = std::min(inner, lo + kBroadcastInnerChunk);
      int64_t at[K];
      for (int k = 0; k < K; ++k) at[k] = off[k] + lo * step[k];
      run(at, out_off + lo, hi - lo, step);
      if (++piece == pieces) {  // next row
        piece = 0;
        out_off += inner;
        for (int d = inner_dim - 1; d >= 0; --d) {
          for (int k = 0; k < K; ++k) off[k] += c.stride[k][d];
          if (++idx[d] < c.size[d]) break;
          for (int k = 0; k < K; ++k) off[k] -= idx[d] * c.stride[k][d];
          idx[d] = 0;
        }
      }
    }
  });
}

}  // namespace pyinfer
