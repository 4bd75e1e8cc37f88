// Python bindings of the GEMM family: gemm (ONNX Gemm semantics) and matmul (numpy.matmul).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "common/check.h"
#include "common/thread_pool.h"
#include "gemm/gemm.h"

namespace py = pybind11;

namespace pyinfer {
namespace {

constexpr int kMaxRank = 32;

// A 2-D float32 operand as sgemm sees it. Row-strided views (x[:, :n], x[::2]) are used in
// place, with ld = their row stride; other layouts are copied to C order by float_array.
struct Matrix {
  py::array keep;  // owns / keeps alive the data
  const float* data;
  int64_t rows, cols, ld;
};

Matrix matrix_operand(py::handle obj, const char* what) {
  if (py::isinstance<py::array>(obj)) {
    auto a = py::reinterpret_borrow<py::array>(obj);
    if (a.dtype().is(py::dtype::of<float>()) && a.ndim() == 2 && a.shape(0) > 0 &&
        a.shape(1) > 0 && a.strides(1) == int64_t(sizeof(float)) && a.strides(0) > 0 &&
        a.strides(0) % int64_t(sizeof(float)) == 0 &&
        a.strides(0) / int64_t(sizeof(float)) >= a.shape(1) &&
        reinterpret_cast<uintptr_t>(a.data()) % alignof(float) == 0) {
      return {a, static_cast<const float*>(a.data()), a.shape(0), a.shape(1),
              a.strides(0) / int64_t(sizeof(float))};
    }
  }
  auto c = bind::float_array(obj, what, 2, 2);
  return {c, c.data(), c.shape(0), c.shape(1), std::max<int64_t>(1, c.shape(1))};
}

bind::FloatArray gemm_binding(py::handle a_obj, py::handle b_obj, py::object c_obj, float alpha,
                              float beta, bool trans_a, bool trans_b, int num_threads) {
  const Matrix a = matrix_operand(a_obj, "gemm: A");
  const Matrix b = matrix_operand(b_obj, "gemm: B");
  const int64_t M = trans_a ? a.cols : a.rows, K = trans_a ? a.rows : a.cols;
  const int64_t Kb = trans_b ? b.cols : b.rows, N = trans_b ? b.rows : b.cols;
  PYINFER_CHECK(K == Kb, "gemm: inner dimensions differ: op(A) is " << M << "x" << K
                             << ", op(B) is " << Kb << "x" << N);
  auto y = bind::new_float_array({M, N});
  float* yp = y.mutable_data();
  if (!c_obj.is_none() && beta != 0.f) {
    auto c = bind::float_array(c_obj, "gemm: C", 0, 2);
    // Unidirectional broadcast of C to (M, N): copy it into Y, then Y = alpha*AB + beta*Y.
    const auto cs = bind::shape_of(c);
    const int64_t cm = cs.size() == 2 ? cs[0] : 1, cn = cs.empty() ? 1 : cs.back();
    PYINFER_CHECK((cm == 1 || cm == M) && (cn == 1 || cn == N),
                  "gemm: C of shape " << bind::shape_str(cs) << " does not broadcast to (" << M
                                      << ", " << N << ")");
    const float* cp = c.data();
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j)
        yp[i * N + j] = cp[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
  } else {
    beta = 0.f;
  }
  py::gil_scoped_release nogil;
  sgemm(trans_a, trans_b, M, N, K, alpha, a.data, a.ld, b.data, b.ld, beta, yp,
        std::max<int64_t>(1, N), num_threads);
  return y;
}

bind::FloatArray matmul_binding(py::handle a_obj, py::handle b_obj, int num_threads) {
  auto a = bind::float_array(a_obj, "matmul: a", 1, kMaxRank);
  auto b = bind::float_array(b_obj, "matmul: b", 1, kMaxRank);
  std::vector<int64_t> as = bind::shape_of(a), bs = bind::shape_of(b);
  const std::vector<int64_t> as_orig = as, bs_orig = bs;
  // numpy.matmul: a 1-D a is a row (1, K), a 1-D b a column (K, 1); the added dim is dropped.
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  PYINFER_CHECK(bs[bs.size() - 2] == K, "matmul: shapes " << bind::shape_str(as_orig) << " and "
                                            << bind::shape_str(bs_orig)
                                            << " do not match: " << K << " (last dim of a) != "
                                            << bs[bs.size() - 2] << " (second-last dim of b)");
  // Broadcast the batch dims (all but the last two), numpy style, right-aligned.
  const size_t ra = as.size() - 2, rb = bs.size() - 2, rank = std::max(ra, rb);
  std::vector<int64_t> batch(rank), a_bstride(rank, 0), b_bstride(rank, 0);
  int64_t a_step = M * K, b_step = K * N;
  for (size_t d = rank; d-- > 0;) {
    const int64_t da = d + ra >= rank ? as[d + ra - rank] : 1;
    const int64_t db = d + rb >= rank ? bs[d + rb - rank] : 1;
    PYINFER_CHECK(da == db || da == 1 || db == 1,
                  "matmul: batch dimensions of " << bind::shape_str(as_orig) << " and "
                                                 << bind::shape_str(bs_orig)
                                                 << " do not broadcast");
    batch[d] = std::max(da, db);
    if (da == 0 || db == 0) batch[d] = 0;
    a_bstride[d] = da == 1 ? 0 : a_step;
    b_bstride[d] = db == 1 ? 0 : b_step;
    a_step *= da;
    b_step *= db;
  }
  std::vector<int64_t> out_shape = batch;
  if (!a_vec) out_shape.push_back(M);
  if (!b_vec) out_shape.push_back(N);
  auto y = bind::new_float_array(out_shape);
  int64_t count = 1;
  for (auto d : batch) count *= d;
  float* yp = y.mutable_data();
  const float* ap = a.data();
  const float* bp = b.data();
  if (count == 0 || M == 0 || N == 0) return y;

  // Offsets of batch item t in a and b (broadcast dims have stride 0).
  auto offsets = [&](int64_t t, int64_t& oa, int64_t& ob) {
    oa = ob = 0;
    for (size_t d = rank; d-- > 0;) {
      const int64_t i = t % batch[d];
      t /= batch[d];
      oa += i * a_bstride[d];
      ob += i * b_bstride[d];
    }
  };
  bool b_shared = true;  // every item uses the same b: fold the batch into M
  for (auto s : b_bstride) b_shared = b_shared && s == 0;

  py::gil_scoped_release nogil;
  const int64_t lda = std::max<int64_t>(1, K), ldb = std::max<int64_t>(1, N);
  if (b_shared && count > 1) {
    bool a_full = true;  // a's batch items are consecutive rows (no broadcast inside a)
    int64_t items = 1;
    for (size_t d = 0; d < rank; ++d) a_full = a_full && (a_bstride[d] != 0 || batch[d] == 1);
    for (auto d : batch) items *= d;
    if (a_full) {
      sgemm(false, false, items * M, N, K, 1.f, ap, lda, bp, ldb, 0.f, yp, N, num_threads);
      return y;
    }
  }
  const double item_flops = 2.0 * double(M) * double(N) * double(K);
  if (count > 1 && item_flops < double(1 << 23)) {  // many small products: one per thread
    parallel_for(count, num_threads, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t oa, ob;
        offsets(t, oa, ob);
        sgemm(false, false, M, N, K, 1.f, ap + oa, lda, bp + ob, ldb, 0.f, yp + t * M * N, N, 1);
      }
    });
  } else {
    for (int64_t t = 0; t < count; ++t) {
      int64_t oa, ob;
      offsets(t, oa, ob);
      sgemm(false, false, M, N, K, 1.f, ap + oa, lda, bp + ob, ldb, 0.f, yp + t * M * N, N,
            num_threads);
    }
  }
  return y;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_binding, py::arg("a"), py::arg("b"), py::arg("c") = py::none(),
        py::arg("alpha") = 1.0f, py::arg("beta") = 1.0f, py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("num_threads") = 0,
        R"doc(gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=False, trans_b=False, num_threads=0)

Y = alpha * op(a) @ op(b) + beta * c, ONNX Gemm semantics. a and b are 2-D float32;
op(x) is x.T when trans_x is set. Row-strided views (e.g. x[:, :k]) are read in place. op(a) is (M, K), op(b) is (K, N); c (optional, rank 0..2)
broadcasts unidirectionally to (M, N). Returns a new (M, N) float32 array. Results do not
depend on num_threads (0 = default).)doc");
  m.def("matmul", &matmul_binding, py::arg("a"), py::arg("b"), py::arg("num_threads") = 0,
        R"doc(matmul(a, b, num_threads=0)

numpy.matmul for float32 arrays of rank >= 1: a 1-D a is a row vector, a 1-D b a column
vector (the added dimension is removed from the result); leading (batch) dimensions
broadcast. Returns a new float32 array.)doc");
}

}  // namespace pyinfer
