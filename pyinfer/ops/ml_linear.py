"""ai.onnx.ml linear models: LinearClassifier, LinearRegressor (what skl2onnx writes for linear
and logistic regression, linear SVMs, SGD and ridge models)."""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Op
from .ml_common import (ML, as_float32, binary_labels, class_labels, expand_binary, features_matrix, logistic,
                        post_transform_attr, probit, transform_rows)


def _coefficient_matrix(op: Op, n_targets: int) -> np.ndarray:
    """coefficients as [targets, features]."""
    coef = np.asarray(op.attr("coefficients"), dtype=np.float32).astype(np.float64)
    if n_targets < 1 or coef.size == 0 or coef.size % n_targets:
        raise op.model_error(f"attribute coefficients has {coef.size} values, not a multiple of the {n_targets} "
                             f"targets")
    return coef.reshape(n_targets, -1)


def _linear_scores(op: Op, x, coef: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    x = features_matrix(op, x)
    if x.shape[1] != coef.shape[1]:
        raise op.run_error(f"X has {x.shape[1]} features; the coefficients are for {coef.shape[1]}")
    return x @ coef.T + intercepts


@register("LinearClassifier", 1, domain=ML)
class LinearClassifier(Op):
    def setup(self):
        self.post = post_transform_attr(self)
        self.labels = class_labels(self)
        self.intercepts = np.asarray(self.attr("intercepts", []), dtype=np.float32).astype(np.float64)
        n_targets = len(self.intercepts)
        self.coef = _coefficient_matrix(self, n_targets)
        if n_targets > 1 and len(self.labels) != n_targets:
            raise self.model_error(f"{n_targets} intercepts (one per class) but {len(self.labels)} class labels")
        # onnxruntime: one score column for a two-class model scores the positive class
        self.binary_two_labels = n_targets == 1 and len(self.labels) == 2

    def run(self, x):
        scores = _linear_scores(self, x, self.coef, self.intercepts)
        if scores.shape[1] == 1:
            s = scores[:, 0]
            negative, positive = binary_labels(self.labels)
            label = np.where(s > 0, positive, negative)
            if self.binary_two_labels:  # onnxruntime: [1 - p, p], p the logistic of s under LOGISTIC
                z = expand_binary(logistic(s) if self.post == "LOGISTIC" else s, "NONE", 1)
            else:
                z = probit(scores) if self.post == "PROBIT" else scores
        else:
            label = self.labels[np.argmax(scores, axis=1)]
            z = transform_rows(scores, self.post)
        return label.astype(self.labels.dtype), as_float32(z)


@register("LinearRegressor", 1, domain=ML)
class LinearRegressor(Op):
    def setup(self):
        self.post = post_transform_attr(self)
        n_targets = int(self.attr("targets", 1))
        self.coef = _coefficient_matrix(self, n_targets)
        intercepts = np.asarray(self.attr("intercepts", []), dtype=np.float32).astype(np.float64)
        if intercepts.size not in (0, n_targets):
            raise self.model_error(f"attribute intercepts has {intercepts.size} values for {n_targets} targets")
        self.intercepts = intercepts if intercepts.size else np.zeros(n_targets)

    def run(self, x):
        scores = _linear_scores(self, x, self.coef, self.intercepts)
        if scores.shape[1] == 1:  # onnxruntime applies only PROBIT to a single target
            return (as_float32(probit(scores) if self.post == "PROBIT" else scores),)
        return (as_float32(transform_rows(scores, self.post)),)
