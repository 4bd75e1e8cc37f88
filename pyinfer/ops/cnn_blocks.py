"""CNN blocks as single ops (domain pyinfer), created by the optimizer:

pyinfer::SqueezeExcite (the fuse_squeeze_excite pass, optimizer/squeeze_excite.py)

SqueezeExcite(X, W1, B1?, W2?, B2?, Z?)
    s = mean of X over its spatial axes           [N, C, 1, 1]
    h = activation(conv1x1(s, W1) + B1)            [N, S, 1, 1]
    g = gate(conv1x1(h, W2) + B2)                  [N, M, 1, 1]   (no W2: g = gate(conv1x1(s, W1) + B1))
    Y = Z * g                                      Z defaults to X
W1 / W2 are 1x1 conv weights ([out, in, 1, 1]) or matrices ([out, in]). Attributes: `activation`
(an ONNX activation op type the epilogues apply, "" for none) with activation_alpha /
activation_beta / clip_min / clip_max as on the fused ops, and `gate` (default "Sigmoid") with
gate_alpha / gate_beta (HardSigmoid's alpha and beta). float32 runs the squeeze_excite kernel
(one native plan step); other dtypes NumPy in float64.

pyinfer::ChannelLayerNorm(X, Scale?, B?) (the nhwc_to_nchw pass, optimizer/channels_last.py)
    Y = (X - mean) / sqrt(var + epsilon) * Scale + B, mean and var over axis 1 for each pixel
    (ConvNeXt's LayerNorm2d on an NCHW map); Scale and B are [C]. Attribute epsilon (1e-5).
    float32 runs the channel_layer_norm kernel; other dtypes NumPy in float64.
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..lowering import Native
from ..registry import register
from .base import Op
from .epilogue import Act, apply_numpy
from .fused import DOMAIN, kernel_epilogue


def _gate(op: Op) -> tuple[str, dict]:
    name = op.attr("gate", "Sigmoid") or "Sigmoid"
    act = next((a for a in Act.__members__.values() if a.onnx_name == name and a != Act.GELU_TANH), None)
    if act is None or not act.fuses or act == Act.NONE:
        fusable = ", ".join(sorted({a.onnx_name for a in Act.__members__.values() if a.fuses and a != Act.NONE}))
        raise op.model_error(f"gate must be one of {fusable}, got {name!r}")
    params = {f"gate_{k}": float(op.attr(f"gate_{k}", d)) for k, d in zip(("alpha", "beta"), act.defaults)}
    return act.kernel_name, dict(list(params.items())[:act.param_count])


@register("SqueezeExcite", 1, domain=DOMAIN)
class SqueezeExcite(Op):
    def setup(self):
        self.act_name, self.act_params = kernel_epilogue(self)
        self.gate_name, self.gate_params = _gate(self)

    def _numpy(self, x, w1, b1, w2, b2, z):
        def layer(v, w, b, name, params):
            w = np.asarray(w, np.float64).reshape(w.shape[0], -1)
            out = np.einsum("oc,nc->no", w, v) + (0 if b is None else np.asarray(b, np.float64))
            kw = {"activation": name, **{k.replace("gate_", "activation_"): v for k, v in params.items()}}
            return apply_numpy(out, None, kw)

        s = np.asarray(x, np.float64).reshape(x.shape[0], x.shape[1], -1).mean(axis=2)
        if w2 is None:
            g = layer(s, w1, b1, self.gate_name, self.gate_params)
        else:
            g = layer(layer(s, w1, b1, self.act_name, self.act_params), w2, b2, self.gate_name, self.gate_params)
        z = x if z is None else z
        return (z * g.reshape(g.shape + (1,) * (z.ndim - 2)).astype(z.dtype)).astype(z.dtype)

    def _check(self, x, w1, w2, z):
        zz = x if z is None else z
        if x.ndim < 3 or zz.ndim < 3 or zz.shape[0] != x.shape[0]:
            raise self.run_error(f"X and Z must be [N, C, spatial...] with one batch size, got {x.shape} and {zz.shape}")
        last = w1 if w2 is None else w2
        if w1.ndim < 2 or w1.shape[1] != x.shape[1] or last.shape[0] != zz.shape[1] or (
                w2 is not None and w2.shape[1] != w1.shape[0]):
            raise self.run_error(f"weights {w1.shape}{'' if w2 is None else ' and ' + str(w2.shape)} do not fit "
                                 f"X {x.shape} and Z {zz.shape}")

    def run(self, x, w1, b1=None, w2=None, b2=None, z=None):
        self._check(x, w1, w2, z)
        arrays = [a for a in (x, w1, b1, w2, b2, z) if a is not None]
        if all(a.dtype == np.float32 for a in arrays):
            y = kernels.squeeze_excite(x, w1, b1, w2, b2, z=z, num_threads=self.num_threads, **self._kernel_args())
            return (y,)
        return (self._numpy(x, w1, b1, w2, b2, z),)

    def _kernel_args(self) -> dict:
        return {"activation": self.act_name, **self.act_params, "gate": self.gate_name, **self.gate_params}

    def lower(self, node):
        if not node.float32(0, 5) or not all(node.is_const(i) for i in (1, 2, 3, 4) if node.present(i)):
            return None
        w1, b1, w2, b2 = (node.const(i) if node.present(i) else None for i in (1, 2, 3, 4))
        if any(a is not None and a.dtype != np.float32 for a in (w1, b1, w2, b2)):
            return None
        z_shape = node.shape(5) if node.present(5) else None
        try:
            k = kernels.prepare_squeeze_excite(node.shape(0), z_shape, w1, b1, w2, b2, **self._kernel_args())
        except KernelArgumentError:
            return None  # run() reports it
        return Native(k, [0, 5] if z_shape is not None else [0], reshapable=True)


@register("ChannelLayerNorm", 1, domain=DOMAIN)
class ChannelLayerNorm(Op):
    def setup(self):
        self.epsilon = float(self.attr("epsilon", 1e-5))
        if not (self.epsilon >= 0 and np.isfinite(self.epsilon)):
            raise self.model_error(f"epsilon must be finite and >= 0, got {self.epsilon}")

    def run(self, x, scale=None, bias=None):
        if x.ndim < 2:
            raise self.run_error(f"X must be [N, C, spatial...], got shape {x.shape}")
        for name, v in (("Scale", scale), ("B", bias)):
            if v is not None and v.shape != (x.shape[1],):
                raise self.run_error(f"{name} must have shape [{x.shape[1]}], got {v.shape}")
        if all(a is None or a.dtype == np.float32 for a in (x, scale, bias)):
            return (kernels.channel_layer_norm(x, scale, bias, self.epsilon, num_threads=self.num_threads),)
        xd = x.astype(np.float64)
        mean = xd.mean(axis=1, keepdims=True)
        y = (xd - mean) / np.sqrt(((xd - mean) ** 2).mean(axis=1, keepdims=True) + self.epsilon)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        if scale is not None:
            y = y * scale.astype(np.float64).reshape(shape)
        if bias is not None:
            y = y + bias.astype(np.float64).reshape(shape)
        return (y.astype(x.dtype),)

    def lower(self, node):
        present = [i for i in (1, 2) if node.present(i)]
        if not node.float32(0, *present) or node.inputs[0].ndim < 2:
            return None
        c = node.shape(0)[1]
        if any(node.shape(i) != [c] for i in present):
            return None
        k = kernels.prepare_channel_layer_norm(node.shape(0), node.present(1), node.present(2), self.epsilon)
        return Native(k, [0] + present, reshapable=True)
