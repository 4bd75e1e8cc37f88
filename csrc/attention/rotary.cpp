// prepare_rotary (rotary.h): shapes checked once; run() walks (batch, token) rows over threads and
// rotates each head with the active tier's rotate() (attention_isa.cpp).
#include "attention/rotary.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "attention/attention_kernels.h"
#include "common/check.h"
#include "common/thread_pool.h"

namespace pyinfer {
namespace {


}  // namespace

PreparedPtr prepare_rotary(const RotaryParams& p) {
  const char* op = "rotary_embedding";
  const auto& xs = p.x_shape;
  PYINFER_CHECK(xs.size() == 4 || (xs.size() == 3 && p.num_heads > 0),
                op << ": x must be [B, H, S, D], or [B, S, H * D] with num_heads");
  for (int64_t d : xs) PYINFER_CHECK(d >= 0, op << ": negative dimension in x");
  const bool heads_layout = xs.size() == 4;
  const int64_t B = xs[0], H = heads_layout ? xs[1] : p.num_heads, S = heads_layout ? xs[2] : xs[1];
  PYINFER_CHECK(heads_layout || xs[2] % H == 0, op << ": hidden size " << xs[2] << " is not divisible by "
                                                  << H << " heads");
  const int64_t D = heads_layout ? xs[3] : xs[2] / H;
  const int64_t rd = p.rotary_dim ? p.rotary_dim : D;
  PYINFER_CHECK(rd > 0 && rd <= D && rd % 2 == 0,
                op << ": rotary dimension " << rd << " must be even and <= the head size " << D);
  const int64_t half = rd / 2;
  const auto& cs = p.cache_shape;
  int64_t max_pos = 0;
  if (p.has_positions) {
    PYINFER_CHECK(cs.size() == 2 && cs[1] == half,
                  op << ": with position ids the caches must be [max_position, " << half << "]");
    max_pos = cs[0];
  } else {
    PYINFER_CHECK(cs.size() == 3 && cs[0] == B && cs[1] == S && cs[2] == half,
                  op << ": without position ids the caches must be [" << B << ", " << S << ", " << half << "]");
  }
  // Row (b, s) of head h starts at b * bstride + h * hstride + s * sstride.
  const int64_t hstride = heads_layout ? S * D : D, sstride = heads_layout ? D : H * D, bstride = H * S * D;
  const bool interleaved = p.interleaved, positions = p.has_positions;
  KernelBuilder b(op);
  b.input("x", xs).input("cos_cache", cs).input("sin_cache", cs);
  if (positions) b.input("position_ids", {B, S}, DType::Int64);
  else b.unused_input("position_ids", {}, DType::Int64);
  b.output("y", xs).algorithm(interleaved ? "interleaved" : "halves");
  b.remake([p](const Shapes& s) {  // inputs x, cos_cache, sin_cache, position_ids
    RotaryParams q = p;
    q.x_shape = s[0];
    q.cache_shape = s[1];
    return prepare_rotary(q);
  });
  return b.run([=](const void* const* in, void* const* out, int threads) {
    const float* x = f32_in(in, 0);
    const float *cos = f32_in(in, 1), *sin = f32_in(in, 2);
    const int64_t* ids = static_cast<const int64_t*>(in[3]);
    float* y = f32_out(out, 0);
    if (positions) {  // checked before any thread starts: an error leaves no half-written output behind
      for (int64_t i = 0; i < B * S; ++i)
        PYINFER_CHECK(ids[i] >= 0 && ids[i] < max_pos,
                      op << ": position id " << ids[i] << " is outside the caches' " << max_pos << " rows");
    }
    const auto& kt = attention_kernels();
    // The cost model (common/thread_pool.h): each rotated pair reads and writes two floats and
    // takes ~6 flops, over H heads and half pairs per token.
    const double pairs = double(B * S) * double(H) * double(half);
    const int useful = threads_for_work(bytes_ns(16.0 * pairs) + flops_ns(6.0 * pairs), B * S, threads);
    parallel_for(B * S, useful, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t bi = r / S, s = r % S;
        const int64_t row = positions ? ids[r] : r;
        const float *c = cos + row * half, *sn = sin + row * half;
        for (int64_t h = 0; h < H; ++h) {
          const int64_t off = bi * bstride + h * hstride + s * sstride;
          kt.rotate(x + off, y + off, c, sn, half, interleaved);
          if (rd < D) std::memcpy(y + off + rd, x + off + rd, sizeof(float) * (D - rd));
        }
      }
    });
  });
}

}  // namespace pyinfer
