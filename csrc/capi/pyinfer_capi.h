/* pyinfer's C ABI for the compiled-plan runtime (pyinfer._runtime, Cython).
 *
 * _kernels exports ONE table of function pointers in a PyCapsule named
 * PYINFER_CAPI_CAPSULE (attribute _C_API of pyinfer._kernels). _runtime reads it once at import
 * (PyCapsule_Import), so both modules share one copy of the kernel code and of its state (the
 * active SIMD tier, the thread pool). Plain C: no C++ type or exception crosses this boundary.
 *
 * The kernels themselves are the prepared kernels of pyinfer.kernels (common/prepared.h):
 * prepare_* made and checked them, a plan holds the Python objects (which own them) and reads
 * the address of each from its _capsule (named PYINFER_PREPARED_CAPSULE). run() trusts the
 * prepared shapes: the caller hands one pointer per input and output, each a C-contiguous
 * buffer of exactly the prepared shape and dtype (null where the spec allows). run() needs no
 * GIL and returns 0, or -1 with a message in err (NUL-terminated, at most errlen bytes).
 *
 * A plan that serves other shapes than the ones a kernel was prepared for asks the kernel for
 * a copy prepared for the new input shapes (reshape: the same parameters and packed weights,
 * checked as prepare checks them), reads the new output shapes from its specs, and releases
 * the copy when it no longer needs it. No GIL needed for any of these.
 */
#ifndef PYINFER_CAPI_H
#define PYINFER_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYINFER_CAPI_VERSION 6
#define PYINFER_CAPI_CAPSULE "pyinfer._kernels._C_API"
#define PYINFER_PREPARED_CAPSULE "pyinfer.PreparedKernel"

typedef struct pyinfer_kernel pyinfer_kernel;         /* a prepared kernel (opaque) */
typedef struct pyinfer_kernel_ref pyinfer_kernel_ref; /* an owned reference to one (release it) */

typedef struct PyinferCapi {
  int version;
  /* How many input and output pointers run() takes. */
  void (*arity)(const pyinfer_kernel* k, int* num_inputs, int* num_outputs);
  int (*run)(const pyinfer_kernel* k, const void* const* inputs, void* const* outputs, int num_threads, char* err,
             size_t errlen);
  /* Input (is_output 0) or output (1) spec j: writes up to cap dims, its dtype (ONNX element
   * type) and whether it is required; returns its rank, or -1 (no such spec, or cap too small). */
  int (*spec)(const pyinfer_kernel* k, int is_output, int j, int64_t* dims, int cap, int* dtype, int* required);
  /* 1 when reshape() can prepare the kernel for other shapes. */
  int (*can_reshape)(const pyinfer_kernel* k);
  /* The kernel prepared for other input shapes (input i: ranks[i] dims at shapes[i]): a new
   * reference, or NULL with err set (shapes the kernel cannot take). A kernel with control
   * inputs (controls()) also takes their values: counts[i] int64 values at values[i] for a
   * control input i (values / counts NULL for a kernel without). */
  pyinfer_kernel_ref* (*reshape)(const pyinfer_kernel* k, const int64_t* const* shapes, const int* ranks,
                                 const int64_t* const* values, const int64_t* counts, char* err, size_t errlen);
  const pyinfer_kernel* (*ref_kernel)(const pyinfer_kernel_ref* r);
  void (*release)(pyinfer_kernel_ref* r);
  /* Bit i set: input i is a control input, whose values decide the output shapes (Expand's
   * shape, Slice's bounds, Range's limits); 0 for most kernels. */
  unsigned (*controls)(const pyinfer_kernel* k);
  /* 1 when output j is counted: its spec's dim *dim is a bound, and run() writes the size it
   * found (an int64) to output *count_output and the values compactly, as a tensor with that
   * size (NonZero, NonMaxSuppression); 0 for every other output. */
  int (*counted)(const pyinfer_kernel* k, int j, int* dim, int* count_output);
} PyinferCapi;

#ifdef __cplusplus
}
#endif
#endif /* PYINFER_CAPI_H */
