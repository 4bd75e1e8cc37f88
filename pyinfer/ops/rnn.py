"""rnn operators: ONNX LSTM, GRU and RNN on pyinfer.kernels.lstm / gru / rnn.

Every attribute and optional input is passed to the C++ kernel, which checks the shapes.
Outputs the node does not name are not computed. float32 runs natively; float16 and
bfloat16 (opset 22) are computed in float32 and rounded back; float64 is computed in float32
too (the result is correct to float32 precision, not float64's).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..registry import register
from .base import Op

_DIRECTIONS = ("forward", "reverse", "bidirectional")


class _RnnBase(Op):
    kernel_name = ""  # "lstm" | "gru" | "rnn"
    n_outputs = 2

    def setup(self):
        self.direction = self.attr("direction", "forward")
        if self.direction not in _DIRECTIONS:
            raise self.model_error(f"direction must be one of {_DIRECTIONS}, got {self.direction!r}")
        self.layout = int(self.attr("layout", 0)) if self.version >= 14 else 0
        if self.layout not in (0, 1):
            raise self.model_error(f"layout must be 0 or 1, got {self.layout}")
        hidden = self.attr("hidden_size", None)
        self.hidden_size = None if hidden is None else int(hidden)
        if self.hidden_size is not None and self.hidden_size <= 0:
            raise self.model_error(f"hidden_size must be positive, got {self.hidden_size}")
        self.activations = self.attr("activations", None)
        self.activation_alpha = self.attr("activation_alpha", None)
        self.activation_beta = self.attr("activation_beta", None)
        clip = self.attr("clip", None)
        self.clip = None if clip is None else float(clip)
        if self.clip is not None and not self.clip > 0:
            raise self.model_error(f"clip must be a positive threshold, got {self.clip}")
        outs = list(self.node.output)
        self.need = [i < len(outs) and bool(outs[i]) for i in range(self.n_outputs)]

    def extra_kwargs(self) -> dict:
        return {}

    def call_kernel(self, X, W, R, B, sequence_lens, initial_h, **extra):
        dtype = X.dtype
        if dtype.kind != "f" and dtype.name != "bfloat16":
            raise self.run_error(f"X has dtype {dtype}; {self.op_type} takes float tensors")

        def f32(a):
            return None if a is None else np.asarray(a).astype(np.float32, copy=False)

        need_kw = {"need_y": self.need[0], "need_y_h": self.need[1]}
        if self.n_outputs == 3:
            need_kw["need_y_c"] = self.need[2]
        for k in ("initial_c", "P"):
            if k in extra:
                extra[k] = f32(extra[k])
        try:
            outs = getattr(kernels, self.kernel_name)(
                f32(X), f32(W), f32(R), B=f32(B), sequence_lens=sequence_lens, initial_h=f32(initial_h),
                direction=self.direction, layout=self.layout, hidden_size=self.hidden_size,
                activations=self.activations, activation_alpha=self.activation_alpha,
                activation_beta=self.activation_beta, clip=self.clip, num_threads=self.num_threads,
                **self.extra_kwargs(), **extra, **need_kw,
            )
        except KernelArgumentError as e:
            raise KernelArgumentError(f"{self.op_type} node {self.name!r}: {e}") from e
        if dtype != np.float32:
            outs = tuple(None if o is None else o.astype(dtype) for o in outs)
        return tuple(outs)


@register("LSTM", 1, 7, 14, 22)
class LSTM(_RnnBase):
    kernel_name = "lstm"
    n_outputs = 3

    def extra_kwargs(self):
        return {"input_forget": bool(self.attr("input_forget", 0))}

    def run(self, X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None):
        return self.call_kernel(X, W, R, B, sequence_lens, initial_h, initial_c=initial_c, P=P)


@register("GRU", 1, 3, 7, 14, 22)
class GRU(_RnnBase):
    kernel_name = "gru"

    def extra_kwargs(self):
        lbr = self.attr("linear_before_reset", 0) if self.version >= 3 else 0
        return {"linear_before_reset": bool(lbr)}

    def run(self, X, W, R, B=None, sequence_lens=None, initial_h=None):
        return self.call_kernel(X, W, R, B, sequence_lens, initial_h)


@register("RNN", 1, 7, 14, 22)
class RNN(_RnnBase):
    kernel_name = "rnn"

    def run(self, X, W, R, B=None, sequence_lens=None, initial_h=None):
        return self.call_kernel(X, W, R, B, sequence_lens, initial_h)
