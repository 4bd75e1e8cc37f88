"""Shape operators: ops that move, copy or re-view elements without computing on them.

run() is NumPy for every dtype (bool, strings, float16, bfloat16...), keeping it. In compiled plans
(one input-shape signature) Reshape & co. become aliases, Concat byte copies, and Shape / Size,
Split, Expand, Tile and Reshapes to computed shapes C++ kernels (csrc/indexing/, csrc/shape/).
Attribute forms of older opsets (Reshape-1, Squeeze-1/11, Split-2/11, Pad-2...) and input
forms of newer ones share one implementation; setup() records where each argument comes from.
"""
from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..errors import Error, KernelArgumentError
from ..limits import check_allocation
from ..lowering import (KERNEL_DTYPES, MAX_STEP_INPUTS, MAX_STEP_OUTPUTS, Alias, Concat as ConcatCopies, KeepPython,
                        Native, Permute, ViewRule)
from ..registry import register
from .base import Op
from .int_inputs import axis_in_range, int_list, int_scalar, unique_axes


class _View(Op):
    """Reshape, Flatten, Squeeze, Unsqueeze: a new shape for the same bytes. In a static plan
    (shapes fixed per signature) that is metadata only, as long as the shape inputs are
    constants (a computed shape could change with the data). A dynamic plan gets the rule that
    gives the output shape from the input's (view_rule), computed as each call runs."""
    empty_tensors_ok = True

    def lower(self, node):
        if node.outputs[0].size != node.inputs[0].size:
            return None
        if node.dynamic:
            rule = self.view_rule(node)
            return Alias(0, rule) if rule is not None else None
        if not all(node.is_const(i) for i in range(1, len(node.names)) if node.names[i]):
            return KeepPython("shape or axes computed at run time")
        x = node.inputs[0]
        if node.is_const(0) and x.dtype in KERNEL_DTYPES:  # constants live outside the arena: a copy
            return Native(kernels.prepare_copy(node.shape(0), x.dtype.name, list(node.outputs[0].shape)), [0])
        return Alias(0)

    def view_rule(self, node):
        """The lowering.ViewRule of this view, or None (arguments the plan cannot know)."""
        return None

    def _const_axes(self, node, attr, rank):
        """Axes from the attribute (older opsets) or a constant input 1, normalized for `rank`;
        None when they are computed, invalid or repeated (the op's own code reports those)."""
        axes = attr if self.version < 13 else (node.const(1) if node.present(1) else ())
        if axes is None:
            return None
        axes = [int(a) for a in np.asarray(axes).reshape(-1)]
        if any(not -rank <= a < rank for a in axes):
            return None
        axes = [a + rank if a < 0 else a for a in axes]
        return tuple(axes) if len(set(axes)) == len(axes) else None


def _zero_of(dtype: np.dtype):
    """The 'empty' fill value ONNX uses for a dtype: 0, False or the empty string."""
    if dtype.kind in "OUS":
        return ""
    return np.zeros((), dtype=dtype)


def _filled(shape, value, dtype) -> np.ndarray:
    out = np.empty(shape, dtype=dtype)
    out[...] = value
    return out


# --- Reshape / Flatten / Transpose / Squeeze / Unsqueeze --------------------------------------

def reshape_target(op: Op, in_shape, shape: list[int], allowzero: bool) -> tuple[int, ...]:
    """The output shape of Reshape: 0 copies the input dim (unless allowzero), one -1 is inferred."""
    out = []
    infer_at = None
    for i, d in enumerate(shape):
        if d == -1:
            if infer_at is not None:
                raise op.run_error(f"shape {shape} has more than one -1")
            infer_at = i
            out.append(1)
        elif d == 0 and not allowzero:
            if i >= len(in_shape):
                raise op.run_error(f"shape {shape}: 0 at position {i} copies an input dimension, "
                                   f"but the input has rank {len(in_shape)}")
            out.append(in_shape[i])
        elif d < 0:
            raise op.run_error(f"shape {shape} has an invalid dimension {d}")
        else:
            out.append(d)
    total = math.prod(in_shape)
    if infer_at is not None:
        if allowzero and 0 in shape:
            raise op.run_error(f"shape {shape}: -1 together with 0 is invalid when allowzero=1")
        known = math.prod(out)
        if known == 0 or total % known:
            raise op.run_error(f"cannot reshape input of shape {list(in_shape)} to {shape}: "
                               f"the -1 dimension cannot be inferred")
        out[infer_at] = total // known
    if math.prod(out) != total:
        raise op.run_error(f"cannot reshape input of shape {list(in_shape)} ({total} elements) to {out}")
    return tuple(out)


@register("Reshape", 1, 5, 13, 14, 19, 21, 23, 24, 25)
class Reshape(_View):
    def setup(self):
        self.shape_attr = self.attr("shape") if self.version < 5 else None
        self.allowzero = bool(self.attr("allowzero", 0)) if self.version >= 14 else False

    def run(self, data, shape=None):
        if self.version < 5:
            target = list(self.shape_attr)
        else:
            if shape is None:
                raise self.run_error("the shape input is required")
            target = int_list(self, shape, "shape")
        return (data.reshape(reshape_target(self, data.shape, target, self.allowzero)),)

    def lower(self, node):
        """A constant shape: an alias. A shape the plan computes (from Shape & co.): a copy that
        checks on every run that the shape still gives the plan's output shape (a dynamic plan:
        the view rule)."""
        how = super().lower(node)
        if not isinstance(how, KeepPython) or self.version < 5:
            return how
        x, shape = node.inputs
        if x.dtype not in KERNEL_DTYPES or shape.dtype != np.int64 or shape.ndim != 1:
            return how
        return Native(kernels.prepare_reshape(node.shape(0), x.dtype.name, list(node.outputs[0].shape),
                                              self.allowzero), [0, 1])

    def view_rule(self, node):
        if self.version < 5:
            dims = tuple(int(d) for d in self.shape_attr)
        elif node.is_const(1):
            dims = tuple(int(d) for d in np.asarray(node.const(1)).reshape(-1))
        elif node.present(1) and node.inputs[1].dtype == np.int64 and node.inputs[1].ndim == 1:
            dims = None  # computed: read when the step runs
        else:
            return None
        return ViewRule("reshape", dims, self.allowzero)


@register("Flatten", 1, 9, 11, 13, 21, 23, 24, 25)
class Flatten(_View):
    def setup(self):
        self.axis = self.attr("axis", 1)

    def run(self, x):
        rank = x.ndim
        axis = self.axis
        lo = -rank if self.version >= 11 else 0
        if not lo <= axis <= rank:
            raise self.run_error(f"axis {axis} is out of range for rank {rank} (valid: [{lo}, {rank}])")
        if axis < 0:
            axis += rank
        return (x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:])),)

    def view_rule(self, node):
        rank = node.inputs[0].ndim
        lo = -rank if self.version >= 11 else 0
        if not lo <= self.axis <= rank:
            return None
        return ViewRule("flatten", (self.axis + rank if self.axis < 0 else self.axis,))


@register("Transpose", 1, 13, 21, 23, 24, 25)
class Transpose(Op):
    empty_tensors_ok = True

    def setup(self):
        self.perm = self.attr("perm", None)

    def run(self, x):
        perm = list(range(x.ndim))[::-1] if self.perm is None else list(self.perm)
        if sorted(perm) != list(range(x.ndim)):
            raise self.run_error(f"perm {perm} is not a permutation of the {x.ndim} axes of the input")
        # Materialize once: later kernels want contiguous data anyway.
        return (np.ascontiguousarray(np.transpose(x, perm)),)

    def lower(self, node):
        x = node.inputs[0]
        perm = list(range(x.ndim))[::-1] if self.perm is None else [int(i) for i in self.perm]
        if sorted(perm) != list(range(x.ndim)):
            return None  # run() reports it
        # byte moves for any shape (plans' permute steps, up to rank 16)
        return Permute(perm) if x.ndim <= 16 else None


@register("Squeeze", 1, 11, 13, 21, 23, 24, 25)
class Squeeze(_View):
    def setup(self):
        self.axes_attr = self.attr("axes", None) if self.version < 13 else None

    def run(self, x, axes=None):
        axes = self.axes_attr if self.version < 13 else int_list(self, axes, "axes")
        if axes is None:
            return (x.reshape([d for d in x.shape if d != 1]),)
        axes = unique_axes(self, axes, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise self.run_error(f"cannot squeeze axis {a} of size {x.shape[a]} (shape {list(x.shape)})")
        return (x.reshape([d for i, d in enumerate(x.shape) if i not in axes]),)

    def view_rule(self, node):
        if self.version >= 13 and node.present(1) and not node.is_const(1):
            return None
        if (self.axes_attr if self.version < 13 else node.const(1)) is None:
            return ViewRule("squeeze", ())  # every size-1 axis
        axes = self._const_axes(node, self.axes_attr, node.inputs[0].ndim)
        return ViewRule("squeeze", axes) if axes else None


@register("Unsqueeze", 1, 11, 13, 21, 23, 24, 25)
class Unsqueeze(_View):
    def setup(self):
        self.axes_attr = self.attr("axes") if self.version < 13 else None

    def run(self, x, axes=None):
        if self.version < 13:
            axes = self.axes_attr
        elif axes is None:
            raise self.run_error("the axes input is required")
        else:
            axes = int_list(self, axes, "axes")
        out_rank = x.ndim + len(axes)
        axes = set(unique_axes(self, axes, out_rank))
        dims = iter(x.shape)
        return (x.reshape([1 if i in axes else next(dims) for i in range(out_rank)]),)

    def view_rule(self, node):
        if self.version >= 13 and not node.is_const(1):
            return None
        axes = self._const_axes(node, self.axes_attr, node.outputs[0].ndim)
        return ViewRule("unsqueeze", axes) if axes else None


# --- Concat / Split -----------------------------------------------------------------------------

@register("Concat", 1, 4, 11, 13)
class Concat(Op):
    empty_tensors_ok = True

    def setup(self):
        self.axis = self.attr("axis", 1) if self.version < 4 else self.attr("axis")

    def run(self, *xs):
        xs = [x for x in xs if x is not None]
        if not xs:
            raise self.run_error("needs at least one input")
        rank = xs[0].ndim
        if rank == 0:
            raise self.run_error("cannot concatenate scalars (rank 0)")
        axis = axis_in_range(self, self.axis, rank)
        for x in xs[1:]:
            if x.ndim != rank or any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != axis):
                raise self.run_error(f"inputs of shapes {[list(x.shape) for x in xs]} cannot be "
                                     f"concatenated along axis {axis}")
        dtypes = {x.dtype for x in xs}
        if len(dtypes) != 1:
            raise self.run_error(f"inputs have different dtypes {sorted(map(str, dtypes))}")
        return (np.concatenate(xs, axis=axis),)

    def lower(self, node):
        if not 1 <= len(node.inputs) <= MAX_STEP_INPUTS or any(m is None for m in node.inputs):
            return KeepPython(f"more than {MAX_STEP_INPUTS} inputs") if node.inputs else None
        dtypes = {m.dtype for m in node.inputs}
        if len(dtypes) != 1 or not dtypes <= KERNEL_DTYPES:
            return None
        rank = node.outputs[0].ndim
        axis = int(self.axis)
        if not -rank <= axis < rank:
            return None
        return ConcatCopies(axis + rank if axis < 0 else axis)


@register("Split", 1, 2, 11, 13, 18)
class Split(Op):
    empty_tensors_ok = True

    def setup(self):
        self.axis = self.attr("axis", 0)
        self.split_attr = self.attr("split", None) if self.version < 13 else None
        self.num_outputs = self.attr("num_outputs", None) if self.version >= 18 else None
        self.n_out = len(self.node.output)
        if self.num_outputs is not None and self.num_outputs != self.n_out:
            raise self.model_error(f"num_outputs={self.num_outputs} but the node has {self.n_out} outputs")

    def run(self, x, split=None):
        axis = axis_in_range(self, self.axis, x.ndim)
        bounds = np.cumsum([0] + self._sizes(x.shape[axis], axis, split))
        index = [slice(None)] * x.ndim
        outs = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            index[axis] = slice(int(lo), int(hi))
            outs.append(x[tuple(index)])
        return tuple(outs)

    def lower(self, node):
        """One kernel writing every output, for split sizes known when the plan is built (the
        attribute, a constant input, or equal parts)."""
        x = node.inputs[0]
        if x.dtype not in KERNEL_DTYPES:
            return KeepPython(f"no kernel for {x.dtype}")
        if len(node.names) > 1 and node.names[1] and not node.is_const(1):
            return KeepPython("split sizes computed at run time")
        if len(node.outputs) > MAX_STEP_OUTPUTS:
            return KeepPython(f"more than {MAX_STEP_OUTPUTS} outputs")
        if not -x.ndim <= self.axis < x.ndim:
            return None
        axis = self.axis % x.ndim
        try:
            sizes = self._sizes(x.shape[axis], axis, node.const(1) if len(node.names) > 1 else None)
            return Native(kernels.prepare_split(node.shape(0), x.dtype.name, axis, sizes), [0])
        except (Error, KernelArgumentError):
            return None  # run() reports it

    def _sizes(self, dim: int, axis: int, split) -> list:
        if self.version >= 13 or (self.version == 1 and split is not None):
            sizes = int_list(self, split, "split")
        else:
            sizes = None if self.split_attr is None else list(self.split_attr)
        if sizes is not None:
            if self.num_outputs is not None:
                raise self.run_error("give either the split input or the num_outputs attribute, not both")
            if len(sizes) != self.n_out or any(s < 0 for s in sizes) or sum(sizes) != dim:
                raise self.run_error(f"split {sizes} does not divide axis {axis} of size {dim} "
                                     f"into {self.n_out} outputs")
        elif self.num_outputs is not None:
            # Opset 18: ceil-sized chunks, the last one smaller.
            chunk = -(-dim // self.n_out)
            sizes = [chunk] * (self.n_out - 1) + [dim - chunk * (self.n_out - 1)]
            if sizes[-1] < 0:
                raise self.run_error(f"axis {axis} of size {dim} cannot be split into {self.n_out} outputs")
        else:
            if dim % self.n_out:
                raise self.run_error(f"axis {axis} of size {dim} cannot be split into {self.n_out} equal parts")
            sizes = [dim // self.n_out] * self.n_out
        return sizes


# --- Expand / Tile ------------------------------------------------------------------------------

@register("Expand", 8, 13)
class Expand(Op):
    empty_tensors_ok = True

    def run(self, x, shape):
        target = int_list(self, shape, "shape")
        try:
            out_shape = np.broadcast_shapes(x.shape, tuple(target))
        except ValueError:
            raise self.run_error(f"input of shape {list(x.shape)} cannot be expanded to {target}") from None
        check_allocation(self, out_shape, x.dtype)
        return (np.array(np.broadcast_to(x, out_shape)),)

    def lower(self, node):
        x, shape = node.inputs
        if x.dtype not in KERNEL_DTYPES or shape.dtype != np.int64 or shape.ndim != 1:
            return KeepPython(f"no kernel for {x.dtype}")
        try:
            out = np.broadcast_shapes(x.shape, tuple(node.const_ints(1))) if node.is_const(1) else node.outputs[0].shape
            k = kernels.prepare_expand(node.shape(0), x.dtype.name, list(out), node.shape(1), not node.is_const(1))
        except (KernelArgumentError, ValueError):
            return None
        # A computed shape is the kernel's control input: reshaped for other values in dynamic plans.
        return Native(k, [0, None if node.is_const(1) else 1], reshapable=not node.is_const(1))


@register("Tile", 1, 6, 13)
class Tile(Op):
    def run(self, x, repeats, axis=None):
        if self.version == 1:
            # Tile-1: repeat the whole tensor `tiles` times along `axis`.
            reps = [1] * x.ndim
            reps[axis_in_range(self, int_scalar(self, axis, "axis"), x.ndim)] = int_scalar(self, repeats, "tiles")
        else:
            reps = int_list(self, repeats, "repeats")
        if len(reps) != x.ndim or any(r < 0 for r in reps):
            raise self.run_error(f"repeats {reps} must be {x.ndim} non-negative values, one per input axis")
        check_allocation(self, [d * r for d, r in zip(x.shape, reps)], x.dtype)
        return (np.tile(x, reps),)

    def lower(self, node):
        x, reps = node.inputs[0], node.inputs[1]
        if self.version == 1 or x.dtype not in KERNEL_DTYPES or reps.dtype != np.int64:
            return KeepPython(f"no kernel for {x.dtype} (opset {self.version})")
        dynamic = not node.is_const(1)
        counts = [o // d for o, d in zip(node.outputs[0].shape, x.shape)] if dynamic else node.const_ints(1)
        try:
            return Native(kernels.prepare_tile(node.shape(0), x.dtype.name, counts, dynamic), [0, 1 if dynamic else None],
                          reshapable=True)
        except KernelArgumentError:
            return None


# --- Shape / Size / Identity / Dropout ----------------------------------------------------------

@register("Shape", 1, 13, 15, 19, 21, 23, 24, 25)
class Shape(Op):
    empty_tensors_ok = True

    def setup(self):
        self.start = self.attr("start", 0) if self.version >= 15 else 0
        self.end = self.attr("end", None) if self.version >= 15 else None

    def run(self, x):
        rank = x.ndim
        start, end = self.start, rank if self.end is None else self.end
        # Out-of-range start/end are clamped, as the spec says.
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = min(max(end + rank if end < 0 else end, 0), rank)
        return (np.array(x.shape[start:end], dtype=np.int64),)

    def lower(self, node):
        """The dims are the plan's: a kernel that writes them (x is its input so that a Python
        step producing x with another shape sends the call to the Python path)."""
        return _shape_of(node, self.start, self.end)


@register("Size", 1, 13, 19, 21, 23, 24, 25)
class Size(Op):
    def run(self, x):
        return (np.array(x.size, dtype=np.int64),)

    def lower(self, node):
        return _shape_of(node, size=True)


def _shape_of(node, start=0, end=None, size=False):
    """The shape_of kernel: x's dims (or their product), for this x and, reshaped, any other."""
    x = node.inputs[0]
    if x.dtype not in KERNEL_DTYPES:
        return KeepPython(f"no kernel reads {x.dtype}")
    return Native(kernels.prepare_shape_of(node.shape(0), x.dtype.name, start, end, size=size), [0], reshapable=True)


@register("Identity", 1, 13, 14, 16, 19, 21, 23, 24, 25)
class Identity(Op):
    # Tensors, sequences (lists) and optionals pass through unchanged.
    def run(self, x):
        return (x,)

    def lower(self, node):
        """A view of a tensor (subgraph bodies keep their Identity nodes: the optimizer removes
        the main graph's); a graph output gets a copy."""
        return Alias(0, ViewRule("reshape", (0,) * node.inputs[0].ndim))


@register("Dropout", 1, 6, 7, 10, 12, 13, 22)
class Dropout(Op):
    """Inference-only Dropout: the output is the input and the mask is all True.

    Opsets < 12 have no training switch that an inference runtime honours (is_test of
    Dropout-1/6 is ignored, as in onnxruntime). From opset 12, training_mode=True with a
    non-zero ratio asks for random output, which pyinfer does not produce.
    """

    def setup(self):
        self.ratio_attr = self.attr("ratio", 0.5)

    def run(self, x, ratio=None, training_mode=None):
        if training_mode is not None and bool(np.asarray(training_mode).reshape(-1)[0]):
            r = self.ratio_attr if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
            if r != 0.0:
                raise self.run_error(f"training_mode=True with ratio={r} drops values at random; "
                                     f"pyinfer runs inference only (use training_mode=False or ratio=0)")
        # The mask is bool from opset 10 on; Dropout-7 typed it like the input.
        mask_dtype = x.dtype if 7 <= self.version < 10 else np.bool_
        return (x, np.ones(x.shape, dtype=mask_dtype))

    def lower(self, node):
        """A view of x, as Identity, when the mask is not asked for and training_mode is absent or a
        constant False (a run-time switch could ask for random output: run() refuses that)."""
        if len(node.outputs) != 1:
            return KeepPython("the mask output is used")
        if node.present(2) and not (node.is_const(2) and not bool(np.asarray(node.const(2)).reshape(-1)[0])):
            return KeepPython("training_mode is not a constant False")
        return Alias(0, ViewRule("reshape", (0,) * node.inputs[0].ndim))


# --- Pad / CenterCropPad ------------------------------------------------------------------------

_PAD_MODES = ("constant", "reflect", "edge", "wrap")


@register("Pad", 1, 2, 11, 13, 18, 19, 21, 23, 24, 25)
class Pad(Op):
    def setup(self):
        self.mode = self.attr("mode", "constant")
        allowed = _PAD_MODES if self.version >= 19 else _PAD_MODES[:3]
        if self.mode not in allowed:
            raise self.model_error(f"mode {self.mode!r} is not one of {list(allowed)} (opset {self.version})")
        if self.version < 11:
            self.pads_attr = self.attr("paddings" if self.version == 1 else "pads")
            self.value_attr = self.attr("value", 0.0)

    def run(self, data, pads=None, constant_value=None, axes=None):
        rank = data.ndim
        if self.version < 11:
            pads, value = list(self.pads_attr), self.value_attr
        else:
            pads = int_list(self, pads, "pads")
            value = _zero_of(data.dtype) if constant_value is None else np.asarray(constant_value).reshape(-1)
            if constant_value is not None:
                if value.size != 1:
                    raise self.run_error(f"constant_value must be a scalar, got shape {list(np.shape(constant_value))}")
                value = value[0]
        if axes is not None and self.version >= 18:
            axes = unique_axes(self, int_list(self, axes, "axes"), rank)
        else:
            axes = list(range(rank))
        if len(pads) != 2 * len(axes):
            raise self.run_error(f"pads {pads} must hold 2 values per padded axis ({2 * len(axes)} values)")
        begin, end = [0] * rank, [0] * rank
        for i, a in enumerate(axes):
            begin[a], end[a] = pads[i], pads[i + len(axes)]
        # Negative pads crop first (as onnxruntime does), then the positive ones pad.
        crop = tuple(slice(max(-b, 0), data.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begin, end)))
        for i, (b, e) in enumerate(zip(begin, end)):
            if max(-b, 0) + max(-e, 0) > data.shape[i]:
                raise self.run_error(f"pads {pads} crop more than the {data.shape[i]} elements of axis {i}")
        data = data[crop]
        width = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
        check_allocation(self, [d + b + e for d, (b, e) in zip(data.shape, width)], data.dtype)
        if self.mode == "constant":
            out = _filled([d + b + e for d, (b, e) in zip(data.shape, width)], value, data.dtype)
            out[tuple(slice(b, b + d) for d, (b, _) in zip(data.shape, width))] = data
            return (out,)
        for i, (b, e) in enumerate(width):
            if (b or e) and data.shape[i] == 0:
                raise self.run_error(f"mode {self.mode!r} cannot pad axis {i}, which is empty")
        return (np.pad(data, width, mode=self.mode),)

    def lower(self, node):
        """Pads known when the plan is built: one gather along the padded axes (every mode) whose
        picks come from padding the index vector the same way (constant: flagged positions that
        take the value)."""
        x = node.inputs[0]
        if x.dtype not in KERNEL_DTYPES:
            return KeepPython(f"no kernel for {x.dtype}")
        if self.version < 11:
            pads, value, axes = list(self.pads_attr), self.value_attr, None
        else:
            if any(node.present(i) and not node.is_const(i) for i in (1, 2, 3)):
                return KeepPython("pads, value or axes computed at run time")
            pads = node.const_ints(1)
            value = node.const(2) if node.present(2) else 0
            axes = node.const_ints(3) if node.present(3) and self.version >= 18 else None
        rank = x.ndim
        axes = list(range(rank)) if axes is None else [a % rank for a in axes]
        if pads is None or len(pads) != 2 * len(axes) or np.size(value) != 1:
            return None  # run() reports it
        picks = []
        for i, a in enumerate(axes):
            b, e, d = pads[i], pads[i + len(axes)], x.shape[a]
            if b == e == 0:
                continue
            kept = np.arange(max(-b, 0), d - max(-e, 0))
            if kept.size == 0 and self.mode != "constant":
                return None  # run() reports it
            width = (max(b, 0), max(e, 0))
            picked = np.pad(kept, width, constant_values=-1) if self.mode == "constant" else \
                np.pad(kept, width, mode=self.mode)
            picks.append((a, np.maximum(picked, 0).tolist(), (picked < 0).tolist()))
        fill = np.asarray(value).reshape(()).astype(x.dtype).tobytes()
        try:
            k = kernels.prepare_axis_gather(node.shape(0), x.dtype.name, [p[0] for p in picks], [p[1] for p in picks],
                                            [p[2] for p in picks], fill)
        except KernelArgumentError:
            return None
        return Native(k, [0])


@register("CenterCropPad", 18)
class CenterCropPad(Op):
    def setup(self):
        self.axes = self.attr("axes", None)

    def run(self, x, shape):
        target = int_list(self, shape, "shape")
        axes = unique_axes(self, self.axes if self.axes is not None else range(x.ndim), x.ndim)
        if len(target) != len(axes) or any(t < 0 for t in target):
            raise self.run_error(f"shape {target} must hold one non-negative size per axis {axes}")
        out_shape = list(x.shape)
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        for a, t in zip(axes, target):
            d = x.shape[a]
            out_shape[a] = t
            if t < d:  # crop: the extra element (odd difference) comes off the end
                off = (d - t) // 2
                src[a] = slice(off, off + t)
            elif t > d:
                off = (t - d) // 2
                dst[a] = slice(off, off + d)
        check_allocation(self, out_shape, x.dtype)
        out = _filled(out_shape, _zero_of(x.dtype), x.dtype)
        out[tuple(dst)] = x[tuple(src)]
        return (out,)


# --- DepthToSpace / SpaceToDepth ----------------------------------------------------------------

def _blocksize(op: Op) -> int:
    b = op.attr("blocksize")
    if b <= 0:
        raise op.model_error(f"blocksize must be positive, got {b}")
    return b


def _mode(op: Op, has_mode: bool) -> str:
    mode = op.attr("mode", "DCR") if has_mode else "DCR"
    if mode not in ("DCR", "CRD"):
        raise op.model_error(f"mode must be 'DCR' or 'CRD', got {mode!r}")
    return mode


@register("DepthToSpace", 1, 11, 13, 28)
class DepthToSpace(Op):
    def setup(self):
        self.b = _blocksize(self)
        self.mode = _mode(self, self.version >= 11)

    def run(self, x):
        if x.ndim != 4:
            raise self.run_error(f"input must be 4-D (N, C, H, W), got shape {list(x.shape)}")
        n, c, h, w = x.shape
        b = self.b
        if c % (b * b):
            raise self.run_error(f"channels {c} are not divisible by blocksize^2 = {b * b}")
        if self.mode == "DCR":
            t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
        else:
            t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
        return (t.reshape(n, c // (b * b), h * b, w * b),)


@register("SpaceToDepth", 1, 13, 28)
class SpaceToDepth(Op):
    def setup(self):
        self.b = _blocksize(self)
        self.mode = _mode(self, self.version >= 28)

    def run(self, x):
        if x.ndim != 4:
            raise self.run_error(f"input must be 4-D (N, C, H, W), got shape {list(x.shape)}")
        n, c, h, w = x.shape
        b = self.b
        if h % b or w % b:
            raise self.run_error(f"spatial size {h}x{w} is not divisible by blocksize {b}")
        t = x.reshape(n, c, h // b, b, w // b, b)
        t = t.transpose(0, 3, 5, 1, 2, 4) if self.mode == "DCR" else t.transpose(0, 1, 3, 5, 2, 4)
        return (t.reshape(n, c * b * b, h // b, w // b),)


# --- Col2Im -------------------------------------------------------------------------------------

@register("Col2Im", 18)
class Col2Im(Op):
    """Sum column blocks back into an image (the inverse layout of im2col; overlaps add up)."""

    def setup(self):
        self.dilations = self.attr("dilations", None)
        self.pads = self.attr("pads", None)
        self.strides = self.attr("strides", None)

    def run(self, x, image_shape, block_shape):
        image = int_list(self, image_shape, "image_shape")
        block = int_list(self, block_shape, "block_shape")
        nd = len(image)
        dil = list(self.dilations) if self.dilations is not None else [1] * nd
        strides = list(self.strides) if self.strides is not None else [1] * nd
        pads = list(self.pads) if self.pads is not None else [0] * (2 * nd)
        if len(block) != nd or len(dil) != nd or len(strides) != nd or len(pads) != 2 * nd:
            raise self.run_error(f"image_shape {image}, block_shape {block}, dilations {dil}, strides {strides} "
                                 f"and pads {pads} disagree on the number of spatial axes")
        if min(image + block + dil + strides, default=1) <= 0 or min(pads, default=0) < 0:
            raise self.run_error("image_shape, block_shape, dilations and strides must be positive, pads >= 0")
        if x.ndim != 3:
            raise self.run_error(f"input must be 3-D (N, C*prod(block_shape), L), got shape {list(x.shape)}")
        kprod = math.prod(block)
        n, ck, length = x.shape
        if ck % kprod:
            raise self.run_error(f"input dimension 1 ({ck}) is not divisible by prod(block_shape) = {kprod}")
        c = ck // kprod
        counts = [(image[i] + pads[i] + pads[i + nd] - dil[i] * (block[i] - 1) - 1) // strides[i] + 1
                  for i in range(nd)]
        if min(counts) <= 0 or math.prod(counts) != length:
            raise self.run_error(f"input dimension 2 ({length}) does not match the {counts} sliding blocks "
                                 f"that image_shape {image} and block_shape {block} give")
        cols = x.reshape(n, c, *block, *counts)
        padded_shape = (n, c, *[image[i] + pads[i] + pads[i + nd] for i in range(nd)])
        check_allocation(self, padded_shape, x.dtype)
        padded = np.zeros(padded_shape, dtype=x.dtype)
        for kpos in np.ndindex(*block):
            target = tuple(slice(k * d, k * d + s * (cnt - 1) + 1, s)
                           for k, d, s, cnt in zip(kpos, dil, strides, counts))
            padded[(slice(None), slice(None)) + target] += cols[(slice(None), slice(None)) + kpos]
        inner = tuple(slice(pads[i], pads[i] + image[i]) for i in range(nd))
        return (np.ascontiguousarray(padded[(slice(None), slice(None)) + inner]),)
