// prepare_attention (attention.h): shapes, layouts and masks resolved once into strides; run()
// splits (batch, head, query block) units over threads, each one computing a score tile, its
// masked softmax (attention_isa.cpp) and the product with V on one thread.
#include "attention/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "attention/attention_kernels.h"
#include "common/check.h"
#include "common/cpu_info.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "gemm/gemm.h"
#include "gemm/gemm_kernels.h"

namespace pyinfer {
namespace {

// Score tile size: query rows per unit are chosen so that rows x T floats stay near this many
// (256 KiB: the tile is written by Q.K^T, read twice by the softmax and once by P.V, all from a
// 1 MiB L2 beside K and V), at least kMinRows (below that the products lose their register
// blocking) and at most S. Each unit packs K^T and V again for its products: at T = 512 a 128-row
// tile spends ~1.5% of its time packing, a 32-row one ~6% (packing 64 K floats from L2 against
// 2 x rows x T x D multiply-adds).
constexpr int64_t kTileFloats = 65536;
constexpr int64_t kMinRows = 8;

// Query rows below which the products run sgemm's skinny paths (no packing: a decoder step's
// one row would pay for packing all of K and V); from here on K^T and V are packed once per unit.
constexpr int64_t kPackedRows = 16;

thread_local ScratchBuffer tls_scores, tls_pack_k, tls_pack_v, tls_pack_a;

// One (batch, head)'s operands: rows of q, k, v (row strides in floats) and where its output goes.
struct Head {
  const float* q;
  int64_t q_ld;
  const float* k;
  int64_t k_ld;
  const float* v;
  int64_t v_ld;
  float* y;
  int64_t y_ld;
};

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// Queries [i0, i1) of one head, in blocks of `rows`: scores = scale Q K^T into a per-thread tile,
// mask_row(i, visible) -> the row's ScoreMask and causal limit, softmax, then y = P V.
template <class MaskRow>
void attend_blocks(const Head& hd, int64_t i0, int64_t i1, int64_t rows, int64_t T, int64_t D, int64_t Dv,
                   float scale, MaskRow mask_row) {
  const auto& at = attention_kernels();
  const auto& gk = gemm_kernels();
  const bool packed = i1 - i0 >= kPackedRows;
  const int64_t mr = gk.mr, nr = gk.nr, kc = gemm_blocking(gk.mr, gk.nr).kc;
  float *pk = nullptr, *pv = nullptr;
  if (packed) {  // K^T as B panels D deep, V as B panels T deep: once for all blocks
    pk = tls_pack_k.get(round_up(T, nr) * D);
    gk.pack_b(true, hd.k, hd.k_ld, D, T, pk);
    pv = tls_pack_v.get(round_up(Dv, nr) * T);
    gk.pack_b(false, hd.v, hd.v_ld, T, Dv, pv);
  }
  // Score rows start on a cache line (16 floats): with T = 129 every vector of the tile's
  // three passes (Q.K^T, softmax, packing for P.V) would otherwise straddle two lines.
  const int64_t ldt = round_up(T, 16);
  for (int64_t b0 = i0; b0 < i1; b0 += rows) {
    const int64_t n = std::min(rows, i1 - b0);
    float* sc = tls_scores.get(n * ldt);
    const float* q = hd.q + b0 * hd.q_ld;
    float* y = hd.y + b0 * hd.y_ld;
    if (packed) {
      float* pa = tls_pack_a.get(round_up(n, mr) * std::max(D, std::min(T, kc)));
      gk.pack_a(false, q, hd.q_ld, n, D, pa);
      gk.macro(n, T, D, pa, mr * D, pk, nr * D, sc, ldt, scale, 0.f, nullptr, 0, 0);
    } else {  // K's rows are the keys: trans_b
      sgemm(false, true, n, T, D, scale, q, hd.q_ld, hd.k, hd.k_ld, 0.f, sc, ldt, 1);
    }
    for (int64_t r = 0; r < n; ++r) {
      int64_t visible = T;
      const ScoreMask m = mask_row(b0 + r, visible);
      at.masked_softmax(sc + r * ldt, T, visible, m);
    }
    if (!packed) {
      sgemm(false, false, n, Dv, T, 1.f, sc, ldt, hd.v, hd.v_ld, 0.f, y, hd.y_ld, 1);
      continue;
    }
    for (int64_t p0 = 0; p0 < T; p0 += kc) {  // y = P V, K blocks of the GEMM's depth
      const int64_t depth = std::min(kc, T - p0);
      float* pa = tls_pack_a.get(round_up(n, mr) * std::max(D, std::min(T, kc)));
      gk.pack_a(false, sc + p0, ldt, n, depth, pa);
      gk.macro(n, Dv, depth, pa, mr * depth, pv + p0 * nr, nr * T, y, hd.y_ld, 1.f, p0 ? 1.f : 0.f, nullptr, 0, 0);
    }
  }
}

// Where one operand's rows lie in its buffer (elements): row (b, h, s) starts at
// offset + b * batch + h * head + s * token, and holds `size` contiguous floats.
struct Layout {
  int64_t offset = 0, batch = 0, head = 0, token = 0, size = 0;
  int64_t heads = 0, len = 0;  // heads and tokens the operand holds
};

Layout tokens_layout(const std::vector<int64_t>& shape, int64_t heads, int64_t size, int64_t column) {
  Layout l;
  l.offset = column;
  l.token = shape[2];
  l.batch = shape[1] * shape[2];
  l.head = size;
  l.size = size;
  l.heads = heads;
  l.len = shape[1];
  return l;
}

Layout heads_layout(const std::vector<int64_t>& shape) {
  Layout l;
  l.size = shape[3];
  l.token = shape[3];
  l.head = shape[2] * shape[3];
  l.batch = shape[1] * shape[2] * shape[3];
  l.heads = shape[1];
  l.len = shape[2];
  return l;
}

// An operand of rank 3 (tokens) or 4 (heads) with `heads` heads.
Layout operand(const char* op, const char* what, const std::vector<int64_t>& shape, int64_t heads) {
  PYINFER_CHECK(shape.size() == 3 || shape.size() == 4,
                op << ": " << what << " must be [B, S, heads * D] or [B, heads, S, D], got " << shape_str(shape));
  for (int64_t d : shape) PYINFER_CHECK(d >= 0, op << ": negative dimension in " << what);
  if (shape.size() == 4) {
    PYINFER_CHECK(shape[1] == heads, op << ": " << what << " " << shape_str(shape) << " has " << shape[1]
                                        << " heads, expected " << heads);
    return heads_layout(shape);
  }
  PYINFER_CHECK(heads > 0 && shape[2] % heads == 0,
                op << ": " << what << " width " << shape[2] << " is not divisible by " << heads << " heads");
  return tokens_layout(shape, heads, shape[2] / heads, 0);
}

}  // namespace

PreparedPtr prepare_attention(const AttentionParams& p) {
  const char* op = "attention";
  const int64_t hq = p.q_heads, hkv = p.kv_heads;
  PYINFER_CHECK(hq > 0 && hkv > 0 && hq % hkv == 0,
                op << ": q_heads (" << hq << ") must be a positive multiple of kv_heads (" << hkv << ")");
  Layout q, k, v;
  if (p.packed_qkv) {
    const auto& s = p.q_shape;
    PYINFER_CHECK(s.size() == 3, op << ": packed QKV must be [B, S, width], got " << shape_str(s));
    // width = hq * D + hkv * D + hkv * Dv
    const int64_t width = s[2];
    int64_t d = 0, dv = 0;
    if (p.v_head_size > 0) {
      dv = p.v_head_size;
      PYINFER_CHECK(width - hkv * dv > 0 && (width - hkv * dv) % (hq + hkv) == 0,
                    op << ": packed QKV width " << width << " does not hold " << hq << " + " << hkv << " heads and "
                       << hkv << " value heads of " << dv);
      d = (width - hkv * dv) / (hq + hkv);
    } else {
      PYINFER_CHECK(s[2] % (hq + 2 * hkv) == 0,
                    op << ": packed QKV width " << s[2] << " is not divisible by " << hq + 2 * hkv << " heads");
      d = dv = s[2] / (hq + 2 * hkv);
    }
    q = tokens_layout(s, hq, d, 0);
    k = tokens_layout(s, hkv, d, hq * d);
    v = tokens_layout(s, hkv, dv, (hq + hkv) * d);
  } else {
    q = operand(op, "q", p.q_shape, hq);
    k = operand(op, "k", p.k_shape, hkv);
    v = operand(op, "v", p.v_shape, hkv);
  }
  const int64_t B = p.q_shape[0], S = q.len, D = q.size, Dv = v.size, P = p.has_past ? p.past_len : 0;
  PYINFER_CHECK(p.packed_qkv || (p.k_shape[0] == B && p.v_shape[0] == B),
                op << ": q, k and v disagree on the batch: " << shape_str(p.q_shape) << ", " << shape_str(p.k_shape)
                   << ", " << shape_str(p.v_shape));
  PYINFER_CHECK(k.size == D, op << ": q head size " << D << " differs from k head size " << k.size);
  PYINFER_CHECK(k.len == v.len, op << ": k has " << k.len << " tokens, v " << v.len);
  PYINFER_CHECK(P >= 0, op << ": negative past length");
  const int64_t T = P + k.len;
  const float scale = p.scale != 0.f ? p.scale : float(1.0 / std::sqrt(double(std::max<int64_t>(D, 1))));
  PYINFER_CHECK(std::isfinite(scale), op << ": scale must be finite");

  // The additive mask, right-aligned against [B, hq, S, T]: per-dimension strides (0: broadcast).
  int64_t m_b = 0, m_h = 0, m_s = 0, m_t = 0;
  if (p.has_mask) {
    const auto& ms = p.mask_shape;
    PYINFER_CHECK(!ms.empty() && ms.size() <= 4, op << ": mask must have rank 1..4, got " << shape_str(ms));
    const int64_t full[4] = {B, hq, S, T};
    int64_t strides[4] = {0, 0, 0, 0}, step = 1;
    for (size_t i = ms.size(); i-- > 0;) {
      const size_t d = 4 - ms.size() + i;
      PYINFER_CHECK(ms[i] == 1 || ms[i] == full[d], op << ": mask " << shape_str(ms) << " does not broadcast to ("
                                                        << B << ", " << hq << ", " << S << ", " << T << ")");
      strides[d] = ms[i] == 1 ? 0 : step;
      step *= ms[i];
    }
    m_b = strides[0], m_h = strides[1], m_s = strides[2], m_t = strides[3];
  }
  const int64_t rows = std::min(S, std::max(kMinRows, kTileFloats / std::max<int64_t>(T, 1)));
  const int64_t blocks = rows ? (S + rows - 1) / rows : 0;
  const int64_t group = hq / hkv;
  const bool packed = p.packed_qkv, causal = p.causal, has_past = p.has_past, present = p.present || p.has_past;
  const int64_t causal_offset = p.causal_from_start ? 0 : T - S;
  const bool key_padding = p.has_key_padding, heads_output = p.heads_output;
  const float filter = p.mask_filter;
  // The keys and values the scores read: the inputs, or the present buffers (past + new).
  const Layout k_read = present ? heads_layout({B, hkv, T, D}) : k;
  const Layout v_read = present ? heads_layout({B, hkv, T, Dv}) : v;

  KernelBuilder b(op);
  b.input("q", p.q_shape);
  if (p.packed_qkv) b.unused_input("k").unused_input("v");
  else b.input("k", p.k_shape).input("v", p.v_shape);
  if (p.has_mask) b.input("mask", p.mask_shape);
  else b.unused_input("mask");
  if (key_padding) b.input("key_padding", {B, T}, DType::Int32);
  else b.unused_input("key_padding", {}, DType::Int32);
  if (has_past) b.input("past_key", {B, hkv, P, D}).input("past_value", {B, hkv, P, Dv});
  else b.unused_input("past_key").unused_input("past_value");
  b.output("y", heads_output ? std::vector<int64_t>{B, hq, S, Dv} : std::vector<int64_t>{B, S, hq * Dv});
  if (present) b.output("present_key", {B, hkv, T, D}).output("present_value", {B, hkv, T, Dv});
  else b.output("present_key", {}, DType::Float32, false).output("present_value", {}, DType::Float32, false);
  b.algorithm(p.packed_qkv ? "tiled_packed_qkv" : "tiled");
  // Inputs q, k, v, mask, key_padding, past_key, past_value: the present ones' new shapes (a new
  // sequence length, batch or past length), the rest of the parameters as prepared.
  b.remake([p](const Shapes& s) {
    AttentionParams q = p;
    q.q_shape = s[0];
    if (!q.packed_qkv) q.k_shape = s[1], q.v_shape = s[2];
    if (q.has_mask) q.mask_shape = s[3];
    if (q.has_past) {
      PYINFER_CHECK(s[5].size() == 4, "attention: past_key must be [B, kv_heads, P, D]");
      q.past_len = s[5][2];
    }
    return prepare_attention(q);
  });
  return b.run([=](const void* const* in, void* const* out, int threads) {
    if (B == 0 || S == 0 || hq == 0) return;
    const float* qp = f32_in(in, 0);
    const float* kp = packed ? qp : f32_in(in, 1);
    const float* vp = packed ? qp : f32_in(in, 2);
    const float* mask = f32_in(in, 3);
    const int32_t* keep = static_cast<const int32_t*>(in[4]);
    float* y = f32_out(out, 0);
    // The cost model (common/thread_pool.h): Q.K^T and P.V, a multiply-add each per (query, key,
    // head dim), plus the softmax's exp per score; a decode step (S = 1) of a short past stays inline.
    const double scores = double(B) * double(hq) * double(S) * double(T);
    const int n_threads = threads_for_work(flops_ns(2.0 * scores * double(D + Dv)) + flops_ns(16.0 * scores),
                                           B * hq * std::max<int64_t>(blocks, 1), threads);
    if (present) {  // present = past ++ new, per (batch, kv head); the scores then read it
      float* pk = f32_out(out, 1);
      float* pv = f32_out(out, 2);
      parallel_for(B * hkv, n_threads, [&](int64_t u0, int64_t u1) {
        for (int64_t u = u0; u < u1; ++u) {
          const int64_t bi = u / hkv, h = u % hkv;
          float* dk = pk + u * T * D;
          float* dv = pv + u * T * Dv;
          if (P) {
            std::memcpy(dk, f32_in(in, 5) + u * P * D, sizeof(float) * P * D);
            std::memcpy(dv, f32_in(in, 6) + u * P * Dv, sizeof(float) * P * Dv);
          }
          for (int64_t t = 0; t < k.len; ++t) {
            std::memcpy(dk + (P + t) * D, kp + k.offset + bi * k.batch + h * k.head + t * k.token, sizeof(float) * D);
            std::memcpy(dv + (P + t) * Dv, vp + v.offset + bi * v.batch + h * v.head + t * v.token,
                        sizeof(float) * Dv);
          }
        }
      });
      kp = pk;
      vp = pv;
    }
    // Units: (batch, head, a run of query blocks). A unit packs K^T and V once into the GEMM's
    // panel layout and reuses them for each of its blocks; runs are long enough to amortize that,
    // short enough to give every thread work (the split never changes a result: the blocks do not
    // depend on it).
    const int64_t heads_total = B * hq;
    const int64_t runs = std::min(blocks, std::max<int64_t>(1, (4 * int64_t(n_threads) + heads_total - 1) / heads_total));
    const int64_t units = heads_total * runs;
    parallel_for(units, std::min<int64_t>(n_threads, units), [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t bi = u / (hq * runs), h = (u / runs) % hq, g = h / group;
        const int64_t r = u % runs, b0 = r * blocks / runs, b1 = (r + 1) * blocks / runs;
        const Head head{qp + q.offset + bi * q.batch + h * q.head, q.token,
                        kp + k_read.offset + bi * k_read.batch + g * k_read.head, k_read.token,
                        vp + v_read.offset + bi * v_read.batch + g * v_read.head, v_read.token,
                        heads_output ? y + (bi * hq + h) * S * Dv : y + bi * S * hq * Dv + h * Dv,
                        heads_output ? Dv : hq * Dv};
        auto mask_row = [&](int64_t i, int64_t& visible) {
          ScoreMask m;
          if (mask) {
            m.add = mask + bi * m_b + h * m_h + i * m_s;
            m.add_stride = m_t;
          }
          if (keep) {
            m.keep = keep + bi * T;
            m.filter = filter;
          }
          visible = causal ? std::min(T, std::max<int64_t>(0, i + 1 + causal_offset)) : T;
          return m;
        };
        attend_blocks(head, b0 * rows, std::min(S, b1 * rows), rows, T, D, Dv, scale, mask_row);
      }
    });
  });
}

}  // namespace pyinfer
