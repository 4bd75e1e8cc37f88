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
 */
#ifndef PYINFER_CAPI_H
#define PYINFER_CAPI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PYINFER_CAPI_VERSION 3
#define PYINFER_CAPI_CAPSULE "pyinfer._kernels._C_API"
#define PYINFER_PREPARED_CAPSULE "pyinfer.PreparedKernel"

typedef struct pyinfer_kernel pyinfer_kernel; /* a prepared kernel (opaque) */

typedef struct PyinferCapi {
  int version;
  /* How many input and output pointers run() takes. */
  void (*arity)(const pyinfer_kernel* k, int* num_inputs, int* num_outputs);
  int (*run)(const pyinfer_kernel* k, const void* const* inputs, void* const* outputs, int num_threads, char* err,
             size_t errlen);
} PyinferCapi;

#ifdef __cplusplus
}
#endif
#endif /* PYINFER_CAPI_H */
