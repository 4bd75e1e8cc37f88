// The prepared GEMM-family kernels (gemm.h): ONNX Gemm and numpy.matmul, shapes checked and
// the loop nest chosen once; run() only moves pointers into sgemm.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "activation/act_names.h"
#include "common/check.h"
#include "common/thread_pool.h"
#include "gemm/gemm.h"

namespace pyinfer {
namespace {


Epilogue epilogue_of(const ActParams& act) {
  Epilogue e;
  e.act = act;
  return e;
}

// Batch items of one matmul below this many flops each run one per thread (several at once)
// rather than one after another with a threaded product.
constexpr double kSmallItemFlops = double(1 << 23);

}  // namespace

PreparedPtr prepare_gemm(const GemmParams& p, std::shared_ptr<const PackedMatrix> packed) {
  const char* op = "gemm";
  PYINFER_CHECK(p.a_shape.size() == 2, op << ": A must be 2-D, got shape " << shape_str(p.a_shape));
  PYINFER_CHECK(!(packed && p.trans_b),
                op << ": b is a PackedMatrix, which already holds op(b): trans_b must be False "
                      "(give trans to PackedMatrix instead)");
  PYINFER_CHECK(packed || p.b_shape.size() == 2, op << ": B must be 2-D, got shape " << shape_str(p.b_shape));
  PYINFER_CHECK(!packed || packed->side() == PackedMatrix::Side::B, op << ": the packed matrix holds a left operand");
  const int64_t M = p.trans_a ? p.a_shape[1] : p.a_shape[0], K = p.trans_a ? p.a_shape[0] : p.a_shape[1];
  const int64_t Kb = packed ? packed->rows() : p.trans_b ? p.b_shape[1] : p.b_shape[0];
  const int64_t N = packed ? packed->cols() : p.trans_b ? p.b_shape[0] : p.b_shape[1];
  PYINFER_CHECK(K == Kb, op << ": inner dimensions differ: op(A) is " << M << "x" << K << ", op(B) is " << Kb << "x"
                            << N);
  const bool use_c = p.has_c && p.beta != 0.f;
  int64_t c_rows = 1, c_cols = 1;
  if (use_c) {
    PYINFER_CHECK(p.c_shape.size() <= 2, op << ": C must have rank 0..2, got shape " << shape_str(p.c_shape));
    c_rows = p.c_shape.size() == 2 ? p.c_shape[0] : 1;
    c_cols = p.c_shape.empty() ? 1 : p.c_shape.back();
    PYINFER_CHECK((c_rows == 1 || c_rows == M) && (c_cols == 1 || c_cols == N),
                  op << ": C of shape " << shape_str(p.c_shape) << " does not broadcast to (" << M << ", " << N << ")");
  }
  check_epilogue_act(op, p.act);
  const bool epilogue = p.act.kind != Act::None || p.has_bias || p.has_residual;
  const float alpha = p.alpha, beta = use_c ? p.beta : 0.f;
  const bool trans_a = p.trans_a, trans_b = p.trans_b;
  const Epilogue ep0 = epilogue_of(p.act);
  KernelBuilder b(op);
  b.input("a", p.a_shape);
  if (packed) b.unused_input("b", {K, N});
  else b.input("b", p.b_shape);
  if (use_c) b.input("c", p.c_shape);
  else b.unused_input("c", p.c_shape);
  if (p.has_bias) b.input("bias", {N});
  else b.unused_input("bias");
  if (p.has_residual) b.input("residual", {M, N});
  else b.unused_input("residual");
  b.output("y", {M, N}).algorithm(sgemm_path(M, N, packed != nullptr));
  b.remake([p, packed](const Shapes& s) {
    GemmParams q = p;
    q.a_shape = s[0];
    if (!packed) q.b_shape = s[1];
    if (q.has_c) q.c_shape = s[2];
    return prepare_gemm(q, packed);
  });
  return b.run([=](const void* const* in, void* const* out, int threads) {
    float* y = f32_out(out, 0);
    if (M == 0 || N == 0) return;
    if (use_c) {  // unidirectional broadcast of C into Y, then Y = alpha op(A) op(B) + beta Y
      const float* c = f32_in(in, 2);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) y[i * N + j] = c[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
    }
    Epilogue e = ep0;
    e.col_bias = f32_in(in, 3);
    e.residual = f32_in(in, 4);
    e.ld_residual = N;
    const int64_t lda = std::max<int64_t>(1, trans_a ? M : K);
    if (packed)
      sgemm_packed_b(trans_a, M, f32_in(in, 0), lda, *packed, alpha, beta, y, N, threads, epilogue ? &e : nullptr);
    else
      sgemm(trans_a, trans_b, M, N, K, alpha, f32_in(in, 0), lda, f32_in(in, 1), std::max<int64_t>(1, trans_b ? K : N),
            beta, y, N, threads, epilogue ? &e : nullptr);
  });
}

PreparedPtr prepare_matmul(const MatMulParams& p, std::shared_ptr<const PackedMatrix> packed) {
  const char* op = "matmul";
  check_epilogue_act(op, p.act);
  const std::vector<int64_t>& as_orig = p.a_shape;
  const std::vector<int64_t> bs_orig = packed ? std::vector<int64_t>{packed->rows(), packed->cols()} : p.b_shape;
  PYINFER_CHECK(!as_orig.empty() && !bs_orig.empty(), op << ": a and b must have rank >= 1, got shapes "
                                                        << shape_str(as_orig) << " and " << shape_str(bs_orig));
  PYINFER_CHECK(!packed || packed->side() == PackedMatrix::Side::B, op << ": the packed matrix holds a left operand");
  std::vector<int64_t> as = as_orig, bs = bs_orig;
  // numpy.matmul: a 1-D a is a row (1, K), a 1-D b a column (K, 1); the added dim is dropped.
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  PYINFER_CHECK(bs[bs.size() - 2] == K, op << ": shapes " << shape_str(as_orig) << " and " << shape_str(bs_orig)
                                           << (packed ? " (packed)" : "") << " do not match: " << K
                                           << " (last dim of a) != " << bs[bs.size() - 2] << " (second-last dim of b)");
  // Broadcast the batch dims (all but the last two), numpy style, right-aligned.
  const size_t ra = as.size() - 2, rb = bs.size() - 2, rank = std::max(ra, rb);
  std::vector<int64_t> batch(rank), a_stride(rank, 0), b_stride(rank, 0);
  int64_t a_step = M * K, b_step = K * N;
  for (size_t d = rank; d-- > 0;) {
    const int64_t da = d + ra >= rank ? as[d + ra - rank] : 1;
    const int64_t db = d + rb >= rank ? bs[d + rb - rank] : 1;
    PYINFER_CHECK(da == db || da == 1 || db == 1, op << ": batch dimensions of " << shape_str(as_orig) << " and "
                                                     << shape_str(bs_orig) << " do not broadcast");
    batch[d] = (da == 0 || db == 0) ? 0 : std::max(da, db);
    a_stride[d] = da == 1 ? 0 : a_step;
    b_stride[d] = db == 1 ? 0 : b_step;
    a_step *= da;
    b_step *= db;
  }
  std::vector<int64_t> out_shape = batch;
  if (!a_vec) out_shape.push_back(M);
  if (!b_vec) out_shape.push_back(N);
  int64_t items = 1;
  for (int64_t d : batch) items *= d;
  // Every item reads the same b and a's items are consecutive rows: one product of
  // items * M rows (a packed b is always shared).
  bool b_shared = true, a_full = true;
  for (size_t d = 0; d < rank; ++d) {
    b_shared = b_shared && b_stride[d] == 0;
    a_full = a_full && (a_stride[d] != 0 || batch[d] == 1);
  }
  const bool fold = b_shared && a_full;
  const bool item_parallel = !fold && items > 1 && 2.0 * double(M) * double(N) * double(K) < kSmallItemFlops;
  const bool epilogue = p.act.kind != Act::None || p.has_bias || p.has_residual;
  const Epilogue ep0 = epilogue_of(p.act);

  KernelBuilder b(op);
  b.input("a", as_orig);
  if (packed) b.unused_input("b", bs_orig);
  else b.input("b", bs_orig);
  if (p.has_bias) b.input("bias", {N});
  else b.unused_input("bias");
  if (p.has_residual) b.input("residual", out_shape);
  else b.unused_input("residual");
  b.output("y", out_shape);
  b.algorithm(fold ? sgemm_path(items * M, N, packed != nullptr)
                   : item_parallel ? "batched_items_parallel" : "batched_items");
  b.remake([p, packed](const Shapes& s) {
    MatMulParams q = p;
    q.a_shape = s[0];
    if (!packed) q.b_shape = s[1];
    return prepare_matmul(q, packed);
  });
  // Item t's offsets in a and b (broadcast dims have stride 0).
  auto offsets = [batch, a_stride, b_stride](int64_t t, int64_t& oa, int64_t& ob) {
    oa = ob = 0;
    for (size_t d = batch.size(); d-- > 0;) {
      const int64_t i = t % batch[d];
      t /= batch[d];
      oa += i * a_stride[d];
      ob += i * b_stride[d];
    }
  };
  return b.run([=](const void* const* in, void* const* out, int threads) {
    const float *a = f32_in(in, 0), *bm = f32_in(in, 1);
    float* y = f32_out(out, 0);
    if (items == 0 || M == 0 || N == 0) return;
    // Item t's epilogue: the bias, its own slice of the residual.
    auto item_ep = [&](int64_t t, Epilogue& e) -> const Epilogue* {
      if (!epilogue) return nullptr;
      e = ep0;
      e.col_bias = f32_in(in, 2);
      e.residual = f32_in(in, 3) ? f32_in(in, 3) + t * M * N : nullptr;
      e.ld_residual = N;
      return &e;
    };
    const int64_t lda = std::max<int64_t>(1, K), ldb = std::max<int64_t>(1, N);
    Epilogue e;
    if (fold) {
      if (packed) return sgemm_packed_b(false, items * M, a, lda, *packed, 1.f, 0.f, y, N, threads, item_ep(0, e));
      return sgemm(false, false, items * M, N, K, 1.f, a, lda, bm, ldb, 0.f, y, N, threads, item_ep(0, e));
    }
    if (item_parallel) {  // many small products: one per thread
      const double ns = flops_ns(2.0 * double(items) * double(M) * double(N) * double(K));
      parallel_for(items, threads_for_work(ns, items, threads), [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          int64_t oa, ob;
          offsets(t, oa, ob);
          Epilogue et;
          sgemm(false, false, M, N, K, 1.f, a + oa, lda, bm + ob, ldb, 0.f, y + t * M * N, N, 1, item_ep(t, et));
        }
      });
      return;
    }
    for (int64_t t = 0; t < items; ++t) {
      int64_t oa, ob;
      offsets(t, oa, ob);
      sgemm(false, false, M, N, K, 1.f, a + oa, lda, bm + ob, ldb, 0.f, y + t * M * N, N, threads, item_ep(t, e));
    }
  });
}

}  // namespace pyinfer
