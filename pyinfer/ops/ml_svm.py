"""ai.onnx.ml support vector machines: SVMClassifier, SVMRegressor (skl2onnx's SVC / SVR / NuSVC /
OneClassSVM and linear SVMs), on the C++ kernel of csrc/ml/svm.cpp: libsvm's one-vs-one voting and
Platt probabilities coupled pairwise, in double, with onnxruntime's output rules."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..registry import register
from .base import Op
from .ml_common import ML, Predictor, class_labels, kernel_labels, post_transform_attr

KERNELS = ("LINEAR", "POLY", "RBF", "SIGMOID")


def _floats(op: Op, name: str) -> np.ndarray:
    return np.asarray(op.attr(name, []), dtype=np.float32).astype(np.float64)


class _SVM(Predictor):
    """kernel_type and kernel_params, the model's feature count, and the kernel's SVMModel."""

    kernel, prepare = staticmethod(kernels.svm), staticmethod(kernels.prepare_svm)

    def kernel_attrs(self) -> dict:
        kernel = self.attr("kernel_type", "LINEAR")
        if kernel not in KERNELS:
            raise self.model_error(f"attribute kernel_type must be one of {', '.join(KERNELS)}, got {kernel!r}")
        params = [float(p) for p in self.attr("kernel_params", [])]
        return {"kernel_type": kernel, "kernel_params": (params + [0.0, 0.0, 0.0])[:3] if params else ()}

    def make_model(self, rule: str, features: int, **model) -> None:
        self.n_features = features
        try:
            self.model = kernels.SVMModel(rule, features, post_transform=post_transform_attr(self),
                                          **self.kernel_attrs(), **model)
        except KernelArgumentError as e:  # attributes that do not fit together
            raise self.model_error(str(e).removeprefix("SVMModel: ")) from e

    def columns_error(self, columns: int) -> str | None:
        if columns != self.n_features:
            return f"X has {columns} features; the model's vectors have {self.n_features}"
        return None


@register("SVMClassifier", 1, domain=ML)
class SVMClassifier(_SVM):
    classifier = True

    def setup(self):
        labels = class_labels(self)
        n_classes = len(labels)
        coef = _floats(self, "coefficients")
        rho, prob_a, prob_b = _floats(self, "rho"), _floats(self, "prob_a"), _floats(self, "prob_b")
        if len(prob_a) != len(prob_b):
            raise self.model_error("attributes prob_a and prob_b must have the same length")
        if coef.size == 0 or rho.size == 0:
            raise self.model_error("attributes coefficients and rho must not be empty")
        per_class = np.asarray(self.attr("vectors_per_class", []), dtype=np.int64)
        n_vectors = int(per_class.sum()) if per_class.size else 0
        vectors = _floats(self, "support_vectors") if n_vectors > 0 else np.zeros(0)
        if n_vectors > 0:  # libsvm: one-vs-one over support vectors
            if len(per_class) != n_classes or vectors.size % n_vectors or coef.size != (n_classes - 1) * n_vectors:
                raise self.model_error(
                    f"vectors_per_class {per_class.tolist()}, {vectors.size} support_vectors values and {coef.size} "
                    f"coefficients do not fit {n_classes} classes")
            features = vectors.size // n_vectors
        else:  # liblinear: one coefficient row per class
            if coef.size % n_classes:
                raise self.model_error(f"{coef.size} coefficients do not split into {n_classes} classes")
            features = coef.size // n_classes
        label_values, self.string_labels = kernel_labels(labels)
        self.make_model("classifier", features, coefficients=coef, rho=rho, support_vectors=vectors,
                        vectors_per_class=per_class if n_vectors else (), prob_a=prob_a, prob_b=prob_b,
                        label_values=label_values)


@register("SVMRegressor", 1, domain=ML)
class SVMRegressor(_SVM):
    def setup(self):
        coef, rho = _floats(self, "coefficients"), _floats(self, "rho")
        if coef.size == 0 or rho.size == 0:
            raise self.model_error("attributes coefficients and rho must not be empty")
        n_supports = int(self.attr("n_supports", 0))
        vectors = _floats(self, "support_vectors") if n_supports > 0 else np.zeros(0)
        if n_supports > 0 and (vectors.size % n_supports or coef.size != n_supports):
            raise self.model_error(f"{vectors.size} support_vectors values and {coef.size} coefficients do not "
                                   f"fit n_supports={n_supports}")
        # without support vectors the coefficients are the features' weights
        features = vectors.size // n_supports if n_supports > 0 else coef.size
        self.make_model("regressor", features, coefficients=coef, rho=rho, support_vectors=vectors,
                        one_class=bool(self.attr("one_class", 0)))
