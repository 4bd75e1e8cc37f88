// The C ABI table of pyinfer_capi.h: prepared kernels for the compiled-plan runtime
// (pyinfer/_runtime.pyx). Each prepare_* does every check the pybind11 binding does, once;
// run() only moves pointers into the same drivers the bindings call (one copy of the kernels).
#include "capi/pyinfer_capi.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "activation/activation.h"
#include "common/check.h"
#include "conv/conv.h"
#include "elementwise/elementwise.h"
#include "gemm/epilogue.h"
#include "gemm/gemm.h"
#include "norm/norm.h"
#include "pool/pool.h"

struct pyinfer_kernel {
  virtual ~pyinfer_kernel() = default;
  virtual void run(const float* const* in, float* y, int num_threads) const = 0;
  int64_t out_size = 0;
};

namespace pyinfer {
namespace {

// Below this many elements one thread does the work without touching the pool: the chain of
// tiny ops the per-node overhead benchmark measures lives here.
constexpr int64_t kSerialElements = 1 << 15;

void set_error(char* err, size_t errlen, const char* msg) {
  if (!err || errlen == 0) return;
  std::strncpy(err, msg, errlen - 1);
  err[errlen - 1] = '\0';
}

template <class F>
pyinfer_kernel* guarded(char* err, size_t errlen, F make) {
  try {
    return make();
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
  } catch (...) {
    set_error(err, errlen, "unknown C++ exception");
  }
  return nullptr;
}

int64_t product(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::vector<int64_t> vec(const int64_t* p, int n) {
  PYINFER_CHECK(n >= 0 && (n == 0 || p), "bad shape pointer");
  return std::vector<int64_t>(p, p + n);
}

struct BinaryKernel : pyinfer_kernel {
  BinaryOp op;
  std::vector<int64_t> a_shape, b_shape;
  int64_t a_step = 1, b_step = 1;  // simple: both full / one a scalar (no broadcast walk)
  bool simple = false;
  void run(const float* const* in, float* y, int nt) const override {
    if (simple && out_size < kSerialElements) {
      elementwise_kernels().binary(op, in[0], a_step, in[1], b_step, y, out_size);
      return;
    }
    binary_broadcast(op, in[0], a_shape, in[1], b_shape, y, nt);
  }
};

struct UnaryKernel : pyinfer_kernel {
  Unary op;
  float a = 0.f, b = 0.f;
  void run(const float* const* in, float* y, int nt) const override {
    if (out_size < kSerialElements) activation_table().unary(op, in[0], y, out_size, a, b);
    else unary(op, in[0], y, out_size, a, b, nt);
  }
};

struct ConvKernel : pyinfer_kernel {
  ConvGeometry g;
  const PackedConvWeights* packed = nullptr;  // owned by the plan's kernels.ConvWeights
  bool has_residual = false;
  Act act = Act::None;
  float alpha = 0.f, beta = 0.f, lo = 0.f, hi = 0.f;
  void run(const float* const* in, float* y, int nt) const override {
    ConvEpilogue ep;
    ep.residual = has_residual ? in[3] : nullptr;
    ep.act = act, ep.alpha = alpha, ep.beta = beta, ep.lo = lo, ep.hi = hi;
    conv_forward(g, in[0], packed ? nullptr : in[1], in[2], y, nt, packed, &ep);
  }
};

struct GemmKernel : pyinfer_kernel {
  int64_t M = 0, N = 0, K = 0, c_rows = 0, c_cols = 0;
  bool trans_a = false, trans_b = false, has_col_bias = false, has_residual = false;
  float alpha = 1.f, beta = 0.f;
  const PackedMatrix* packed = nullptr;
  Epilogue ep;  // activation part; pointers filled per run
  void run(const float* const* in, float* y, int nt) const override {
    float b = 0.f;
    if (c_rows > 0 && beta != 0.f) {  // unidirectional broadcast of C into Y, then Y = .. + beta Y
      const float* c = in[2];
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) y[i * N + j] = c[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
      b = beta;
    }
    Epilogue e = ep;
    e.col_bias = has_col_bias ? in[3] : nullptr;
    e.residual = has_residual ? in[4] : nullptr;
    e.ld_residual = std::max<int64_t>(1, N);
    const bool active = e.act != Act::None || e.col_bias || e.residual;
    const int64_t lda = std::max<int64_t>(1, trans_a ? M : K), ldc = std::max<int64_t>(1, N);
    if (packed)
      sgemm_packed_b(trans_a, M, in[0], lda, *packed, alpha, b, y, ldc, nt, active ? &e : nullptr);
    else
      sgemm(trans_a, trans_b, M, N, K, alpha, in[0], lda, in[1], std::max<int64_t>(1, trans_b ? K : N), b, y, ldc,
            nt, active ? &e : nullptr);
  }
};

struct PoolKernel : pyinfer_kernel {
  PoolKind kind;
  PoolGeom g;
  void run(const float* const* in, float* y, int nt) const override { pool_forward(kind, g, in[0], y, nt); }
};

struct GlobalPoolKernel : pyinfer_kernel {
  GlobalKind kind;
  int64_t planes = 0, plane_size = 0;
  float p = 2.f;
  void run(const float* const* in, float* y, int nt) const override {
    global_pool(kind, planes, plane_size, p, in[0], y, nt);
  }
};

struct SoftmaxKernel : pyinfer_kernel {
  int64_t outer = 0, len = 0, inner = 0;
  bool log = false;
  void run(const float* const* in, float* y, int nt) const override {
    softmax(in[0], y, outer, len, inner, log, nt);
  }
};

struct BatchNormKernel : pyinfer_kernel {
  int64_t n = 0, c = 0, spatial = 0;
  float eps = 0.f;
  void run(const float* const* in, float* y, int nt) const override {
    batch_norm(in[0], y, n, c, spatial, in[1], in[2], in[3], in[4], eps, nt, act);
  }
  NormActivation act;
};

struct LrnKernel : pyinfer_kernel {
  int64_t n = 0, c = 0, spatial = 0, size = 1;
  float alpha = 0.f, beta = 0.f, bias = 0.f;
  void run(const float* const* in, float* y, int nt) const override {
    lrn(in[0], y, n, c, spatial, size, alpha, beta, bias, nt);
  }
};

Act check_act(int act) {
  PYINFER_CHECK(act >= static_cast<int>(Act::None) && act <= static_cast<int>(Act::GeluTanh),
                "unknown epilogue activation " << act);
  return static_cast<Act>(act);
}

// --- the C entry points ------------------------------------------------------------------------

pyinfer_kernel* prepare_binary(int op, const int64_t* a_shape, int a_rank, const int64_t* b_shape, int b_rank,
                               char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(op >= PYINFER_ADD && op <= PYINFER_DIV, "binary: unknown op " << op);
    auto k = std::make_unique<BinaryKernel>();
    k->op = static_cast<BinaryOp>(op);
    k->a_shape = vec(a_shape, a_rank);
    k->b_shape = vec(b_shape, b_rank);
    const auto out = broadcast_shape(k->a_shape, k->b_shape, "binary");
    k->out_size = product(out);
    const int64_t na = product(k->a_shape), nb = product(k->b_shape);
    if ((na == k->out_size || na == 1) && (nb == k->out_size || nb == 1)) {
      k->simple = true;
      k->a_step = na == 1 ? 0 : 1;
      k->b_step = nb == 1 ? 0 : 1;
    }
    return k.release();
  });
}

pyinfer_kernel* prepare_unary(int op, int64_t n, float a, float b, char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(op >= 0 && op <= static_cast<int>(Unary::Mish), "unary: unknown op " << op);
    PYINFER_CHECK(n >= 0, "unary: negative size " << n);
    auto k = std::make_unique<UnaryKernel>();
    k->op = static_cast<Unary>(op);
    k->a = a, k->b = b, k->out_size = n;
    return k.release();
  });
}

pyinfer_kernel* prepare_conv(const int64_t* x_shape, const int64_t* w_shape, int rank, int64_t bias_len,
                             const int64_t* strides, const int64_t* pads, const int64_t* dilations, int64_t group,
                             const void* packed, int has_residual, int act, float alpha, float beta, float lo,
                             float hi, char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(rank >= 3, "conv: x must have rank >= 3, got " << rank);
    const int nd = rank - 2;
    auto k = std::make_unique<ConvKernel>();
    k->g = make_conv_geometry(vec(x_shape, rank), vec(w_shape, rank), bias_len, vec(strides, nd),
                              vec(pads, 2 * nd), vec(dilations, nd), group);
    k->packed = static_cast<const PackedConvWeights*>(packed);
    if (k->packed) {
      PYINFER_CHECK(k->packed->w_shape == vec(w_shape, rank) && k->packed->group == group,
                    "conv: the packed weights do not match the weight shape / group");
    }
    k->has_residual = has_residual != 0;
    k->act = check_act(act);
    k->alpha = alpha, k->beta = beta, k->lo = lo, k->hi = hi;
    k->out_size = product(k->g.y_shape);
    return k.release();
  });
}

pyinfer_kernel* prepare_gemm(int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha, float beta,
                             const void* packed, int64_t c_rows, int64_t c_cols, int has_col_bias,
                             int has_residual, int act, float act_alpha, float act_beta, float lo, float hi,
                             char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(M > 0 && N > 0 && K > 0, "gemm: empty product " << M << "x" << K << " by " << K << "x" << N);
    PYINFER_CHECK(c_rows == 0 || ((c_rows == 1 || c_rows == M) && (c_cols == 1 || c_cols == N)),
                  "gemm: C of shape (" << c_rows << ", " << c_cols << ") does not broadcast to (" << M << ", "
                                       << N << ")");
    auto k = std::make_unique<GemmKernel>();
    k->M = M, k->N = N, k->K = K, k->c_rows = c_rows, k->c_cols = c_cols;
    k->trans_a = trans_a != 0, k->trans_b = trans_b != 0;
    k->alpha = alpha, k->beta = beta;
    k->packed = static_cast<const PackedMatrix*>(packed);
    if (k->packed) {
      PYINFER_CHECK(!k->trans_b, "gemm: a packed B already holds op(B)");
      PYINFER_CHECK(k->packed->side() == PackedMatrix::Side::B && k->packed->rows() == K && k->packed->cols() == N,
                    "gemm: packed B is " << k->packed->rows() << "x" << k->packed->cols() << ", expected " << K
                                         << "x" << N);
    }
    k->has_col_bias = has_col_bias != 0, k->has_residual = has_residual != 0;
    k->ep.act = check_act(act);
    k->ep.alpha = act_alpha, k->ep.beta = act_beta, k->ep.lo = lo, k->ep.hi = hi;
    k->out_size = M * N;
    return k.release();
  });
}

pyinfer_kernel* prepare_pool(int kind, const int64_t* x_shape, int rank, const int64_t* kernel,
                             const int64_t* strides, const int64_t* pads, const int64_t* dilations, int ceil_mode,
                             char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(kind >= 0 && kind <= static_cast<int>(PoolKind::AvgExcludePad), "pool: unknown kind " << kind);
    PYINFER_CHECK(rank >= 3, "pool: x must have rank >= 3, got " << rank);
    const int nd = rank - 2;
    auto k = std::make_unique<PoolKernel>();
    k->kind = static_cast<PoolKind>(kind);
    const auto xs = vec(x_shape, rank);
    k->g = make_pool_geom("pool", xs, vec(kernel, nd), vec(strides, nd), vec(pads, 2 * nd), vec(dilations, nd),
                          ceil_mode != 0);
    k->out_size = product(pool_output_shape(xs, k->g));
    return k.release();
  });
}

pyinfer_kernel* prepare_global_pool(int kind, int64_t planes, int64_t plane_size, float p, char* err,
                                    size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(kind >= 0 && kind <= static_cast<int>(GlobalKind::Lp), "global pool: unknown kind " << kind);
    PYINFER_CHECK(planes >= 0 && plane_size > 0, "global pool: empty planes");
    auto k = std::make_unique<GlobalPoolKernel>();
    k->kind = static_cast<GlobalKind>(kind);
    k->planes = planes, k->plane_size = plane_size, k->p = p, k->out_size = planes;
    return k.release();
  });
}

pyinfer_kernel* prepare_softmax(int64_t outer, int64_t axis_len, int64_t inner, int log, char* err,
                                size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(outer >= 0 && axis_len >= 1 && inner >= 1, "softmax: bad extents " << outer << ", "
                                                                                    << axis_len << ", " << inner);
    auto k = std::make_unique<SoftmaxKernel>();
    k->outer = outer, k->len = axis_len, k->inner = inner, k->log = log != 0;
    k->out_size = outer * axis_len * inner;
    return k.release();
  });
}

pyinfer_kernel* prepare_batch_norm(int64_t n, int64_t c, int64_t spatial, float epsilon, char* err,
                                   size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(n >= 0 && c >= 1 && spatial >= 0, "batch_norm: bad extents");
    auto k = std::make_unique<BatchNormKernel>();
    k->n = n, k->c = c, k->spatial = spatial, k->eps = epsilon;
    k->out_size = n * c * spatial;
    return k.release();
  });
}

pyinfer_kernel* prepare_batch_norm_act(int64_t n, int64_t c, int64_t spatial, float epsilon, int act, float alpha,
                                       float beta, float lo, float hi, char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    PYINFER_CHECK(n >= 0 && c >= 1 && spatial >= 0, "batch_norm: bad extents");
    auto k = std::make_unique<BatchNormKernel>();
    k->n = n, k->c = c, k->spatial = spatial, k->eps = epsilon;
    k->act = norm_activation(check_act(act), alpha, beta, lo, hi);
    k->out_size = n * c * spatial;
    return k.release();
  });
}

pyinfer_kernel* prepare_lrn(int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta, float bias,
                            char* err, size_t errlen) {
  return guarded(err, errlen, [&]() -> pyinfer_kernel* {
    check_lrn(n, c, spatial, size, alpha, beta, bias);
    auto k = std::make_unique<LrnKernel>();
    k->n = n, k->c = c, k->spatial = spatial, k->size = size;
    k->alpha = alpha, k->beta = beta, k->bias = bias;
    k->out_size = n * c * spatial;
    return k.release();
  });
}

int64_t output_size(const pyinfer_kernel* k) { return k->out_size; }

int run(const pyinfer_kernel* k, const float* const* inputs, float* y, int num_threads, char* err,
        size_t errlen) {
  try {
    k->run(inputs, y, num_threads);
    return 0;
  } catch (const std::exception& e) {
    set_error(err, errlen, e.what());
  } catch (...) {
    set_error(err, errlen, "unknown C++ exception");
  }
  return -1;
}

void destroy(pyinfer_kernel* k) { delete k; }

}  // namespace

const PyinferCapi* capi_table() {
  static const PyinferCapi table = {
      PYINFER_CAPI_VERSION, prepare_binary, prepare_unary, prepare_conv, prepare_gemm, prepare_pool,
      prepare_global_pool, prepare_softmax, prepare_batch_norm, output_size, run, destroy,
      prepare_batch_norm_act, prepare_lrn,
  };
  return &table;
}

}  // namespace pyinfer
