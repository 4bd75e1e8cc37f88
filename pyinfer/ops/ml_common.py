"""What the classic ai.onnx.ml predictors share: the post_transform and class-label attributes, and
Predictor, the base of the ops whose computation is a C++ kernel of csrc/ml/ (tree ensembles, linear
models, SVMs).

The reference for the operators' exact behaviour is onnxruntime (the ONNX spec leaves the binary
cases open); the kernels compute in double and return float32 scores (csrc/ml/post_transform.h).
"""
from __future__ import annotations

import numpy as np

from ..lowering import Native
from .base import Op

ML = "ai.onnx.ml"
POST_TRANSFORMS = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")
NUMERIC_INPUTS = (np.float32, np.float64, np.int64, np.int32)
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def post_transform_attr(op: Op) -> str:
    post = op.attr("post_transform", "NONE")
    if post not in POST_TRANSFORMS:
        raise op.model_error(f"attribute post_transform must be one of {', '.join(POST_TRANSFORMS)}, got {post!r}")
    return post


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


def kernel_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(the int64 label values a kernel writes per class index, the strings run() maps those
    indices to or None): string labels come back from the kernel as indices."""
    if labels.dtype == object:
        return np.arange(len(labels)), labels
    return labels, None


class Predictor(Op):
    """An ai.onnx.ml predictor computed by a C++ kernel: setup() makes `self.model` (the kernel's
    model object) and sets `self.kernel` / `self.prepare` (pyinfer.kernels' function running the
    model on an array, and its prepare_*); run() calls the kernel, lower() prepares it for a plan.

    X: `inputs` dtypes, rank in [min_rank, max_rank] (a 1-D X is one row); integers run as float64.
    A classifier sets `string_labels` (index -> label) when its labels are strings: the kernel
    writes class indices, mapped here (such a node stays a Python step in plans).
    """

    inputs = NUMERIC_INPUTS
    min_rank, max_rank = 1, 2
    classifier = False
    string_labels: np.ndarray | None = None

    def columns_error(self, columns: int) -> str | None:
        """Why X cannot have this many columns (None when it can)."""
        return None

    def kernel_input(self, x) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype not in self.inputs:
            names = ", ".join(np.dtype(t).name for t in self.inputs)
            raise self.run_error(f"X must be a tensor of {names}, got {getattr(x, 'dtype', type(x).__name__)}")
        if not self.min_rank <= x.ndim <= self.max_rank:
            raise self.run_error(f"X must be [N, F]{' or [F]' if self.min_rank == 1 else ''}, got shape "
                                 f"{list(x.shape)}")
        problem = self.columns_error(x.shape[-1])
        if problem:
            raise self.run_error(problem)
        return x if x.dtype in _KERNEL_DTYPES else x.astype(np.float64)

    def run(self, x):
        out = self.kernel(self.model, self.kernel_input(x), num_threads=self.num_threads)
        if not self.classifier:
            return (out,)
        label, scores = out
        return (label if self.string_labels is None else self.string_labels[label]), scores

    def lower(self, node):
        x = node.inputs[0]
        if (x.dtype not in _KERNEL_DTYPES or not self.min_rank <= x.ndim <= self.max_rank
                or self.columns_error(x.shape[-1])
                or (self.classifier and (self.string_labels is not None or len(node.outputs) != 2))):
            return None
        return Native(self.prepare(self.model, list(x.shape), x.dtype.name), [0])
