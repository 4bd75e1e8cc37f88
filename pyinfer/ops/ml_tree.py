"""ai.onnx.ml TreeEnsembleClassifier and TreeEnsembleRegressor (ml opsets 1-3): what skl2onnx
writes for decision trees, random forests and gradient boosting, and onnxmltools for LightGBM and
XGBoost.

Three steps, each its own function so that a native kernel can replace the middle one:
  prepare_tree_nodes   once, in setup(): the node attributes as flat arrays (TreeNodes): children
                       as positions in those arrays, the leaves' weights as a [leaves, targets] table;
  evaluate_leaves      per run: the leaf every (row, tree) reaches, walking all rows and trees
                       together, one tree level per step;
  aggregate_leaves     per run: the leaves' weights summed (or min / max) over the trees; then the
                       op's finalize (base values, post-transform, labels), as onnxruntime computes it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..registry import register
from .base import Op
from .ml_common import (ML, as_float32, class_labels, expand_binary, features_matrix, post_transform_attr, probit,
                        transform_rows)

MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF")
LEAF = MODES.index("LEAF")
AGGREGATES = ("SUM", "AVERAGE", "MIN", "MAX")
# Rows per block in aggregate_leaves: bounds the [rows, trees, targets] gather to ~32 MiB.
_GATHER_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class TreeNodes:
    """An ensemble's nodes as flat arrays indexed by node position (the order of the nodes_*
    attributes). Leaves point to themselves, so a walk that reached one stays there."""

    feature: np.ndarray       # int64 [n]: the feature a branch compares (0 for leaves)
    threshold: np.ndarray     # float64 [n]
    mode: np.ndarray          # int8 [n]: index into MODES
    true_next: np.ndarray     # int64 [n]: position of the child when the comparison holds
    false_next: np.ndarray    # int64 [n]
    missing_true: np.ndarray  # bool [n]: a NaN feature takes the true branch
    roots: np.ndarray         # int64 [trees]
    depth: int                # levels to walk: the longest root-to-leaf path
    leaf_slot: np.ndarray     # int64 [n]: the leaf's row in weights / has_weight, -1 for branches
    weights: np.ndarray       # float64 [leaves, targets]: a leaf's weights (summed, or min / max)
    has_weight: np.ndarray    # bool [leaves, targets]: the leaf gives this target a weight
    n_features: int           # features the ensemble reads (max feature id + 1)


def _floats_attr(op: Op, name: str) -> np.ndarray | None:
    """A floats attribute (rounded to float32, as the ONNX attribute is) or its *_as_tensor twin."""
    tensor = op.attr(f"{name}_as_tensor", None)
    values = op.attr(name, None)
    if tensor is not None and values is not None and len(values):
        raise op.model_error(f"attributes {name} and {name}_as_tensor are both set")
    if tensor is not None:
        return np.asarray(tensor, dtype=np.float64).reshape(-1)
    if values is not None:
        return np.asarray(values, dtype=np.float32).astype(np.float64)
    return None


def prepare_tree_nodes(op: Op, prefix: str, n_targets: int, aggregate: str) -> TreeNodes:
    """Check the node and leaf attributes (prefix: "target" or "class") and lay them out."""
    tree_ids = np.asarray(op.attr("nodes_treeids"), dtype=np.int64)
    node_ids = np.asarray(op.attr("nodes_nodeids"), dtype=np.int64)
    n = len(tree_ids)
    feature = np.asarray(op.attr("nodes_featureids"), dtype=np.int64)
    modes = list(op.attr("nodes_modes"))
    thresholds = _floats_attr(op, "nodes_values")
    true_ids = np.asarray(op.attr("nodes_truenodeids"), dtype=np.int64)
    false_ids = np.asarray(op.attr("nodes_falsenodeids"), dtype=np.int64)
    missing = np.asarray(op.attr("nodes_missing_value_tracks_true", [0] * n), dtype=np.int64)
    if thresholds is None:
        thresholds = np.zeros(n)
    for name, values in (("nodes_nodeids", node_ids), ("nodes_featureids", feature), ("nodes_modes", modes),
                         ("nodes_values", thresholds), ("nodes_truenodeids", true_ids),
                         ("nodes_falsenodeids", false_ids), ("nodes_missing_value_tracks_true", missing)):
        if len(values) != n:
            raise op.model_error(f"attribute {name} has {len(values)} entries, nodes_treeids has {n}")
    if n == 0:
        raise op.model_error("the ensemble has no nodes (attribute nodes_treeids is empty)")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise op.model_error(f"attribute nodes_modes holds {unknown[0]!r}, not one of {', '.join(MODES)}")
    mode = np.array([MODES.index(m) for m in modes], dtype=np.int8)
    is_leaf = mode == LEAF
    if (feature[~is_leaf] < 0).any():
        raise op.model_error("attribute nodes_featureids holds a negative feature id")

    position = _position_lookup(op, tree_ids, node_ids)
    here = np.arange(n)
    true_next, false_next = here.copy(), here.copy()
    branch = np.flatnonzero(~is_leaf)
    for name, ids, out in (("nodes_truenodeids", true_ids, true_next), ("nodes_falsenodeids", false_ids, false_next)):
        found = position(tree_ids[branch], ids[branch])
        if (found < 0).any():
            bad = branch[found < 0][0]
            raise op.model_error(f"attribute {name}: node {node_ids[bad]} of tree {tree_ids[bad]} points to node "
                                 f"{ids[bad]}, which tree {tree_ids[bad]} does not have")
        if (found == branch).any():
            bad = branch[found == branch][0]
            raise op.model_error(f"attribute {name}: node {node_ids[bad]} of tree {tree_ids[bad]} points to itself")
        out[branch] = found
    # onnxruntime: a tree's root is its first node in attribute order
    roots = np.flatnonzero(np.concatenate([[True], tree_ids[1:] != tree_ids[:-1]]))
    depth = _depth(op, roots, true_next, false_next, is_leaf)
    leaf_slot, weights, has_weight = _leaf_table(op, prefix, n_targets, aggregate, position, is_leaf)
    return TreeNodes(feature=np.where(is_leaf, 0, feature), threshold=thresholds, mode=mode, true_next=true_next,
                     false_next=false_next, missing_true=missing.astype(bool) & ~is_leaf, roots=roots, depth=depth,
                     leaf_slot=leaf_slot, weights=weights, has_weight=has_weight,
                     n_features=int(feature[~is_leaf].max()) + 1 if branch.size else 0)


def _position_lookup(op: Op, tree_ids: np.ndarray, node_ids: np.ndarray):
    """A function (tree ids, node ids) -> node positions (-1 where there is no such node)."""
    if (node_ids < 0).any():
        raise op.model_error("attribute nodes_nodeids holds a negative node id")
    span = int(node_ids.max()) + 1
    keys = tree_ids * span + node_ids
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    dup = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
    if dup.size:
        i = order[dup[0]]
        raise op.model_error(f"node {node_ids[i]} of tree {tree_ids[i]} is defined twice")

    def position(trees: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        k = trees * span + nodes
        at = np.clip(np.searchsorted(sorted_keys, k), 0, len(sorted_keys) - 1)
        ok = (sorted_keys[at] == k) & (nodes >= 0) & (nodes < span)
        return np.where(ok, order[at], -1)

    return position


def _depth(op: Op, roots, true_next, false_next, is_leaf) -> int:
    """Levels from the roots to the deepest leaf; a cycle never reaches the leaves."""
    frontier, depth, limit = roots[~is_leaf[roots]], 0, len(is_leaf)
    while frontier.size:
        depth += 1
        if depth > limit:
            raise op.model_error("the trees have a cycle: following nodes_truenodeids / nodes_falsenodeids "
                                 "never reaches a leaf")
        children = np.unique(np.concatenate([true_next[frontier], false_next[frontier]]))
        frontier = children[~is_leaf[children]]
    return depth


def _leaf_table(op: Op, prefix: str, n_targets: int, aggregate: str, position, is_leaf):
    """(leaf_slot, weights [leaves, targets], has_weight) from the {prefix}_* attributes."""
    trees = np.asarray(op.attr(f"{prefix}_treeids", []), dtype=np.int64)
    nodes = np.asarray(op.attr(f"{prefix}_nodeids", []), dtype=np.int64)
    targets = np.asarray(op.attr(f"{prefix}_ids", []), dtype=np.int64)
    values = _floats_attr(op, f"{prefix}_weights")
    values = np.zeros(0) if values is None else values
    for name, arr in ((f"{prefix}_nodeids", nodes), (f"{prefix}_ids", targets), (f"{prefix}_weights", values)):
        if len(arr) != len(trees):
            raise op.model_error(f"attribute {name} has {len(arr)} entries, {prefix}_treeids has {len(trees)}")
    if targets.size and (targets.min() < 0 or targets.max() >= n_targets):
        raise op.model_error(f"attribute {prefix}_ids must lie in [0, {n_targets}), got {int(targets.min())}.."
                             f"{int(targets.max())}")
    at = position(trees, nodes)
    if (at < 0).any():
        bad = np.flatnonzero(at < 0)[0]
        raise op.model_error(f"attribute {prefix}_nodeids names node {nodes[bad]} of tree {trees[bad]}, which does "
                             f"not exist")
    on_leaf = is_leaf[at]  # onnxruntime ignores weights on branch nodes (old onnxmltools wrote some)
    at, targets, values = at[on_leaf], targets[on_leaf], values[on_leaf]
    leaf_positions = np.flatnonzero(is_leaf)
    leaf_slot = np.full(len(is_leaf), -1, dtype=np.int64)
    leaf_slot[leaf_positions] = np.arange(len(leaf_positions))
    slot = leaf_slot[at]
    has_weight = np.zeros((len(leaf_positions), n_targets), dtype=bool)
    has_weight[slot, targets] = True
    if aggregate in ("MIN", "MAX"):
        weights = np.full(has_weight.shape, np.inf if aggregate == "MIN" else -np.inf)
        (np.minimum if aggregate == "MIN" else np.maximum).at(weights, (slot, targets), values)
        weights[~has_weight] = 0.0
    else:
        weights = np.zeros(has_weight.shape)
        np.add.at(weights, (slot, targets), values)
    return leaf_slot, weights, has_weight


def evaluate_leaves(nodes: TreeNodes, x: np.ndarray) -> np.ndarray:
    """[N, trees]: the position of the leaf each row of x (float64 [N, F]) reaches in each tree.
    All (row, tree) pairs step down one level at a time; pairs at a leaf drop out."""
    n_rows, n_trees = x.shape[0], len(nodes.roots)
    at = np.tile(nodes.roots, n_rows)                     # flat (row, tree) -> current node
    row = np.repeat(np.arange(n_rows), n_trees)
    walking = np.flatnonzero(nodes.mode[at] != LEAF)
    single_mode = np.unique(nodes.mode[nodes.mode != LEAF])
    for _ in range(nodes.depth):
        if walking.size == 0:
            break
        node = at[walking]
        value = x[row[walking], nodes.feature[node]]
        goes_true = _compare(value, nodes.threshold[node], nodes.mode[node],
                             int(single_mode[0]) if single_mode.size == 1 else None)
        goes_true |= nodes.missing_true[node] & np.isnan(value)
        nxt = np.where(goes_true, nodes.true_next[node], nodes.false_next[node])
        at[walking] = nxt
        walking = walking[nodes.mode[nxt] != LEAF]
    return at.reshape(n_rows, n_trees)


def _compare(value, threshold, mode, single_mode):
    if single_mode is not None:  # the common case: every branch uses one rule (BRANCH_LEQ for sklearn)
        return _RULES[single_mode](value, threshold)
    return np.select([mode == m for m in range(LEAF)], [rule(value, threshold) for rule in _RULES], False)


_RULES = (np.less_equal, np.less, np.greater_equal, np.greater, np.equal, np.not_equal)


def aggregate_leaves(nodes: TreeNodes, leaves: np.ndarray, aggregate: str) -> tuple[np.ndarray, np.ndarray]:
    """(scores [N, targets], has_score [N, targets]): the reached leaves' weights summed over the
    trees (SUM, AVERAGE: the caller divides) or their MIN / MAX; has_score: some leaf weighed in."""
    n_rows, n_trees = leaves.shape
    n_targets = nodes.weights.shape[1]
    scores = np.zeros((n_rows, n_targets))
    has = np.zeros((n_rows, n_targets), dtype=bool)
    block = max(1, _GATHER_ELEMENTS // max(1, n_trees * n_targets))
    for start in range(0, n_rows, block):  # blocks of rows bound the gather's memory
        slots = nodes.leaf_slot[leaves[start:start + block]]
        w, h = nodes.weights[slots], nodes.has_weight[slots]  # [rows, trees, targets]
        has[start:start + block] = h.any(axis=1)
        if aggregate in ("SUM", "AVERAGE"):
            scores[start:start + block] = w.sum(axis=1)
        elif aggregate == "MIN":
            scores[start:start + block] = np.where(h, w, np.inf).min(axis=1)
        else:
            scores[start:start + block] = np.where(h, w, -np.inf).max(axis=1)
    if aggregate in ("MIN", "MAX"):
        scores[~has] = 0.0
    return scores, has


def _check_features(op: Op, x: np.ndarray, nodes: TreeNodes) -> None:
    if x.shape[1] < nodes.n_features:
        raise op.run_error(f"a tree reads feature {nodes.n_features - 1}, but X has {x.shape[1]} features")


def _base_values(op: Op) -> np.ndarray:
    base = _floats_attr(op, "base_values")
    return np.zeros(0) if base is None else base


# --- TreeEnsembleRegressor --------------------------------------------------------------------

def regressor_scores(scores, has, base: np.ndarray, n_trees: int, aggregate: str, post: str) -> np.ndarray:
    """Base values and post-transform (onnxruntime: one target gets PROBIT only, and only a single
    base value; several targets take base_values when there is one per target, and a target no
    leaf weighed reads 0, its base value included)."""
    n_targets = scores.shape[1]
    if aggregate == "AVERAGE":
        scores = scores / n_trees
    if n_targets == 1:
        origin = base[0] if len(base) == 1 else 0.0
        scores = scores + origin
        return probit(scores) if post == "PROBIT" else scores
    if len(base) == n_targets:
        scores = scores + base
    return transform_rows(np.where(has, scores, 0.0), post)


@register("TreeEnsembleRegressor", 1, 3, domain=ML)
class TreeEnsembleRegressor(Op):
    def setup(self):
        self.post = post_transform_attr(self)
        self.aggregate = self.attr("aggregate_function", "SUM")
        if self.aggregate not in AGGREGATES:
            raise self.model_error(f"attribute aggregate_function must be one of {', '.join(AGGREGATES)}, "
                                   f"got {self.aggregate!r}")
        self.n_targets = int(self.attr("n_targets", 1))
        if self.n_targets < 1:
            raise self.model_error(f"attribute n_targets must be positive, got {self.n_targets}")
        self.nodes = prepare_tree_nodes(self, "target", self.n_targets, self.aggregate)
        self.base = _base_values(self)

    def run(self, x):
        x = features_matrix(self, x)
        _check_features(self, x, self.nodes)
        scores, has = aggregate_leaves(self.nodes, evaluate_leaves(self.nodes, x), self.aggregate)
        return (as_float32(regressor_scores(scores, has, self.base, len(self.nodes.roots), self.aggregate,
                                            self.post)),)


# --- TreeEnsembleClassifier -------------------------------------------------------------------

@register("TreeEnsembleClassifier", 1, 3, domain=ML)
class TreeEnsembleClassifier(Op):
    def setup(self):
        self.post = post_transform_attr(self)
        self.labels = class_labels(self, ints="classlabels_int64s")
        if len(self.labels) < 2:
            raise self.model_error("a classifier needs at least two class labels")
        self.nodes = prepare_tree_nodes(self, "class", len(self.labels), "SUM")
        self.base = _base_values(self)
        weights = _floats_attr(self, "class_weights")
        used_classes = np.unique(np.asarray(self.attr("class_ids", []), dtype=np.int64))
        # onnxruntime: two classes but weights for only one of them is "the binary case"
        self.binary_case = len(self.labels) == 2 and used_classes.size == 1
        self.weights_all_positive = weights is None or bool((weights >= 0).all())

    def run(self, x):
        x = features_matrix(self, x)
        _check_features(self, x, self.nodes)
        scores, has = aggregate_leaves(self.nodes, evaluate_leaves(self.nodes, x), "SUM")
        if len(self.labels) > 2:
            return self._multiclass(scores, has)
        return self._two_classes(scores, has)

    def _multiclass(self, scores, has):
        nb = len(self.base)
        scores[:, :nb] += self.base  # a base value counts as a score
        has[:, :nb] = True
        best = np.argmax(np.where(has, scores, -np.inf), axis=1)
        return self.labels[best], as_float32(transform_rows(np.where(has, scores, 0.0), self.post))

    def _two_classes(self, scores, has):
        """onnxruntime's binary rules: which score is the positive one depends on the base values and
        on which classes the leaves weigh; one score becomes two columns by expand_binary."""
        s0, s1, h0, h1 = scores[:, 0], scores[:, 1], has[:, 0], has[:, 1]
        mode = np.full(len(s0), -1)
        two = np.ones(len(s0), dtype=bool)
        if len(self.base) == 2:
            positive = np.where(h1, self.base[1] + s0, s1 + self.base[1])
            s0, s1 = np.where(h1, -positive, s0 + self.base[0]), positive
        elif len(self.base) == 1:
            s0 = s0 + self.base[0]
            two = h1.copy()
        else:
            mode[:] = 3
            two = h1.copy()
        pos = np.where(two & h1, s1, np.where(h0, s0, 0.0))
        if self.binary_case:
            threshold = 0.5 if self.weights_all_positive else 0.0
            is_pos = pos > threshold
            mode = np.where(is_pos, 0, 1) if self.weights_all_positive else np.where(is_pos, 2, 3)
            label = np.where(is_pos, self.labels[1], self.labels[0])
        else:  # onnxruntime answers 1 / 0 here (class indices for string labels)
            is_pos = pos > 0
            label = (self.labels[is_pos.astype(np.int64)] if self.labels.dtype == object
                     else is_pos.astype(np.int64))
        # onnxruntime writes a class no leaf (and no base value) weighed as 0
        s0, s1 = np.where(h0, s0, 0.0), np.where(h1, s1, 0.0)
        z = np.empty((len(s0), 2))
        z[two] = transform_rows(np.stack([s0[two], s1[two]], axis=1), self.post)
        z[~two] = expand_binary(s0[~two], self.post, mode[~two])
        return label.astype(self.labels.dtype), as_float32(z)
