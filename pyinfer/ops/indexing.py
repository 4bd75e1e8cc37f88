"""Indexing operators: gather/scatter, slicing, selection, sorting-based and positional ops.

run() is NumPy for every dtype (TopK, GatherND and ScatterElements run their kernels on the dtypes
they take); in compiled plans Gather, GatherElements, GatherND, ScatterND, ScatterElements, Slice,
TopK, ArgMax / ArgMin, CumSum and NonZero lower to C++ kernels
(csrc/indexing/). Index inputs follow one rule: negative indices count from the end,
anything outside [-dim, dim) is a NodeExecutionError naming the node (NumPy would raise a bare
IndexError, or for some ops silently wrap).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..limits import check_allocation
from ..lowering import INDEX_DTYPES, KERNEL_DTYPES, REAL_DTYPES, KeepPython, Native
from ..registry import register
from .base import Op
from .int_inputs import axis_in_range, checked_indices, int_list, int_scalar, unique_axes


def _axis_grid(shape, axis: int, index: np.ndarray) -> tuple:
    """A full fancy index over `shape` whose `axis` component is `index` (same shape)."""
    grid = list(np.ogrid[tuple(slice(0, d) for d in shape)]) if len(shape) else []
    grid[axis] = index
    return tuple(grid)


# --- Gather family ------------------------------------------------------------------------------

@register("Gather", 1, 11, 13)
class Gather(Op):
    empty_tensors_ok = True

    def setup(self):
        self.axis = self.attr("axis", 0)

    def run(self, data, indices):
        axis = axis_in_range(self, self.axis, data.ndim)
        idx = checked_indices(self, indices, data.shape[axis])
        return (np.take(data, idx, axis=axis),)

    def lower(self, node):
        data, idx = node.inputs
        if data.ndim == 0 or data.dtype not in KERNEL_DTYPES or idx.dtype not in INDEX_DTYPES:
            return None
        if not -data.ndim <= self.axis < data.ndim:
            return None  # run() reports it
        return Native(kernels.prepare_gather(node.shape(0), data.dtype.name, node.shape(1), idx.dtype.name, self.axis),
                      [0, 1], reshapable=True)



@register("GatherElements", 11, 13)
class GatherElements(Op):
    def setup(self):
        self.axis = self.attr("axis", 0)

    def run(self, data, indices):
        axis = axis_in_range(self, self.axis, data.ndim)
        if indices.ndim != data.ndim:
            raise self.run_error(f"indices rank {indices.ndim} differs from data rank {data.ndim}")
        for i, (di, ii) in enumerate(zip(data.shape, indices.shape)):
            if i != axis and ii > di:
                raise self.run_error(f"indices shape {list(indices.shape)} exceeds data shape "
                                     f"{list(data.shape)} on axis {i}")
        idx = checked_indices(self, indices, data.shape[axis])
        return (data[_axis_grid(indices.shape, axis, idx)],)

    def lower(self, node):
        data, idx = node.inputs
        if data.dtype not in KERNEL_DTYPES or idx.dtype not in INDEX_DTYPES:
            return KeepPython(f"no kernel for {data.dtype} data")
        return _prepared(kernels.prepare_gather_elements, node.shape(0), data.dtype.name, node.shape(1),
                         idx.dtype.name, self.axis)


def _prepared(prepare, *args, inputs=None, reshapable=True):
    """Native(prepare(*args), inputs or [0, 1, ...]), or None when prepare refuses the shapes (the
    op's run() then reports the problem on the Python path). reshapable: prepare's arguments
    hold for every input shape of these ranks (the kernel remakes itself for others)."""
    try:
        k = prepare(*args)
    except KernelArgumentError:
        return None
    return Native(k, list(range(len(k.inputs))) if inputs is None else inputs, reshapable=reshapable)



@register("GatherND", 11, 12, 13)
class GatherND(Op):
    empty_tensors_ok = True

    def setup(self):
        self.batch_dims = self.attr("batch_dims", 0) if self.version >= 12 else 0

    def run(self, data, indices):
        b = self.batch_dims
        if indices.ndim < 1 or b < 0 or b >= min(data.ndim, indices.ndim):
            raise self.run_error(f"batch_dims={b} is invalid for data rank {data.ndim} and indices rank {indices.ndim}")
        if data.shape[:b] != indices.shape[:b]:
            raise self.run_error(f"batch dimensions differ: data {list(data.shape[:b])}, "
                                 f"indices {list(indices.shape[:b])}")
        k = indices.shape[-1]
        if k > data.ndim - b:
            raise self.run_error(f"indices last dimension {k} exceeds data rank {data.ndim} minus batch_dims {b}")
        if data.size and indices.size and data.dtype in KERNEL_DTYPES and indices.dtype == np.int64:
            prepared = kernels.prepare_gather_nd(data.shape, data.dtype.name, indices.shape, b)
            return (prepared(data, indices, num_threads=self.num_threads),)  # checks the indices itself
        batch = int(np.prod(data.shape[:b], dtype=np.int64))
        flat_data = data.reshape((batch,) + data.shape[b:])
        flat_idx = indices.reshape(batch, -1, k)
        parts = [np.arange(batch)[:, None]]
        for j in range(k):
            parts.append(checked_indices(self, flat_idx[..., j], data.shape[b + j]))
        out = flat_data[tuple(parts)]
        return (out.reshape(indices.shape[:-1] + data.shape[b + k:]),)

    def lower(self, node):
        data, idx = node.inputs
        if data.dtype not in KERNEL_DTYPES or idx.dtype != np.int64:
            return KeepPython(f"no kernel for {data.dtype} data with {idx.dtype} indices")
        return _prepared(kernels.prepare_gather_nd, node.shape(0), data.dtype.name, node.shape(1), self.batch_dims)


# --- Scatter family -----------------------------------------------------------------------------

_REDUCE_UFUNC = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _reduction(op: Op, allowed) -> str:
    r = op.attr("reduction", "none")
    if r not in allowed:
        raise op.model_error(f"reduction {r!r} is not one of {list(allowed)} (opset {op.version})")
    return r


def _scatter_reductions(version: int):
    return ("none", "add", "mul", "max", "min") if version >= 18 else \
        ("none", "add", "mul") if version >= 16 else ("none",)


def _apply_updates(data: np.ndarray, where: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    out = data.copy()
    if reduction == "none":
        # Duplicate indices: the spec leaves the winner undefined; NumPy keeps the last one.
        out[where] = updates
    else:
        _REDUCE_UFUNC[reduction].at(out, where, updates)
    return out


@register("ScatterElements", 11, 13, 16, 18)
class ScatterElements(Op):
    empty_tensors_ok = True

    def setup(self):
        self.axis = self.attr("axis", 0)
        self.reduction = _reduction(self, _scatter_reductions(self.version))

    def run(self, data, indices, updates):
        axis = axis_in_range(self, self.axis, data.ndim)
        if indices.shape != updates.shape or indices.ndim != data.ndim:
            raise self.run_error(f"indices {list(indices.shape)} and updates {list(updates.shape)} must have "
                                 f"the same shape and the rank of data {list(data.shape)}")
        for i, (di, ii) in enumerate(zip(data.shape, indices.shape)):
            if i != axis and ii > di:
                raise self.run_error(f"indices shape {list(indices.shape)} exceeds data shape "
                                     f"{list(data.shape)} on axis {i}")
        if data.size and indices.size and updates.dtype == data.dtype and self._kernel_dtypes(data, indices):
            k = kernels.prepare_scatter_elements(data.shape, data.dtype.name, indices.shape, indices.dtype.name,
                                                 self.axis, self.reduction)
            return (k(data, indices, updates, num_threads=self.num_threads),)  # checks the indices itself
        idx = checked_indices(self, indices, data.shape[axis])
        return (_apply_updates(data, _axis_grid(indices.shape, axis, idx), updates.astype(data.dtype, copy=False),
                               self.reduction),)

    def _kernel_dtypes(self, data, indices) -> bool:
        allowed = KERNEL_DTYPES if self.reduction == "none" else REAL_DTYPES
        return data.dtype in allowed and indices.dtype in INDEX_DTYPES

    def lower(self, node):
        data, idx, upd = node.inputs
        if not self._kernel_dtypes(data, idx) or upd.dtype != data.dtype:
            return KeepPython(f"no kernel for {data.dtype} data with reduction {self.reduction!r}")
        return _prepared(kernels.prepare_scatter_elements, node.shape(0), data.dtype.name, node.shape(1),
                         idx.dtype.name, self.axis, self.reduction)


@register("Scatter", 9, 11)
class Scatter(ScatterElements):
    """The deprecated name of ScatterElements (no reduction)."""


@register("ScatterND", 11, 13, 16, 18)
class ScatterND(Op):
    def setup(self):
        self.reduction = _reduction(self, _scatter_reductions(self.version))

    def run(self, data, indices, updates):
        if indices.ndim < 1:
            raise self.run_error("indices must have rank >= 1")
        k = indices.shape[-1]
        if k > data.ndim:
            raise self.run_error(f"indices last dimension {k} exceeds data rank {data.ndim}")
        want = indices.shape[:-1] + data.shape[k:]
        if updates.shape != want:
            raise self.run_error(f"updates shape {list(updates.shape)} must be {list(want)}")
        where = tuple(checked_indices(self, indices[..., j], data.shape[j]) for j in range(k))
        return (_apply_updates(data, where, updates.astype(data.dtype, copy=False), self.reduction),)

    def lower(self, node):
        data, idx, upd = node.inputs
        allowed = KERNEL_DTYPES if self.reduction == "none" else REAL_DTYPES
        if data.dtype not in allowed or upd.dtype != data.dtype or idx.dtype != np.int64:
            return KeepPython(f"no kernel for {data.dtype} data with reduction {self.reduction!r}")
        return _prepared(kernels.prepare_scatter_nd, node.shape(0), data.dtype.name, node.shape(1), node.shape(2),
                         self.reduction)


# --- Slice --------------------------------------------------------------------------------------

def slice_bounds(start: int, end: int, step: int, dim: int) -> slice:
    """The Python slice for ONNX Slice's clamping rules on one axis."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start = min(max(start, 0), dim)
        end = min(max(end, 0), dim)
        return slice(start, end, step)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    # end == -1 means "through index 0", which a Python slice spells as None.
    return slice(start, None if end < 0 else end, step)


@register("Slice", 1, 10, 11, 13)
class Slice(Op):
    empty_tensors_ok = True

    def setup(self):
        if self.version < 10:
            self.starts_attr = self.attr("starts")
            self.ends_attr = self.attr("ends")
            self.axes_attr = self.attr("axes", None)

    def run(self, data, starts=None, ends=None, axes=None, steps=None):
        if self.version < 10:
            starts, ends, axes, steps = self.starts_attr, self.ends_attr, self.axes_attr, None
        else:
            if starts is None or ends is None:
                raise self.run_error("the starts and ends inputs are required")
            starts, ends = int_list(self, starts, "starts"), int_list(self, ends, "ends")
            axes, steps = int_list(self, axes, "axes"), int_list(self, steps, "steps")
        if axes is None:
            axes = list(range(len(starts)))
        if steps is None:
            steps = [1] * len(starts)
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise self.run_error(f"starts {starts}, ends {ends}, axes {axes} and steps {steps} differ in length")
        axes = unique_axes(self, axes, data.ndim)
        index = [slice(None)] * data.ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            if st == 0:
                raise self.run_error(f"step 0 on axis {a} is invalid")
            index[a] = slice_bounds(s, e, st, data.shape[a])
        return (data[tuple(index)],)

    def lower(self, node):
        """Fixed bounds (attributes or constant inputs): one strided copy. Bounds computed in the
        plan (from shapes): read on every run and checked to give the plan's shape."""
        data = node.inputs[0]
        if data.dtype not in KERNEL_DTYPES:
            return KeepPython(f"no kernel for {data.dtype}")
        if self.version < 10:
            starts, ends = list(self.starts_attr), list(self.ends_attr)
            axes = list(range(len(starts))) if self.axes_attr is None else list(self.axes_attr)
            return _prepared(kernels.prepare_slice, node.shape(0), data.dtype.name, starts, ends, axes,
                             [1] * len(starts), inputs=[0, None, None])
        n = node.inputs[1].size
        axes = node.const_ints(3) if node.present(3) else list(range(n))
        steps = node.const_ints(4) if node.present(4) else [1] * n
        if axes is None or steps is None:
            return KeepPython("axes or steps computed at run time")
        starts, ends = node.const_ints(1), node.const_ints(2)
        if starts is not None and ends is not None:
            return _prepared(kernels.prepare_slice, node.shape(0), data.dtype.name, starts, ends, axes, steps,
                             inputs=[0, None, None])
        st, en = node.inputs[1], node.inputs[2]
        if st.dtype != en.dtype or st.dtype not in INDEX_DTYPES or st.shape != (n,) or en.shape != (n,):
            return None
        return _prepared(kernels.prepare_slice_dynamic, node.shape(0), data.dtype.name, axes, steps,
                         list(node.outputs[0].shape), st.dtype.name, inputs=[0, 1, 2], reshapable=True)


# --- OneHot / NonZero / Compress ----------------------------------------------------------------

@register("OneHot", 9, 11, 28)
class OneHot(Op):
    def setup(self):
        self.axis = self.attr("axis", -1)

    def run(self, indices, depth, values):
        depth = np.asarray(depth)
        if depth.size != 1:
            raise self.run_error(f"depth must hold one value, got shape {list(depth.shape)}")
        d = int(depth.reshape(-1)[0])
        if d < 1:
            raise self.run_error(f"depth must be positive, got {d}")
        values = np.asarray(values).reshape(-1)
        if values.size != 2:
            raise self.run_error(f"values must hold [off_value, on_value], got {values.size} values")
        axis = axis_in_range(self, self.axis, indices.ndim + 1)
        check_allocation(self, [d, *np.shape(indices)], values.dtype)
        idx = np.asarray(indices)
        idx = (np.trunc(idx) if idx.dtype.kind == "f" else idx).astype(np.int64)
        if self.version >= 11:  # negative indices count from the end; opset 9 leaves them all "off"
            idx = np.where(idx < 0, idx + d, idx)
        hot = np.arange(d).reshape((d,) + (1,) * idx.ndim) == idx[None]  # out-of-range: all off
        out = np.where(hot, values[1], values[0]).astype(values.dtype, copy=False)
        return (np.ascontiguousarray(np.moveaxis(out, 0, axis)),)


@register("NonZero", 9, 13)
class NonZero(Op):
    empty_tensors_ok = True

    def run(self, x):
        nz = np.nonzero(x.reshape(1) if x.ndim == 0 else x)
        return (np.array(nz, dtype=np.int64).reshape(max(x.ndim, 1), -1),)

    def lower(self, node):
        """A static plan's step for the count it saw (another count: the call takes the dynamic
        plan); a dynamic plan's for any count (a counted output)."""
        x = node.inputs[0]
        if x.dtype not in REAL_DTYPES and x.dtype != np.bool_:
            return KeepPython(f"no kernel for {x.dtype}")
        if node.dynamic:
            how = _prepared(kernels.prepare_nonzero_counted, node.shape(0), x.dtype.name)
            return how and Native(how.kernel, [0], outputs=[0, None], reshapable=True)
        return _prepared(kernels.prepare_nonzero, node.shape(0), x.dtype.name, node.outputs[0].shape[1],
                         reshapable=False)


@register("Compress", 9, 11, 28)
class Compress(Op):
    def setup(self):
        self.axis = self.attr("axis", None)

    def run(self, x, condition):
        cond = np.asarray(condition)
        if cond.ndim != 1:
            raise self.run_error(f"condition must be 1-D, got shape {list(cond.shape)}")
        picked = np.nonzero(cond)[0]
        if self.axis is None:
            flat = x.reshape(-1)
            if picked.size and picked[-1] >= flat.size:
                raise self.run_error(f"condition selects index {picked[-1]} of a flattened input of {flat.size}")
            return (flat[picked],)
        axis = axis_in_range(self, self.axis, x.ndim)
        if picked.size and picked[-1] >= x.shape[axis]:
            raise self.run_error(f"condition selects index {picked[-1]} on axis {axis} of size {x.shape[axis]}")
        return (np.take(x, picked, axis=axis),)


# --- TopK / ArgMax / ArgMin ---------------------------------------------------------------------

def stable_order(x: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    """Sort order along axis; equal values keep their lower index first in both directions."""
    if not descending:
        return np.argsort(x, axis=axis, kind="stable")
    # Stable ascending on the reversed axis, reversed back: descending, ties by lower index.
    n = x.shape[axis]
    order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - order, axis)


@register("TopK", 1, 10, 11, 24)
class TopK(Op):
    empty_tensors_ok = True

    def setup(self):
        self.axis = self.attr("axis", -1)
        self.k_attr = self.attr("k") if self.version < 10 else None
        self.largest = bool(self.attr("largest", 1)) if self.version >= 11 else True

    def run(self, x, k=None):
        axis = axis_in_range(self, self.axis, x.ndim)
        k = self.k_attr if self.version < 10 else int_scalar(self, k, "K")
        if not 0 <= k <= x.shape[axis]:
            raise self.run_error(f"K={k} is out of range for axis {axis} of size {x.shape[axis]}")
        if x.dtype in REAL_DTYPES:
            return kernels.topk(x, k, axis, self.largest, num_threads=self.num_threads)
        order = np.take(stable_order(x, axis, self.largest), np.arange(k), axis=axis)
        # sorted=0 leaves the order unspecified; returning it sorted is allowed.
        return (np.take_along_axis(x, order, axis=axis), order.astype(np.int64))

    def lower(self, node):
        """K from the plan's output shape; a K input that is not a constant is the kernel's control
        input: read and checked on every run ('shape changed' when it differs in a static plan;
        in a dynamic plan another K gets the kernel prepared for it)."""
        x = node.inputs[0]
        if x.dtype not in REAL_DTYPES:
            return KeepPython(f"TopK kernel has no {x.dtype}")
        if not -x.ndim <= self.axis < x.ndim:
            return None  # run() reports it
        from_input = self.version >= 10 and not node.is_const(1)
        k = node.outputs[0].shape[self.axis] if from_input or not node.dynamic else \
            (self.k_attr if self.version < 10 else int(np.asarray(node.const(1)).reshape(-1)[0]))
        if from_input and (node.inputs[1].dtype != np.int64 or node.inputs[1].size != 1):
            return None
        k_shape = node.shape(1) if self.version >= 10 else [1]
        try:
            kernel = kernels.prepare_topk(node.shape(0), x.dtype.name, self.axis, k, self.largest, k_shape, from_input)
        except KernelArgumentError:
            return None  # K out of range: run() reports it
        return Native(kernel, [0, 1 if from_input else None], reshapable=True)



class _ArgReduce(Op):
    pick = None  # np.argmax / np.argmin

    def setup(self):
        self.axis = self.attr("axis", 0)
        self.keepdims = bool(self.attr("keepdims", 1))
        self.last = bool(self.attr("select_last_index", 0)) if self.version >= 12 else False

    def run(self, x):
        axis = axis_in_range(self, self.axis, x.ndim)
        if x.shape[axis] == 0:
            raise self.run_error(f"cannot take {self.op_type} over axis {axis} of size 0")
        if self.last:
            idx = x.shape[axis] - 1 - type(self).pick(np.flip(x, axis), axis=axis)
        else:
            idx = type(self).pick(x, axis=axis)
        idx = np.asarray(idx, dtype=np.int64)
        return (np.expand_dims(idx, axis) if self.keepdims else idx,)

    def lower(self, node):
        x = node.inputs[0]
        if x.dtype not in REAL_DTYPES:
            return KeepPython(f"no kernel for {x.dtype}")
        return _prepared(kernels.prepare_arg_reduce, node.shape(0), x.dtype.name, self.axis,
                         type(self).pick is np.argmax, self.keepdims, self.last)


@register("ArgMax", 1, 11, 12, 13)
class ArgMax(_ArgReduce):
    pick = np.argmax


@register("ArgMin", 1, 11, 12, 13)
class ArgMin(_ArgReduce):
    pick = np.argmin


# --- Trilu / CumSum / ReverseSequence / Unique --------------------------------------------------

@register("Trilu", 14)
class Trilu(Op):
    def setup(self):
        self.upper = bool(self.attr("upper", 1))

    def run(self, x, k=None):
        if x.ndim < 2:
            raise self.run_error(f"input must have rank >= 2, got shape {list(x.shape)}")
        k = 0 if k is None else int_scalar(self, k, "k")
        rows = np.arange(x.shape[-2])[:, None]
        cols = np.arange(x.shape[-1])[None, :]
        keep = (cols - rows >= k) if self.upper else (cols - rows <= k)
        out = x.copy()
        out[..., ~keep] = np.zeros((), dtype=x.dtype) if x.dtype.kind not in "OUS" else ""
        return (out,)


@register("CumSum", 11, 14)
class CumSum(Op):
    def setup(self):
        self.exclusive = bool(self.attr("exclusive", 0))
        self.reverse = bool(self.attr("reverse", 0))

    def run(self, x, axis):
        a = axis_in_range(self, int_scalar(self, axis, "axis"), x.ndim)
        y = np.flip(x, a) if self.reverse else x
        out = np.cumsum(y, axis=a, dtype=x.dtype)
        if self.exclusive:
            # Shift by one along the axis: the first element becomes 0.
            out = np.concatenate([np.zeros_like(np.take(out, [0], axis=a)),
                                  np.take(out, np.arange(out.shape[a] - 1), axis=a)], axis=a)
        if self.reverse:
            out = np.flip(out, a)
        return (np.ascontiguousarray(out),)

    def lower(self, node):
        x, axis = node.inputs
        if x.dtype not in REAL_DTYPES or axis.dtype not in INDEX_DTYPES:
            return KeepPython(f"no kernel for {x.dtype}")
        return _prepared(kernels.prepare_cumsum, node.shape(0), x.dtype.name, node.shape(1), axis.dtype.name,
                         self.exclusive, self.reverse)


@register("ReverseSequence", 10, 28)
class ReverseSequence(Op):
    def setup(self):
        self.batch_axis = self.attr("batch_axis", 1)
        self.time_axis = self.attr("time_axis", 0)
        if sorted((self.batch_axis, self.time_axis)) != [0, 1]:
            raise self.model_error(f"batch_axis and time_axis must be 0 and 1 in some order, "
                                   f"got {self.batch_axis} and {self.time_axis}")

    def run(self, x, sequence_lens):
        if x.ndim < 2:
            raise self.run_error(f"input must have rank >= 2, got shape {list(x.shape)}")
        lens = np.asarray(sequence_lens).astype(np.int64).reshape(-1)
        n_batch, n_time = x.shape[self.batch_axis], x.shape[self.time_axis]
        if lens.size != n_batch:
            raise self.run_error(f"sequence_lens has {lens.size} values for a batch of {n_batch}")
        if lens.size and (lens.min() < 0 or lens.max() > n_time):
            raise self.run_error(f"sequence_lens {lens.tolist()} must lie in [0, {n_time}]")
        t = np.arange(n_time)[None, :]  # (batch, time) source index
        src = np.where(t < lens[:, None], lens[:, None] - 1 - t, t)
        xt = np.moveaxis(x, (self.batch_axis, self.time_axis), (0, 1))
        out = xt[np.arange(n_batch)[:, None], src]
        return (np.ascontiguousarray(np.moveaxis(out, (0, 1), (self.batch_axis, self.time_axis))),)


@register("Unique", 11, 28)
class Unique(Op):
    def setup(self):
        self.axis = self.attr("axis", None)
        self.sorted = bool(self.attr("sorted", 1))

    def run(self, x):
        axis = None if self.axis is None else axis_in_range(self, self.axis, x.ndim)
        data = x.reshape(-1) if axis is None else x
        y, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                              return_counts=True, axis=axis)
        inverse = inverse.reshape(-1)
        if not self.sorted:  # order of first occurrence
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            y = np.take(y, order, axis=0 if axis is None else axis)
            first, counts, inverse = first[order], counts[order], rank[inverse]
        i64 = np.int64
        return (y, first.astype(i64), inverse.astype(i64), counts.astype(i64))
