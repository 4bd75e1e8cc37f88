# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Dynamic programs: one compiled plan for every shape of a shape class (docs/RUNTIME.md).

A DynamicProgram runs the steps of a plan built once per shape class (the feeds' names, ranks
and dtypes; dynamic_plan.py builds it). Shapes are resolved as the steps run: every slot
carries its current dims. A native step whose inputs' shapes differ from its kernel's asks
for the kernel prepared for the new shapes (the C ABI's reshape, no Python; or, for a kernel
whose arguments followed from the shapes, the op's lower() again), keeps the last VARIANTS of
them per step and frame, reads the output shapes from the kernel's specs and places the
outputs in the frame's arena: best fit among the gaps between the live buffers, the arena
growing between calls to what the largest call needed, never further. Views (Reshape & co.)
compute their output dims from rules and share bytes; Concat and Transpose copy bytes; Python
steps (op.run) read views of their inputs and their outputs' shapes come from the arrays they
return. The loop holds the GIL between steps and releases it while a kernel computes.

A frame is one call's state (slots, arena, prepared variants): a plan keeps a pool of them, a
call takes one, so concurrent calls never share one.
"""
cimport cython
from libc.stdint cimport int64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc
from libc.stdio cimport snprintf
from libc.string cimport memcpy, memcmp, memmove
from cpython.pycapsule cimport PyCapsule_GetPointer

from ._bytes cimport permute_bytes
from ._capi cimport (PyinferCapi, pyinfer_kernel, pyinfer_kernel_ref, PYINFER_PREPARED_CAPSULE, data_pointer,
                     import_capi)

import numpy as np

from . import _kernels  # noqa: F401  (the C ABI capsule lives in it)
from .errors import KernelArgumentError, ResourceLimitError

cdef const PyinferCapi* API = import_capi()

ctypedef int64_t i64

cdef class DynamicFrame

DEF MAX_IN = 12
DEF MAX_OUT = 4
DEF ERR_LEN = 512
DEF MAX_RANK = 16
DEF VARIANTS = 2   # other shapes a step keeps kernels prepared for, besides the one it was built with
DEF ALIGN = 64
DEF MAX_VALUES = 4  # value inputs a step's kernels are keyed by (Native.value_inputs)

cdef enum:
    D_NATIVE = 0
    D_PYTHON = 1
    D_VIEW = 2        # the input's bytes under a new shape (rule below)
    D_CONCAT = 3      # byte copies along an axis
    D_TRANSPOSE = 4   # any permutation: block copies of the axes that stay innermost
    D_IF = 5          # ins[0]: a bool condition; false: go on at step param[0] (an If's else branch)
    D_JUMP = 6        # go on at step param[0] (the end of an If's then branch; param[0] = i + 1: its end)
    D_BIND = 7        # outs[0] = ins[0] (an If output a branch reads from outside): shared bytes

cdef enum:
    R_RESHAPE = 0     # param: target dims (0 copies the input's dim unless allowzero, -1 inferred);
                      # nparam -1: the dims are node input 1's int64 values
    R_FLATTEN = 1     # param[0]: axis
    R_SQUEEZE = 2     # param: axes (none: every size-1 axis)
    R_UNSQUEEZE = 3   # param: axes of the output

cdef enum:
    S_EMPTY = 0
    S_ARENA = 1       # the frame's arena at offset[slot]
    S_OBJECT = 2      # an ndarray in objs[slot]: feed, constant, Python step output, graph output
    S_ALIAS = 3       # the bytes of slot base[slot] (an S_ARENA or S_SPILL slot)
    S_SPILL = 4       # a block of its own (raw bytes in objs[slot]): the arena was full

cdef struct DStep:
    int kind
    const pyinfer_kernel* base
    int nin
    int ins[MAX_IN]
    int nout
    int outs[MAX_OUT]
    int rule
    int nparam
    i64 param[MAX_RANK]
    int allowzero
    int relower       # 1: other shapes go back to the op's lower() (its kernel cannot be reshaped)
    unsigned controls # bit j: kernel input j is a control input (its values, too, pick the variant)
    int count_of[MAX_OUT]   # a counted output j: the output holding its size (-1: not counted)
    int count_dim[MAX_OUT]  # ... and the dim that size is
    int has_counted
    int nval                # node inputs whose values key the step's kernels and go to its relower
    int val_slots[MAX_VALUES]
    int has_release

cdef struct Variant:
    pyinfer_kernel_ref* ref     # owned (reshape); NULL for the step's base kernel or a lowered one
    const pyinfer_kernel* k     # NULL: these shapes run the op's own code
    i64* key                    # per kernel input read: rank, dims; then per control input: count, values
    int key_len
    int out_rank[MAX_OUT]       # the kernel's output specs (read once, when the variant is made)
    int out_itemsize[MAX_OUT]
    int out_required[MAX_OUT]
    i64 out_dims[MAX_OUT][MAX_RANK]


cdef inline i64 _prod(const i64* d, int n) noexcept nogil:
    cdef i64 p = 1
    cdef int i
    for i in range(n):
        p *= d[i]
    return p


cdef int _itemsize(int onnx_type) noexcept nogil:
    if onnx_type in (2, 3, 9):       # uint8, int8, bool
        return 1
    if onnx_type in (4, 5, 10, 16):  # uint16, int16, float16, bfloat16
        return 2
    if onnx_type in (1, 6, 12):      # float, int32, uint32
        return 4
    if onnx_type in (7, 11, 13):     # int64, double, uint64
        return 8
    return 0


@cython.final  # direct calls of its cdef methods (no vtable): the per-step cost
cdef class DynamicProgram:
    """The steps of a dynamic plan. One tuple per step:
      ("native", kernel, [kernel input slots], [kernel output slots], op_run, [node input slots],
       [node output slots], relower)
          op_run(args) -> outputs: the op's own code, for shapes the kernel cannot take;
          relower(input shapes) -> PreparedKernel or None, or None: reshape the kernel (C++)
      ("python", op_run, [node input slots], [node output slots])
      ("view", rule, params or None, allowzero, [node input slots], out slot, op_run)
      ("concat", [in slots], out slot, axis, op_run)
      ("transpose", in slot, out slot, perm)
      ("if", condition slot, else step)   ("jump", step)   ("bind", in slot, out slot)
    slot_dtypes: numpy dtype per slot; graph_outputs: slots returned to the caller (fresh arrays);
    consts: slots set once per frame; release: per step, the slots freed after it; names: per
    step, for messages; shape_changed: the exception for a Python step whose dtype differs;
    max_tensor_bytes: the per-tensor limit (limits.py) a kernel prepared for new shapes or
    control values must keep its outputs under (ResourceLimitError otherwise)."""
    cdef DStep* steps
    cdef public int n_steps
    cdef public int n_slots
    cdef list run_op
    cdef list relowers
    cdef list node_ins
    cdef list node_outs
    cdef list kernels
    cdef public list names
    cdef public list slot_dtypes
    cdef int* itemsize
    cdef char* graph_output
    cdef char* const_slot
    cdef int* release_start     # step i frees release_slots[release_start[i]:release_start[i + 1]]
    cdef int* release_slots
    cdef int num_threads
    cdef object shape_changed
    cdef i64 max_tensor_bytes

    def __cinit__(self, list steps, list slot_dtypes, list graph_outputs, list consts, list release, list names,
                  int num_threads, object shape_changed, i64 max_tensor_bytes):
        cdef int i, j, n_in, n_out, n = len(slot_dtypes)
        cdef DStep* s
        self.n_steps = len(steps)
        self.n_slots = n
        self.steps = <DStep*>calloc(max(self.n_steps, 1), sizeof(DStep))
        self.itemsize = <int*>calloc(max(n, 1), sizeof(int))
        self.graph_output = <char*>calloc(max(n, 1), sizeof(char))
        self.const_slot = <char*>calloc(max(n, 1), sizeof(char))
        self.release_start = <int*>calloc(self.n_steps + 1, sizeof(int))
        self.release_slots = <int*>calloc(max(sum(len(r) for r in release), 1), sizeof(int))
        if (self.steps == NULL or self.itemsize == NULL or self.graph_output == NULL or self.const_slot == NULL
                or self.release_start == NULL or self.release_slots == NULL):
            raise MemoryError()
        j = 0
        for i, slots in enumerate(release):
            self.release_start[i] = j
            for slot in slots:
                self.release_slots[j] = slot
                j += 1
        self.release_start[self.n_steps] = j
        self.slot_dtypes = slot_dtypes
        for i in range(n):
            self.itemsize[i] = slot_dtypes[i].itemsize if slot_dtypes[i] is not None else 0
        for i in graph_outputs:
            self.graph_output[<int>i] = 1
        for i in consts:
            self.const_slot[<int>i] = 1
        self.run_op = [None] * self.n_steps
        self.relowers = [None] * self.n_steps
        self.node_ins = [None] * self.n_steps
        self.node_outs = [None] * self.n_steps
        self.kernels = []
        self.names = names
        self.num_threads = num_threads
        self.shape_changed = shape_changed
        self.max_tensor_bytes = max_tensor_bytes
        for i, t in enumerate(steps):
            s = &self.steps[i]
            kind = t[0]
            s.has_release = 1 if release[i] else 0
            if kind == "native":
                _set_slots(s, t[2], t[3])
                s.kind = D_NATIVE
                s.base = <const pyinfer_kernel*>PyCapsule_GetPointer(t[1]._capsule, PYINFER_PREPARED_CAPSULE)
                API.arity(s.base, &n_in, &n_out)
                if n_in != s.nin or n_out != s.nout:
                    raise ValueError(f"step {i}: the kernel takes {n_in} inputs and {n_out} outputs")
                self.kernels.append(t[1])
                self.run_op[i], self.node_ins[i], self.node_outs[i] = t[4], list(t[5]), list(t[6])
                self.relowers[i] = t[7]
                s.relower = 1 if t[7] is not None or not API.can_reshape(s.base) else 0
                value_slots = t[8] if len(t) > 8 else []
                if len(value_slots) > MAX_VALUES or (value_slots and t[7] is None):
                    raise ValueError(f"step {i}: value inputs {value_slots} without a relower, or too many")
                s.nval = len(value_slots)
                for j, slot in enumerate(value_slots):
                    s.val_slots[j] = slot
                s.controls = API.controls(s.base)
                for j in range(s.nout):
                    s.count_of[j] = -1
                    if API.counted(s.base, j, &s.count_dim[j], &s.count_of[j]):
                        s.has_counted = 1
                if s.has_counted and s.relower:
                    raise ValueError(f"step {i}: a kernel with counted outputs is reshaped, not lowered again")
                if s.controls and s.relower:
                    raise ValueError(f"step {i}: a kernel with control inputs is reshaped, not lowered again")
            elif kind == "python":  # (any number of inputs and outputs: they stay Python lists)
                s.kind = D_PYTHON
                self.run_op[i], self.node_ins[i], self.node_outs[i] = t[1], list(t[2]), list(t[3])
            elif kind == "view":
                s.kind = D_VIEW
                s.rule = {"reshape": R_RESHAPE, "flatten": R_FLATTEN, "squeeze": R_SQUEEZE,
                          "unsqueeze": R_UNSQUEEZE}[t[1]]
                _set_slots(s, t[4], [t[5]])
                if t[2] is None:
                    s.nparam = -1
                else:
                    if len(t[2]) > MAX_RANK:
                        raise ValueError("view rule longer than the largest rank")
                    s.nparam = len(t[2])
                    for j, v in enumerate(t[2]):
                        s.param[j] = v
                s.allowzero = 1 if t[3] else 0
                self.run_op[i], self.node_ins[i], self.node_outs[i] = t[6], list(t[4]), [t[5]]
            elif kind == "concat":
                s.kind = D_CONCAT
                _set_slots(s, t[1], [t[2]])
                s.nparam, s.param[0] = 1, t[3]
                self.run_op[i], self.node_ins[i], self.node_outs[i] = t[4], list(t[1]), [t[2]]
            elif kind == "if" or kind == "jump":
                s.kind = D_IF if kind == "if" else D_JUMP
                if kind == "if":
                    _set_slots(s, [t[1]], [])
                target = t[2] if kind == "if" else t[1]
                if not i < target <= self.n_steps:
                    raise ValueError(f"step {i}: a jump to step {target}")  # forward only: every run ends
                s.nparam, s.param[0] = 1, target
            elif kind == "bind":
                s.kind = D_BIND
                _set_slots(s, [t[1]], [t[2]])
            elif kind == "transpose":
                s.kind = D_TRANSPOSE
                _set_slots(s, [t[1]], [t[2]])
                if len(t[3]) > MAX_RANK:
                    raise ValueError("transpose of a rank above the largest")
                s.nparam = len(t[3])
                for j, v in enumerate(t[3]):
                    s.param[j] = v
            else:
                raise ValueError(f"unknown step kind {kind!r}")

    def __dealloc__(self):
        free(self.steps)
        free(self.itemsize)
        free(self.graph_output)
        free(self.const_slot)
        free(self.release_start)
        free(self.release_slots)

    # --- values -----------------------------------------------------------------------------
    cdef int _place(self, DynamicFrame f, int slot, const i64* dims, int ndim, int itemsize) except -1:
        """Storage for a slot of dims: a fresh array for a graph output, else the arena."""
        cdef int d
        f.ndim[slot] = ndim
        for d in range(ndim):
            f.dims[slot * MAX_RANK + d] = dims[d]
        if slot < self.n_slots and self.graph_output[slot]:
            arr = np.empty(tuple([dims[d] for d in range(ndim)]), self.slot_dtypes[slot])
            f.objs[slot] = arr
            f.state[slot] = S_OBJECT
            f.ptrs[slot] = data_pointer(arr)
            return 0
        f.alloc(slot, _prod(dims, ndim) * itemsize)
        return 0

    cdef object _view(self, DynamicFrame f, int slot):
        """The slot's value as an ndarray (for Python code): its object, or a view of its bytes."""
        cdef int st = f.state[slot], root = slot
        if st == S_OBJECT or st == S_EMPTY:
            return f.objs[slot]
        if st == S_ALIAS:
            root = f.base[slot]
        shape = tuple([f.dims[slot * MAX_RANK + d] for d in range(f.ndim[slot])])
        cdef i64 nbytes = _prod(&f.dims[slot * MAX_RANK], f.ndim[slot]) * self.itemsize[slot]
        cdef i64 off = <i64>(<char*>f.ptrs[slot] - <char*>f.ptrs[root])
        if f.state[root] == S_SPILL:
            raw = f.objs[root]
        else:
            raw, off = f.arena, off + f.offset[root]
        return raw[off:off + nbytes].view(self.slot_dtypes[slot]).reshape(shape)

    cdef int _set_array(self, DynamicFrame f, int slot, object arr, int step) except -1:
        """A Python step's output: its dtype checked against the plan's, kept as the slot's value."""
        cdef int d
        if not isinstance(arr, np.ndarray):
            raise self.shape_changed(f"{self.names[step]} returned a {type(arr).__name__}")
        if arr.dtype != self.slot_dtypes[slot]:
            raise self.shape_changed(f"{self.names[step]}: dtype {arr.dtype}, planned {self.slot_dtypes[slot]}")
        if arr.ndim > MAX_RANK:
            raise self.shape_changed(f"{self.names[step]}: rank {arr.ndim} above {MAX_RANK}")
        if f.arena is not None and np.may_share_memory(arr, f.arena):
            arr = arr.copy()  # the arena is reused: a view into it must not outlive its bytes
        elif not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        f.objs[slot] = arr
        f.state[slot] = S_OBJECT
        f.ptrs[slot] = data_pointer(arr) if arr.size else NULL
        f.ndim[slot] = arr.ndim
        for d in range(arr.ndim):
            f.dims[slot * MAX_RANK + d] = arr.shape[d]
        return 0

    cdef int _run_op(self, DynamicFrame f, int i) except -1:
        """The op's own code for step i (a Python step, or shapes a native step cannot take)."""
        cdef DStep* s = &self.steps[i]
        cdef int j
        results = self.run_op[i]([self._view(f, slot) if slot >= 0 else None for slot in self.node_ins[i]])
        for j, slot in enumerate(self.node_outs[i]):
            if slot >= 0:
                self._set_array(f, slot, results[j], i)
        return 0

    # --- native steps -----------------------------------------------------------------------
    cdef bint _matches(self, DynamicFrame f, DStep* s, Variant* v) noexcept nogil:
        cdef int j, slot, r, pos = 0
        if v.key == NULL:
            return False
        for j in range(s.nin):
            slot = s.ins[j]
            if slot < 0:
                continue
            r = <int>v.key[pos]
            if f.ndim[slot] != r or memcmp(&v.key[pos + 1], &f.dims[slot * MAX_RANK], r * sizeof(i64)) != 0:
                return False
            pos += 1 + r
        if s.controls or s.nval:
            return _same_controls(f, s, &v.key[pos], v.key_len - pos)
        return True

    cdef Variant* _variant(self, DynamicFrame f, int i) except NULL:
        """The step's kernel for its inputs' current shapes: one kept from an earlier call, or
        a new one (the kernel reshaped, or the op lowered again) in place of the oldest."""
        cdef DStep* s = &self.steps[i]
        cdef Variant* v
        cdef int t, j, slot
        for t in range(VARIANTS + 1):
            v = &f.variants[i * (VARIANTS + 1) + t]
            if self._matches(f, s, v):
                return v
        t = 1 + f.next_variant[i]
        f.next_variant[i] = t % VARIANTS
        v = &f.variants[i * (VARIANTS + 1) + t]
        _clear_variant(v)
        f.lowered[i * (VARIANTS + 1) + t] = None
        cdef const i64* shapes[MAX_IN]
        cdef int ranks[MAX_IN]
        cdef i64 values[MAX_IN][MAX_RANK]
        cdef const i64* value_ptrs[MAX_IN]
        cdef i64 counts[MAX_IN]
        cdef char err[ERR_LEN]
        cdef bint empty = False, readable = True
        cdef int t2
        for j in range(s.nin):
            slot = s.ins[j]
            shapes[j] = NULL
            ranks[j] = 0
            if slot >= 0:
                shapes[j] = &f.dims[slot * MAX_RANK]
                ranks[j] = f.ndim[slot]
                if _prod(shapes[j], ranks[j]) == 0:
                    empty = True
            value_ptrs[j] = NULL
            counts[j] = 0
            if slot >= 0 and s.controls & (1u << j):
                value_ptrs[j] = &values[j][0]
                readable = readable and _read_control(f, slot, values[j], &counts[j])
        if empty or not readable:  # empty tensors, or a control input too long: the op's own code
            pass
        elif not s.relower:
            err[0] = 0
            if s.controls:
                v.ref = API.reshape(s.base, shapes, ranks, value_ptrs, counts, err, ERR_LEN)
            else:
                v.ref = API.reshape(s.base, shapes, ranks, NULL, NULL, err, ERR_LEN)
            if v.ref != NULL:
                v.k = API.ref_kernel(v.ref)
        else:
            value_lists = []
            for j in range(s.nval):
                readable = readable and _read_control(f, s.val_slots[j], values[0], &counts[0])
                value_lists.append([values[0][t2] for t2 in range(counts[0] if readable else 0)])
            kernel = None
            if readable:
                kernel = self.relowers[i]([self._shape(f, slot) if slot >= 0 else None for slot in self.node_ins[i]],
                                          value_lists)
            if kernel is not None:
                f.lowered[i * (VARIANTS + 1) + t] = kernel
                v.k = <const pyinfer_kernel*>PyCapsule_GetPointer(kernel._capsule, PYINFER_PREPARED_CAPSULE)
        if v.k != NULL:
            _key_from_kernel(v, s, v.k)
            if s.controls or s.nval:
                _append_controls(v, s, f)
            for j in range(s.nout):
                if not _fits(v.out_dims[j], v.out_rank[j], v.out_itemsize[j], self.max_tensor_bytes):
                    shape = [v.out_dims[j][d] for d in range(v.out_rank[j])]
                    _clear_variant(v)  # no variant for shapes that were refused
                    f.lowered[i * (VARIANTS + 1) + t] = None
                    raise ResourceLimitError(
                        f"{self.names[i]}: an output of shape {shape} needs more than the limit of "
                        f"{self.max_tensor_bytes} bytes per tensor (max_memory_bytes)")
            if not self._matches(f, s, v):  # the C++ side must run on exactly the shapes it checked
                raise RuntimeError(f"{self.names[i]}: the kernel prepared for new shapes reads other shapes")
        else:
            _key_from_frame(v, s, f)
            if (s.controls or s.nval) and readable:
                _append_controls(v, s, f)
        return v

    cdef int _native(self, DynamicFrame f, int i) except -1:
        cdef DStep* s = &self.steps[i]
        cdef Variant* v = self._variant(f, i)
        cdef const pyinfer_kernel* k = v.k
        cdef int j, slot
        cdef const void* ins[MAX_IN]
        cdef void* outs[MAX_OUT]
        cdef int scratch[MAX_OUT]
        cdef char err[ERR_LEN]
        cdef int rc
        cdef i64 n
        if k == NULL:
            return self._run_op(f, i)
        for j in range(s.nout):
            if s.outs[j] >= 0 and _prod(v.out_dims[j], v.out_rank[j]) == 0:
                return self._run_op(f, i)  # empty outputs: the op's own code
        for j in range(s.nin):
            slot = s.ins[j]
            ins[j] = f.ptrs[slot] if slot >= 0 else NULL
        for j in range(s.nout):
            slot = s.outs[j]
            scratch[j] = -1
            outs[j] = NULL
            if slot < 0:
                if not v.out_required[j]:
                    continue
                slot = scratch[j] = self.n_slots + j  # written by the kernel, read by nobody
            self._place(f, slot, v.out_dims[j], v.out_rank[j], v.out_itemsize[j])
            outs[j] = f.ptrs[slot]
        err[0] = 0
        with nogil:
            rc = API.run(k, ins, outs, self.num_threads, err, ERR_LEN)
            if rc == 0 and s.has_counted:
                rc = _count_outputs(f, s, v, outs, err)
        for j in range(s.nout):
            if scratch[j] >= 0:
                f.free_slot(scratch[j])
        if rc != 0:
            raise KernelArgumentError(f"{self.names[i]}: {(<bytes>err).decode('utf-8', 'replace')}")
        for j in range(s.nout):  # a counted graph output: the caller's array holds the values found
            slot = s.outs[j]
            if s.count_of[j] >= 0 and slot >= 0 and f.state[slot] == S_OBJECT:
                n = _prod(&f.dims[slot * MAX_RANK], f.ndim[slot])
                f.objs[slot] = f.objs[slot].reshape(-1)[:n].reshape(self._shape(f, slot))
        return 0

    cdef object _shape(self, DynamicFrame f, int slot):
        return tuple([f.dims[slot * MAX_RANK + d] for d in range(f.ndim[slot])])

    # --- views and copies -------------------------------------------------------------------
    cdef bint _view_dims(self, DynamicFrame f, DStep* s, i64* out, int* out_rank) noexcept nogil:
        """The output dims of a view step for its input's current dims (False: the rule cannot
        take them)."""
        cdef int src = s.ins[0], n = f.ndim[s.ins[0]], m = 0, j, k, t, infer = -1
        cdef const i64* d = &f.dims[src * MAX_RANK]
        cdef const i64* target = s.param
        cdef int ntarget = s.nparam
        cdef i64 total = _prod(d, n), known = 1
        cdef bint ok = True, hit
        if s.rule == R_RESHAPE:
            if ntarget < 0:  # the dims are node input 1's values (int64, checked when planned)
                t = s.ins[1]
                ntarget = <int>_prod(&f.dims[t * MAX_RANK], f.ndim[t])
                if f.ndim[t] != 1 or ntarget > MAX_RANK or (ntarget and f.ptrs[t] == NULL):
                    ok = False
                target = <const i64*>f.ptrs[t]
            m = ntarget if ok else 0
            for j in range(m):
                out[j] = target[j]
                if out[j] == 0 and not s.allowzero:
                    if j >= n:
                        ok = False
                        break
                    out[j] = d[j]
                if out[j] == -1:
                    if infer >= 0:
                        ok = False
                    infer = j
                elif out[j] < 0:
                    ok = False
                else:
                    known *= out[j]
            if ok and infer >= 0:
                if known == 0 or total % known != 0:
                    ok = False
                else:
                    out[infer] = total // known
            if ok and _prod(out, m) != total:
                ok = False
        elif s.rule == R_FLATTEN:
            k = <int>s.param[0]
            if k > n:
                ok = False
            else:
                m = 2
                out[0], out[1] = _prod(d, k), _prod(&d[k], n - k)
        elif s.rule == R_SQUEEZE:
            for j in range(n):
                hit = ntarget == 0 and d[j] == 1
                for k in range(ntarget):
                    if s.param[k] == j:
                        hit = True
                        ok = ok and d[j] == 1
                if not hit:
                    out[m] = d[j]
                    m += 1
        else:  # R_UNSQUEEZE
            m = n + ntarget
            if m > MAX_RANK:
                ok = False
            else:
                k = 0
                for j in range(m):
                    hit = False
                    for t in range(ntarget):
                        if s.param[t] == j:
                            hit = True
                    if hit:
                        out[j] = 1
                    elif k < n:
                        out[j] = d[k]
                        k += 1
                    else:
                        ok = False
        out_rank[0] = m
        return ok

    cdef int _view_step(self, DynamicFrame f, int i) except -1:
        cdef DStep* s = &self.steps[i]
        cdef int src = s.ins[0], dst = s.outs[0], m = 0, j
        cdef i64 out[MAX_RANK]
        cdef i64 total = _prod(&f.dims[src * MAX_RANK], f.ndim[src])
        cdef bint ok = self._view_dims(f, s, out, &m)
        if not ok:  # shapes the rule cannot take: the op's own code (which reports them)
            return self._run_op(f, i)
        f.ndim[dst] = m
        for j in range(m):
            f.dims[dst * MAX_RANK + j] = out[j]
        if self.graph_output[dst]:  # the caller gets an array of its own
            arr = np.empty(tuple([out[j] for j in range(m)]), self.slot_dtypes[dst])
            if total:
                memcpy(data_pointer(arr), f.ptrs[src], total * self.itemsize[src])
            f.objs[dst], f.state[dst], f.ptrs[dst] = arr, S_OBJECT, data_pointer(arr) if total else NULL
        elif f.state[src] == S_OBJECT:  # a feed, constant or Python output: a view of it
            f.objs[dst] = f.objs[src].reshape(tuple([out[j] for j in range(m)]))
            f.state[dst], f.ptrs[dst] = S_OBJECT, f.ptrs[src]
        else:
            f.state[dst], f.ptrs[dst] = S_ALIAS, f.ptrs[src]
            f.base[dst] = f.base[src] if f.state[src] == S_ALIAS else src
        return 0

    cdef int _concat(self, DynamicFrame f, int i) except -1:
        cdef DStep* s = &self.steps[i]
        cdef int axis = <int>s.param[0], j, d, first = s.ins[0], n = f.ndim[s.ins[0]], slot
        cdef i64 out[MAX_RANK]
        cdef i64 chunk[MAX_IN]
        cdef i64 outer, r, size = self.itemsize[first]
        cdef char* dst
        cdef bint ok = axis < n
        for d in range(n):
            out[d] = f.dims[first * MAX_RANK + d]
        if ok:
            out[axis] = 0
        for j in range(s.nin):
            slot = s.ins[j]
            if not ok or f.ndim[slot] != n:
                ok = False
                break
            for d in range(n):
                if d != axis and f.dims[slot * MAX_RANK + d] != out[d]:
                    ok = False
            out[axis] += f.dims[slot * MAX_RANK + axis]
            chunk[j] = _prod(&f.dims[slot * MAX_RANK + axis], n - axis) * size
        if not ok:  # inputs that do not line up: the op's own code reports them
            return self._run_op(f, i)
        self._place(f, s.outs[0], out, n, <int>size)
        outer = _prod(out, axis)
        dst = <char*>f.ptrs[s.outs[0]]
        with nogil:
            for r in range(outer):
                for j in range(s.nin):
                    if chunk[j]:
                        memcpy(dst, <const char*>f.ptrs[s.ins[j]] + r * chunk[j], chunk[j])
                        dst += chunk[j]
        return 0

    cdef int _transpose(self, DynamicFrame f, int i) except -1:
        cdef DStep* s = &self.steps[i]
        cdef int src = s.ins[0], dst = s.outs[0], n = s.nparam, d
        cdef i64 out[MAX_RANK]
        if f.ndim[src] != n:
            raise self.shape_changed(f"{self.names[i]}: input of rank {f.ndim[src]}, planned {n}")
        for d in range(n):
            out[d] = f.dims[src * MAX_RANK + s.param[d]]
        self._place(f, dst, out, n, self.itemsize[src])
        with nogil:
            permute_bytes(<const char*>f.ptrs[src], <char*>f.ptrs[dst], &f.dims[src * MAX_RANK], s.param, n,
                          self.itemsize[src])
        return 0

    # --- the fast paths: no GIL, no Python object -------------------------------------------
    # Each returns 0 when it ran the step, 1 when the step needs the GIL path (a kernel for new
    # shapes, an output of its own for the caller, an arena too small, an op.run fallback),
    # having changed nothing, or -1 when a kernel failed (its message in err).
    cdef int _native_fast(self, DynamicFrame f, int i, char* err) noexcept nogil:
        cdef DStep* s = &self.steps[i]
        cdef Variant* v = NULL
        cdef int t, j, slot, rc
        cdef const void* ins[MAX_IN]
        cdef void* outs[MAX_OUT]
        cdef int placed[MAX_OUT]
        for t in range(VARIANTS + 1):
            if f.variants[i * (VARIANTS + 1) + t].k != NULL and self._matches(f, s, &f.variants[i * (VARIANTS + 1) + t]):
                v = &f.variants[i * (VARIANTS + 1) + t]
                break
        if v == NULL:
            return 1
        for j in range(s.nout):
            slot = s.outs[j]
            if slot >= 0 and (self.graph_output[slot] or _prod(v.out_dims[j], v.out_rank[j]) == 0):
                return 1
        for j in range(s.nout):
            slot = s.outs[j]
            placed[j] = -1
            outs[j] = NULL
            if slot < 0:
                if not v.out_required[j]:
                    continue
                slot = self.n_slots + j  # scratch: written by the kernel, read by nobody
            if f.alloc_arena(slot, _prod(v.out_dims[j], v.out_rank[j]) * v.out_itemsize[j]) != 0:
                for t in range(j):
                    if placed[t] >= 0:
                        f.free_arena(placed[t])
                return 1
            placed[j] = slot
            f.ndim[slot] = v.out_rank[j]
            memcpy(&f.dims[slot * MAX_RANK], v.out_dims[j], v.out_rank[j] * sizeof(i64))
            outs[j] = f.ptrs[slot]
        for j in range(s.nin):
            ins[j] = f.ptrs[s.ins[j]] if s.ins[j] >= 0 else NULL
        err[0] = 0
        rc = API.run(v.k, ins, outs, self.num_threads, err, ERR_LEN)
        if rc == 0 and s.has_counted:
            rc = _count_outputs(f, s, v, outs, err)
        for j in range(s.nout):
            if s.outs[j] < 0 and placed[j] >= 0:
                f.free_arena(placed[j])
        return 0 if rc == 0 else -1

    cdef int _view_fast(self, DynamicFrame f, int i) noexcept nogil:
        cdef DStep* s = &self.steps[i]
        cdef int src = s.ins[0], dst = s.outs[0], m = 0
        cdef i64 out[MAX_RANK]
        if self.graph_output[dst] or f.state[src] == S_OBJECT or not self._view_dims(f, s, out, &m):
            return 1
        f.ndim[dst] = m
        memcpy(&f.dims[dst * MAX_RANK], out, m * sizeof(i64))
        f.state[dst], f.ptrs[dst] = S_ALIAS, f.ptrs[src]
        f.base[dst] = f.base[src] if f.state[src] == S_ALIAS else src
        return 0

    cdef int _transpose_fast(self, DynamicFrame f, int i) noexcept nogil:
        cdef DStep* s = &self.steps[i]
        cdef int src = s.ins[0], dst = s.outs[0], n = s.nparam, d
        cdef i64 out[MAX_RANK]
        if self.graph_output[dst] or f.ndim[src] != n:
            return 1
        for d in range(n):
            out[d] = f.dims[src * MAX_RANK + s.param[d]]
        if f.alloc_arena(dst, _prod(out, n) * self.itemsize[src]) != 0:
            return 1
        f.ndim[dst] = n
        memcpy(&f.dims[dst * MAX_RANK], out, n * sizeof(i64))
        permute_bytes(<const char*>f.ptrs[src], <char*>f.ptrs[dst], &f.dims[src * MAX_RANK], s.param, n,
                      self.itemsize[src])
        return 0

    cdef int _release_fast(self, DynamicFrame f, int i) noexcept nogil:
        """Free what step i was the last to read, unless one of them is a Python object (1)."""
        cdef int r, slot
        for r in range(self.release_start[i], self.release_start[i + 1]):
            if f.state[self.release_slots[r]] == S_OBJECT or f.state[self.release_slots[r]] == S_SPILL:
                return 1
        for r in range(self.release_start[i], self.release_start[i + 1]):
            slot = self.release_slots[r]
            if f.state[slot] == S_ARENA:
                f.free_arena(slot)
            else:
                f.state[slot] = S_EMPTY
                f.ptrs[slot] = NULL
        return 0

    cdef int _if_fast(self, DynamicFrame f, int i, int* nxt) noexcept nogil:
        """The step after an If's condition: the then branch (next) or the else branch."""
        cdef DStep* s = &self.steps[i]
        cdef int c = s.ins[0]
        if _prod(&f.dims[c * MAX_RANK], f.ndim[c]) != 1 or f.ptrs[c] == NULL:
            return 1
        nxt[0] = i + 1 if (<const char*>f.ptrs[c])[0] != 0 else <int>s.param[0]
        return 0

    cdef int _bind_fast(self, DynamicFrame f, int i) noexcept nogil:
        cdef DStep* s = &self.steps[i]
        cdef int src = s.ins[0], dst = s.outs[0]
        if self.graph_output[dst] or f.state[src] == S_OBJECT or f.state[src] == S_EMPTY:
            return 1
        f.ndim[dst] = f.ndim[src]
        memcpy(&f.dims[dst * MAX_RANK], &f.dims[src * MAX_RANK], f.ndim[src] * sizeof(i64))
        f.state[dst], f.ptrs[dst] = S_ALIAS, f.ptrs[src]
        f.base[dst] = f.base[src] if f.state[src] == S_ALIAS else src
        return 0

    cdef int _step_slow(self, DynamicFrame f, int i) except -1:
        """Step i with the GIL; returns the step to go on at."""
        cdef int kind = self.steps[i].kind
        if kind == D_NATIVE:
            self._native(f, i)
        elif kind == D_PYTHON:
            self._run_op(f, i)
        elif kind == D_VIEW:
            self._view_step(f, i)
        elif kind == D_CONCAT:
            self._concat(f, i)
        elif kind == D_IF:
            raise KernelArgumentError(f"{self.names[i]}: the condition must hold exactly one element, "
                                      f"got shape {list(self._shape(f, self.steps[i].ins[0]))}")
        elif kind == D_BIND:
            value = self._view(f, self.steps[i].ins[0])
            self._set_array(f, self.steps[i].outs[0], value.copy() if self.graph_output[self.steps[i].outs[0]]
                            else value, i)
        else:
            self._transpose(f, i)
        return i + 1

    # --- the loop ---------------------------------------------------------------------------
    cpdef int execute(self, DynamicFrame f, int start, int end) except -1:
        """Run steps [start, end) on f (feeds set): runs of steps that take the fast paths
        without the GIL, the others with it. Returns the step it stopped at (an If's jumps
        may pass end: the profiler runs one step at a time)."""
        cdef int i = start, nxt = start, rc = 0, kind, r
        cdef char err[ERR_LEN]
        while i < end:
            with nogil:
                while i < end:
                    kind = self.steps[i].kind
                    nxt = i + 1
                    if kind == D_NATIVE:
                        rc = self._native_fast(f, i, err)
                    elif kind == D_VIEW:
                        rc = self._view_fast(f, i)
                    elif kind == D_TRANSPOSE:
                        rc = self._transpose_fast(f, i)
                    elif kind == D_IF:
                        rc = self._if_fast(f, i, &nxt)
                    elif kind == D_JUMP:
                        nxt, rc = <int>self.steps[i].param[0], 0
                    elif kind == D_BIND:
                        rc = self._bind_fast(f, i)
                    else:
                        rc = 1
                    if rc != 0:
                        break
                    if self.steps[i].has_release and self._release_fast(f, i) != 0:
                        rc = 2  # the step ran; its releases need the GIL
                        break
                    i = nxt
            if i >= end:
                break
            if rc == -1:
                raise KernelArgumentError(f"{self.names[i]}: {(<bytes>err).decode('utf-8', 'replace')}")
            if rc == 1:
                nxt = self._step_slow(f, i)
            if self.steps[i].has_release:
                for r in range(self.release_start[i], self.release_start[i + 1]):
                    f.free_slot(self.release_slots[r])
            i = nxt
        return i

    def is_native(self, int i):
        """Whether step i runs without op.run (for the profiler and inspect)."""
        return self.steps[i].kind != D_PYTHON

    def is_control(self, int i):
        """Whether step i is an If's condition or jump (the profiler does not time them)."""
        return self.steps[i].kind == D_IF or self.steps[i].kind == D_JUMP

    def new_frame(self, dict consts):
        """A frame with the constants bound (slot -> array or other value)."""
        f = DynamicFrame(self)
        for slot, value in consts.items():
            if isinstance(value, np.ndarray) and value.flags.c_contiguous:
                f.set(slot, value)
            else:
                f.set_object(slot, value)
        return f


cdef void _set_slots(DStep* s, ins, outs) except *:
    if len(ins) > MAX_IN or len(outs) > MAX_OUT:
        raise ValueError(f"a step with {len(ins)} inputs and {len(outs)} outputs (at most {MAX_IN}, {MAX_OUT})")
    s.nin, s.nout = len(ins), len(outs)
    for j, slot in enumerate(ins):
        s.ins[j] = -1 if slot is None else slot
    for j, slot in enumerate(outs):
        s.outs[j] = -1 if slot is None else slot


cdef int _count_outputs(DynamicFrame f, DStep* s, Variant* v, void** outs, char* err) noexcept nogil:
    """After a run: each counted output's dim set to the size the kernel wrote (0), or -1 and a
    message when that size is not within the output's bound."""
    cdef int j, slot, d
    cdef i64 n
    for j in range(s.nout):
        slot = s.outs[j]
        if s.count_of[j] < 0 or slot < 0:
            continue
        n = (<const i64*>outs[s.count_of[j]])[0]
        d = s.count_dim[j]
        if n < 0 or n > v.out_dims[j][d]:
            snprintf(err, ERR_LEN, "a counted output of size %lld, outside its bound %lld", <long long>n,
                     <long long>v.out_dims[j][d])
            return -1
        f.dims[slot * MAX_RANK + d] = n
    return 0


cdef void _clear_variant(Variant* v) noexcept:
    if v.ref != NULL:
        API.release(v.ref)
    free(v.key)
    v.ref = NULL
    v.k = NULL
    v.key = NULL
    v.key_len = 0


cdef int _key_from_kernel(Variant* v, DStep* s, const pyinfer_kernel* k) except -1:
    """v's key: the shapes kernel k was prepared for, per input the step reads; and its
    output specs."""
    cdef int j, rank, dtype, required, pos = 0
    cdef i64 dims[MAX_RANK]
    free(v.key)
    v.key = <i64*>malloc(max((2 * s.nin + s.nval) * (MAX_RANK + 1), 1) * sizeof(i64))
    if v.key == NULL:
        raise MemoryError()
    for j in range(s.nin):
        if s.ins[j] < 0:
            continue
        rank = API.spec(k, 0, j, dims, MAX_RANK, &dtype, &required)
        if rank < 0:
            raise RuntimeError("a kernel input of rank above the largest")
        v.key[pos] = rank
        memcpy(&v.key[pos + 1], dims, rank * sizeof(i64))
        pos += 1 + rank
    v.key_len = pos
    for j in range(s.nout):
        rank = API.spec(k, 1, j, v.out_dims[j], MAX_RANK, &dtype, &v.out_required[j])
        if rank < 0:
            raise RuntimeError("a kernel output of rank above the largest")
        v.out_rank[j], v.out_itemsize[j] = rank, _itemsize(dtype)
    return 0


cdef int _key_from_frame(Variant* v, DStep* s, DynamicFrame f) except -1:
    """v's key: the shapes the step's inputs have now (a variant that runs the op's own code)."""
    cdef int j, slot, pos = 0
    free(v.key)
    v.key = <i64*>malloc(max((2 * s.nin + s.nval) * (MAX_RANK + 1), 1) * sizeof(i64))
    if v.key == NULL:
        raise MemoryError()
    for j in range(s.nin):
        slot = s.ins[j]
        if slot < 0:
            continue
        v.key[pos] = f.ndim[slot]
        memcpy(&v.key[pos + 1], &f.dims[slot * MAX_RANK], f.ndim[slot] * sizeof(i64))
        pos += 1 + f.ndim[slot]
    v.key_len = pos
    return 0


cdef bint _fits(const i64* dims, int rank, i64 itemsize, i64 limit) noexcept nogil:
    """Whether a tensor of these dims takes at most `limit` bytes (no overflow on the way)."""
    cdef i64 n = itemsize
    cdef int d
    for d in range(rank):
        if dims[d] == 0:
            return True
        if n > limit // dims[d]:
            return False
        n *= dims[d]
    return n <= limit


cdef bint _read_control(DynamicFrame f, int slot, i64* out, i64* count) noexcept nogil:
    """A control input's values (int64 or int32) as int64: False when it holds more than
    MAX_RANK values (the op's own code runs then)."""
    cdef i64 n = _prod(&f.dims[slot * MAX_RANK], f.ndim[slot])
    cdef int j
    count[0] = n
    if n > MAX_RANK or (n and f.ptrs[slot] == NULL):
        return False
    if f.prog.itemsize[slot] == 8:  # int64 (float64: its bits)
        memcpy(out, f.ptrs[slot], n * sizeof(i64))
    elif f.prog.itemsize[slot] == 4:  # int32 (float32: its bits)
        for j in range(n):
            out[j] = (<const int*>f.ptrs[slot])[j]
    else:
        return False
    return True


cdef inline int _keyed_slot(DStep* s, int j) noexcept nogil:
    """The j-th slot whose values key a step's kernels: its control inputs, then its value
    inputs; -1 for a kernel input that is neither (or absent)."""
    if j < s.nin:
        return s.ins[j] if s.ins[j] >= 0 and s.controls & (1u << j) else -1
    return s.val_slots[j - s.nin]


cdef bint _same_controls(DynamicFrame f, DStep* s, const i64* key, int n_key) noexcept nogil:
    """Whether the control and value inputs hold the values a key recorded (count, values per
    input)."""
    cdef i64 values[MAX_RANK]
    cdef i64 count
    cdef int j, slot, pos = 0
    for j in range(s.nin + s.nval):
        slot = _keyed_slot(s, j)
        if slot < 0:
            continue
        if pos >= n_key or not _read_control(f, slot, values, &count) or key[pos] != count:
            return False
        if memcmp(&key[pos + 1], values, count * sizeof(i64)) != 0:
            return False
        pos += 1 + <int>count
    return True


cdef int _append_controls(Variant* v, DStep* s, DynamicFrame f) except -1:
    """Add the control and value inputs' current values (count, values each) to v's key."""
    cdef i64 count
    cdef int j, slot, pos = v.key_len
    for j in range(s.nin + s.nval):
        slot = _keyed_slot(s, j)
        if slot < 0:
            continue
        if not _read_control(f, slot, &v.key[pos + 1], &count):
            raise RuntimeError("a control input longer than a key holds")
        v.key[pos] = count
        pos += 1 + <int>count
    v.key_len = pos
    return 0


@cython.final
cdef class DynamicFrame:
    """One call's state for a DynamicProgram: per slot a pointer, dims and storage; the arena
    and its live blocks; per native step the kernels prepared for the shapes seen last."""
    cdef DynamicProgram prog
    cdef void** ptrs
    cdef int* ndim
    cdef i64* dims
    cdef int* state
    cdef i64* offset
    cdef i64* size
    cdef int* base
    cdef list objs
    cdef public object arena
    cdef char* arena_ptr
    cdef i64 capacity
    cdef i64* live_off      # live arena blocks, sorted by offset
    cdef i64* live_size
    cdef int n_live
    cdef i64 live_bytes
    cdef public i64 peak_bytes
    cdef public i64 spill_count  # blocks placed outside the arena (full), over the frame's life
    cdef bint spilled
    cdef Variant* variants
    cdef int* next_variant
    cdef list lowered       # per variant: the PreparedKernel a relower gave (kept alive here)

    def __cinit__(self, DynamicProgram prog):
        cdef int n = prog.n_slots + MAX_OUT, i, n_var = max(prog.n_steps, 1) * (VARIANTS + 1)
        self.prog = prog
        self.ptrs = <void**>calloc(n, sizeof(void*))
        self.ndim = <int*>calloc(n, sizeof(int))
        self.dims = <i64*>calloc(n * MAX_RANK, sizeof(i64))
        self.state = <int*>calloc(n, sizeof(int))
        self.offset = <i64*>calloc(n, sizeof(i64))
        self.size = <i64*>calloc(n, sizeof(i64))
        self.base = <int*>calloc(n, sizeof(int))
        self.live_off = <i64*>calloc(n, sizeof(i64))
        self.live_size = <i64*>calloc(n, sizeof(i64))
        self.variants = <Variant*>calloc(n_var, sizeof(Variant))
        self.next_variant = <int*>calloc(max(prog.n_steps, 1), sizeof(int))
        if (self.ptrs == NULL or self.ndim == NULL or self.dims == NULL or self.state == NULL or self.offset == NULL
                or self.size == NULL or self.base == NULL or self.live_off == NULL or self.live_size == NULL
                or self.variants == NULL or self.next_variant == NULL):
            raise MemoryError()
        self.objs = [None] * n
        self.lowered = [None] * n_var
        self.arena = None
        for i in range(prog.n_steps):
            if prog.steps[i].kind == D_NATIVE and not prog.steps[i].controls and not prog.steps[i].nval:
                # (with control or value inputs: the values it was prepared for are not known
                # here; a first call prepares it)
                self.variants[i * (VARIANTS + 1)].k = prog.steps[i].base
                _key_from_kernel(&self.variants[i * (VARIANTS + 1)], &prog.steps[i], prog.steps[i].base)

    def __dealloc__(self):
        cdef int i
        if self.variants != NULL and self.prog is not None:
            for i in range(max(self.prog.n_steps, 1) * (VARIANTS + 1)):
                _clear_variant(&self.variants[i])
        free(self.variants)
        free(self.next_variant)
        free(self.ptrs)
        free(self.ndim)
        free(self.dims)
        free(self.state)
        free(self.offset)
        free(self.size)
        free(self.base)
        free(self.live_off)
        free(self.live_size)

    def set(self, int slot, object arr):
        """A feed or constant: a C-contiguous array as the slot's value."""
        cdef int d
        if arr.ndim > MAX_RANK:
            raise ValueError(f"rank {arr.ndim} above {MAX_RANK}")
        self.objs[slot] = arr
        self.state[slot] = S_OBJECT
        self.ptrs[slot] = data_pointer(arr) if arr.size else NULL
        self.ndim[slot] = arr.ndim
        for d in range(arr.ndim):
            self.dims[slot * MAX_RANK + d] = arr.shape[d]

    def set_object(self, int slot, object value):
        """A value only Python steps read."""
        self.objs[slot] = value
        self.state[slot] = S_OBJECT
        self.ndim[slot] = 0

    def get(self, int slot):
        return self.prog._view(self, slot)

    def shape(self, int slot):
        """The slot's dims in the last call that wrote it."""
        return tuple([self.dims[slot * MAX_RANK + d] for d in range(self.ndim[slot])])

    def begin(self):
        """Before a call: an arena as large as the largest call so far needed. It grows only
        here, between calls, when the last call spilled blocks of their own."""
        cdef i64 want
        if self.spilled:
            want = (self.peak_bytes + self.peak_bytes // 8 + ALIGN - 1) // ALIGN * ALIGN
            if want > self.capacity:
                self.arena = _aligned_bytes(want)
                self.arena_ptr = <char*>data_pointer(self.arena)
                self.capacity = want
        self.spilled = False
        self.n_live = 0
        self.live_bytes = 0

    def finish(self):
        """After a call: every slot but the constants empty (the caller holds the outputs)."""
        cdef int slot
        for slot in range(self.prog.n_slots + MAX_OUT):
            if slot >= self.prog.n_slots or not self.prog.const_slot[slot]:
                if self.state[slot] != S_EMPTY:
                    self.state[slot] = S_EMPTY
                    self.objs[slot] = None
                    self.ptrs[slot] = NULL

    cdef int alloc_arena(self, int slot, i64 nbytes) noexcept nogil:
        """Best fit among the gaps between live blocks: 0, or 1 when none fits (nothing done)."""
        cdef i64 need = (max(nbytes, 1) + ALIGN - 1) // ALIGN * ALIGN
        cdef i64 prev_end = 0, gap, best_gap = -1, best_off = -1
        cdef int b, best_at = -1
        for b in range(self.n_live + 1):
            gap = (self.live_off[b] if b < self.n_live else self.capacity) - prev_end
            if gap >= need and (best_gap < 0 or gap < best_gap):
                best_gap, best_off, best_at = gap, prev_end, b
            if b < self.n_live:
                prev_end = self.live_off[b] + self.live_size[b]
        if best_off < 0:
            return 1
        self.live_bytes += need
        if self.live_bytes > self.peak_bytes:
            self.peak_bytes = self.live_bytes
        self.size[slot] = need
        memmove(&self.live_off[best_at + 1], &self.live_off[best_at], (self.n_live - best_at) * sizeof(i64))
        memmove(&self.live_size[best_at + 1], &self.live_size[best_at], (self.n_live - best_at) * sizeof(i64))
        self.live_off[best_at], self.live_size[best_at] = best_off, need
        self.n_live += 1
        self.state[slot] = S_ARENA
        self.offset[slot] = best_off
        self.ptrs[slot] = self.arena_ptr + best_off
        return 0

    cdef void free_arena(self, int slot) noexcept nogil:
        """Give an S_ARENA slot's block back."""
        cdef int b
        for b in range(self.n_live):
            if self.live_off[b] == self.offset[slot]:
                memmove(&self.live_off[b], &self.live_off[b + 1], (self.n_live - b - 1) * sizeof(i64))
                memmove(&self.live_size[b], &self.live_size[b + 1], (self.n_live - b - 1) * sizeof(i64))
                self.n_live -= 1
                break
        self.live_bytes -= self.size[slot]
        self.state[slot] = S_EMPTY
        self.ptrs[slot] = NULL

    cdef int alloc(self, int slot, i64 nbytes) except -1:
        """The arena (alloc_arena), or a block of its own when it is full (the arena grows to fit
        before the next call)."""
        if self.alloc_arena(slot, nbytes) == 0:
            return 0
        cdef i64 need = (max(nbytes, 1) + ALIGN - 1) // ALIGN * ALIGN
        self.live_bytes += need
        if self.live_bytes > self.peak_bytes:
            self.peak_bytes = self.live_bytes
        self.size[slot] = need
        self.spilled = True
        self.spill_count += 1
        raw = _aligned_bytes(need)
        self.objs[slot] = raw
        self.state[slot] = S_SPILL
        self.ptrs[slot] = data_pointer(raw)
        return 0

    cdef int free_slot(self, int slot) except -1:
        cdef int st = self.state[slot]
        if st == S_ARENA:
            self.free_arena(slot)
        elif st == S_SPILL:
            self.live_bytes -= self.size[slot]
        self.state[slot] = S_EMPTY
        self.ptrs[slot] = NULL
        self.objs[slot] = None
        return 0

    @property
    def arena_bytes(self):
        return self.capacity


cdef object _aligned_bytes(i64 n):
    """n bytes starting on a cache line."""
    raw = np.empty(n + ALIGN, np.uint8)
    cdef i64 addr = <i64><uintptr_t>data_pointer(raw)
    cdef i64 skip = (ALIGN - addr % ALIGN) % ALIGN  # (C remainders: no negative operands)
    return raw[skip:skip + n]
