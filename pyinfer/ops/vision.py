"""Vision operators: GridSample, AffineGrid, RoiAlign, NonMaxSuppression, DeformConv,
Shrink and Det (NumPy; float16 / bfloat16 compute in float32 and round once at the end).
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..lowering import KeepPython, Native
from ..registry import register
from ._nnmath import compute_dtype, is_float_dtype, matmul, to_compute
from .base import Op

_CUBIC_A = -0.75  # Keys' cubic convolution coefficient (as PyTorch and onnxruntime use)


def _require_float(op: Op, **named):
    for name, a in named.items():
        if a is not None and not is_float_dtype(a.dtype):
            raise op.run_error(f"{name} must be a floating-point tensor, got {a.dtype}")


def _ints(op: Op, name: str, n: int, default: int) -> list[int]:
    v = op.attr(name, None)
    if v is None:
        return [default] * n
    v = [int(i) for i in v]
    if len(v) != n:
        raise op.run_error(f"{name} must have {n} values, got {v}")
    return v


# --- GridSample ---------------------------------------------------------------------------

def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold x into [lo, hi] by repeated reflection at the borders."""
    span = hi - lo
    if span <= 0:
        return np.full_like(x, lo)
    below, above = x < lo, x > hi
    dx = np.where(below, lo - x, x - hi)
    flips = np.floor(dx / span)
    rest = dx - flips * span
    even = np.mod(flips, 2) == 0
    from_below = np.where(even, lo + rest, hi - rest)
    from_above = np.where(even, hi - rest, lo + rest)
    return np.where(below, from_below, np.where(above, from_above, x))


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Weights of the taps at floor-1 .. floor+2 for fractional offset t in [0, 1)."""
    a = _CUBIC_A

    def near(d):  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


@register("GridSample", 16, 20, 22)
class GridSample(Op):
    """Sampling follows onnxruntime / the ONNX reference: an out-of-range location is first
    clamped (border) or reflected (reflection), then every interpolation tap that still falls
    outside the image is padded by the same rule (zeros: 0, border: clamp, reflection: fold)."""

    def setup(self):
        if self.version < 20:
            names = {"bilinear": "linear", "nearest": "nearest", "bicubic": "cubic"}
            mode = self.attr("mode", "bilinear")
        else:
            names = {"linear": "linear", "nearest": "nearest", "cubic": "cubic"}
            mode = self.attr("mode", "linear")
        if mode not in names:
            raise self.model_error(f"mode must be one of {sorted(names)}, got {mode!r}")
        self.mode = names[mode]
        self.padding = self.attr("padding_mode", "zeros")
        if self.padding not in ("zeros", "border", "reflection"):
            raise self.model_error(f"padding_mode must be zeros, border or reflection, got {self.padding!r}")
        self.align = bool(self.attr("align_corners", 0))

    def _check(self, x, grid):
        _require_float(self, grid=grid)
        r = x.ndim - 2
        if r < 1 or (self.version < 20 and r != 2):
            raise self.run_error(f"X must be {'4-D' if self.version < 20 else 'at least 3-D'}, got shape {x.shape}")
        if grid.ndim != x.ndim or grid.shape[0] != x.shape[0] or grid.shape[-1] != r:
            raise self.run_error(f"grid must be (N={x.shape[0]}, out spatial..., {r}), got {grid.shape}")
        if self.mode != "nearest" and x.dtype.kind in "bOSU":
            raise self.run_error(f"{self.mode} interpolation needs numeric data, X is {x.dtype}")
        return r

    def _tap(self, idx, size, lo, hi):
        """(index into [0, size), validity) of integer tap positions under the padding mode."""
        if self.padding == "zeros":
            valid = (idx >= 0) & (idx < size)
        else:
            valid = None
            if self.padding == "reflection":
                idx = np.trunc(_reflect(idx.astype(np.float64), lo, hi))
        return np.clip(idx, 0, size - 1).astype(np.intp), valid

    def run(self, x, grid):
        r = self._check(x, grid)
        n, c, dims = x.shape[0], x.shape[1], x.shape[2:]
        out_spatial = grid.shape[1:-1]
        if n * c * int(np.prod(out_spatial)) == 0:
            return (np.zeros((n, c) + out_spatial, x.dtype),)
        if 0 in dims:
            raise self.run_error(f"X has an empty spatial dimension: {x.shape}")
        g = grid.astype(np.float64)
        coords, taps = [], []
        for i, size in enumerate(dims):
            gi = g[..., r - 1 - i]  # grid lists coordinates innermost dimension first
            ci = (gi + 1) / 2 * (size - 1) if self.align else ((gi + 1) * size - 1) / 2
            if self.mode == "nearest":
                ci = np.rint(ci)  # half to even, as the spec says
            lo, hi = (0.0, size - 1.0) if self.align else (-0.5, size - 0.5)
            outside = (ci < lo) | (ci > hi)
            if self.padding == "border":
                ci = np.where(outside, np.clip(ci, 0, size - 1), ci)
            elif self.padding == "reflection":
                ci = np.where(outside, _reflect(ci, lo, hi), ci)
            coords.append(ci)
            if self.mode == "nearest":
                taps.append([(np.trunc(ci), None)])
            else:
                base = np.floor(ci)
                t = ci - base
                weights = [1 - t, t] if self.mode == "linear" else _cubic_weights(t)
                first = 0 if self.mode == "linear" else -1
                taps.append([(base + first + k, w) for k, w in enumerate(weights)])

        numeric = x.dtype.kind not in "bOSU"
        cd = compute_dtype(x.dtype) if is_float_dtype(x.dtype) else (
            np.dtype(np.complex128) if x.dtype.kind == "c" else np.dtype(np.float64))
        xt = np.moveaxis(x, 1, -1)  # (N, d1..dr, C): gathers give (N, out..., C)
        if numeric and self.mode != "nearest":
            xt = to_compute(xt, cd)
        n_idx = np.arange(n).reshape((n,) + (1,) * len(out_spatial))
        acc = None
        for combo in itertools.product(*taps):
            index, weight, valid = [n_idx], None, None
            for i, (pos, w) in enumerate(combo):
                lo, hi = (0.0, dims[i] - 1.0) if self.align else (-0.5, dims[i] - 0.5)
                idx, ok = self._tap(pos, dims[i], lo, hi)
                index.append(idx)
                if w is not None:
                    weight = w if weight is None else weight * w
                if ok is not None:
                    valid = ok if valid is None else valid & ok
            values = xt[tuple(index)]
            if self.mode == "nearest":
                if valid is not None:
                    values = np.where(valid[..., None], values, np.zeros((), x.dtype))
                acc = values
            else:
                if valid is not None:
                    weight = np.where(valid, weight, 0)
                term = values * weight[..., None].astype(values.dtype)
                acc = term if acc is None else acc + term
        y = np.moveaxis(acc, -1, 1)
        if x.dtype.kind in "iu" and self.mode != "nearest":
            info = np.iinfo(x.dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        return (np.ascontiguousarray(y.astype(x.dtype)),)


# --- AffineGrid ---------------------------------------------------------------------------

def _base_coords(size: int, align_corners: bool) -> np.ndarray:
    """Evenly spaced normalized positions in [-1, 1] for `size` pixels (0 for one pixel)."""
    if size == 1:
        return np.zeros(1)
    i = np.arange(size, dtype=np.float64)
    if align_corners:
        return -1 + 2 * i / (size - 1)
    return -1 + (2 * i + 1) / size


@register("AffineGrid", 20)
class AffineGrid(Op):
    def setup(self):
        self.align = bool(self.attr("align_corners", 0))

    def run(self, theta, size):
        _require_float(self, theta=theta)
        size = np.asarray(size)
        if size.dtype.kind not in "iu" or size.ndim != 1 or size.shape[0] not in (4, 5):
            raise self.run_error(f"size must be int64 (N, C, H, W) or (N, C, D, H, W), got {size.dtype} {size.shape}")
        spatial = [int(s) for s in size[2:]]
        r = len(spatial)
        if theta.shape != (int(size[0]), r, r + 1):
            raise self.run_error(f"theta must be {(int(size[0]), r, r + 1)} for size {size.tolist()}, got {theta.shape}")
        if any(s < 0 for s in size.tolist()):
            raise self.run_error(f"size must be non-negative, got {size.tolist()}")
        axes = [_base_coords(s, self.align) for s in spatial]  # outermost (D or H) first
        mesh = np.meshgrid(*axes, indexing="ij")
        # homogeneous positions list x (innermost) first: (x, y, [z,] 1)
        homo = np.stack(list(mesh)[::-1] + [np.ones(spatial)], axis=-1).reshape(-1, r + 1)
        cd = compute_dtype(theta.dtype)
        grid = np.einsum("pk,nrk->npr", homo.astype(cd), to_compute(theta, cd))
        return (grid.reshape([theta.shape[0]] + spatial + [r]).astype(theta.dtype),)


# --- RoiAlign -----------------------------------------------------------------------------

@register("RoiAlign", 10, 16, 22)
class RoiAlign(Op):
    empty_tensors_ok = True

    def setup(self):
        self.pool = self.attr("mode", "avg")
        if self.pool not in ("avg", "max"):
            raise self.model_error(f"mode must be 'avg' or 'max', got {self.pool!r}")
        self.out_h = int(self.attr("output_height", 1))
        self.out_w = int(self.attr("output_width", 1))
        self.sampling_ratio = int(self.attr("sampling_ratio", 0))
        self.spatial_scale = float(self.attr("spatial_scale", 1.0))
        ctm = self.attr("coordinate_transformation_mode", "half_pixel") if self.version >= 16 else "output_half_pixel"
        if ctm not in ("half_pixel", "output_half_pixel"):
            raise self.model_error(f"coordinate_transformation_mode must be half_pixel or output_half_pixel, got {ctm!r}")
        self.half_pixel = ctm == "half_pixel"
        if self.out_h <= 0 or self.out_w <= 0 or self.sampling_ratio < 0:
            raise self.model_error("output_height / output_width must be positive and sampling_ratio >= 0")

    def _kernel_args(self) -> dict:
        return dict(mode=self.pool, output_height=self.out_h, output_width=self.out_w,
                    sampling_ratio=self.sampling_ratio, spatial_scale=self.spatial_scale, half_pixel=self.half_pixel)

    def lower(self, node):
        x, rois, bi = node.inputs
        if x.dtype != np.float32 or rois.dtype != np.float32 or bi.dtype != np.int64:
            return KeepPython(f"RoiAlign kernel is float32 with int64 batch indices, got {x.dtype}, {bi.dtype}")
        if x.ndim != 4 or rois.shape[1:] != (4,) or bi.shape != (rois.shape[0],):
            return None  # run() reports it
        if x.size == 0 and rois.shape[0]:
            return KeepPython("empty tensors")  # an empty map to sample: run()'s own rules
        return Native(kernels.prepare_roi_align(x.shape, rois.shape[0], **self._kernel_args()), [0, 1, 2],
                      reshapable=True)

    @staticmethod
    def _axis_samples(start, bin_size, bins, per_bin, size):
        """Per sample along one axis: low/high index, their weights, and whether it is inside."""
        k = np.arange(bins * per_bin)
        pos = start + (k // per_bin) * bin_size + ((k % per_bin) + 0.5) * bin_size / per_bin
        inside = (pos >= -1.0) & (pos <= size)
        pos = np.maximum(pos, 0.0)
        low = np.floor(pos).astype(np.intp)
        at_edge = low >= size - 1
        low = np.where(at_edge, size - 1, low)
        high = np.where(at_edge, size - 1, low + 1)
        frac = np.where(at_edge, 0.0, pos - low)
        return low, high, 1.0 - frac, frac, inside

    def run(self, x, rois, batch_indices):
        _require_float(self, X=x, rois=rois)
        if x.ndim != 4:
            raise self.run_error(f"X must be (N, C, H, W), got {x.shape}")
        if rois.ndim != 2 or rois.shape[1] != 4:
            raise self.run_error(f"rois must be (num_rois, 4), got {rois.shape}")
        bi = np.asarray(batch_indices)
        if bi.dtype.kind not in "iu" or bi.shape != (rois.shape[0],):
            raise self.run_error(f"batch_indices must be int64 of shape ({rois.shape[0]},), got {bi.dtype} {bi.shape}")
        n, c, h, w = x.shape
        if bi.size and (bi.min() < 0 or bi.max() >= n):
            raise self.run_error(f"batch_indices must lie in [0, {n}), got {bi.tolist()}")
        if x.dtype == np.float32 and rois.dtype == np.float32 and x.size:
            return (kernels.roi_align(x, rois, bi.astype(np.int64, copy=False), **self._kernel_args(),
                                      num_threads=self.num_threads),)
        cd = compute_dtype(x.dtype)
        xc = to_compute(x, cd)
        boxes = rois.astype(np.float64) * self.spatial_scale - (0.5 if self.half_pixel else 0.0)
        y = np.zeros((rois.shape[0], c, self.out_h, self.out_w), cd)
        if h == 0 or w == 0:
            return (y.astype(x.dtype),)
        for r, (x0, y0, x1, y1) in enumerate(boxes):
            roi_w, roi_h = x1 - x0, y1 - y0
            if not self.half_pixel:  # legacy mode: rois are at least one pixel
                roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
            bin_h, bin_w = roi_h / self.out_h, roi_w / self.out_w
            gh = self.sampling_ratio or int(np.ceil(roi_h / self.out_h))
            gw = self.sampling_ratio or int(np.ceil(roi_w / self.out_w))
            if gh <= 0 or gw <= 0:
                continue  # no sampling point: the output stays 0
            yl, yh, wyl, wyh, iny = self._axis_samples(y0, bin_h, self.out_h, gh, h)
            xl, xh, wxl, wxh, inx = self._axis_samples(x0, bin_w, self.out_w, gw, w)
            inside = iny[:, None] & inx[None, :]
            img = xc[bi[r]]
            corners = [(yl, xl, wyl, wxl), (yl, xh, wyl, wxh), (yh, xl, wyh, wxl), (yh, xh, wyh, wxh)]
            terms = [np.where(inside, (wy[:, None] * wx[None, :]).astype(cd) * img[:, iy[:, None], ix[None, :]], 0)
                     for iy, ix, wy, wx in corners]  # each (C, samples_h, samples_w)
            if self.pool == "avg":
                v = (terms[0] + terms[1] + terms[2] + terms[3]).reshape(c, self.out_h, gh, self.out_w, gw)
                y[r] = v.sum(axis=(2, 4)) / max(gh * gw, 1)
            else:  # onnxruntime's max mode: the largest weighted corner, then the largest sample
                v = np.maximum(np.maximum(terms[0], terms[1]), np.maximum(terms[2], terms[3]))
                y[r] = v.reshape(c, self.out_h, gh, self.out_w, gw).max(axis=(2, 4))
        return (y.astype(x.dtype),)


# --- NonMaxSuppression --------------------------------------------------------------------

@register("NonMaxSuppression", 10, 11)
class NonMaxSuppression(Op):
    empty_tensors_ok = True

    def setup(self):
        self.center_point_box = int(self.attr("center_point_box", 0))
        if self.center_point_box not in (0, 1):
            raise self.model_error(f"center_point_box must be 0 or 1, got {self.center_point_box}")

    @staticmethod
    def _scalar(v, cast):
        if v is None or np.size(v) == 0:
            return None
        return cast(np.asarray(v).reshape(-1)[0])

    def run(self, boxes, scores, max_output_boxes_per_class=None, iou_threshold=None, score_threshold=None):
        _require_float(self, boxes=boxes, scores=scores)
        if boxes.ndim != 3 or boxes.shape[2] != 4:
            raise self.run_error(f"boxes must be (batches, spatial_dimension, 4), got {boxes.shape}")
        if scores.ndim != 3 or scores.shape[0] != boxes.shape[0] or scores.shape[2] != boxes.shape[1]:
            raise self.run_error(f"scores must be ({boxes.shape[0]}, classes, {boxes.shape[1]}), got {scores.shape}")
        max_out = self._scalar(max_output_boxes_per_class, int) or 0
        iou_thr = self._scalar(iou_threshold, float)
        iou_thr = 0.0 if iou_thr is None else iou_thr
        if not 0.0 <= iou_thr <= 1.0:
            raise self.run_error(f"iou_threshold must lie in [0, 1], got {iou_thr}")
        # The kernel: per batch and class, a heap of candidates and a vectorized IoU scan.
        return (kernels.non_max_suppression(boxes.astype(np.float32, copy=False), scores.astype(np.float32, copy=False),
                                            max(max_out, 0), iou_thr, self._scalar(score_threshold, float),
                                            bool(self.center_point_box), num_threads=self.num_threads),)

    _CONTROL = ((2, np.int64), (3, np.float32), (4, np.float32))  # input index, dtype

    def lower(self, node):
        """A static plan's step for the selected count its signature saw (a run that selects
        another count raises 'shape changed' and the call takes the dynamic plan); a dynamic
        plan's for any count: the selection bounded, the count reported (a counted output)."""
        if not all(node.inputs[i].dtype == np.float32 for i in (0, 1)):
            return KeepPython("boxes and scores are not float32")
        ins, present, shapes = [0, 1], [], []
        for i, dtype in self._CONTROL:
            there = node.present(i)
            if there and (node.inputs[i].dtype != dtype or node.inputs[i].size != 1):
                return None  # run() reports it
            ins.append(i if there else None)
            present.append(there)
            shapes.append(node.shape(i) if there else [])
        try:
            if node.dynamic:
                per_class = node.const(2) if present[0] else np.zeros(1, np.int64)  # absent: 0 boxes per class
                bound = -1 if per_class is None else max(int(np.asarray(per_class).reshape(-1)[0]), 0)
                k = kernels.prepare_non_max_suppression_counted(node.shape(0), node.shape(1),
                                                                bool(self.center_point_box), shapes, present, bound)
                return Native(k, ins, outputs=[0, None], reshapable=True)
            k = kernels.prepare_non_max_suppression(node.shape(0), node.shape(1), bool(self.center_point_box),
                                                    shapes, present, node.outputs[0].shape[0])
        except KernelArgumentError:
            return None  # run() reports it
        return Native(k, ins)


# --- DeformConv ---------------------------------------------------------------------------

@register("DeformConv", 19, 22)
class DeformConv(Op):
    """2-D deformable convolution (v2 with the optional mask). Sampling is bilinear with
    zeros outside the image, at pixel position (i*stride - pad + k*dilation + offset)."""

    def setup(self):
        self.group = int(self.attr("group", 1))
        self.offset_group = int(self.attr("offset_group", 1))
        if self.group <= 0 or self.offset_group <= 0:
            raise self.model_error("group and offset_group must be positive")

    def run(self, x, w, offset, b=None, mask=None):
        _require_float(self, X=x, W=w, offset=offset, B=b, mask=mask)
        if x.ndim != 4 or w.ndim != 4 or offset.ndim != 4:
            raise self.run_error(f"only 2-D DeformConv is supported: X {x.shape}, W {w.shape}, offset {offset.shape}")
        n, c, h, wd = x.shape
        oc, cpg, kh, kw = w.shape
        ks = self.attr("kernel_shape", None)
        if ks is not None and list(ks) != [kh, kw]:
            raise self.run_error(f"kernel_shape {list(ks)} differs from W's {[kh, kw]}")
        sh, sw = _ints(self, "strides", 2, 1)
        dh, dw = _ints(self, "dilations", 2, 1)
        pads = _ints(self, "pads", 4, 0)
        g, og = self.group, self.offset_group
        if cpg * g != c or oc % g:
            raise self.run_error(f"X has {c} channels and W is {w.shape}: need C = W.shape[1]*group and oC % group == 0")
        if c % og:
            raise self.run_error(f"channels {c} not divisible by offset_group {og}")
        if min(sh, sw, dh, dw) <= 0 or min(pads) < 0:
            raise self.run_error("strides and dilations must be positive and pads non-negative")
        oh = (h + pads[0] + pads[2] - (dh * (kh - 1) + 1)) // sh + 1
        ow = (wd + pads[1] + pads[3] - (dw * (kw - 1) + 1)) // sw + 1
        if oh <= 0 or ow <= 0:
            raise self.run_error(f"the kernel does not fit: output would be {oh}x{ow}")
        if offset.shape != (n, og * kh * kw * 2, oh, ow):
            raise self.run_error(f"offset must be {(n, og * kh * kw * 2, oh, ow)}, got {offset.shape}")
        if mask is not None and mask.shape != (n, og * kh * kw, oh, ow):
            raise self.run_error(f"mask must be {(n, og * kh * kw, oh, ow)}, got {mask.shape}")
        if b is not None and b.shape != (oc,):
            raise self.run_error(f"B must be ({oc},), got {b.shape}")

        cd = compute_dtype(x.dtype)
        off = to_compute(offset, cd).reshape(n, og, kh, kw, 2, oh, ow)
        ys = (np.arange(kh) * dh)[:, None] + (np.arange(oh) * sh - pads[0])[None, :]  # (kh, oh)
        xs = (np.arange(kw) * dw)[:, None] + (np.arange(ow) * sw - pads[1])[None, :]  # (kw, ow)
        py = ys[:, None, :, None] + off[:, :, :, :, 0]  # (n, og, kh, kw, oh, ow)
        px = xs[None, :, None, :] + off[:, :, :, :, 1]
        y0, x0 = np.floor(py), np.floor(px)
        fy, fx = py - y0, px - x0
        xg = to_compute(x, cd).reshape(n, og, c // og, h, wd)
        n_idx = np.arange(n).reshape(n, 1, 1, 1, 1, 1)
        g_idx = np.arange(og).reshape(1, og, 1, 1, 1, 1)
        cols = 0
        for ddy, wy in ((0, 1 - fy), (1, fy)):
            for ddx, wx in ((0, 1 - fx), (1, fx)):
                iy, ix = y0 + ddy, x0 + ddx
                valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd)
                vals = xg[n_idx, g_idx, :, np.clip(iy, 0, h - 1).astype(np.intp), np.clip(ix, 0, wd - 1).astype(np.intp)]
                cols = cols + vals * np.where(valid, wy * wx, 0)[..., None]  # (n, og, kh, kw, oh, ow, c/og)
        if mask is not None:
            cols = cols * to_compute(mask, cd).reshape(n, og, kh, kw, oh, ow)[..., None]
        cols = cols.transpose(0, 1, 6, 2, 3, 4, 5).reshape(n, g, cpg * kh * kw, oh * ow)
        wg = to_compute(w, cd).reshape(g, oc // g, cpg * kh * kw)
        out = matmul(np.ascontiguousarray(wg[None]), np.ascontiguousarray(cols), self.num_threads)
        out = out.reshape(n, oc, oh, ow)
        if b is not None:
            out = out + to_compute(b, cd)[None, :, None, None]
        return (out.astype(x.dtype),)


# --- Shrink / Det -------------------------------------------------------------------------

@register("Shrink", 9)
class Shrink(Op):
    def setup(self):
        self.lambd = float(self.attr("lambd", 0.5))
        self.bias = float(self.attr("bias", 0.0))

    def run(self, x):
        if not (x.dtype.kind in "iuf" or x.dtype.name == "bfloat16"):
            raise self.run_error(f"Shrink takes numeric tensors, got {x.dtype}")
        xc = x.astype(np.float64) if x.dtype.kind in "iu" else to_compute(x)
        y = np.where(xc < -self.lambd, xc + self.bias, np.where(xc > self.lambd, xc - self.bias, 0))
        return (y.astype(x.dtype),)


@register("Det", 11, 22)
class Det(Op):
    def run(self, x):
        _require_float(self, X=x)
        if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
            raise self.run_error(f"X must be (..., M, M), got {x.shape}")
        return (np.asarray(np.linalg.det(to_compute(x))).astype(x.dtype),)
