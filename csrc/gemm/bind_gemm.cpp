// Python bindings of the GEMM family: gemm (ONNX Gemm semantics), matmul (numpy.matmul),
// both with an optional fused epilogue, and PackedMatrix (a constant right operand packed once).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <memory>
#include <string>

#include "bindings/array.h"
#include "bindings/bindings.h"
#include "capi/pyinfer_capi.h"
#include "common/check.h"
#include "common/cpu_features.h"
#include "common/thread_pool.h"
#include "gemm/bind_epilogue.h"
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
    if (bind::is_float32(a) && a.ndim() == 2 && a.shape(0) > 0 &&
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

// pyinfer.kernels.PackedMatrix: op(b) packed once for use as the right operand.
struct PyPackedMatrix {
  std::shared_ptr<const PackedMatrix> m;
  bool trans = false;
  std::string isa;
};

PyPackedMatrix make_packed(py::handle b_obj, bool trans, int num_threads) {
  const Matrix b = matrix_operand(b_obj, "PackedMatrix: b");
  const int64_t K = trans ? b.cols : b.rows, N = trans ? b.rows : b.cols;
  PyPackedMatrix p;
  p.trans = trans;
  p.isa = isa_name(active_isa());
  py::gil_scoped_release nogil;
  p.m = std::make_shared<PackedMatrix>(PackedMatrix::Side::B, trans, K, N, b.data, b.ld,
                                       num_threads);
  return p;
}

// The fused-epilogue keyword arguments of gemm / matmul, checked against the output
// (out_rows x N as one matrix; the residual must have exactly the output's shape).
struct EpilogueArgs {
  py::object bias = py::none(), residual = py::none();
  std::string activation = "none";
  py::object alpha = py::none(), beta = py::none(), clip_min = py::none(), clip_max = py::none();
};

struct CheckedEpilogue {
  Epilogue ep;
  bool active = false;
  bind::FloatArray bias, residual;  // keep the (possibly copied) arrays alive
};

CheckedEpilogue check_epilogue(const char* op, const EpilogueArgs& e,
                               const std::vector<int64_t>& out_shape, int64_t N) {
  CheckedEpilogue c;
  bind::parse_activation(op, e.activation, e.alpha, e.beta, e.clip_min, e.clip_max, c.ep);
  if (!e.bias.is_none()) {
    c.bias = bind::float_array(e.bias, (std::string(op) + ": bias").c_str(), 1, 1);
    PYINFER_CHECK(c.bias.shape(0) == N, op << ": bias must have " << N
                                           << " values (one per output column), got "
                                           << c.bias.shape(0));
    c.ep.col_bias = c.bias.data();
  }
  if (!e.residual.is_none()) {
    c.residual = bind::float_array(e.residual, (std::string(op) + ": residual").c_str(), 0, kMaxRank);
    PYINFER_CHECK(bind::shape_of(c.residual) == out_shape,
                  op << ": residual must have the output's shape " << bind::shape_str(out_shape)
                     << ", got " << bind::shape_str(bind::shape_of(c.residual)));
    c.ep.residual = c.residual.data();
    c.ep.ld_residual = std::max<int64_t>(1, N);
  }
  c.active = c.ep.act != Act::None || c.ep.col_bias || c.ep.residual;
  return c;
}

bind::FloatArray gemm_binding(py::handle a_obj, py::handle b_obj, py::object c_obj, float alpha,
                              float beta, bool trans_a, bool trans_b, int num_threads,
                              const EpilogueArgs& e) {
  const Matrix a = matrix_operand(a_obj, "gemm: A");
  const PyPackedMatrix* packed = py::isinstance<PyPackedMatrix>(b_obj)
                                     ? b_obj.cast<const PyPackedMatrix*>() : nullptr;
  PYINFER_CHECK(!(packed && trans_b),
                "gemm: b is a PackedMatrix, which already holds op(b): trans_b must be False "
                "(give trans to PackedMatrix instead)");
  Matrix b{};
  if (!packed) b = matrix_operand(b_obj, "gemm: B");
  const int64_t M = trans_a ? a.cols : a.rows, K = trans_a ? a.rows : a.cols;
  const int64_t Kb = packed ? packed->m->rows() : trans_b ? b.cols : b.rows;
  const int64_t N = packed ? packed->m->cols() : trans_b ? b.rows : b.cols;
  PYINFER_CHECK(K == Kb, "gemm: inner dimensions differ: op(A) is " << M << "x" << K
                             << ", op(B) is " << Kb << "x" << N);
  const CheckedEpilogue ce = check_epilogue("gemm", e, {M, N}, N);
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
  const Epilogue* ep = ce.active ? &ce.ep : nullptr;
  py::gil_scoped_release nogil;
  const int64_t ldc = std::max<int64_t>(1, N);
  if (packed)
    sgemm_packed_b(trans_a, M, a.data, a.ld, *packed->m, alpha, beta, yp, ldc, num_threads, ep);
  else
    sgemm(trans_a, trans_b, M, N, K, alpha, a.data, a.ld, b.data, b.ld, beta, yp, ldc,
          num_threads, ep);
  return y;
}

// matmul(a, PackedMatrix): every leading dimension of a folds into the rows of one product.
bind::FloatArray matmul_packed(py::handle a_obj, const PyPackedMatrix& p, int num_threads,
                               const EpilogueArgs& e) {
  auto a = bind::float_array(a_obj, "matmul: a", 1, kMaxRank);
  const std::vector<int64_t> as = bind::shape_of(a);
  const int64_t K = p.m->rows(), N = p.m->cols();
  PYINFER_CHECK(as.back() == K, "matmul: shapes " << bind::shape_str(as) << " and (" << K << ", "
                                    << N << ") (packed) do not match: " << as.back()
                                    << " (last dim of a) != " << K);
  std::vector<int64_t> out_shape(as.begin(), as.end() - 1);
  int64_t rows = 1;
  for (auto d : out_shape) rows *= d;
  out_shape.push_back(N);
  const CheckedEpilogue ce = check_epilogue("matmul", e, out_shape, N);
  auto y = bind::new_float_array(out_shape);
  if (rows == 0 || N == 0) return y;
  float* yp = y.mutable_data();
  py::gil_scoped_release nogil;
  sgemm_packed_b(false, rows, a.data(), std::max<int64_t>(1, K), *p.m, 1.f, 0.f, yp,
                 std::max<int64_t>(1, N), num_threads, ce.active ? &ce.ep : nullptr);
  return y;
}

bind::FloatArray matmul_binding(py::handle a_obj, py::handle b_obj, int num_threads,
                                const EpilogueArgs& e) {
  if (py::isinstance<PyPackedMatrix>(b_obj))
    return matmul_packed(a_obj, b_obj.cast<const PyPackedMatrix&>(), num_threads, e);
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
  const CheckedEpilogue ce = check_epilogue("matmul", e, out_shape, N);
  // Batch item t's epilogue: its own slice of the residual.
  auto item_ep = [&](int64_t t, Epilogue& ep) -> const Epilogue* {
    if (!ce.active) return nullptr;
    ep = ce.ep;
    if (ep.residual) ep.residual += t * M * N;
    return &ep;
  };
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
      Epilogue ep;
      sgemm(false, false, items * M, N, K, 1.f, ap, lda, bp, ldb, 0.f, yp, N, num_threads,
            item_ep(0, ep));
      return y;
    }
  }
  const double item_flops = 2.0 * double(M) * double(N) * double(K);
  if (count > 1 && item_flops < double(1 << 23)) {  // many small products: one per thread
    parallel_for(count, num_threads, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        int64_t oa, ob;
        offsets(t, oa, ob);
        Epilogue ep;
        sgemm(false, false, M, N, K, 1.f, ap + oa, lda, bp + ob, ldb, 0.f, yp + t * M * N, N, 1,
              item_ep(t, ep));
      }
    });
  } else {
    for (int64_t t = 0; t < count; ++t) {
      int64_t oa, ob;
      offsets(t, oa, ob);
      Epilogue ep;
      sgemm(false, false, M, N, K, 1.f, ap + oa, lda, bp + ob, ldb, 0.f, yp + t * M * N, N,
            num_threads, item_ep(t, ep));
    }
  }
  return y;
}


#define PYINFER_EPILOGUE_DOC                                                                    \
  "Fused epilogue (keyword-only), applied to each output tile while it is in cache:\n"         \
  "  y = act(product + bias + residual)\n"                                                     \
  "bias: [N] float32, added to every row; residual: float32 of exactly the output's shape;\n"  \
  "activation: one of none, relu, relu6, clip, leaky_relu, sigmoid, tanh, hard_sigmoid,\n"     \
  "hard_swish, gelu (erf form), gelu_tanh; activation_alpha: leaky_relu slope (0.01) or\n"     \
  "hard_sigmoid alpha (0.2); activation_beta: hard_sigmoid beta (0.5); clip_min / clip_max:\n" \
  "bounds of clip (-inf / +inf). A parameter the activation does not take raises."

EpilogueArgs epilogue_args(py::object bias, py::object residual, std::string activation,
                           py::object alpha, py::object beta, py::object clip_min,
                           py::object clip_max) {
  EpilogueArgs e;
  e.bias = std::move(bias);
  e.residual = std::move(residual);
  e.activation = std::move(activation);
  e.alpha = std::move(alpha);
  e.beta = std::move(beta);
  e.clip_min = std::move(clip_min);
  e.clip_max = std::move(clip_max);
  return e;
}

}  // namespace

void bind_gemm(py::module_& m) {
  py::class_<PyPackedMatrix>(m, "PackedMatrix", R"doc(PackedMatrix(b, trans=False, num_threads=0)

A constant right-hand operand op(b) (b.T when trans) packed once into the GEMM micro-kernel's
panel layout, for gemm(a, packed) and matmul(a, packed): no packing per call, and batch-1
products stream it contiguously. b is a 2-D float32 array; the packed copy does not refer to
it (drop b to keep one copy in memory). The layout belongs to the SIMD tier active when it
was packed; products with it run that tier's kernels.)doc")
      .def(py::init([](py::handle b, bool trans, int num_threads) {
             return make_packed(b, trans, num_threads);
           }),
           py::arg("b"), py::arg("trans") = false, py::arg("num_threads") = 0)
      .def_property_readonly(
          "_capsule",
          [](const PyPackedMatrix& p) {
            return py::capsule(static_cast<const void*>(p.m.get()), PYINFER_PACKED_MATRIX_CAPSULE);
          },
          "The packed matrix for pyinfer._runtime (valid while this object lives).")
      .def_property_readonly("shape", [](const PyPackedMatrix& p) {
        return py::make_tuple(p.m->rows(), p.m->cols());
      }, "(K, N): the shape of op(b).")
      .def_property_readonly("trans", [](const PyPackedMatrix& p) { return p.trans; })
      .def_property_readonly("nbytes", [](const PyPackedMatrix& p) { return p.m->size_bytes(); },
                             "Bytes held by the packed copy (panels are zero-padded).")
      .def_property_readonly("isa", [](const PyPackedMatrix& p) { return p.isa; },
                             "SIMD tier whose kernels use this packing.")
      .def("__repr__", [](const PyPackedMatrix& p) {
        return "PackedMatrix(shape=(" + std::to_string(p.m->rows()) + ", " +
               std::to_string(p.m->cols()) + "), trans=" + (p.trans ? "True" : "False") +
               ", isa='" + p.isa + "')";
      });

  m.def("gemm",
        [](py::handle a, py::handle b, py::object c, float alpha, float beta, bool trans_a,
           bool trans_b, int num_threads, py::object bias, py::object residual,
           std::string activation, py::object act_alpha, py::object act_beta,
           py::object clip_min, py::object clip_max) {
          return gemm_binding(a, b, std::move(c), alpha, beta, trans_a, trans_b, num_threads,
                              epilogue_args(std::move(bias), std::move(residual),
                                            std::move(activation), std::move(act_alpha),
                                            std::move(act_beta), std::move(clip_min),
                                            std::move(clip_max)));
        },
        py::arg("a"), py::arg("b"), py::arg("c") = py::none(),
        py::arg("alpha") = 1.0f, py::arg("beta") = 1.0f, py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("num_threads") = 0, py::kw_only(),
        py::arg("bias") = py::none(), py::arg("residual") = py::none(),
        py::arg("activation") = "none", py::arg("activation_alpha") = py::none(),
        py::arg("activation_beta") = py::none(), py::arg("clip_min") = py::none(),
        py::arg("clip_max") = py::none(),
        "gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=False, trans_b=False, num_threads=0, *,\n"
        "     bias=None, residual=None, activation='none', activation_alpha=None,\n"
        "     activation_beta=None, clip_min=None, clip_max=None)\n\n"
        "Y = alpha * op(a) @ op(b) + beta * c, ONNX Gemm semantics. a and b are 2-D float32\n"
        "(b may be a PackedMatrix, which holds op(b): then trans_b must be False); op(x) is x.T\n"
        "when trans_x is set. Row-strided views (e.g. x[:, :k]) are read in place. op(a) is\n"
        "(M, K), op(b) is (K, N); c (optional, rank 0..2) broadcasts unidirectionally to (M, N).\n"
        "Returns a new (M, N) float32 array. Results do not depend on num_threads (0 = default).\n\n"
        PYINFER_EPILOGUE_DOC);
  m.def("matmul",
        [](py::handle a, py::handle b, int num_threads, py::object bias, py::object residual,
           std::string activation, py::object act_alpha, py::object act_beta,
           py::object clip_min, py::object clip_max) {
          return matmul_binding(a, b, num_threads,
                                epilogue_args(std::move(bias), std::move(residual),
                                              std::move(activation), std::move(act_alpha),
                                              std::move(act_beta), std::move(clip_min),
                                              std::move(clip_max)));
        },
        py::arg("a"), py::arg("b"), py::arg("num_threads") = 0, py::kw_only(),
        py::arg("bias") = py::none(), py::arg("residual") = py::none(),
        py::arg("activation") = "none", py::arg("activation_alpha") = py::none(),
        py::arg("activation_beta") = py::none(), py::arg("clip_min") = py::none(),
        py::arg("clip_max") = py::none(),
        "matmul(a, b, num_threads=0, *, bias=None, residual=None, activation='none', ...)\n\n"
        "numpy.matmul for float32 arrays of rank >= 1: a 1-D a is a row vector, a 1-D b a column\n"
        "vector (the added dimension is removed from the result); leading (batch) dimensions\n"
        "broadcast. b may be a PackedMatrix (a 2-D op(b)): every leading dimension of a then\n"
        "folds into one product. Returns a new float32 array.\n\n" PYINFER_EPILOGUE_DOC);
}

}  // namespace pyinfer
