# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled-plan loop (see docs/RUNTIME.md).

A Program is a flat array of steps over numbered value slots. Native steps call the C++
kernels through the C ABI table that pyinfer._kernels exports (csrc/capi/pyinfer_capi.h),
read once at import: one copy of the kernels, their SIMD tier and their thread pool. Runs of
native steps execute with the GIL released; Python steps (op.run for everything else) run in
the same loop with the GIL held. A Frame holds one call's slot pointers and arrays, so
concurrent calls each use their own frame.
"""
from libc.stdint cimport int64_t, uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from cpython.pycapsule cimport PyCapsule_Import
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS

cdef extern from "capi/pyinfer_capi.h":
    ctypedef struct pyinfer_kernel:
        pass
    ctypedef struct PyinferCapi:
        int version
        pyinfer_kernel* (*prepare_binary)(int, const int64_t*, int, const int64_t*, int, char*, size_t)
        pyinfer_kernel* (*prepare_unary)(int, int64_t, float, float, char*, size_t)
        pyinfer_kernel* (*prepare_conv)(const int64_t*, const int64_t*, int, int64_t, const int64_t*,
                                        const int64_t*, const int64_t*, int64_t, const void*, int, int,
                                        float, float, float, float, char*, size_t)
        pyinfer_kernel* (*prepare_gemm)(int64_t, int64_t, int64_t, int, int, float, float, const void*,
                                        int64_t, int64_t, int, int, int, float, float, float, float,
                                        char*, size_t)
        pyinfer_kernel* (*prepare_pool)(int, const int64_t*, int, const int64_t*, const int64_t*,
                                        const int64_t*, const int64_t*, int, char*, size_t)
        pyinfer_kernel* (*prepare_global_pool)(int, int64_t, int64_t, float, char*, size_t)
        pyinfer_kernel* (*prepare_softmax)(int64_t, int64_t, int64_t, int, char*, size_t)
        pyinfer_kernel* (*prepare_batch_norm)(int64_t, int64_t, int64_t, float, char*, size_t)
        int64_t (*output_size)(const pyinfer_kernel*)
        int (*run)(const pyinfer_kernel*, const float**, float*, int, char*, size_t) nogil
        void (*destroy)(pyinfer_kernel*)
        pyinfer_kernel* (*prepare_batch_norm_act)(int64_t, int64_t, int64_t, float, int, float, float, float,
                                                  float, char*, size_t)
        pyinfer_kernel* (*prepare_lrn)(int64_t, int64_t, int64_t, int64_t, float, float, float, char*, size_t)
    int PYINFER_CAPI_VERSION
    const char* PYINFER_CAPI_CAPSULE
    const char* PYINFER_CONV_WEIGHTS_CAPSULE
    const char* PYINFER_PACKED_MATRIX_CAPSULE

from cpython.pycapsule cimport PyCapsule_GetPointer

import numpy as np

from . import _kernels  # noqa: F401  (PyCapsule_Import needs the module loaded)
from .errors import KernelArgumentError

cdef const PyinferCapi* API = <const PyinferCapi*>PyCapsule_Import(PYINFER_CAPI_CAPSULE, 0)
if API == NULL or API.version != PYINFER_CAPI_VERSION:
    raise ImportError("pyinfer._runtime: pyinfer._kernels exports a different C ABI version")

DEF MAX_IN = 8
DEF ERR_LEN = 512

# step kinds
cdef enum:
    K_NATIVE = 0
    K_PYTHON = 1
    K_COPY = 2      # y = x (bytes)
    K_CONCAT = 3    # y = concat of inputs along an axis: outer rows of chunk bytes each
    K_SWAP = 4      # y[o, b, a] = x[o, a, b] in blocks of chunk bytes (a Transpose)

cdef struct Step:
    int kind
    const pyinfer_kernel* k
    int nin
    int ins[MAX_IN]
    int out
    int has_release
    int64_t nbytes            # K_COPY: bytes; K_CONCAT, K_SWAP: outer rows
    int64_t chunk[MAX_IN]     # K_CONCAT: bytes per row, per input; K_SWAP: a, b, block bytes


cdef inline void* data_pointer(object arr) except? NULL:
    """Address of a C-contiguous array's data (buffer protocol: no NumPy C API needed)."""
    cdef Py_buffer view
    PyObject_GetBuffer(arr, &view, PyBUF_C_CONTIGUOUS)
    cdef void* p = view.buf
    PyBuffer_Release(&view)
    return p


cdef class Kernel:
    """A prepared kernel (shapes and parameters checked once); destroyed with this object.
    `keep` holds Python objects the kernel points into (packed weights)."""
    cdef pyinfer_kernel* k
    cdef public object keep

    def __dealloc__(self):
        if self.k != NULL:
            API.destroy(self.k)

    @property
    def output_size(self):
        return API.output_size(self.k)


cdef Kernel _wrap(pyinfer_kernel* k, char* err, object keep=None):
    if k == NULL:
        raise KernelArgumentError((<bytes>err).decode("utf-8", "replace"))
    cdef Kernel w = Kernel.__new__(Kernel)
    w.k = k
    w.keep = keep
    return w


cdef int64_t* _ints(list values, int64_t* buf, int cap) except NULL:
    if len(values) > cap:
        raise KernelArgumentError(f"too many values ({len(values)} > {cap})")
    for i, v in enumerate(values):
        buf[i] = v
    return buf


def prepare_binary(int op, list a_shape, list b_shape):
    cdef int64_t a[16]
    cdef int64_t b[16]
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_binary(op, _ints(a_shape, a, 16), len(a_shape), _ints(b_shape, b, 16),
                                    len(b_shape), err, ERR_LEN), err)


def prepare_unary(int op, int64_t n, float a=0.0, float b=0.0):
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_unary(op, n, a, b, err, ERR_LEN), err)


def prepare_conv(list x_shape, list w_shape, int64_t bias_len, list strides, list pads, list dilations,
                 int64_t group, object packed, bint has_residual, int act, float alpha, float beta,
                 float lo, float hi):
    cdef int64_t xs[32]
    cdef int64_t ws[32]
    cdef int64_t st[32]
    cdef int64_t pd[64]
    cdef int64_t dl[32]
    cdef char err[ERR_LEN]
    cdef const void* pk = NULL
    err[0] = 0
    if len(w_shape) != len(x_shape):
        raise KernelArgumentError(f"conv: W must have the rank of X ({len(x_shape)}), got {w_shape}")
    if packed is not None:
        pk = PyCapsule_GetPointer(packed._capsule, PYINFER_CONV_WEIGHTS_CAPSULE)
    return _wrap(API.prepare_conv(_ints(x_shape, xs, 32), _ints(w_shape, ws, 32), len(x_shape), bias_len,
                                  _ints(strides, st, 32), _ints(pads, pd, 64), _ints(dilations, dl, 32),
                                  group, pk, has_residual, act, alpha, beta, lo, hi, err, ERR_LEN),
                 err, packed)


def prepare_gemm(int64_t M, int64_t N, int64_t K, bint trans_a, bint trans_b, float alpha, float beta,
                 object packed, int64_t c_rows, int64_t c_cols, bint has_col_bias, bint has_residual,
                 int act, float act_alpha, float act_beta, float lo, float hi):
    cdef char err[ERR_LEN]
    cdef const void* pk = NULL
    err[0] = 0
    if packed is not None:
        pk = PyCapsule_GetPointer(packed._capsule, PYINFER_PACKED_MATRIX_CAPSULE)
    return _wrap(API.prepare_gemm(M, N, K, trans_a, trans_b, alpha, beta, pk, c_rows, c_cols, has_col_bias,
                                  has_residual, act, act_alpha, act_beta, lo, hi, err, ERR_LEN), err, packed)


def prepare_pool(int kind, list x_shape, list kernel, list strides, list pads, list dilations, bint ceil_mode):
    cdef int64_t xs[16]
    cdef int64_t ks[16]
    cdef int64_t st[16]
    cdef int64_t pd[32]
    cdef int64_t dl[16]
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_pool(kind, _ints(x_shape, xs, 16), len(x_shape), _ints(kernel, ks, 16),
                                  _ints(strides, st, 16), _ints(pads, pd, 32), _ints(dilations, dl, 16),
                                  ceil_mode, err, ERR_LEN), err)


def prepare_global_pool(int kind, int64_t planes, int64_t plane_size, float p=2.0):
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_global_pool(kind, planes, plane_size, p, err, ERR_LEN), err)


def prepare_softmax(int64_t outer, int64_t axis_len, int64_t inner, bint log):
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_softmax(outer, axis_len, inner, log, err, ERR_LEN), err)


def prepare_batch_norm(int64_t n, int64_t c, int64_t spatial, float epsilon):
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_batch_norm(n, c, spatial, epsilon, err, ERR_LEN), err)


def prepare_batch_norm_act(int64_t n, int64_t c, int64_t spatial, float epsilon, int act, float alpha, float beta,
                           float lo, float hi):
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_batch_norm_act(n, c, spatial, epsilon, act, alpha, beta, lo, hi, err, ERR_LEN), err)


def prepare_lrn(int64_t n, int64_t c, int64_t spatial, int64_t size, float alpha, float beta, float bias):
    cdef char err[ERR_LEN]
    err[0] = 0
    return _wrap(API.prepare_lrn(n, c, spatial, size, alpha, beta, bias, err, ERR_LEN), err)


cdef class Frame:
    """One call's state: a data pointer and an array (or None) per slot."""
    cdef const float** ptrs
    cdef public list objs
    cdef public object arena   # the plan's arena for this frame (NumPy uint8) or None
    cdef int n

    def __cinit__(self, int n_slots):
        self.n = n_slots
        self.ptrs = <const float**>calloc(max(n_slots, 1), sizeof(float*))
        if self.ptrs == NULL:
            raise MemoryError()
        self.objs = [None] * n_slots

    def __dealloc__(self):
        free(self.ptrs)

    def set(self, int slot, object arr):
        """Bind a C-contiguous array to a slot (pointer + object)."""
        self.objs[slot] = arr
        self.ptrs[slot] = <const float*>data_pointer(arr)

    def set_object(self, int slot, object value):
        """A value only Python steps read (no pointer)."""
        self.objs[slot] = value

    def clear(self, list slots):
        for s in slots:
            self.objs[s] = None
            self.ptrs[<int>s] = NULL


cdef int _run_native(const Step* steps, int begin, int end, const float** ptrs, int nt, char* err,
                     int* failed) noexcept nogil:
    cdef int i, j
    cdef int64_t r, off, a, b
    cdef const Step* s
    cdef const float* ins[MAX_IN]
    cdef char* dst
    for i in range(begin, end):
        s = &steps[i]
        if s.kind == K_NATIVE:
            for j in range(s.nin):
                ins[j] = ptrs[s.ins[j]] if s.ins[j] >= 0 else NULL
            if API.run(s.k, ins, <float*>ptrs[s.out], nt, err, ERR_LEN) != 0:
                failed[0] = i
                return -1
        elif s.kind == K_COPY:
            memcpy(<void*>ptrs[s.out], <const void*>ptrs[s.ins[0]], s.nbytes)
        elif s.kind == K_CONCAT:
            dst = <char*>ptrs[s.out]
            for r in range(s.nbytes):
                for j in range(s.nin):
                    memcpy(dst, <const char*>ptrs[s.ins[j]] + r * s.chunk[j], s.chunk[j])
                    dst += s.chunk[j]
        elif s.kind == K_SWAP:
            dst = <char*>ptrs[s.out]
            for r in range(s.nbytes):
                for b in range(s.chunk[1]):
                    for a in range(s.chunk[0]):
                        memcpy(dst, <const char*>ptrs[s.ins[0]] + ((r * s.chunk[0] + a) * s.chunk[1] + b) * s.chunk[2],
                               s.chunk[2])
                        dst += s.chunk[2]
    return 0


cdef class Program:
    """The flat step array of one compiled plan.

    steps: a list with one tuple per step:
      ("native", kernel, [input slots, -1 = absent], out slot)
      ("copy", None, [in slot], out slot, nbytes)
      ("concat", None, [in slots], out slot, outer_rows, [chunk bytes per input])
      ("swap", None, [in slot], out slot, outer, [a, b, block bytes])   y[o, b, a] = x[o, a, b]
      ("python", callback, None, None)   callback(frame) runs the op and binds its outputs
    release: per step, the slots to clear after it (values only Python code holds).
    """
    cdef Step* steps
    cdef int n_steps
    cdef list callbacks
    cdef list release
    cdef list kernels
    cdef public list names   # per step, for error messages and profiles
    cdef int num_threads

    def __cinit__(self, list steps, list release, list names, int num_threads):
        self.n_steps = len(steps)
        self.steps = <Step*>calloc(max(self.n_steps, 1), sizeof(Step))
        if self.steps == NULL:
            raise MemoryError()
        self.callbacks = [None] * self.n_steps
        self.kernels = []
        self.release = release
        self.names = names
        self.num_threads = num_threads
        cdef Step* s
        for i, t in enumerate(steps):
            s = &self.steps[i]
            kind = t[0]
            s.has_release = 1 if release[i] else 0
            if kind == "python":
                s.kind = K_PYTHON
                self.callbacks[i] = t[1]
                continue
            ins = t[2]
            if len(ins) > MAX_IN:
                raise ValueError("too many step inputs")
            s.nin = len(ins)
            for j, slot in enumerate(ins):
                s.ins[j] = slot
            s.out = t[3]
            if kind == "native":
                s.kind = K_NATIVE
                s.k = (<Kernel>t[1]).k
                self.kernels.append(t[1])
            elif kind == "copy":
                s.kind = K_COPY
                s.nbytes = t[4]
            elif kind == "concat":
                s.kind = K_CONCAT
                s.nbytes = t[4]
                for j, c in enumerate(t[5]):
                    s.chunk[j] = c
            elif kind == "swap":
                s.kind = K_SWAP
                s.nbytes = t[4]
                for j, c in enumerate(t[5]):
                    s.chunk[j] = c
            else:
                raise ValueError(f"unknown step kind {kind!r}")

    def __dealloc__(self):
        free(self.steps)

    @property
    def num_steps(self):
        return self.n_steps

    def is_native(self, int i):
        return self.steps[i].kind != K_PYTHON

    cpdef execute(self, Frame frame, int begin, int end):
        """Run steps [begin, end) on frame."""
        cdef int i = begin, j, rc, failed = -1, k
        cdef char err[ERR_LEN]
        cdef int nt = self.num_threads
        cdef const Step* steps = self.steps
        err[0] = 0
        while i < end:
            if steps[i].kind == K_PYTHON:
                self.callbacks[i](frame)
                if steps[i].has_release:
                    frame.clear(self.release[i])
                i += 1
                continue
            j = i
            while j < end and steps[j].kind != K_PYTHON:
                j += 1
            with nogil:
                rc = _run_native(steps, i, j, frame.ptrs, nt, err, &failed)
            if rc != 0:
                raise KernelArgumentError(f"{self.names[failed]}: {(<bytes>err).decode('utf-8', 'replace')}")
            for k in range(i, j):
                if steps[k].has_release:
                    frame.clear(self.release[k])
            i = j
