"""ai.onnx.ml operators: LabelEncoder, TreeEnsemble, ArrayFeatureExtractor, Binarizer."""
from __future__ import annotations

import math

import numpy as np

from ..registry import register
from .base import Op
from .ml_common import ML, probit
from .text import string_array


# --- LabelEncoder ------------------------------------------------------------------------------

def _tensor_values(op: Op, t: np.ndarray, what: str) -> tuple[list, np.dtype]:
    """A keys_/values_/default_tensor attribute as Python values plus its dtype (object for strings)."""
    t = np.asarray(t)
    if t.dtype.kind in "OSU":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in t.reshape(-1)], np.dtype(object)
    allowed = (np.int64, np.float32, np.int32, np.int16, np.float64)
    if t.dtype not in allowed:
        raise op.model_error(f"{what} has unsupported dtype {t.dtype}")
    return t.reshape(-1).tolist(), t.dtype


@register("LabelEncoder", 1, 2, 4, domain=ML)
class LabelEncoder(Op):
    def setup(self):
        if self.version == 1:
            self._setup_v1()
            return
        kinds = ("floats", "int64s", "strings") + (("tensor",) if self.version >= 4 else ())
        keys = [k for k in kinds if f"keys_{k}" in self.attrs]
        vals = [k for k in kinds if f"values_{k}" in self.attrs]
        if len(keys) != 1 or len(vals) != 1:
            raise self.model_error("exactly one keys_* and one values_* attribute must be set")
        self.keys, self.key_dtype = self._attr_list("keys", keys[0])
        values, self.out_dtype = self._attr_list("values", vals[0])
        if len(self.keys) != len(values):
            raise self.model_error(f"{len(self.keys)} keys but {len(values)} values")
        self.default = self._default(vals[0])
        self._build(self.keys, values)

    def _attr_list(self, side: str, kind: str):
        value = self.attr(f"{side}_{kind}")
        if kind == "tensor":
            return _tensor_values(self, value, f"{side}_tensor")
        dtype = {"floats": np.dtype(np.float32), "int64s": np.dtype(np.int64), "strings": np.dtype(object)}[kind]
        return list(value), dtype

    def _default(self, kind: str):
        if kind == "tensor":
            if "default_tensor" in self.attrs:
                vals, dt = _tensor_values(self, self.attrs["default_tensor"], "default_tensor")
                if len(vals) != 1 or dt != self.out_dtype:
                    raise self.model_error(f"default_tensor must hold one {self.out_dtype} value")
                return vals[0]
            return {"O": "_Unused", "i": -1, "f": -0.0}[self.out_dtype.kind]
        return {"floats": self.attr("default_float", -0.0), "int64s": self.attr("default_int64", -1),
                "strings": self.attr("default_string", "_Unused")}[kind]

    def _build(self, keys, values):
        # Later duplicates win; every NaN key matches every NaN input.
        self.table, self.nan_value = {}, None
        for k, v in zip(keys, values):
            if isinstance(k, float) and math.isnan(k):
                self.nan_value = (v,)
            else:
                self.table[k] = v

    def _setup_v1(self):
        classes = list(self.attr("classes_strings", []))
        self.v1_classes = classes
        self.v1_default_string = self.attr("default_string", "_Unused")
        self.v1_default_int = self.attr("default_int64", -1)

    def run(self, x):
        if self.version == 1:
            return self._run_v1(x)
        if self.key_dtype.kind == "O":
            xs = string_array(self, x, "X")
        elif x.dtype != self.key_dtype:
            raise self.run_error(f"X has dtype {x.dtype}; the keys are {self.key_dtype}")
        else:
            xs = x
        out = np.empty(x.shape, dtype=self.out_dtype)
        flat_out = out.reshape(-1)
        nan_value = self.nan_value
        for i, v in enumerate(xs.reshape(-1).tolist()):
            if nan_value is not None and isinstance(v, float) and v != v:
                flat_out[i] = nan_value[0]
            else:
                flat_out[i] = self.table.get(v, self.default)
        return (out,)

    def _run_v1(self, x):
        if x.dtype == np.int64:  # index -> class string
            out = np.empty(x.shape, dtype=object)
            n = len(self.v1_classes)
            out.reshape(-1)[:] = [self.v1_classes[i] if 0 <= i < n else self.v1_default_string
                                  for i in x.reshape(-1).tolist()]
            return (out,)
        xs = string_array(self, x, "X")
        index = {}
        for i, c in enumerate(self.v1_classes):
            index.setdefault(c, i)
        out = np.array([index.get(s, self.v1_default_int) for s in xs.reshape(-1)], dtype=np.int64)
        return (out.reshape(x.shape),)


# --- TreeEnsemble ------------------------------------------------------------------------------

_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER = range(7)
_AVERAGE, _SUM, _MIN, _MAX = range(4)


@register("TreeEnsemble", 5, domain=ML)
class TreeEnsemble(Op):
    def setup(self):
        a = self.attr
        self.feature = np.asarray(a("nodes_featureids"), dtype=np.int64)
        n = len(self.feature)
        self.mode = np.asarray(a("nodes_modes"), dtype=np.int64).reshape(-1)
        self.split = np.asarray(a("nodes_splits"), dtype=np.float64).reshape(-1)
        self.true_id = np.asarray(a("nodes_truenodeids"), dtype=np.int64)
        self.false_id = np.asarray(a("nodes_falsenodeids"), dtype=np.int64)
        self.true_leaf = np.asarray(a("nodes_trueleafs"), dtype=bool)
        self.false_leaf = np.asarray(a("nodes_falseleafs"), dtype=bool)
        missing = a("nodes_missing_value_tracks_true", None)
        self.missing_true = np.zeros(n, bool) if missing is None else np.asarray(missing, dtype=bool)
        self.leaf_target = np.asarray(a("leaf_targetids"), dtype=np.int64)
        self.leaf_weight = np.asarray(a("leaf_weights"), dtype=np.float64).reshape(-1)
        self.roots = np.asarray(a("tree_roots"), dtype=np.int64)
        self.n_targets = a("n_targets")
        self.aggregate = a("aggregate_function", _SUM)
        self.post = a("post_transform", 0)
        for name, arr in (("nodes_modes", self.mode), ("nodes_splits", self.split),
                          ("nodes_truenodeids", self.true_id), ("nodes_falsenodeids", self.false_id),
                          ("nodes_trueleafs", self.true_leaf), ("nodes_falseleafs", self.false_leaf),
                          ("nodes_missing_value_tracks_true", self.missing_true)):
            if len(arr) != n:
                raise self.model_error(f"{name} has {len(arr)} entries, nodes_featureids has {n}")
        n_leaves = len(self.leaf_weight)
        if len(self.leaf_target) != n_leaves:
            raise self.model_error(f"leaf_targetids has {len(self.leaf_target)} entries, leaf_weights {n_leaves}")
        if n and self.feature.min() < 0:
            raise self.model_error("nodes_featureids must be >= 0")
        if self.mode.size and (self.mode.min() < 0 or self.mode.max() > _MEMBER):
            raise self.model_error("nodes_modes must lie in 0..6")
        bad_target = n_leaves and (self.leaf_target.min() < 0 or self.leaf_target.max() >= self.n_targets)
        if self.n_targets < 1 or bad_target:
            raise self.model_error(f"leaf_targetids must lie in [0, n_targets={self.n_targets})")
        for ids, leaf, what in ((self.true_id, self.true_leaf, "true"), (self.false_id, self.false_leaf, "false")):
            bound = np.where(leaf, n_leaves, n)
            if n and ((ids < 0) | (ids >= bound)).any():
                raise self.model_error(f"nodes_{what}nodeids reference a missing node or leaf")
        if self.roots.size == 0 or self.roots.min() < 0 or self.roots.max() >= n:
            raise self.model_error("tree_roots must be non-empty indices into nodes_*")
        if self.aggregate not in (_AVERAGE, _SUM, _MIN, _MAX) or self.post not in range(5):
            raise self.model_error(f"unknown aggregate_function {self.aggregate} or post_transform {self.post}")
        # BRANCH_MEMBER sets: membership_values lists them in node order, NaN-delimited.
        self.members = {}
        member_nodes = np.flatnonzero(self.mode == _MEMBER)
        if member_nodes.size:
            values = np.asarray(a("membership_values", np.zeros(0)), dtype=np.float64).reshape(-1)
            sets, current = [], []
            for v in values:
                if math.isnan(v):
                    sets.append(np.array(current))
                    current = []
                else:
                    current.append(v)
            if current:
                sets.append(np.array(current))
            if len(sets) != member_nodes.size:
                raise self.model_error(f"membership_values holds {len(sets)} sets for {member_nodes.size} "
                                       f"BRANCH_MEMBER nodes")
            self.members = dict(zip(member_nodes.tolist(), sets))

    def run(self, x):
        if x.dtype not in (np.float32, np.float64, np.float16):
            raise self.run_error(f"X must be float, double or float16, got {x.dtype}")
        if x.ndim != 2:
            raise self.run_error(f"X must be [N, F], got shape {list(x.shape)}")
        if self.feature.size and self.feature.max() >= x.shape[1]:
            raise self.run_error(f"a node reads feature {int(self.feature.max())}; X has {x.shape[1]}")
        xf = x.astype(np.float64)
        n_rows = x.shape[0]
        leaves = np.stack([self._leaf_of(xf, root) for root in self.roots.tolist()], axis=1)  # (N, trees)
        weights, targets = self.leaf_weight[leaves], self.leaf_target[leaves]
        rows = np.broadcast_to(np.arange(n_rows)[:, None], leaves.shape)
        if self.aggregate in (_SUM, _AVERAGE):
            y = np.zeros((n_rows, self.n_targets))
            np.add.at(y, (rows, targets), weights)
            if self.aggregate == _AVERAGE:
                y /= len(self.roots)
        else:
            fill = np.inf if self.aggregate == _MIN else -np.inf
            y = np.full((n_rows, self.n_targets), fill)
            (np.minimum if self.aggregate == _MIN else np.maximum).at(y, (rows, targets), weights)
            hit = np.zeros(y.shape, dtype=bool)
            hit[rows, targets] = True
            y[~hit] = 0.0  # a target no leaf contributes to scores 0 (as onnxruntime)
        return (self._post_transform(y).astype(x.dtype),)

    def _leaf_of(self, x: np.ndarray, root: int) -> np.ndarray:
        """Leaf index reached by each row of x in the tree starting at node `root`."""
        n_rows = x.shape[0]
        node = np.full(n_rows, root, dtype=np.int64)
        leaf = np.full(n_rows, -1, dtype=np.int64)
        active = np.arange(n_rows)
        for _ in range(len(self.feature) + 1):
            if active.size == 0:
                return leaf
            nd = node[active]
            v = x[active, self.feature[nd]]
            s = self.split[nd]
            m = self.mode[nd]
            go_true = np.select([m == _LEQ, m == _LT, m == _GTE, m == _GT, m == _EQ, m == _NEQ],
                                [v <= s, v < s, v >= s, v > s, v == s, v != s], False)
            for node_id, members in self.members.items():
                here = nd == node_id
                if here.any():
                    go_true[here] = np.isin(v[here], members)
            go_true |= np.isnan(v) & self.missing_true[nd]
            nxt = np.where(go_true, self.true_id[nd], self.false_id[nd])
            is_leaf = np.where(go_true, self.true_leaf[nd], self.false_leaf[nd])
            leaf[active[is_leaf]] = nxt[is_leaf]
            node[active] = nxt
            active = active[~is_leaf]
        raise self.model_error(f"the tree rooted at node {root} has a cycle")

    def _post_transform(self, y: np.ndarray) -> np.ndarray:
        if self.post == 1:  # SOFTMAX
            e = np.exp(y - y.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.post == 2:  # LOGISTIC
            return 1.0 / (1.0 + np.exp(-y))
        if self.post == 3:  # SOFTMAX_ZERO: zero scores stay zero and take no share
            nonzero = y != 0
            e = np.where(nonzero, np.exp(y - y.max(axis=1, keepdims=True)), 0.0)
            total = e.sum(axis=1, keepdims=True)
            return np.divide(e, total, out=np.zeros_like(e), where=total > 0)
        if self.post == 4:  # PROBIT
            return probit(y)
        return y


# --- ArrayFeatureExtractor / Binarizer ----------------------------------------------------------

@register("ArrayFeatureExtractor", 1, domain=ML)
class ArrayFeatureExtractor(Op):
    def run(self, x, y):
        if x.dtype not in (np.float32, np.float64, np.int64, np.int32) and x.dtype.kind not in "OUS":
            raise self.run_error(f"X has unsupported dtype {x.dtype}")
        if y.dtype != np.int64:
            raise self.run_error(f"Y (indices) must be int64, got {y.dtype}")
        if x.ndim == 0:
            raise self.run_error("X must have rank >= 1")
        idx = y.reshape(-1)
        n = x.shape[-1]
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise self.run_error(f"indices {idx.tolist()} must be non-empty and lie in [0, {n})")
        out = x[..., idx]
        # As onnxruntime: a 1-D X gives a [1, k] result.
        return (out.reshape(1, -1) if x.ndim == 1 else out,)


@register("Binarizer", 1, domain=ML)
class Binarizer(Op):
    def setup(self):
        self.threshold = float(self.attr("threshold", 0.0))

    def run(self, x):
        if x.dtype not in (np.float32, np.float64, np.int64, np.int32):
            raise self.run_error(f"X has unsupported dtype {x.dtype}")
        return ((x.astype(np.float64) > self.threshold).astype(x.dtype),)
