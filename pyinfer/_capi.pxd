# The kernels' C ABI (csrc/capi/pyinfer_capi.h) as the Cython runtimes (_runtime.pyx, _dynamic.pyx)
# see it, and the one helper both need to hand an array's bytes to a kernel.
from libc.stdint cimport int64_t
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS
from cpython.pycapsule cimport PyCapsule_Import

cdef extern from "capi/pyinfer_capi.h":
    ctypedef struct pyinfer_kernel:
        pass
    ctypedef struct pyinfer_kernel_ref:
        pass
    ctypedef struct PyinferCapi:
        int version
        void (*arity)(const pyinfer_kernel*, int*, int*)
        int (*run)(const pyinfer_kernel*, const void**, void**, int, char*, size_t) nogil
        int (*spec)(const pyinfer_kernel*, int, int, int64_t*, int, int*, int*) nogil
        int (*can_reshape)(const pyinfer_kernel*) nogil
        pyinfer_kernel_ref* (*reshape)(const pyinfer_kernel*, const int64_t**, const int*, const int64_t**,
                                       const int64_t*, char*, size_t) nogil
        const pyinfer_kernel* (*ref_kernel)(const pyinfer_kernel_ref*) nogil
        void (*release)(pyinfer_kernel_ref*) nogil
        unsigned (*controls)(const pyinfer_kernel*) nogil
        int (*counted)(const pyinfer_kernel*, int, int*, int*) nogil
    int PYINFER_CAPI_VERSION
    const char* PYINFER_CAPI_CAPSULE
    const char* PYINFER_PREPARED_CAPSULE


cdef inline const PyinferCapi* import_capi() except NULL:
    """The table pyinfer._kernels exports (the module must be imported first)."""
    cdef const PyinferCapi* api = <const PyinferCapi*>PyCapsule_Import(PYINFER_CAPI_CAPSULE, 0)
    if api == NULL or api.version != PYINFER_CAPI_VERSION:
        raise ImportError("pyinfer._kernels exports a different C ABI version than this runtime was built for")
    return api


cdef inline void* data_pointer(object arr) except? NULL:
    """Address of a C-contiguous array's data (buffer protocol: no NumPy C API needed)."""
    cdef Py_buffer view
    PyObject_GetBuffer(arr, &view, PyBUF_C_CONTIGUOUS)
    cdef void* p = view.buf
    PyBuffer_Release(&view)
    return p
