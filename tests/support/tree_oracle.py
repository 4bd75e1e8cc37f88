"""A NumPy tree ensemble (ml opsets 1-3), the oracle of tests/ops/test_ops_ml_trees.py: pyinfer's
implementation before the C++ kernel, kept for the tests only. It reads the same TreeNodes the op
makes (pyinfer.ops.ml_tree.tree_nodes: attribute ids as positions) and computes the outputs another
way: every (row, tree) pair walked one level per step as NumPy arrays, the leaves' weights gathered
and summed, then onnxruntime's output rules with the NumPy post-transforms below (pyinfer's before
csrc/ml/post_transform.cpp).
"""
from __future__ import annotations

import math

import numpy as np

from pyinfer.ops.ml_tree import LEAF, MODES, TreeNodes

_RULES = (np.less_equal, np.less, np.greater_equal, np.greater, np.equal, np.not_equal)
assert MODES[:len(_RULES)] == ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ")


# --- post-transforms -------------------------------------------------------------------------

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


# --- the ensemble ------------------------------------------------------------------------------

def leaves_reached(nodes: TreeNodes, x: np.ndarray) -> np.ndarray:
    """[N, trees]: the position of the leaf each row of x (float64 [N, F]) reaches in each tree."""
    n_rows, n_trees = x.shape[0], len(nodes.roots)
    at = np.tile(nodes.roots, n_rows)  # flat (row, tree) -> current node
    row = np.repeat(np.arange(n_rows), n_trees)
    walking = np.flatnonzero(nodes.mode[at] != LEAF)
    for _ in range(len(nodes.mode)):
        if walking.size == 0:
            return at.reshape(n_rows, n_trees)
        node = at[walking]
        value = x[row[walking], nodes.feature[node]]
        mode = nodes.mode[node]
        goes_true = np.select([mode == m for m in range(len(_RULES))], [rule(value, nodes.threshold[node])
                                                                         for rule in _RULES], False)
        goes_true |= nodes.missing_true[node] & np.isnan(value)
        nxt = np.where(goes_true, nodes.true_next[node], nodes.false_next[node])
        at[walking] = nxt
        walking = walking[nodes.mode[nxt] != LEAF]
    raise AssertionError("the oracle never reached a leaf: the trees have a cycle")


def aggregate(nodes: TreeNodes, leaves: np.ndarray, n_targets: int, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores [N, targets], has_score [N, targets]): the reached leaves' weights summed over the trees
    (SUM, AVERAGE: not yet divided) or their MIN / MAX (0 where no leaf weighed in)."""
    n = len(nodes.mode)
    weights = np.zeros((n, n_targets))
    has_weight = np.zeros((n, n_targets), dtype=bool)
    merge = {"MIN": np.minimum, "MAX": np.maximum}.get(how)
    for node, target, value in zip(nodes.weight_node, nodes.weight_target, nodes.weight_value):
        if merge is not None and has_weight[node, target]:
            weights[node, target] = merge(weights[node, target], value)
        else:
            weights[node, target] += value
        has_weight[node, target] = True
    w, h = weights[leaves], has_weight[leaves]  # [rows, trees, targets]
    has = h.any(axis=1)
    if merge is None:
        return w.sum(axis=1), has
    fill = np.inf if how == "MIN" else -np.inf
    scores = getattr(np.where(h, w, fill), how.lower())(axis=1)
    return np.where(has, scores, 0.0), has


def regressor(nodes: TreeNodes, x: np.ndarray, n_targets: int, how: str, post: str, base: np.ndarray):
    scores, has = aggregate(nodes, leaves_reached(nodes, x), n_targets, how)
    if how == "AVERAGE":
        scores = scores / len(nodes.roots)
    if n_targets == 1:  # onnxruntime: one base value only, PROBIT the only transform
        scores = scores + (base[0] if len(base) == 1 else 0.0)
        return probit(scores) if post == "PROBIT" else scores
    if len(base) == n_targets:
        scores = scores + base
    return transform_rows(np.where(has, scores, 0.0), post)


def classifier(nodes: TreeNodes, x: np.ndarray, labels: np.ndarray, post: str, base: np.ndarray,
               binary_case: bool, weights_all_positive: bool):
    """(labels, scores) with onnxruntime's multi-class and two-class rules."""
    scores, has = aggregate(nodes, leaves_reached(nodes, x), len(labels), "SUM")
    if len(labels) > 2:
        scores[:, :len(base)] += base
        has[:, :len(base)] = True
        best = np.argmax(np.where(has, scores, -np.inf), axis=1)
        return labels[best], transform_rows(np.where(has, scores, 0.0), post)
    s0, s1, h0, h1 = scores[:, 0], scores[:, 1], has[:, 0], has[:, 1]
    mode = np.full(len(s0), -1)
    two = np.ones(len(s0), dtype=bool)
    if len(base) == 2:
        positive = np.where(h1, base[1] + s0, s1 + base[1])
        s0, s1 = np.where(h1, -positive, s0 + base[0]), positive
    elif len(base) == 1:
        s0 = s0 + base[0]
        two = h1.copy()
    else:
        mode[:] = 3
        two = h1.copy()
    pos = np.where(two & h1, s1, np.where(h0, s0, 0.0))
    if binary_case:
        is_pos = pos > (0.5 if weights_all_positive else 0.0)
        mode = np.where(is_pos, 0, 1) if weights_all_positive else np.where(is_pos, 2, 3)
        label = np.where(is_pos, labels[1], labels[0])
    else:  # onnxruntime answers the class index here (the label for string labels)
        is_pos = (pos > 0).astype(np.int64)
        label = labels[is_pos] if labels.dtype == object else is_pos
    s0, s1 = np.where(h0, s0, 0.0), np.where(h1, s1, 0.0)
    z = np.empty((len(s0), 2))
    z[two] = transform_rows(np.stack([s0[two], s1[two]], axis=1), post)
    z[~two] = expand_binary(s0[~two], post, mode[~two])
    return label, z
