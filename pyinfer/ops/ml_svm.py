"""ai.onnx.ml support vector machines: SVMClassifier, SVMRegressor (skl2onnx's SVC / SVR / NuSVC /
OneClassSVM; libsvm's one-vs-one voting and Platt probabilities, as onnxruntime computes them)."""
from __future__ import annotations

import numpy as np

from ..registry import register
from .base import Op
from .ml_common import ML, as_float32, class_labels, expand_binary, features_matrix, post_transform_attr, transform_rows

KERNELS = ("LINEAR", "POLY", "RBF", "SIGMOID")


class _SVMKernel(Op):
    """kernel_type and kernel_params (gamma, coef0, degree), and the kernel between rows and vectors."""

    def setup_kernel(self):
        self.kernel = self.attr("kernel_type", "LINEAR")
        if self.kernel not in KERNELS:
            raise self.model_error(f"attribute kernel_type must be one of {', '.join(KERNELS)}, got {self.kernel!r}")
        params = [float(p) for p in self.attr("kernel_params", [])]
        self.gamma, self.coef0, self.degree = (params + [0.0, 0.0, 0.0])[:3] if params else (0.0, 0.0, 0.0)

    def kernel_matrix(self, x: np.ndarray, vectors: np.ndarray, kernel: str) -> np.ndarray:
        """[N, V]: the kernel of every row of x with every vector."""
        if kernel == "RBF":
            sq = (x * x).sum(axis=1)[:, None] + (vectors * vectors).sum(axis=1)[None, :] - 2.0 * x @ vectors.T
            return np.exp(-self.gamma * np.maximum(sq, 0.0))
        dot = x @ vectors.T
        if kernel == "LINEAR":
            return dot
        k = self.gamma * dot + self.coef0
        return np.tanh(k) if kernel == "SIGMOID" else k ** self.degree

    def checked_features(self, x, n_features: int) -> np.ndarray:
        x = features_matrix(self, x)
        if x.shape[1] != n_features:
            raise self.run_error(f"X has {x.shape[1]} features; the model's vectors have {n_features}")
        return x


def _floats(op: Op, name: str) -> np.ndarray:
    return np.asarray(op.attr(name, []), dtype=np.float32).astype(np.float64)


@register("SVMClassifier", 1, domain=ML)
class SVMClassifier(_SVMKernel):
    def setup(self):
        self.setup_kernel()
        self.post = post_transform_attr(self)
        self.labels = class_labels(self)
        n_classes = len(self.labels)
        coef = _floats(self, "coefficients")
        self.rho = _floats(self, "rho")
        self.prob_a, self.prob_b = _floats(self, "prob_a"), _floats(self, "prob_b")
        if len(self.prob_a) != len(self.prob_b):
            raise self.model_error("attributes prob_a and prob_b must have the same length")
        if coef.size == 0 or self.rho.size == 0:
            raise self.model_error("attributes coefficients and rho must not be empty")
        self.all_positive = bool((coef >= 0).all())
        per_class = np.asarray(self.attr("vectors_per_class", []), dtype=np.int64)
        n_vectors = int(per_class.sum()) if per_class.size else 0
        self.pairs = n_classes * (n_classes - 1) // 2
        if n_vectors > 0:  # libsvm: one-vs-one over support vectors
            sv = _floats(self, "support_vectors")
            if len(per_class) != n_classes or sv.size % n_vectors or coef.size != (n_classes - 1) * n_vectors:
                raise self.model_error(
                    f"vectors_per_class {per_class.tolist()}, {sv.size} support_vectors values and {coef.size} "
                    f"coefficients do not fit {n_classes} classes")
            if len(self.rho) < self.pairs or (self.prob_a.size and len(self.prob_a) < self.pairs):
                raise self.model_error(f"attributes rho / prob_a / prob_b need one value per class pair ({self.pairs})")
            self.vectors = sv.reshape(n_vectors, -1)
            self.pair_weights = self._pair_weights(coef.reshape(n_classes - 1, n_vectors), per_class)
        else:  # liblinear: one coefficient row per class
            if coef.size % n_classes:
                raise self.model_error(f"{coef.size} coefficients do not split into {n_classes} classes")
            self.vectors = None
            self.coef = coef.reshape(n_classes, -1)

    @staticmethod
    def _pair_weights(coef: np.ndarray, per_class: np.ndarray) -> np.ndarray:
        """[V, pairs]: the decision value of pair (i, j) is kernels @ W[:, pair] + rho[pair]. Class i's
        vectors weigh with coefficient row j - 1, class j's with row i (libsvm's layout)."""
        start = np.concatenate([[0], np.cumsum(per_class)])
        n_classes = len(per_class)
        weights = np.zeros((coef.shape[1], n_classes * (n_classes - 1) // 2))
        pair = 0
        for i in range(n_classes - 1):
            for j in range(i + 1, n_classes):
                si, sj = slice(start[i], start[i + 1]), slice(start[j], start[j + 1])
                weights[si, pair] = coef[j - 1, si]
                weights[sj, pair] = coef[i, sj]
                pair += 1
        return weights

    def run(self, x):
        if self.vectors is None:
            return self._run_linear(self.checked_features(x, self.coef.shape[1]))
        x = self.checked_features(x, self.vectors.shape[1])
        decision = self.kernel_matrix(x, self.vectors, self.kernel) @ self.pair_weights + self.rho[:self.pairs]
        label = self.labels[np.argmax(self._votes(decision), axis=1)]
        if self.prob_a.size:
            z = transform_rows(self._probabilities(decision), self.post) if len(self.labels) > 1 else decision
        elif self.pairs == 1:
            z = expand_binary(decision[:, 0], self.post, 2 if self.post == "NONE" else 0)
        else:
            z = transform_rows(decision, self.post)
        return label.astype(self.labels.dtype), as_float32(z)

    def _votes(self, decision: np.ndarray) -> np.ndarray:
        """[N, classes]: pair (i, j) votes for i when its decision value is positive, else for j."""
        n_classes = len(self.labels)
        votes = np.zeros((decision.shape[0], n_classes), dtype=np.int64)
        pair = 0
        for i in range(n_classes - 1):
            for j in range(i + 1, n_classes):
                positive = decision[:, pair] > 0
                votes[:, i] += positive
                votes[:, j] += ~positive
                pair += 1
        return votes

    def _probabilities(self, decision: np.ndarray) -> np.ndarray:
        """Platt scaling of each pair, then libsvm's pairwise coupling (multiclass_probability)."""
        n_rows, k = decision.shape[0], len(self.labels)
        r = np.zeros((n_rows, k, k))
        pair = 0
        for i in range(k - 1):
            for j in range(i + 1, k):
                p = 1.0 - _logistic_stable(decision[:, pair] * self.prob_a[pair] + self.prob_b[pair])
                p = np.clip(p, 1e-7, 1 - 1e-7)
                r[:, i, j], r[:, j, i] = p, 1.0 - p
                pair += 1
        return _couple_pairwise(r)

    def _run_linear(self, x: np.ndarray):
        scores = x @ self.coef.T + self.rho[0]
        best = np.argmax(scores, axis=1)
        label = self.labels[best]
        if self.pairs == 1 and not self.prob_a.size:  # two classes: onnxruntime's threshold rules
            top = scores[np.arange(len(best)), best]
            positive = (top >= 0.5) if self.all_positive else (top > 0)
            label = np.where(positive, self.labels[1], label)
        return label.astype(self.labels.dtype), as_float32(transform_rows(scores, self.post)
                                                            if scores.shape[1] > 1 else scores)


def _logistic_stable(v: np.ndarray) -> np.ndarray:
    e = 1.0 / (1.0 + np.exp(-np.abs(v)))
    return np.where(v < 0, 1.0 - e, e)


def _couple_pairwise(r: np.ndarray) -> np.ndarray:
    """libsvm's multiclass_probability for every row of r ([N, k, k] pairwise probabilities): the
    fixed-point iteration of Wu, Lin and Weng (2004), each row stopping when it has converged."""
    n_rows, k, _ = r.shape
    q = np.zeros((n_rows, k, k))
    for i in range(k):
        others = [j for j in range(k) if j != i]
        q[:, i, i] = (r[:, others, i] ** 2).sum(axis=1)
        for j in others:
            q[:, i, j] = -r[:, j, i] * r[:, i, j]
    p = np.full((n_rows, k), 1.0 / k)
    eps = 0.005 / k
    active = np.ones(n_rows, dtype=bool)
    for _ in range(100):
        qp = np.einsum("nij,nj->ni", q, p)
        pqp = (p * qp).sum(axis=1)
        active &= np.abs(qp - pqp[:, None]).max(axis=1) >= eps
        if not active.any():
            break
        a = np.flatnonzero(active)
        qa, pa, qpa, pqpa = q[a], p[a], qp[a], pqp[a]
        for t in range(k):
            diff = (-qpa[:, t] + pqpa) / qa[:, t, t]
            pa[:, t] += diff
            pqpa = (pqpa + diff * (diff * qa[:, t, t] + 2 * qpa[:, t])) / (1 + diff) / (1 + diff)
            qpa = (qpa + diff[:, None] * qa[:, t, :]) / (1 + diff[:, None])
            pa = pa / (1 + diff[:, None])
        p[a] = pa
    return p


@register("SVMRegressor", 1, domain=ML)
class SVMRegressor(_SVMKernel):
    def setup(self):
        self.setup_kernel()
        self.post = post_transform_attr(self)
        self.coef = _floats(self, "coefficients")
        self.rho = _floats(self, "rho")
        if self.coef.size == 0 or self.rho.size == 0:
            raise self.model_error("attributes coefficients and rho must not be empty")
        n_supports = int(self.attr("n_supports", 0))
        self.one_class = bool(self.attr("one_class", 0))
        if n_supports > 0:
            sv = _floats(self, "support_vectors")
            if sv.size % n_supports or self.coef.size != n_supports:
                raise self.model_error(f"{sv.size} support_vectors values and {self.coef.size} coefficients do not "
                                       f"fit n_supports={n_supports}")
            self.vectors = sv.reshape(n_supports, -1)
        else:
            self.vectors = None  # linear: coefficients are the weights of the features

    def run(self, x):
        if self.vectors is None:
            x = self.checked_features(x, self.coef.size)
            y = x @ self.coef + self.rho[0]
        else:
            x = self.checked_features(x, self.vectors.shape[1])
            y = self.kernel_matrix(x, self.vectors, self.kernel) @ self.coef + self.rho[0]
        if self.one_class:
            y = np.where(y > 0, 1.0, -1.0)
        return (as_float32(y.reshape(-1, 1)),)
