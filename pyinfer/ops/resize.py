"""Resize and Upsample as separable per-axis interpolation.

Every ONNX interpolation mode is separable: the N-D result is a 1-D resize along each resized
axis in turn. For one axis we compute, once per output position, the source coordinate
(coordinate_transformation_mode), then a small set of source taps and their weights (nearest:
one tap; linear: 2; cubic: 4; antialiased: a scale-stretched kernel). Applying an axis is then a
few vectorized np.take + multiply-adds over the whole tensor.

The C++ kernel (csrc/image/resize.cpp) applies the same tables: nearest on any kernel dtype,
linear / cubic on float32 (kernel_for); the NumPy code below stays for the other dtypes and for
antialiased downscaling with more taps than input pixels (a dense matrix product).

Semantics follow the ONNX spec text; where it is silent, ONNX's reference implementation
(onnx.reference, which the backend tests encode): e.g. align_corners / tf_crop_and_resize use the
fractional output length in_len * scale when scales are given, and output sizes from scales are
floor(in_len * scale).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..limits import check_allocation
from ..lowering import KERNEL_DTYPES, KeepPython, Native
from ..registry import register
from ..errors import Error
from .base import Op
from .int_inputs import int_list, unique_axes

_COORD_MODES = {
    10: ("asymmetric",),
    11: ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn",
         "tf_crop_and_resize"),
    13: ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize"),
    18: ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize"),
    19: ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
         "tf_crop_and_resize"),
}
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@dataclass
class AxisPlan:
    """How one axis is resized: output length, the scale, and the roi (tf_crop_and_resize only)."""

    in_len: int
    out_len: int
    scale: float
    roi: tuple[float, float] = (0.0, 1.0)


@dataclass
class ResizeParams:
    mode: str = "nearest"  # nearest | linear | cubic
    coord_mode: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"  # or "simple" (Upsample / Resize-10)
    cubic_a: float = -0.75
    exclude_outside: bool = False
    extrapolation_value: float = 0.0
    antialias: bool = False


# --- per-axis coordinates, taps and weights -----------------------------------------------------

def source_coords(p: ResizeParams, a: AxisPlan) -> np.ndarray:
    """x_original for every output index of the axis (float64)."""
    y = np.arange(a.out_len, dtype=np.float64)
    s = a.scale
    # The "resized length" the formulas use is in_len * scale, which is fractional when the
    # output size came from scales (ONNX reference semantics; equals out_len for sizes).
    out_w = a.in_len * s
    m = p.coord_mode
    if m == "half_pixel":
        return (y + 0.5) / s - 0.5
    if m == "half_pixel_symmetric":
        offset = (a.in_len / 2.0) * (1.0 - a.out_len / out_w)
        return offset + (y + 0.5) / s - 0.5
    if m == "pytorch_half_pixel":
        return (y + 0.5) / s - 0.5 if out_w > 1 else np.zeros_like(y)
    if m == "align_corners":
        return y * (a.in_len - 1) / (out_w - 1) if out_w != 1 else np.zeros_like(y)
    if m == "asymmetric":
        return y / s
    if m == "tf_half_pixel_for_nn":
        return (y + 0.5) / s
    if m == "tf_crop_and_resize":
        start, end = a.roi
        if out_w != 1:
            x = y * (end - start) * (a.in_len - 1) / (out_w - 1)
        else:
            x = np.full_like(y, (end - start) * (a.in_len - 1) / 2.0)
        return x + start * (a.in_len - 1)
    raise ValueError(m)


def nearest_taps(p: ResizeParams, a: AxisPlan, x: np.ndarray) -> np.ndarray:
    """The source index for each output index under nearest_mode, clamped into the input."""
    fl = np.floor(x)
    frac = x - fl
    m = p.nearest_mode
    if m == "round_prefer_floor":
        idx = np.where(frac <= 0.5, fl, fl + 1)
    elif m == "round_prefer_ceil":
        idx = np.where(frac < 0.5, fl, fl + 1)
    elif m == "floor":
        idx = fl
    elif m == "ceil":
        idx = np.ceil(x)
    else:  # "simple" (Upsample, Resize-10): ceil when downsampling, truncate otherwise
        idx = np.ceil(x) if a.scale < 1 else np.trunc(x)
    return np.clip(idx, 0, a.in_len - 1).astype(np.intp)


def _cubic_kernel(d: np.ndarray, A: float) -> np.ndarray:
    d = np.abs(d)
    d2, d3 = d * d, d * d * d
    near = (A + 2) * d3 - (A + 3) * d2 + 1
    far = A * d3 - 5 * A * d2 + 8 * A * d - 4 * A
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def interp_taps(p: ResizeParams, a: AxisPlan, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights), both (out_len, n_taps): taps clamped to the edge, weights summing to 1."""
    # Base tap i0 and ratio in (0, 1]: an exact integer x counts as ratio 1 from the left pixel
    # (the convention that decides which taps a cubic/antialias kernel covers).
    i0 = np.floor(x)
    on_grid = x == i0
    i0 = np.where(on_grid, i0 - 1, i0)
    ratio = x - i0
    support = 1.0 if p.mode == "linear" else 2.0
    if p.antialias and a.scale < 1:
        stretch = a.scale  # the kernel widens by 1/scale when downsampling
        first = int(math.floor(-support / stretch) + 1)
    else:
        stretch = 1.0
        first = 1 - int(support)
    offsets = np.arange(first, 1 - first + 1, dtype=np.float64)  # 2 - 2*first taps
    dist = (offsets[None, :] - ratio[:, None]) * stretch
    if p.mode == "linear":
        w = np.clip(1.0 - np.abs(dist), 0.0, 1.0)
    else:
        w = _cubic_kernel(dist, p.cubic_a)
    idx = i0[:, None].astype(np.int64) + offsets[None, :].astype(np.int64)
    if p.exclude_outside:
        w = np.where((idx < 0) | (idx >= a.in_len), 0.0, w)
    total = w.sum(axis=1, keepdims=True)
    w = w / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, a.in_len - 1).astype(np.intp), w


def resize_axis(data: np.ndarray, axis: int, p: ResizeParams, a: AxisPlan, work_dtype) -> np.ndarray:
    x = source_coords(p, a)
    if p.mode == "nearest":
        out = np.take(data, nearest_taps(p, a, x), axis=axis)
    else:
        idx, w = interp_taps(p, a, x)
        if idx.shape[1] > a.in_len + 4:
            # Strong antialiased downscaling: more taps than input pixels. Sum the weights per
            # source pixel into an (out_len, in_len) matrix instead of looping over every tap.
            dense = np.zeros((a.out_len, a.in_len))
            np.add.at(dense, (np.arange(a.out_len)[:, None], idx), w)
            moved = np.moveaxis(data, axis, -1) @ dense.T.astype(work_dtype)
            out = np.moveaxis(moved, -1, axis)
            return _extrapolate(out, x, axis, p, a)
        bshape = [1] * data.ndim
        bshape[axis] = a.out_len
        out = None
        for j in range(idx.shape[1]):
            term = np.take(data, idx[:, j], axis=axis) * w[:, j].astype(work_dtype).reshape(bshape)
            out = term if out is None else out + term
    return _extrapolate(out, x, axis, p, a)


def _extrapolate(out: np.ndarray, x: np.ndarray, axis: int, p: ResizeParams, a: AxisPlan) -> np.ndarray:
    """tf_crop_and_resize: output positions whose source lies outside the input get extrapolation_value."""
    if p.coord_mode == "tf_crop_and_resize":
        outside = (x < 0) | (x > a.in_len - 1)
        if outside.any():
            shape = [1] * out.ndim
            shape[axis] = a.out_len
            out = np.where(outside.reshape(shape), np.asarray(p.extrapolation_value, dtype=out.dtype), out)
    return out


def kernel_for(shape, dtype, plans: dict[int, AxisPlan], p: ResizeParams, expected_sizes=()):
    """kernels.prepare_resize with the tap tables of `plans`, or the reason it cannot take them.
    expected_sizes: the values a sizes input must hold on every run (a plan's), or ()."""
    if not plans:
        return "no axis is resized"
    nearest = p.mode == "nearest"
    if not (nearest and dtype in KERNEL_DTYPES or dtype == np.float32):
        return f"{p.mode} resize of {dtype} has no kernel"
    if nearest and p.coord_mode == "tf_crop_and_resize" and dtype != np.float32:
        return "tf_crop_and_resize extrapolation on non-float32"
    axes, taps, indices, weights, outside = [], [], [], [], []
    for axis in sorted(plans):
        a = plans[axis]
        if a.in_len == 0:
            return "an empty axis"
        x = source_coords(p, a)
        if nearest:
            idx, w = nearest_taps(p, a, x)[:, None], np.zeros((a.out_len, 0))
        else:
            idx, w = interp_taps(p, a, x)
            if idx.shape[1] > a.in_len + 4:
                return "antialiased downscaling with more taps than input pixels (dense path)"
        axes.append(axis)
        taps.append(idx.shape[1])
        indices.append(idx.reshape(-1).tolist())
        weights.append(w.astype(np.float32).reshape(-1).tolist())
        out = (x < 0) | (x > a.in_len - 1) if p.coord_mode == "tf_crop_and_resize" else np.zeros(0, bool)
        outside.append(out.tolist())
    return kernels.prepare_resize(list(shape), np.dtype(dtype).name, axes, taps, indices, weights, outside,
                                  p.extrapolation_value, nearest, list(expected_sizes))


def resize(x: np.ndarray, plans: dict[int, AxisPlan], p: ResizeParams, op: Op) -> np.ndarray:
    """Apply the per-axis plans (axis -> AxisPlan) to x, keeping x's dtype."""
    shape = list(x.shape)
    for axis, a in plans.items():  # every intermediate (one axis resized at a time) must fit
        shape[axis] = a.out_len
        check_allocation(op, shape, x.dtype if p.mode == "nearest" or x.dtype.itemsize > 4 else np.float32)
        # the per-axis taps and weights (out_len x taps, float64)
        taps = 1 if p.mode == "nearest" else 2 * (1 if p.mode == "linear" else 2) * max(1.0, 1.0 / a.scale)
        check_allocation(op, [a.out_len, int(taps) + 2], np.float64)
    if x.size and all(a.in_len for a in plans.values()):
        k = kernel_for(x.shape, x.dtype, plans, p)
        if not isinstance(k, str):
            return k(x, None, num_threads=op.num_threads)
    if p.mode == "nearest":
        out = x
        for axis, a in plans.items():
            if a.in_len == 0 and a.out_len:
                raise op.run_error(f"cannot resize axis {axis} of size 0 to {a.out_len}")
            out = resize_axis(out, axis, p, a, None)
        return np.ascontiguousarray(out)
    kind = x.dtype.kind
    if kind not in "fiu":
        raise op.run_error(f"mode {p.mode!r} cannot interpolate a tensor of dtype {x.dtype}")
    work = np.float32 if x.dtype in (np.float32, np.float16) or str(x.dtype) == "bfloat16" else np.float64
    out = x.astype(work, copy=False)
    for axis, a in plans.items():
        if a.in_len == 0 and a.out_len:
            raise op.run_error(f"cannot resize axis {axis} of size 0 to {a.out_len}")
        out = resize_axis(out, axis, p, a, work)
    if kind in "iu":  # saturate: round, then clip into the integer range
        info = np.iinfo(x.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return np.ascontiguousarray(out.astype(x.dtype))


def _lower_identity(x):
    """A resize that changes no axis: a copy (its output is a new value)."""
    if x.dtype not in KERNEL_DTYPES:
        return KeepPython(f"no kernel for {x.dtype}")
    return Native(kernels.prepare_copy(list(x.shape), x.dtype.name, list(x.shape)), [0])


# --- Resize -------------------------------------------------------------------------------------

@register("Resize", 10, 11, 13, 18, 19)
class Resize(Op):
    empty_inputs_ok = True  # roi / scales given as empty tensors: lower() reads what it needs
    def setup(self):
        v = self.version
        self.params = ResizeParams()
        p = self.params
        p.mode = self.attr("mode", "nearest")
        modes = ("nearest", "linear") if v == 10 else ("nearest", "linear", "cubic")
        if p.mode not in modes:
            raise self.model_error(f"mode {p.mode!r} is not one of {list(modes)}")
        if v == 10:
            p.coord_mode, p.nearest_mode = "asymmetric", "simple"
        else:
            p.coord_mode = self.attr("coordinate_transformation_mode", "half_pixel")
            if p.coord_mode not in _COORD_MODES[v]:
                raise self.model_error(f"coordinate_transformation_mode {p.coord_mode!r} is not one of "
                                       f"{list(_COORD_MODES[v])} (opset {v})")
            p.nearest_mode = self.attr("nearest_mode", "round_prefer_floor")
            if p.nearest_mode not in _NEAREST_MODES:
                raise self.model_error(f"nearest_mode {p.nearest_mode!r} is not one of {list(_NEAREST_MODES)}")
            p.cubic_a = float(self.attr("cubic_coeff_a", -0.75))
            p.exclude_outside = bool(self.attr("exclude_outside", 0))
            p.extrapolation_value = float(self.attr("extrapolation_value", 0.0))
        self.axes = None
        self.policy = "stretch"
        if v >= 18:
            p.antialias = bool(self.attr("antialias", 0))
            self.axes = self.attr("axes", None)
            self.policy = self.attr("keep_aspect_ratio_policy", "stretch")
            if self.policy not in ("stretch", "not_larger", "not_smaller"):
                raise self.model_error(f"keep_aspect_ratio_policy {self.policy!r} is not one of "
                                       f"['stretch', 'not_larger', 'not_smaller']")

    def _split_inputs(self, args):
        """(roi, scales, sizes) from the inputs after X (Resize-10: scales only)."""
        if self.version == 10:
            return None, args[0] if args else None, None
        return tuple((list(args) + [None] * 3)[:3])

    def run(self, x, *args):
        roi, scales, sizes = self._split_inputs(args)
        return (resize(x, self._axis_plans(x.shape, roi, scales, sizes), self.params, self),)

    def lower(self, node):
        """The tap tables for constant scales / sizes (and roi). In a static plan, a sizes input
        the plan computes gives the plan's output shape, read and checked on every run; in a
        dynamic plan, computed sizes, scales and roi are value inputs (Native.value_inputs): the
        tables for the values the plan read (the example's output shape, without them)."""
        n_args = len(node.names) - 1
        given = [node.present(i) for i in range(1, n_args + 1)]
        values = [node.value(i) if present else None for i, present in zip(range(1, n_args + 1), given)]
        i_roi, i_scales, i_sizes = (None, 1, None) if self.version == 10 else (1, 2, 3)
        if node.dynamic:
            return self._lower_for_values(node, given, values, i_roi)
        roi, scales, sizes = self._split_inputs(values)
        dynamic_sizes = False
        for i, present, value in zip(range(1, n_args + 1), given, values):
            if not present or value is not None or node.inputs[i].size == 0:
                continue
            if i == i_sizes and self.policy == "stretch" and node.inputs[i].dtype == np.int64:
                axes = self.axes if self.axes is not None else range(node.inputs[0].ndim)
                sizes = np.array([node.outputs[0].shape[a] for a in axes], np.int64)
                dynamic_sizes = True
            elif i == i_roi and self.params.coord_mode != "tf_crop_and_resize":
                continue  # roi is read only by tf_crop_and_resize
            else:
                return KeepPython("scales or roi computed at run time")
        x = node.inputs[0]
        try:
            plans = self._axis_plans(x.shape, roi, scales, sizes)
        except Error:
            return None  # run() reports it
        if not plans:
            if not dynamic_sizes:
                return _lower_identity(x)
            if len(sizes) == x.ndim and x.dtype in KERNEL_DTYPES:
                # sizes computed at run time that resize nothing (Faster R-CNN's transform resizing a
                # 320 x 320 image to 320 x 320): a copy that checks on every run that sizes still
                # equal the shape (reshape's checked copy; allowzero: a size of 0 means 0)
                return Native(kernels.prepare_reshape(list(x.shape), x.dtype.name, list(x.shape), True),
                              [0, i_sizes])
        k = kernel_for(x.shape, x.dtype, plans, self.params, [int(v) for v in sizes] if dynamic_sizes else ())
        if isinstance(k, str):
            return KeepPython(k)
        return Native(k, [0, i_sizes if dynamic_sizes else None])

    def _lower_for_values(self, node, given, values, i_roi):
        """A dynamic plan's lowering: computed roi / scales / sizes are value inputs, their run-time
        values in `values` when the plan asks again with them; the first time (no values), a
        kernel of the same form for the example's output shape (the plan keys its kernels by the
        values, so this one is never run)."""
        x = node.inputs[0]
        computed = tuple(i for i, present in zip(range(1, len(given) + 1), given)
                         if present and not node.is_const(i) and node.inputs[i].size
                         and (i != i_roi or self.params.coord_mode == "tf_crop_and_resize"))
        if any(node.inputs[i].size > 16 or node.inputs[i].dtype.itemsize not in (4, 8) for i in computed):
            return KeepPython("roi, scales or sizes the plan cannot read as values")
        roi, scales, sizes = self._split_inputs(values)
        policy = self.policy
        if any(values[i - 1] is None for i in computed):  # no values yet: the example's output shape
            axes = self.axes if self.axes is not None else range(x.ndim)
            roi, scales, policy = None, None, "stretch"
            sizes = np.array([node.outputs[0].shape[a] for a in axes], np.int64)
        try:
            plans = self._axis_plans(x.shape, roi, scales, sizes, policy)
        except Error:
            return None  # run() reports it
        if not plans:
            if not computed:
                return _lower_identity(x)
            if x.dtype not in KERNEL_DTYPES or x.size == 0:
                return KeepPython(f"a copy of {x.dtype} (sizes that resize nothing)")
            # values that resize nothing (Faster R-CNN's transform on an image of the target size):
            # a copy of the same form (a nearest gather, index i for output i, along axis 0)
            return Native(kernels.prepare_resize(list(x.shape), x.dtype.name, [0], [1], [list(range(x.shape[0]))],
                                                 [[]], [[]], 0.0, True, []), [0, None], value_inputs=computed)
        k = kernel_for(x.shape, x.dtype, plans, self.params)
        if isinstance(k, str):
            return KeepPython(k)
        return Native(k, [0, None], value_inputs=computed)

    def _axis_plans(self, shape, roi, scales, sizes, policy=None) -> dict:
        x = np.broadcast_to(np.empty((), np.bool_), shape)  # the shape is all the rules read
        axes = unique_axes(self, self.axes, x.ndim) if self.axes is not None else list(range(x.ndim))
        roi = None if roi is None or np.size(roi) == 0 else np.asarray(roi, dtype=np.float64).reshape(-1)
        scales = None if scales is None or np.size(scales) == 0 else np.asarray(scales).reshape(-1)
        sizes = None if sizes is None or np.size(sizes) == 0 else int_list(self, sizes, "sizes")
        if (scales is None) == (sizes is None):
            raise self.run_error("exactly one of the scales and sizes inputs must be given (non-empty)")
        if self.params.coord_mode == "tf_crop_and_resize":
            if roi is None or roi.size != 2 * len(axes):
                raise self.run_error(f"tf_crop_and_resize needs roi with {2 * len(axes)} values "
                                     f"(start and end per resized axis)")
        plans = {}
        n = len(axes)
        if scales is not None:
            if scales.dtype.kind != "f":
                raise self.run_error(f"scales must be a float tensor, got dtype {scales.dtype}")
            if scales.size != n or not np.all(scales > 0) or not np.all(np.isfinite(scales)):
                raise self.run_error(f"scales {scales.tolist()} must hold {n} positive values")
            scale_of = {d: float(scales[i]) for i, d in enumerate(axes)}
            # floor(in * scale), in float64 of the float32 scale (as the reference does)
            size_of = {d: int(math.floor(x.shape[d] * scale_of[d])) for d in axes}
        else:
            if len(sizes) != n or min(sizes, default=1) < 0:
                raise self.run_error(f"sizes {sizes} must hold {n} non-negative values")
            for i, d in enumerate(axes):
                if x.shape[d] == 0 and sizes[i] != 0:
                    raise self.run_error(f"cannot resize axis {d} of size 0 to {sizes[i]}")
            ratio = {d: sizes[i] / x.shape[d] if x.shape[d] else 1.0 for i, d in enumerate(axes)}
            policy = policy or self.policy
            if policy == "stretch":
                scale_of, size_of = ratio, {d: sizes[i] for i, d in enumerate(axes)}
            else:
                pick = min if policy == "not_larger" else max
                s = pick(ratio.values())
                scale_of = {d: s for d in axes}
                size_of = {d: int(math.floor(s * x.shape[d] + 0.5)) for d in axes}
        for i, d in enumerate(axes):
            r = (float(roi[i]), float(roi[i + n])) if roi is not None else (0.0, 1.0)
            if self.params.coord_mode != "tf_crop_and_resize" and size_of[d] == x.shape[d] \
                    and scale_of[d] == 1.0:
                continue  # identity on this axis
            if scale_of[d] == 0:
                raise self.run_error(f"axis {d}: a zero scale is invalid")
            plans[d] = AxisPlan(x.shape[d], size_of[d], scale_of[d], r)
        return plans


# --- Upsample (deprecated) ----------------------------------------------------------------------

@register("Upsample", 1, 7, 9, 10)
class Upsample(Op):
    """Upsample-1/7 (scales as attributes), -9/10 (scales input): asymmetric nearest or linear."""

    def setup(self):
        mode = self.attr("mode", "nearest")
        if mode == "bilinear" and self.version == 1:
            mode = "linear"
        if mode not in ("nearest", "linear"):
            raise self.model_error(f"mode {mode!r} is not 'nearest' or 'linear'")
        self.params = ResizeParams(mode=mode, coord_mode="asymmetric", nearest_mode="simple")
        if self.version == 1:
            self.scales_attr = [1.0, 1.0, float(self.attr("height_scale")), float(self.attr("width_scale"))]
        elif self.version == 7:
            self.scales_attr = [float(s) for s in self.attr("scales")]

    def run(self, x, scales=None):
        return (resize(x, self._axis_plans(x.shape, scales), self.params, self),)

    def lower(self, node):
        if self.version >= 9 and not node.is_const(1):
            return KeepPython("scales computed at run time")
        x = node.inputs[0]
        try:
            plans = self._axis_plans(x.shape, node.const(1) if self.version >= 9 else None)
        except Error:
            return None  # run() reports it
        if not plans:
            return _lower_identity(x)
        k = kernel_for(x.shape, x.dtype, plans, self.params)
        return KeepPython(k) if isinstance(k, str) else Native(k, [0, None])

    def _axis_plans(self, shape, scales) -> dict:
        if self.version < 9:
            s = self.scales_attr
        else:
            if scales is None:
                raise self.run_error("the scales input is required")
            s = [float(v) for v in np.asarray(scales).reshape(-1)]
        if len(s) != len(shape) or any(not v >= 1 or not math.isfinite(v) for v in s):
            raise self.run_error(f"scales {s} must hold {len(shape)} values >= 1, one per input axis")
        return {d: AxisPlan(shape[d], int(math.floor(shape[d] * s[d])), s[d]) for d in range(len(shape)) if s[d] != 1.0}
