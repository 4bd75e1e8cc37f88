"""ai.onnx.ml linear models: LinearClassifier, LinearRegressor (what skl2onnx writes for linear
and logistic regression, linear SVMs, SGD and ridge models), on the C++ kernel of
csrc/ml/linear.cpp (scores X W^T + b in double, onnxruntime's output rules)."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..registry import register
from .base import Op
from .ml_common import ML, Predictor, binary_labels, class_labels, kernel_labels, post_transform_attr


def _coefficient_matrix(op: Op, n_targets: int) -> np.ndarray:
    """coefficients as [targets, features] (float32 values, as the attribute holds them)."""
    coef = np.asarray(op.attr("coefficients"), dtype=np.float32).astype(np.float64)
    if n_targets < 1 or coef.size == 0 or coef.size % n_targets:
        raise op.model_error(f"attribute coefficients has {coef.size} values, not a multiple of the {n_targets} "
                             f"targets")
    return coef.reshape(n_targets, -1)


class _LinearModel(Predictor):
    kernel, prepare = staticmethod(kernels.linear_model), staticmethod(kernels.prepare_linear_model)

    def columns_error(self, columns: int) -> str | None:
        if columns != self.n_features:
            return f"X has {columns} features; the coefficients are for {self.n_features}"
        return None


@register("LinearClassifier", 1, domain=ML)
class LinearClassifier(_LinearModel):
    classifier = True

    def setup(self):
        labels = class_labels(self)
        intercepts = np.asarray(self.attr("intercepts", []), dtype=np.float32).astype(np.float64)
        n_targets = len(intercepts)
        coef = _coefficient_matrix(self, n_targets)
        if n_targets > 1 and len(labels) != n_targets:
            raise self.model_error(f"{n_targets} intercepts (one per class) but {len(labels)} class labels")
        if n_targets == 1:  # one score: its sign picks (negative, positive)
            labels = np.array(binary_labels(labels), dtype=labels.dtype)
        label_values, self.string_labels = kernel_labels(labels)
        self.n_features = coef.shape[1]
        # onnxruntime: one score column for a two-class model gives [1 - p, p]
        self.model = kernels.LinearModel(coef, intercepts, rule="classifier", post_transform=post_transform_attr(self),
                                         label_values=label_values,
                                         two_labels=n_targets == 1 and len(class_labels(self)) == 2)


@register("LinearRegressor", 1, domain=ML)
class LinearRegressor(_LinearModel):
    def setup(self):
        n_targets = int(self.attr("targets", 1))
        coef = _coefficient_matrix(self, n_targets)
        intercepts = np.asarray(self.attr("intercepts", []), dtype=np.float32).astype(np.float64)
        if intercepts.size not in (0, n_targets):
            raise self.model_error(f"attribute intercepts has {intercepts.size} values for {n_targets} targets")
        self.n_features = coef.shape[1]
        self.model = kernels.LinearModel(coef, intercepts if intercepts.size else np.zeros(n_targets),
                                         post_transform=post_transform_attr(self))
