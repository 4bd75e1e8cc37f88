"""Loss operators: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss.

Both take (N, C) or (N, C, d1, ..., dk) inputs and (N) or (N, d1, ..., dk) class indices.
'mean' divides by the sum of the weights actually applied (ignored targets weigh 0), as in
PyTorch; a mean over no contributing element is 0/0 = NaN.
"""
from __future__ import annotations

import numpy as np

from ..registry import register
from ._nnmath import compute_dtype, is_float_dtype, to_compute
from .base import Op

_REDUCTIONS = ("none", "sum", "mean")


class _LossBase(Op):
    def setup(self):
        self.reduction = self.attr("reduction", "mean")
        if self.reduction not in _REDUCTIONS:
            raise self.model_error(f"reduction must be one of {_REDUCTIONS}, got {self.reduction!r}")
        ignore = self.attr("ignore_index", None)
        self.ignore_index = None if ignore is None else int(ignore)

    def _check(self, x, target, weight, x_name, target_name):
        if not is_float_dtype(x.dtype):
            raise self.run_error(f"{x_name} must be a floating-point tensor, got {x.dtype}")
        if x.ndim < 2:
            raise self.run_error(f"{x_name} must be (N, C) or (N, C, d1, ...), got shape {x.shape}")
        if target.dtype not in (np.int32, np.int64):
            raise self.run_error(f"{target_name} must be int32 or int64, got {target.dtype}")
        want = (x.shape[0],) + x.shape[2:]
        if target.shape != want:
            raise self.run_error(f"{target_name} has shape {target.shape}; {x_name} {x.shape} needs {want}")
        if weight is not None and (weight.shape != (x.shape[1],) or weight.dtype != x.dtype):
            raise self.run_error(f"weight must be {x.dtype} of shape ({x.shape[1]},), got {weight.dtype} {weight.shape}")

    def _nll(self, logp, target, weight, out_dtype):
        """Loss from log-probabilities `logp` (already in the compute dtype)."""
        classes = logp.shape[1]
        ignored = (target == self.ignore_index) if self.ignore_index is not None else np.zeros(target.shape, bool)
        bad = ~ignored & ((target < 0) | (target >= classes))
        if np.any(bad):
            raise self.run_error(f"target values must lie in [0, {classes}) or equal ignore_index "
                                 f"({self.ignore_index}); found {target[bad].reshape(-1)[0]}")
        safe = np.where(ignored, 0, target).astype(np.intp)
        if classes == 0:  # every target is ignored (else it would be out of range)
            picked = np.zeros(target.shape, logp.dtype)
        else:
            picked = np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]
        w = np.ones(target.shape, logp.dtype) if weight is None else to_compute(weight, logp.dtype)[safe]
        w = np.where(ignored, logp.dtype.type(0), w)
        loss = -picked * w
        if self.reduction == "sum":
            loss = loss.sum()
        elif self.reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                loss = loss.sum() / w.sum()
        return np.asarray(loss).astype(out_dtype)


@register("NegativeLogLikelihoodLoss", 12, 13, 22)
class NegativeLogLikelihoodLoss(_LossBase):
    def run(self, x, target, weight=None):
        self._check(x, target, weight, "input", "target")
        return (self._nll(to_compute(x), target, weight, x.dtype),)


@register("SoftmaxCrossEntropyLoss", 12, 13)
class SoftmaxCrossEntropyLoss(_LossBase):
    def run(self, scores, labels, weights=None):
        self._check(scores, labels, weights, "scores", "labels")
        s = to_compute(scores, compute_dtype(scores.dtype))
        shifted = s - np.max(s, axis=1, keepdims=True, initial=-np.inf)
        log_prob = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        return self._nll(log_prob, labels, weights, scores.dtype), log_prob.astype(scores.dtype)
