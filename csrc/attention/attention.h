// Multi-head scaled dot-product attention as one kernel:
//
//   y[b, i, h] = softmax_j(scale * q[b, h, i] . k[b, g(h), j] + mask[b, h, i, j]) v[b, g(h), j]
//
// g(h) = h / (q_heads / kv_heads) (grouped-query attention; multi-head when the counts are equal).
// Each of q, k, v is read where it lies, without copies: "tokens" layout [B, S, heads * D] (the
// projection's output; several operands may be column ranges of one packed QKV tensor), or "heads"
// layout [B, heads, S, D]. So the head Reshape / Transpose around attention never run.
//
// Optional, all folded into the softmax pass of a row: an additive float mask broadcasting to
// [B, q_heads, S, T]; a key-padding mask [B, T] (int32, 0 = padding: adds mask_filter); the causal
// rule (key j visible to query i when j <= i + T - S, or j <= i counted from the start). A row whose every score is -inf gives zeros
// (ONNX Attention's rule for fully masked rows; the exporters' IsNaN / Where guard computes the same).
//
// Past keys / values ([B, kv_heads, P, D]) are concatenated in front of the new ones into the
// present outputs ([B, kv_heads, P + S_kv, D]), which the attention then reads (a decoder step).
//
// Work: units of (batch, head, block of query rows) split over threads; a unit computes its
// [rows x T] score tile into a per-thread buffer (the whole score matrix never exists: the block
// shrinks as T grows so the tile stays near 256 KiB), masks and normalizes it in place and
// multiplies it by V. Both products run sgemm on one thread; the block size depends on the shapes
// only, so results are bit-identical for every thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "common/prepared.h"

namespace pyinfer {

struct AttentionParams {
  // Operand shapes: rank 3 = tokens layout [B, S, width], rank 4 = heads layout [B, heads, S, D].
  // packed_qkv: q_shape is one [B, S, q_heads*D + kv_heads*D + kv_heads*Dv] tensor holding q, k and
  // v side by side (k_shape / v_shape unused).
  std::vector<int64_t> q_shape, k_shape, v_shape;
  bool packed_qkv = false;
  int64_t q_heads = 0, kv_heads = 0;
  int64_t v_head_size = 0;  // packed_qkv only (0: the same as the q / k head size)
  float scale = 0.f;        // 0: 1 / sqrt(head size)
  bool causal = false;
  bool causal_from_start = false;  // causal counted from the first key (j <= i: torch's is_causal), not the last
  bool has_mask = false;    // additive float mask broadcasting to [B, q_heads, S, T]
  std::vector<int64_t> mask_shape;
  bool has_key_padding = false;  // int32 [B, T]: 0 marks a padding key
  float mask_filter = -10000.f;
  bool has_past = false;    // past key / value [B, kv_heads, P, D] / [.., Dv]
  int64_t past_len = 0;
  bool present = false;     // write present key / value (with or without a past)
  bool heads_output = false;  // y as [B, q_heads, S, Dv] instead of [B, S, q_heads * Dv]
};

// Inputs: q, k, v, mask, key_padding, past_key, past_value (absent ones unused).
// Outputs: y, present_key, present_value (the last two when `present`).
PreparedPtr prepare_attention(const AttentionParams& p);

}  // namespace pyinfer
