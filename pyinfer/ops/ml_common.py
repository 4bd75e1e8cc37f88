"""What the classic ai.onnx.ml predictors share: the input as a float matrix, the post-transforms
of their scores and class labels.

The reference for the operators' exact behaviour is onnxruntime (the ONNX spec leaves the binary
cases open): scores are computed in float64 and returned as float32; the post-transforms follow
onnxruntime's rules for which of them applies when (see apply_post_transform).
"""
from __future__ import annotations

import math

import numpy as np

from .base import Op

ML = "ai.onnx.ml"
POST_TRANSFORMS = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")
NUMERIC_INPUTS = (np.float32, np.float64, np.int64, np.int32)


def post_transform_attr(op: Op) -> str:
    post = op.attr("post_transform", "NONE")
    if post not in POST_TRANSFORMS:
        raise op.model_error(f"attribute post_transform must be one of {', '.join(POST_TRANSFORMS)}, got {post!r}")
    return post


def features_matrix(op: Op, x, allowed=NUMERIC_INPUTS) -> np.ndarray:
    """X as a float64 [N, F] matrix: a 1-D X is one row (as onnxruntime reads it)."""
    if not isinstance(x, np.ndarray) or x.dtype not in allowed:
        names = ", ".join(np.dtype(t).name for t in allowed)
        raise op.run_error(f"X must be a tensor of {names}, got {getattr(x, 'dtype', type(x).__name__)}")
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2:
        raise op.run_error(f"X must be [N, F] or [F], got shape {list(x.shape)}")
    return x.astype(np.float64)


def class_labels(op: Op, ints: str = "classlabels_ints", strings: str = "classlabels_strings",
                 required: bool = True) -> np.ndarray | None:
    """The class labels attribute as an int64 or object (str) array."""
    labels_s = op.attr(strings, None)
    labels_i = op.attr(ints, None)
    if labels_s:
        return np.array(list(labels_s), dtype=object)
    if labels_i:
        return np.asarray(labels_i, dtype=np.int64)
    if required:
        raise op.model_error(f"one of the attributes {ints} or {strings} must list the class labels")
    return None


def binary_labels(labels: np.ndarray) -> tuple:
    """(negative, positive) labels of a two-class model, or onnxruntime's defaults 0 / 1 ("0" / "1")."""
    if len(labels) == 2:
        return labels[0], labels[1]
    return ("0", "1") if labels.dtype == object else (0, 1)


def erfinv(y: np.ndarray) -> np.ndarray:
    """Inverse error function (float64): Giles' approximation refined by two Newton steps."""
    y = np.asarray(y, dtype=np.float64)
    out = np.full(y.shape, np.nan)
    inside = np.abs(y) < 1
    out[y == 1], out[y == -1] = np.inf, -np.inf
    v = y[inside]
    w = -np.log((1.0 - v) * (1.0 + v))
    small = w < 5.0
    ws, wl = w - 2.5, np.sqrt(w) - 3.0
    p_small = np.polyval([2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                          -0.00125372503, -0.00417768164, 0.246640727, 1.50140941], ws)
    p_large = np.polyval([-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                          -0.0076224613, 0.00943887047, 1.00167406, 2.83297682], wl)
    x = np.where(small, p_small, p_large) * v
    erf = np.vectorize(math.erf, otypes=[np.float64])
    for _ in range(2):
        x = x - (erf(x) - v) / (2.0 / math.sqrt(math.pi) * np.exp(-x * x))
    out[inside] = x
    return out


def probit(s: np.ndarray) -> np.ndarray:
    return math.sqrt(2.0) * erfinv(2.0 * s - 1.0)


def logistic(s: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-s))


def softmax_rows(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_zero_rows(s: np.ndarray) -> np.ndarray:
    """Softmax over the non-zero scores of each row; zeros stay (almost) zero (onnxruntime: a score
    within 1e-7 of zero is scaled by exp(-max) instead of exponentiated)."""
    top = s.max(axis=1, keepdims=True)
    zero = np.abs(s) <= 1e-7
    e = np.where(zero, s * np.exp(-top), np.exp(s - top))
    total = np.where(zero, 0.0, e).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return e / total


def transform_rows(s: np.ndarray, post: str) -> np.ndarray:
    """The post-transform applied to every score of each row (rows of two or more scores)."""
    if post == "SOFTMAX":
        return softmax_rows(s)
    if post == "SOFTMAX_ZERO":
        return softmax_zero_rows(s)
    if post == "LOGISTIC":
        return logistic(s)
    if post == "PROBIT":
        return probit(s)
    return s


def expand_binary(s: np.ndarray, post: str, mode) -> np.ndarray:
    """One score per row -> the two-column output onnxruntime writes for a two-class model.

    mode per row (scalar or array), onnxruntime's `add_second_class`:
      0, 1: [1 - s, s] (scores already probabilities); 2, 3: [-s, s], or with LOGISTIC
      [logistic(-s), logistic(s)]; -1: [s, 0] (only one score is written). PROBIT: [probit(s), 0].
    """
    s = s.reshape(-1)
    mode = np.broadcast_to(np.asarray(mode), s.shape)
    out = np.zeros((s.shape[0], 2))
    if post == "PROBIT":
        out[:, 0] = probit(s)
        return out
    prob = mode <= 1
    signed = mode >= 2
    single = mode < 0
    out[:, 0] = np.where(prob & ~single, 1.0 - s, np.where(signed, -s, s))
    out[:, 1] = np.where(single, 0.0, s)
    if post == "LOGISTIC":
        out[signed, 0] = logistic(-s[signed])
        out[signed, 1] = logistic(s[signed])
    return out


def as_float32(y: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(y, dtype=np.float32)
