"""ai.onnx.preview.training optimizers: Momentum, Adagrad, Adam (one update step each).

Inputs are R (learning rate), T (update count), then the optimized tensors and their state in
groups: X_1..X_n, G_1..G_n, then one or two state groups. The update formulas are the spec's
pseudo code, evaluated in float64 and returned in each X's dtype.
"""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Op

TRAINING = "ai.onnx.preview.training"


class _Optimizer(Op):
    n_state = 1  # state tensors per optimized tensor besides X and G

    def split_inputs(self, r, t, tensors):
        for v, what in ((r, "R"), (t, "T")):
            if v is None or np.size(v) != 1 or np.ndim(v) > 1:
                raise self.run_error(f"{what} must be a scalar")
        if r.dtype not in (np.float32, np.float64):
            raise self.run_error(f"R must be float or double, got {r.dtype}")
        if t.dtype != np.int64:
            raise self.run_error(f"T must be int64, got {t.dtype}")
        groups = 2 + self.n_state
        if not tensors or len(tensors) % groups:
            raise self.run_error(f"expected {groups} inputs per optimized tensor after R and T, got {len(tensors)}")
        n = len(tensors) // groups
        for i, a in enumerate(tensors):
            if a is None or a.dtype not in (np.float32, np.float64):
                raise self.run_error(f"input {i + 2} must be a float or double tensor")
        per = [tensors[k * n:(k + 1) * n] for k in range(groups)]
        for i in range(n):
            shapes = {tuple(g[i].shape) for g in per}
            if len(shapes) != 1:
                raise self.run_error(f"tensor {i}: X, G and state shapes differ: {sorted(shapes)}")
        return float(r.reshape(-1)[0]), int(t.reshape(-1)[0]), per


@register("Momentum", 1, domain=TRAINING)
class Momentum(_Optimizer):
    def setup(self):
        self.alpha = float(self.attr("alpha"))
        self.beta = float(self.attr("beta"))
        self.norm = float(self.attr("norm_coefficient"))
        self.mode = self.attr("mode")
        if self.mode not in ("standard", "nesterov"):
            raise self.model_error(f"mode must be 'standard' or 'nesterov', got {self.mode!r}")

    def run(self, r, t, *tensors):
        r, t, (xs, gs, vs) = self.split_inputs(r, t, tensors)
        beta = self.beta if t > 0 else 1.0  # the first step takes the whole gradient
        new_x, new_v = [], []
        for x, g, v in zip(xs, gs, vs):
            g_reg = self.norm * x.astype(np.float64) + g
            v_new = self.alpha * v.astype(np.float64) + beta * g_reg
            step = g_reg + self.alpha * v_new if self.mode == "nesterov" else v_new
            new_x.append((x - r * step).astype(x.dtype))
            new_v.append(v_new.astype(v.dtype))
        return tuple(new_x + new_v)


@register("Adagrad", 1, domain=TRAINING)
class Adagrad(_Optimizer):
    def setup(self):
        self.decay = float(self.attr("decay_factor", 0.0))
        self.eps = float(self.attr("epsilon", 1e-6))
        self.norm = float(self.attr("norm_coefficient", 0.0))

    def run(self, r, t, *tensors):
        r, t, (xs, gs, hs) = self.split_inputs(r, t, tensors)
        rate = r / (1.0 + t * self.decay)
        new_x, new_h = [], []
        for x, g, h in zip(xs, gs, hs):
            g_reg = self.norm * x.astype(np.float64) + g
            h_new = h.astype(np.float64) + g_reg * g_reg
            new_x.append((x - rate * g_reg / (np.sqrt(h_new) + self.eps)).astype(x.dtype))
            new_h.append(h_new.astype(h.dtype))
        return tuple(new_x + new_h)


@register("Adam", 1, domain=TRAINING)
class Adam(_Optimizer):
    n_state = 2

    def setup(self):
        self.alpha = float(self.attr("alpha", 0.9))
        self.beta = float(self.attr("beta", 0.999))
        self.eps = float(self.attr("epsilon", 1e-6))
        self.norm = float(self.attr("norm_coefficient", 0.0))
        self.norm_post = float(self.attr("norm_coefficient_post", 0.0))

    def run(self, r, t, *tensors):
        r, t, (xs, gs, vs, hs) = self.split_inputs(r, t, tensors)
        rate = r * np.sqrt(1.0 - self.beta ** t) / (1.0 - self.alpha ** t) if t > 0 else r
        new_x, new_v, new_h = [], [], []
        for x, g, v, h in zip(xs, gs, vs, hs):
            g_reg = self.norm * x.astype(np.float64) + g
            v_new = self.alpha * v.astype(np.float64) + (1.0 - self.alpha) * g_reg
            h_new = self.beta * h.astype(np.float64) + (1.0 - self.beta) * g_reg * g_reg
            x_new = x - rate * v_new / (np.sqrt(h_new) + self.eps)
            new_x.append(((1.0 - self.norm_post) * x_new).astype(x.dtype))
            new_v.append(v_new.astype(v.dtype))
            new_h.append(h_new.astype(h.dtype))
        return tuple(new_x + new_v + new_h)
