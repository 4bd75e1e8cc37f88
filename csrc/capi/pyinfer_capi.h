/* pyinfer's C ABI for the compiled-plan runtime (pyinfer._runtime, Cython).
 *
 * _kernels exports ONE table of function pointers in a PyCapsule named
 * PYINFER_CAPI_CAPSULE (attribute _C_API of pyinfer._kernels). _runtime reads it once at import
 * (PyCapsule_Import), so both modules share one copy of the kernel code and of its state (the
 * active SIMD tier, the thread pool). Plain C: no C++ type or exception crosses this boundary.
 *
 * Use: a prepare_* function checks every shape and parameter once (when a plan is built) and
 * returns an opaque prepared kernel, or NULL with a message in err (NUL-terminated, at most
 * errlen bytes). run() then trusts the prepared shapes: the caller hands buffers of exactly
 * those shapes (C-contiguous float32). run() needs no GIL and returns 0, or -1 with err set.
 *
 * Inputs of run(), per kind (NULL for an absent optional input):
 *   binary:     a, b                        unary / pool / global pool / softmax: x
 *   conv:       x, w (unused when packed), bias, residual
 *   gemm:       a, b (unused when packed), c, col_bias, residual
 *   batch_norm: x, scale, bias, mean, var       lrn: x
 */
#ifndef PYINFER_CAPI_H
#define PYINFER_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYINFER_CAPI_VERSION 2
#define PYINFER_CAPI_CAPSULE "pyinfer._kernels._C_API"
/* Capsules carried by kernels.ConvWeights._capsule / kernels.PackedMatrix._capsule. */
#define PYINFER_CONV_WEIGHTS_CAPSULE "pyinfer.PackedConvWeights"
#define PYINFER_PACKED_MATRIX_CAPSULE "pyinfer.PackedMatrix"

typedef struct pyinfer_kernel pyinfer_kernel; /* a prepared kernel (opaque) */

/* binary ops (same order as pyinfer::BinaryOp) */
enum { PYINFER_ADD = 0, PYINFER_SUB, PYINFER_MUL, PYINFER_DIV };
/* pool kinds: pyinfer::PoolKind values; global pools: pyinfer::GlobalKind values */

typedef struct PyinferCapi {
  int version;
  pyinfer_kernel* (*prepare_binary)(int op, const int64_t* a_shape, int a_rank, const int64_t* b_shape,
                                    int b_rank, char* err, size_t errlen);
  /* unary: an activation (pyinfer::Unary value) over n floats, parameters a, b */
  pyinfer_kernel* (*prepare_unary)(int op, int64_t n, float a, float b, char* err, size_t errlen);
  /* conv: x_shape and w_shape of rank `rank`; pads 2*(rank-2) values; bias_len -1: none;
   * packed: a PackedConvWeights* or NULL; act: pyinfer::Act value and its parameters. */
  pyinfer_kernel* (*prepare_conv)(const int64_t* x_shape, const int64_t* w_shape, int rank, int64_t bias_len,
                                  const int64_t* strides, const int64_t* pads, const int64_t* dilations,
                                  int64_t group, const void* packed, int has_residual, int act, float alpha,
                                  float beta, float lo, float hi, char* err, size_t errlen);
  /* gemm: Y[M,N] = act(alpha op(A) op(B) + beta C + col_bias + residual). A is M x K (K x M when
   * trans_a) with row stride lda; B likewise (ignored when packed: a PackedMatrix*, Side B).
   * C (c_rows x c_cols, each 1 or M / N) broadcasts to (M, N); c_rows == 0: no C. */
  pyinfer_kernel* (*prepare_gemm)(int64_t M, int64_t N, int64_t K, int trans_a, int trans_b, float alpha,
                                  float beta, const void* packed, int64_t c_rows, int64_t c_cols,
                                  int has_col_bias, int has_residual, int act, float act_alpha,
                                  float act_beta, float lo, float hi, char* err, size_t errlen);
  pyinfer_kernel* (*prepare_pool)(int kind, const int64_t* x_shape, int rank, const int64_t* kernel,
                                  const int64_t* strides, const int64_t* pads, const int64_t* dilations,
                                  int ceil_mode, char* err, size_t errlen);
  pyinfer_kernel* (*prepare_global_pool)(int kind, int64_t planes, int64_t plane_size, float p, char* err,
                                         size_t errlen);
  pyinfer_kernel* (*prepare_softmax)(int64_t outer, int64_t axis_len, int64_t inner, int log, char* err,
                                     size_t errlen);
  pyinfer_kernel* (*prepare_batch_norm)(int64_t n, int64_t c, int64_t spatial, float epsilon, char* err,
                                        size_t errlen);
  /* Output elements the prepared kernel writes (for the caller's checks). */
  int64_t (*output_size)(const pyinfer_kernel* k);
  int (*run)(const pyinfer_kernel* k, const float* const* inputs, float* y, int num_threads, char* err,
             size_t errlen);
  void (*destroy)(pyinfer_kernel* k);
  /* Version 2: appended after version 1's entries. */
  /* batch_norm with an activation (pyinfer::Act value and its parameters) in the same pass. */
  pyinfer_kernel* (*prepare_batch_norm_act)(int64_t n, int64_t c, int64_t spatial, float epsilon, int act,
                                            float alpha, float beta, float lo, float hi, char* err, size_t errlen);
  /* ONNX LRN of a contiguous (n, c, spatial) array (csrc/norm/norm.h). */
  pyinfer_kernel* (*prepare_lrn)(int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta,
                                 float bias, char* err, size_t errlen);
} PyinferCapi;

#ifdef __cplusplus
}
#endif
#endif /* PYINFER_CAPI_H */
