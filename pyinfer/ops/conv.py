"""Conv and ConvTranspose (ONNX).

The shape rules of the attributes (auto_pad, kernel_shape, output_shape) live here and
resolve to explicit pads; the C++ kernels (pyinfer.kernels.conv / conv_transpose) check
every shape and compute in float32. float16 / bfloat16 inputs are computed in float32
(more accurate than their own precision) and rounded back; float64 is computed in float64
with NumPy so its results keep double precision.

Constant float32 weights are packed once at setup (kernels.ConvWeights: the GEMM's panel
layout), and a fused epilogue (set_epilogue: activation, residual) runs inside the kernel.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..limits import check_allocation
from ..lowering import Native
from ..registry import register
from . import epilogue
from .base import Op

_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
# Computed through the float32 kernels and rounded back to their own dtype.
_VIA_FLOAT32 = ("float16", "bfloat16")


def _int_list(op: Op, name: str, value, count: int):
    if value is None:
        return None
    value = [int(v) for v in value]
    if len(value) != count:
        raise op.run_error(f"attribute {name!r} has {len(value)} values, expected {count} for the input's rank")
    return value


class _ConvBase(Op):
    def setup(self):
        self.auto_pad = self.attr("auto_pad", "NOTSET") or "NOTSET"
        if self.auto_pad not in _AUTO_PADS:
            raise self.model_error(f"auto_pad must be one of {', '.join(_AUTO_PADS)}, got {self.auto_pad!r}")
        self.group = int(self.attr("group", 1))
        if self.group < 1:
            raise self.model_error(f"group must be >= 1, got {self.group}")
        self.strides_attr = self.attr("strides", None)
        self.dilations_attr = self.attr("dilations", None)
        self.pads_attr = self.attr("pads", None)
        self.kernel_shape_attr = self.attr("kernel_shape", None)

    def _check_dtypes(self, x, w, b):
        if not isinstance(x, np.ndarray) or not isinstance(w, np.ndarray):
            raise self.run_error("X and W must be tensors")
        if x.dtype.name not in ("float32", "float64") + _VIA_FLOAT32:
            raise self.run_error(f"unsupported input type {x.dtype}; {self.op_type} takes float16, bfloat16, float or double")
        for name, t in (("W", w), ("B", b)):
            if t is not None and t.dtype != x.dtype:
                raise self.run_error(f"{name} has dtype {t.dtype} but X has {x.dtype}; they must match")
        if b is not None and b.ndim != 1:
            raise self.run_error(f"B must be 1-D, got shape {b.shape}")
        if x.ndim < 3:
            raise self.run_error(f"X must have rank >= 3 ([N, C, spatial...]), got shape {x.shape}")
        if w.ndim != x.ndim:
            raise self.run_error(f"W must have the rank of X ({x.ndim}), got shape {w.shape}")

    def _common_attrs(self, x, w):
        """(strides, dilations, kernel_shape) for this input rank, checked against W."""
        nd = x.ndim - 2
        strides = _int_list(self, "strides", self.strides_attr, nd) or [1] * nd
        dilations = _int_list(self, "dilations", self.dilations_attr, nd) or [1] * nd
        kernel = list(w.shape[2:])
        given = _int_list(self, "kernel_shape", self.kernel_shape_attr, nd)
        if given is not None and given != kernel:
            raise self.run_error(f"kernel_shape {given} does not match the weights' spatial shape {kernel}")
        return strides, dilations, kernel


@register("Conv", 1, 11, 22)
class Conv(_ConvBase):
    def pads_for(self, x, strides, dilations, kernel):
        nd = x.ndim - 2
        if self.auto_pad == "VALID":
            return [0] * (2 * nd)
        if self.auto_pad == "NOTSET":
            return _int_list(self, "pads", self.pads_attr, 2 * nd) or [0] * (2 * nd)
        # SAME_*: pad so that out = ceil(in / stride), with the dilated kernel's extent.
        begins, ends = [], []
        for i in range(nd):
            size, s = x.shape[2 + i], strides[i]
            out = -(-size // s)
            total = max(0, (out - 1) * s + (kernel[i] - 1) * dilations[i] + 1 - size)
            small, large = total // 2, total - total // 2
            begins.append(small if self.auto_pad == "SAME_UPPER" else large)
            ends.append(large if self.auto_pad == "SAME_UPPER" else small)
        return begins + ends

    def setup(self):
        super().setup()
        self.epilogue = {}  # kernel keyword arguments of a fused epilogue (set_epilogue)
        self._packed, self._packed_source = None, None
        w = self.const_input(1)
        if isinstance(w, np.ndarray) and w.dtype == np.float32 and w.ndim >= 3:
            try:
                self._packed = kernels.ConvWeights(w, group=self.group, num_threads=self.num_threads)
                self._packed_source = w  # run() uses the packing only when handed this very array
            except KernelArgumentError:
                pass  # inconsistent weights: run() reports them with the input shapes

    def set_epilogue(self, activation: str = "none", **params):
        """Fuse y = act(conv + bias + residual); the residual comes as an extra 4th input."""
        self.epilogue = epilogue.check_epilogue(self, activation, params)

    def lower(self, node):
        x, w = node.inputs[0], node.inputs[1]
        if w is None or x.ndim < 3 or w.ndim != x.ndim or not node.float32(0, 1, 2, 3):
            return None
        b = node.inputs[2] if node.present(2) else None
        res = node.present(3)
        if b is not None and b.ndim != 1:
            return None
        strides, dilations, kernel = self._common_attrs(x, w)
        pads = self.pads_for(x, strides, dilations, kernel)
        # The packed weights serve only when the plan feeds this very array (the initializer).
        packed = self._packed is not None and node.const(1) is self._packed_source
        k = kernels.prepare_conv(list(x.shape), self._packed if packed else list(w.shape),
                                 -1 if b is None else b.shape[0], strides, pads, dilations, self.group,
                                 residual=res, **self.epilogue)
        return Native(k, [0, None if packed else 1, 2 if b is not None else None, 3 if res else None],
                      reshapable=self.auto_pad in ("NOTSET", "VALID"))  # SAME pads follow the input size

    def run(self, x, w, b=None, residual=None):
        self._check_dtypes(x, w, b)
        strides, dilations, kernel = self._common_attrs(x, w)
        pads = self.pads_for(x, strides, dilations, kernel)
        args = dict(strides=strides, pads=pads, dilations=dilations, group=self.group)
        # checks the arguments, and the output size against the memory limit before allocating
        check_allocation(self, kernels.conv_output_shape(list(x.shape), list(w.shape),
                                                         bias_len=-1 if b is None else b.shape[0], **args), x.dtype)
        if x.dtype == np.float64:
            y = _conv_float64(x, w, b, **args)
            if self.epilogue or residual is not None:
                y = epilogue.apply_numpy(y, residual, self.epilogue)
            return (y,)
        dtype = x.dtype
        if dtype.name in _VIA_FLOAT32:
            x, w = x.astype(np.float32), w.astype(np.float32)
            b = None if b is None else b.astype(np.float32)
            residual = None if residual is None else residual.astype(np.float32)
        weights = self._packed if self._packed is not None and w is self._packed_source else w
        y = kernels.conv(x, weights, b, num_threads=self.num_threads, residual=residual, **args,
                         **self.epilogue)
        return (y if y.dtype == dtype else y.astype(dtype),)


@register("ConvTranspose", 1, 11, 22)
class ConvTranspose(_ConvBase):
    def setup(self):
        super().setup()
        self.output_padding_attr = self.attr("output_padding", None)
        self.output_shape_attr = self.attr("output_shape", None)

    def pads_for(self, x, strides, dilations, kernel, output_padding):
        nd = x.ndim - 2
        output_shape = self.output_shape_attr
        if output_shape is not None:
            output_shape = [int(v) for v in output_shape]
            if len(output_shape) == nd + 2:  # some exporters give the full [N, M, ...] shape
                output_shape = output_shape[2:]
            if len(output_shape) != nd:
                raise self.run_error(f"output_shape {output_shape} does not have {nd} spatial dimensions")
        elif self.auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            output_shape = [x.shape[2 + i] * strides[i] for i in range(nd)]
        else:
            if self.auto_pad == "VALID":
                return [0] * (2 * nd)
            return _int_list(self, "pads", self.pads_attr, 2 * nd) or [0] * (2 * nd)
        # Pads that make the output exactly output_shape (ONNX ConvTranspose spec): the extra
        # pad goes to the end unless auto_pad is SAME_UPPER.
        begins, ends = [], []
        for i in range(nd):
            total = (strides[i] * (x.shape[2 + i] - 1) + output_padding[i]
                     + (kernel[i] - 1) * dilations[i] + 1 - output_shape[i])
            # total < 0 (output_shape beyond the natural size) gives negative pads: the output
            # grows by zeros (+ bias) there, see _grow_for_negative_pads. Like onnxruntime, allow
            # it only as far as output_padding could reach (less than a stride).
            if total <= -strides[i]:
                raise self.run_error(
                    f"output_shape {output_shape} is inconsistent with the input shape {list(x.shape)}: "
                    f"dimension {i} exceeds the largest output size by {-total}, at most {strides[i] - 1} "
                    f"(stride - 1) is allowed")
            if self.auto_pad == "SAME_UPPER":
                begins.append(total // 2)
                ends.append(total - total // 2)
            else:
                begins.append(total - total // 2)
                ends.append(total // 2)
        return begins + ends

    def lower(self, node):
        x, w = node.inputs[0], node.inputs[1]
        if w is None or x.ndim < 3 or w.ndim != x.ndim or not node.float32(0, 1, 2):
            return None
        b = node.inputs[2] if node.present(2) else None
        strides, dilations, kernel = self._common_attrs(x, w)
        nd = x.ndim - 2
        output_padding = _int_list(self, "output_padding", self.output_padding_attr, nd) or [0] * nd
        pads = self.pads_for(x, strides, dilations, kernel, output_padding)
        if any(p < 0 for p in pads) or (b is not None and b.ndim != 1):
            return None  # negative pads grow the output (_grow_for_negative_pads): the op's own code
        k = kernels.prepare_conv_transpose(list(x.shape), list(w.shape), -1 if b is None else b.shape[0], strides,
                                           pads, dilations, self.group, output_padding)
        # output_shape / SAME give pads that follow the input size
        fixed_pads = self.output_shape_attr is None and self.auto_pad in ("NOTSET", "VALID")
        return Native(k, [0, 1, 2 if b is not None else None], reshapable=fixed_pads)

    def run(self, x, w, b=None):
        self._check_dtypes(x, w, b)
        strides, dilations, kernel = self._common_attrs(x, w)
        nd = x.ndim - 2
        output_padding = _int_list(self, "output_padding", self.output_padding_attr, nd) or [0] * nd
        pads = self.pads_for(x, strides, dilations, kernel, output_padding)
        args = dict(strides=strides, pads=pads, dilations=dilations, group=self.group, output_padding=output_padding)
        args["pads"] = [max(p, 0) for p in pads]
        check_allocation(self, kernels.conv_transpose_output_shape(list(x.shape), list(w.shape),
                                                                   bias_len=-1 if b is None else b.shape[0], **args),
                         x.dtype)
        if x.dtype == np.float64:
            y = _conv_transpose_float64(x, w, b, **args)
        else:
            dtype = x.dtype
            if dtype.name in _VIA_FLOAT32:
                x, w = x.astype(np.float32), w.astype(np.float32)
                b = None if b is None else b.astype(np.float32)
            y = kernels.conv_transpose(x, w, b, num_threads=self.num_threads, **args)
            y = y if y.dtype == dtype else y.astype(dtype)
        return (_grow_for_negative_pads(y, pads, b),)


def _grow_for_negative_pads(y, pads, b):
    """Extend y by -pad positions where a pad is negative; nothing reaches them but the bias."""
    nd = y.ndim - 2
    grow = [(max(-pads[i], 0), max(-pads[i + nd], 0)) for i in range(nd)]
    if not any(a or z for a, z in grow):
        return y
    shape = y.shape[:2] + tuple(y.shape[2 + i] + a + z for i, (a, z) in enumerate(grow))
    out = np.zeros(shape, dtype=y.dtype)
    if b is not None:
        out[...] = b.astype(y.dtype).reshape((1, -1) + (1,) * nd)
    out[(slice(None), slice(None)) + tuple(slice(a, a + y.shape[2 + i]) for i, (a, _) in enumerate(grow))] = y
    return out


# --- float64 (shapes already checked by the C++ shape functions) -------------------------
def _conv_float64(x, w, b, strides, pads, dilations, group):
    nd = x.ndim - 2
    n, c = x.shape[:2]
    m, kernel = w.shape[0], w.shape[2:]
    cg, mg = c // group, m // group
    xp = np.pad(x, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)])
    out = [(xp.shape[2 + i] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1 for i in range(nd)]
    y = np.zeros((n, m, *out), dtype=np.float64)
    for k in np.ndindex(*kernel):
        window = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + (out[i] - 1) * strides[i] + 1, strides[i])
                       for i in range(nd))
        patch = xp[(slice(None), slice(None)) + window]  # [N, C, out...]
        for g in range(group):
            wk = w[(slice(g * mg, (g + 1) * mg), slice(None)) + k]  # [Mg, Cg]
            y[:, g * mg:(g + 1) * mg] += np.einsum("nc...,mc->nm...", patch[:, g * cg:(g + 1) * cg], wk)
    if b is not None:
        y += b.reshape((1, m) + (1,) * nd)
    return y


def _conv_transpose_float64(x, w, b, strides, pads, dilations, group, output_padding):
    nd = x.ndim - 2
    n, c = x.shape[:2]
    mg, kernel = w.shape[1], w.shape[2:]
    m, cg = mg * group, c // group
    insize = x.shape[2:]
    # Full (unpadded) output, then cropped: out_full = s*(in-1) + op + span, crop begin/end pads.
    full = [strides[i] * (insize[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(nd)]
    y = np.zeros((n, m, *full), dtype=np.float64)
    for k in np.ndindex(*kernel):
        window = tuple(slice(k[i] * dilations[i], k[i] * dilations[i] + (insize[i] - 1) * strides[i] + 1, strides[i])
                       for i in range(nd))
        for g in range(group):
            wk = w[(slice(g * cg, (g + 1) * cg), slice(None)) + k]  # [Cg, Mg]
            y[(slice(None), slice(g * mg, (g + 1) * mg)) + window] += np.einsum(
                "nc...,cm->nm...", x[:, g * cg:(g + 1) * cg], wk)
    crop = tuple(slice(pads[i], full[i] - pads[i + nd]) for i in range(nd))
    y = y[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + b.reshape((1, m) + (1,) * nd)
    return np.ascontiguousarray(y)
