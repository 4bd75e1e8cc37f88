// Single-precision GEMM, row-major:
//   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
// op(X) = X or X^T. lda/ldb/ldc are row strides (elements) of the matrices as stored.
// beta == 0 means C is write-only (its old contents, NaN included, are ignored).
// num_threads <= 0: default thread count (see common/thread_pool.h).
//
// Every entry point takes an optional Epilogue (gemm/epilogue.h, null = none), applied to
// each output tile right after it is computed: C = act(alpha*AB + beta*C + biases + residual).
//
// Constant operands (layer weights) can be packed once into the micro-kernel's panel layout
// (PackedMatrix) and reused by every call: no per-call packing, and each panel is one
// contiguous stream (what batch-1 products, which read every weight once, are bound by).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "common/prepared.h"
#include "gemm/epilogue.h"

namespace pyinfer {

struct GemmKernels;

// Which loop nest a product of this shape runs (the same rule sgemm applies): few rows of
// op(A) stream B without packing it ("skinny"), a one-column product runs as its transpose
// ("skinny_transposed"), the rest runs the BLIS loops over packed blocks ("blocked").
const char* sgemm_path(int64_t M, int64_t N, bool packed_b);

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int num_threads, const Epilogue* ep = nullptr);

// op(X) packed for one side of sgemm. The layout belongs to the SIMD tier active when it was
// packed, and products with it always run that tier's kernels (a later set_isa() does not
// change them; the CPU still supports that tier).
class PackedMatrix {
 public:
  enum class Side { A, B };
  // Side::B: op(X) is the K x N right operand (rows = K, cols = N); X is stored K x N, or
  // N x K when trans. Side::A: op(X) is the M x K left operand (rows = M, cols = K); X is
  // stored M x K, or K x M when trans. ld: row stride of X as stored.
  // kernels: the tier's table to pack for (null: the active tier's). x null: storage only,
  // filled by the caller through mutable_data() (conv's weights made from another layout).
  PackedMatrix(Side side, bool trans, int64_t rows, int64_t cols, const float* x, int64_t ld,
               int num_threads = 1, const GemmKernels* kernels = nullptr);

  Side side() const { return side_; }
  int64_t rows() const { return rows_; }  // of op(X)
  int64_t cols() const { return cols_; }
  int64_t size_bytes() const { return floats_ * int64_t(sizeof(float)); }
  const GemmKernels& kernels() const { return *kernels_; }
  const float* data() const { return data_.get(); }
  // Stride between consecutive panels (floats): panel width (mr or nr) x K.
  int64_t panel_stride() const;
  // The packed floats, for an owner that fills them itself (made with x null).
  float* mutable_data() { return data_.get(); }

 private:
  struct Free { void operator()(float* p) const; };
  const GemmKernels* kernels_;
  Side side_;
  int64_t rows_, cols_, floats_;
  std::unique_ptr<float, Free> data_;
};

// C[M,N] = alpha * op(A) * B + beta * C, B packed (Side::B, K = B.rows(), N = B.cols()).
void sgemm_packed_b(bool trans_a, int64_t M, const float* A, int64_t lda, const PackedMatrix& B,
                    float alpha, float beta, float* C, int64_t ldc, int num_threads,
                    const Epilogue* ep = nullptr);
// C[M,N] = alpha * A * op(B) + beta * C, A packed (Side::A, M = A.rows(), K = A.cols()).
void sgemm_packed_a(const PackedMatrix& A, int64_t N, bool trans_b, const float* B, int64_t ldb,
                    float alpha, float beta, float* C, int64_t ldc, int num_threads,
                    const Epilogue* ep = nullptr);

// --- prepared kernels (common/prepared.h) ---------------------------------------------------

// ONNX Gemm with a fused epilogue:  y[M, N] = act(alpha op(A) op(B) + beta C + bias + residual).
// Inputs: a (a_shape: M x K, or K x M when trans_a), b (b_shape: K x N, or N x K when trans_b;
// unused when packed_b holds op(B)), c (c_shape, rank 0..2, broadcast unidirectionally to
// (M, N); unused when absent or beta == 0), bias ([N], per column), residual ([M, N]).
// Output: y [M, N].
struct GemmParams {
  std::vector<int64_t> a_shape, b_shape;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  bool has_c = false;
  std::vector<int64_t> c_shape;
  bool has_bias = false, has_residual = false;
  ActParams act;  // an epilogue activation (act.h)
};
PreparedPtr prepare_gemm(const GemmParams& p, std::shared_ptr<const PackedMatrix> packed_b = nullptr);

// numpy.matmul with a fused epilogue: y = act(a @ b + bias + residual). A 1-D a is a row, a
// 1-D b a column (the added dimension is dropped from y); leading dimensions broadcast. With
// packed_b (op(B) = the (K, N) matrix b_shape names) every leading dimension of a folds into
// the rows of one product. Inputs: a, b (unused when packed), bias ([N]), residual (y's shape).
struct MatMulParams {
  std::vector<int64_t> a_shape, b_shape;
  bool has_bias = false, has_residual = false;
  ActParams act;
};
PreparedPtr prepare_matmul(const MatMulParams& p, std::shared_ptr<const PackedMatrix> packed_b = nullptr);

}  // namespace pyinfer
