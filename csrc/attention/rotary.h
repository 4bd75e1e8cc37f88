// Rotary position embedding (ONNX RotaryEmbedding-23): the first rotary_dim floats of every head
// are rotated by the angles of their token's position, the rest copied.
//
//   x: [B, H, S, D] (heads layout) or [B, S, H * D] (tokens layout, num_heads given)
//   cos / sin: [max_position, rotary_dim / 2] read at position_ids [B, S] (int64), or
//              [B, S, rotary_dim / 2] without position ids
//   y[.., :half] = x1 cos - x2 sin, y[.., half:rd] = x1 sin + x2 cos with x1, x2 the two halves
//   of the rotated part (interleaved: the even and odd floats, written back interleaved).
#pragma once
#include <cstdint>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

struct RotaryParams {
  std::vector<int64_t> x_shape;
  int64_t num_heads = 0;   // for a 3-D x (0: x is 4-D)
  int64_t rotary_dim = 0;  // 0: the head size
  bool interleaved = false;
  std::vector<int64_t> cache_shape;
  bool has_positions = false;
};

// Inputs: x, cos_cache, sin_cache, position_ids (int64, when has_positions). Output: y (x's shape).
// A position id outside the caches' rows raises when the kernel runs.
PreparedPtr prepare_rotary(const RotaryParams& p);

}  // namespace pyinfer
