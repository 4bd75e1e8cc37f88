"""rnn operators: ONNX LSTM, GRU and RNN on pyinfer.kernels.lstm / gru / rnn.

Every attribute and optional input is passed to the C++ kernel, which checks the shapes.
When W, R (and B, if given) are initializers they are prepared once, at session creation
(kernels.RnnWeights: packed for the kernels, biases folded); otherwise every call prepares them.
Outputs the node does not name are not computed. float32 runs natively; float16 and
bfloat16 (opset 22) are computed in float32 and rounded back; float64 is computed in float32
too (the result is correct to float32 precision, not float64's).
"""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..lowering import Native
from ..registry import register
from .base import Op

_DIRECTIONS = ("forward", "reverse", "bidirectional")


def _f32(a):
    return None if a is None else np.asarray(a).astype(np.float32, copy=False)


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
        self.weights = self._prepare_weights()

    def linear_before_reset(self) -> bool:
        return False

    def _prepare_weights(self):
        """kernels.RnnWeights when W, R and B (if named) are initializers, else None."""
        W, R = self.const_input(1), self.const_input(2)
        has_b = len(self.node.input) > 3 and bool(self.node.input[3])
        B = self.const_input(3) if has_b else None
        if W is None or R is None or (has_b and B is None):
            return None
        if any(a.dtype.kind != "f" and a.dtype.name != "bfloat16" for a in (W, R) + ((B,) if has_b else ())):
            return None  # the call reports the dtype
        try:
            return kernels.RnnWeights(self.kernel_name, _f32(W), _f32(R), _f32(B),
                                      linear_before_reset=self.linear_before_reset(),
                                      num_threads=self.num_threads)
        except KernelArgumentError:
            return None  # bad shapes: the call reports them, with X's sizes for context

    def extra_kwargs(self) -> dict:
        return {}

    def lower(self, node):
        """Natively on the weights prepared at setup (W, R, B initializers), float32 X and states,
        int32 sequence_lens."""
        lstm = self.n_outputs == 3
        if self.weights is None or not all(node.is_const(i) for i in (1, 2, 3) if node.present(i)):
            return None
        if not node.float32(0, 5, 6, 7) or (node.present(4) and node.inputs[4].dtype != np.int32):
            return None
        present = {name: node.present(i) for i, name in ((4, "sequence_lens"), (5, "initial_h"), (6, "initial_c"),
                                                         (7, "P"))}
        if not lstm:
            present["initial_c"] = present["P"] = False
        k = kernels.prepare_rnn(self.kernel_name, node.shape(0), self.weights, self.direction, self.layout,
                                self.hidden_size, self.activations, self.activation_alpha, self.activation_beta,
                                self.clip, **self.extra_kwargs(), **present)
        inputs = [0, None, None, None] + [i if present[n] else None
                                          for i, n in ((4, "sequence_lens"), (5, "initial_h"), (6, "initial_c"),
                                                       (7, "P"))]
        return Native(k, inputs, list(range(self.n_outputs)), reshapable=True)

    def call_kernel(self, X, W, R, B, sequence_lens, initial_h, **extra):
        dtype = X.dtype
        if dtype.kind != "f" and dtype.name != "bfloat16":
            raise self.run_error(f"X has dtype {dtype}; {self.op_type} takes float tensors")

        f32 = _f32
        # Prepared at setup: the kernel takes them in W's place.
        W, R, B = (self.weights, None, None) if self.weights is not None else (f32(W), f32(R), f32(B))
        need_kw = {"need_y": self.need[0], "need_y_h": self.need[1]}
        if self.n_outputs == 3:
            need_kw["need_y_c"] = self.need[2]
        for k in ("initial_c", "P"):
            if k in extra:
                extra[k] = f32(extra[k])
        try:
            outs = getattr(kernels, self.kernel_name)(
                f32(X), W, R, B=B, sequence_lens=sequence_lens, initial_h=f32(initial_h),
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

    def linear_before_reset(self) -> bool:
        return bool(self.attr("linear_before_reset", 0)) if self.version >= 3 else False

    def extra_kwargs(self):
        return {"linear_before_reset": self.linear_before_reset()}

    def run(self, X, W, R, B=None, sequence_lens=None, initial_h=None):
        return self.call_kernel(X, W, R, B, sequence_lens, initial_h)


@register("RNN", 1, 7, 14, 22)
class RNN(_RnnBase):
    kernel_name = "rnn"

    def run(self, X, W, R, B=None, sequence_lens=None, initial_h=None):
        return self.call_kernel(X, W, R, B, sequence_lens, initial_h)
