# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The compiled-plan loop (see docs/RUNTIME.md).

A Program is a flat array of steps over numbered value slots. Native steps call the C++
kernels through the C ABI table that pyinfer._kernels exports (csrc/capi/pyinfer_capi.h),
read once at import: one copy of the kernels, their SIMD tier and their thread pool. Runs of
native steps execute with the GIL released; Python steps (op.run for everything else) run in
the same loop with the GIL held. A Frame holds one call's slot pointers and arrays, so
concurrent calls each use their own frame.
"""
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from cpython.pycapsule cimport PyCapsule_GetPointer

from ._bytes cimport permute_bytes
from ._capi cimport PyinferCapi, pyinfer_kernel, PYINFER_PREPARED_CAPSULE, data_pointer, import_capi

from . import _kernels  # noqa: F401  (the C ABI capsule lives in it)
from .errors import KernelArgumentError

cdef const PyinferCapi* API = import_capi()

DEF MAX_IN = 12
DEF MAX_OUT = 4
DEF ERR_LEN = 512

# step kinds
cdef enum:
    K_NATIVE = 0
    K_PYTHON = 1
    K_COPY = 2      # y = x (bytes)
    K_CONCAT = 3    # y = concat of inputs along an axis: outer rows of chunk bytes each
    K_PERMUTE = 4   # y = x transposed (a Transpose): _bytes.pxd permute_bytes

cdef struct Step:
    int kind
    const pyinfer_kernel* k
    int nin
    int ins[MAX_IN]
    int nout
    int outs[MAX_OUT]
    int has_release
    int64_t nbytes            # K_COPY: bytes; K_CONCAT: outer rows; K_PERMUTE: bytes per element
    int64_t chunk[MAX_IN]     # K_CONCAT: bytes per row, per input
    int rank                  # K_PERMUTE: the input's rank, shape and the permutation
    int64_t dims[16]
    int64_t perm[16]


cdef class Frame:
    """One call's state: a data pointer and an array (or None) per slot."""
    cdef void** ptrs
    cdef public list objs
    cdef public object arena   # the plan's arena for this frame (NumPy uint8) or None
    cdef int n

    def __cinit__(self, int n_slots):
        self.n = n_slots
        self.ptrs = <void**>calloc(max(n_slots, 1), sizeof(void*))
        if self.ptrs == NULL:
            raise MemoryError()
        self.objs = [None] * n_slots

    def __dealloc__(self):
        free(self.ptrs)

    def set(self, int slot, object arr):
        """Bind a C-contiguous array to a slot (pointer + object)."""
        self.objs[slot] = arr
        self.ptrs[slot] = data_pointer(arr)

    def set_object(self, int slot, object value):
        """A value only Python steps read (no pointer)."""
        self.objs[slot] = value

    def clear(self, list slots):
        for s in slots:
            self.objs[s] = None
            self.ptrs[<int>s] = NULL


cdef int _run_native(const Step* steps, int begin, int end, void** ptrs, int nt, char* err,
                     int* failed) noexcept nogil:
    cdef int i, j
    cdef int64_t r
    cdef const Step* s
    cdef const void* ins[MAX_IN]
    cdef void* outs[MAX_OUT]
    cdef char* dst
    for i in range(begin, end):
        s = &steps[i]
        if s.kind == K_NATIVE:
            for j in range(s.nin):
                ins[j] = ptrs[s.ins[j]] if s.ins[j] >= 0 else NULL
            for j in range(s.nout):
                outs[j] = ptrs[s.outs[j]] if s.outs[j] >= 0 else NULL
            if API.run(s.k, ins, outs, nt, err, ERR_LEN) != 0:
                failed[0] = i
                return -1
        elif s.kind == K_COPY:
            memcpy(ptrs[s.outs[0]], <const void*>ptrs[s.ins[0]], s.nbytes)
        elif s.kind == K_CONCAT:
            dst = <char*>ptrs[s.outs[0]]
            for r in range(s.nbytes):
                for j in range(s.nin):
                    memcpy(dst, <const char*>ptrs[s.ins[j]] + r * s.chunk[j], s.chunk[j])
                    dst += s.chunk[j]
        elif s.kind == K_PERMUTE:
            permute_bytes(<const char*>ptrs[s.ins[0]], <char*>ptrs[s.outs[0]], s.dims, s.perm, s.rank, s.nbytes)
    return 0


cdef class Program:
    """The flat step array of one compiled plan.

    steps: a list with one tuple per step:
      ("native", kernel, [input slots], [output slots])   a pyinfer.kernels.PreparedKernel, one
                                          slot per input / output spec (-1: null pointer)
      ("copy", None, [in slot], out slot, nbytes)
      ("concat", None, [in slots], out slot, outer_rows, [chunk bytes per input])
      ("permute", None, [in slot], out slot, bytes per element, input shape, perm)
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
        cdef int n_in, n_out
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
            outs = t[3] if kind == "native" else [t[3]]
            if len(outs) > MAX_OUT:
                raise ValueError("too many step outputs")
            s.nout = len(outs)
            for j, slot in enumerate(outs):
                s.outs[j] = slot
            if kind == "native":
                s.kind = K_NATIVE
                s.k = <const pyinfer_kernel*>PyCapsule_GetPointer(t[1]._capsule, PYINFER_PREPARED_CAPSULE)
                API.arity(s.k, &n_in, &n_out)
                if n_in != s.nin or n_out != s.nout:
                    raise ValueError(f"step {i}: the kernel takes {n_in} inputs and {n_out} outputs, "
                                     f"the step gives {s.nin} and {s.nout}")
                self.kernels.append(t[1])
            elif kind == "copy":
                s.kind = K_COPY
                s.nbytes = t[4]
            elif kind == "concat":
                s.kind = K_CONCAT
                s.nbytes = t[4]
                for j, c in enumerate(t[5]):
                    s.chunk[j] = c
            elif kind == "permute":
                if len(t[5]) > 16:
                    raise ValueError("a transpose of rank above 16")
                s.kind = K_PERMUTE
                s.nbytes, s.rank = t[4], len(t[5])
                for j in range(s.rank):
                    s.dims[j], s.perm[j] = t[5][j], t[6][j]
            else:
                raise ValueError(f"unknown step kind {kind!r}")

    def __dealloc__(self):
        free(self.steps)

    @property
    def num_steps(self):
        return self.n_steps

    def is_native(self, int i):
        return self.steps[i].kind != K_PYTHON

    cpdef int execute(self, Frame frame, int begin, int end) except -1:
        """Run steps [begin, end) on frame; returns end (the step to go on at, as a dynamic
        program's execute does)."""
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
        return end
