"""ai.onnx.ml tree ensembles: TreeEnsembleClassifier and TreeEnsembleRegressor (ml opsets 1-3: what
skl2onnx writes for decision trees, random forests and gradient boosting, onnxmltools for LightGBM and
XGBoost) and TreeEnsemble (ml opset 5), on the C++ tree ensemble kernel (csrc/ml/).

setup() turns the attributes into node positions (TreeNodes: tree and node ids resolved, a dangling
or duplicated id refused naming its attribute) and hands them to pyinfer.kernels.TreeEnsemble, which
checks the structure (children in range, no cycles), lays the trees out once for walking and keeps
onnxruntime's output rules (base values, the two-class cases, post-transforms). run() calls the
kernel; lower() prepares it for a plan's shape, so a compiled plan runs the ensemble natively.
String class labels come back from the kernel as class indices and are mapped here (such a
classifier stays a Python step in plans).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import kernels
from ..errors import KernelArgumentError
from ..registry import register
from .base import Op
from .ml_common import ML, Predictor, class_labels, kernel_labels, post_transform_attr

MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "LEAF", "BRANCH_MEMBER")
LEAF = MODES.index("LEAF")
AGGREGATES = ("SUM", "AVERAGE", "MIN", "MAX")


@dataclass(frozen=True)
class TreeNodes:
    """An ensemble's nodes as flat arrays indexed by node position (the order of the nodes_*
    attributes), children as positions, and the leaves' weights as (node, target, value) triples in
    attribute order (weights on branch nodes dropped, as onnxruntime ignores them)."""

    feature: np.ndarray       # int64 [n]: the feature a branch compares (0 for leaves)
    threshold: np.ndarray     # float64 [n]
    mode: np.ndarray          # int8 [n]: index into MODES
    true_next: np.ndarray     # int64 [n]: position of the child when the comparison holds (leaves: itself)
    false_next: np.ndarray    # int64 [n]
    missing_true: np.ndarray  # bool [n]: a NaN feature takes the true branch
    roots: np.ndarray         # int64 [trees]
    weight_node: np.ndarray   # int64 [k]
    weight_target: np.ndarray  # int64 [k]
    weight_value: np.ndarray  # float64 [k]
    member_offsets: np.ndarray | None = None  # int64 [n + 1]: BRANCH_MEMBER sets (ml opset 5)
    member_values: np.ndarray | None = None   # float64


def floats_attr(op: Op, name: str) -> np.ndarray | None:
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


def tree_nodes(op: Op, prefix: str, n_targets: int) -> TreeNodes:
    """Check the node and leaf attributes of ml opsets 1-3 (prefix: "target" or "class") and turn
    their ids into positions."""
    tree_ids = np.asarray(op.attr("nodes_treeids"), dtype=np.int64)
    node_ids = np.asarray(op.attr("nodes_nodeids"), dtype=np.int64)
    n = len(tree_ids)
    feature = np.asarray(op.attr("nodes_featureids"), dtype=np.int64)
    modes = list(op.attr("nodes_modes"))
    thresholds = floats_attr(op, "nodes_values")
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
    unknown = sorted(set(modes) - set(MODES[:LEAF + 1]))
    if unknown:
        raise op.model_error(f"attribute nodes_modes holds {unknown[0]!r}, not one of "
                             f"{', '.join(MODES[:LEAF + 1])}")
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
    weight_node, weight_target, weight_value = _leaf_weights(op, prefix, n_targets, position, is_leaf)
    return TreeNodes(feature=np.where(is_leaf, 0, feature), threshold=thresholds, mode=mode, true_next=true_next,
                     false_next=false_next, missing_true=missing.astype(bool) & ~is_leaf, roots=roots,
                     weight_node=weight_node, weight_target=weight_target, weight_value=weight_value)


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


def _leaf_weights(op: Op, prefix: str, n_targets: int, position, is_leaf):
    """(node positions, targets, values) of the {prefix}_* attributes, on leaves only."""
    trees = np.asarray(op.attr(f"{prefix}_treeids", []), dtype=np.int64)
    nodes = np.asarray(op.attr(f"{prefix}_nodeids", []), dtype=np.int64)
    targets = np.asarray(op.attr(f"{prefix}_ids", []), dtype=np.int64)
    values = floats_attr(op, f"{prefix}_weights")
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
    return at[on_leaf], targets[on_leaf], values[on_leaf]


def base_values(op: Op) -> np.ndarray:
    base = floats_attr(op, "base_values")
    return np.zeros(0) if base is None else base


class TreeEnsembleOp(Predictor):
    """What the three tree ensemble ops share: the kernel's TreeEnsemble made from TreeNodes."""

    kernel, prepare = staticmethod(kernels.tree_ensemble), staticmethod(kernels.prepare_tree_ensemble)

    def make_ensemble(self, nodes: TreeNodes, n_targets: int, rule: str, **rules) -> None:
        try:
            self.model = kernels.TreeEnsemble(
                nodes.feature, nodes.threshold, nodes.mode, nodes.true_next, nodes.false_next, nodes.missing_true,
                nodes.roots, nodes.weight_node, nodes.weight_target, nodes.weight_value, n_targets, rule=rule,
                member_offsets=() if nodes.member_offsets is None else nodes.member_offsets,
                member_values=() if nodes.member_values is None else nodes.member_values, **rules)
        except KernelArgumentError as e:  # the structure: a cycle, a child out of range...
            raise self.model_error(str(e).removeprefix("tree_ensemble: ")) from e
        self.n_features = self.model.info["features"]

    def columns_error(self, columns: int) -> str | None:
        if columns < self.n_features:
            return f"a tree reads feature {self.n_features - 1}, but X has {columns} features"
        return None


def _aggregate_attr(op: Op) -> str:
    aggregate = op.attr("aggregate_function", "SUM")
    if aggregate not in AGGREGATES:
        raise op.model_error(f"attribute aggregate_function must be one of {', '.join(AGGREGATES)}, got {aggregate!r}")
    return aggregate


@register("TreeEnsembleRegressor", 1, 3, domain=ML)
class TreeEnsembleRegressor(TreeEnsembleOp):
    def setup(self):
        n_targets = int(self.attr("n_targets", 1))
        if n_targets < 1:
            raise self.model_error(f"attribute n_targets must be positive, got {n_targets}")
        self.make_ensemble(tree_nodes(self, "target", n_targets), n_targets, "regressor",
                           aggregate=_aggregate_attr(self), post_transform=post_transform_attr(self),
                           base_values=base_values(self))


@register("TreeEnsembleClassifier", 1, 3, domain=ML)
class TreeEnsembleClassifier(TreeEnsembleOp):
    def setup(self):
        labels = class_labels(self, ints="classlabels_int64s")
        if len(labels) < 2:
            raise self.model_error("a classifier needs at least two class labels")
        base = base_values(self)
        if len(labels) > 2 and len(base) > len(labels):
            raise self.model_error(f"attribute base_values has {len(base)} values for {len(labels)} classes")
        weights = floats_attr(self, "class_weights")
        used_classes = np.unique(np.asarray(self.attr("class_ids", []), dtype=np.int64))
        # onnxruntime: two classes but weights for only one of them is "the binary case"; otherwise a
        # two-class model answers the class index (0 / 1), not its label
        binary_case = len(labels) == 2 and used_classes.size == 1
        label_values, self.string_labels = kernel_labels(labels)
        if len(labels) == 2 and not binary_case:
            label_values = np.arange(2)
        self.classifier = True
        self.make_ensemble(tree_nodes(self, "class", len(labels)), len(labels), "classifier",
                           post_transform=post_transform_attr(self), base_values=base, label_values=label_values,
                           binary_case=binary_case, weights_all_positive=weights is None or bool((weights >= 0).all()))



# --- TreeEnsemble (ml opset 5) --------------------------------------------------------------------

_AGGREGATES_V5 = ("AVERAGE", "SUM", "MIN", "MAX")  # aggregate_function values 0..3
_MEMBER_V5 = 6  # BRANCH_MEMBER in nodes_modes (LEAF has no mode: leaves are their own arrays)


@register("TreeEnsemble", 5, domain=ML)
class TreeEnsemble(TreeEnsembleOp):
    """Branches and leaves in separate arrays (nodes_* and leaf_*): here the leaves become nodes
    after the branches, so the kernel sees one node array. Y has X's type (float16 runs as float32)."""

    min_rank = 2
    inputs = (np.float32, np.float64, np.float16)

    def setup(self):
        a = self.attr
        feature = np.asarray(a("nodes_featureids"), dtype=np.int64)
        n = len(feature)
        mode = np.asarray(a("nodes_modes"), dtype=np.int64).reshape(-1)
        split = np.asarray(a("nodes_splits"), dtype=np.float64).reshape(-1)
        true_id = np.asarray(a("nodes_truenodeids"), dtype=np.int64)
        false_id = np.asarray(a("nodes_falsenodeids"), dtype=np.int64)
        true_leaf = np.asarray(a("nodes_trueleafs"), dtype=bool)
        false_leaf = np.asarray(a("nodes_falseleafs"), dtype=bool)
        missing = a("nodes_missing_value_tracks_true", None)
        missing = np.zeros(n, bool) if missing is None else np.asarray(missing, dtype=bool)
        leaf_target = np.asarray(a("leaf_targetids"), dtype=np.int64)
        leaf_weight = np.asarray(a("leaf_weights"), dtype=np.float64).reshape(-1)
        roots = np.asarray(a("tree_roots"), dtype=np.int64)
        n_targets = a("n_targets")
        aggregate, post = a("aggregate_function", 1), a("post_transform", 0)
        for name, arr in (("nodes_modes", mode), ("nodes_splits", split), ("nodes_truenodeids", true_id),
                          ("nodes_falsenodeids", false_id), ("nodes_trueleafs", true_leaf),
                          ("nodes_falseleafs", false_leaf), ("nodes_missing_value_tracks_true", missing)):
            if len(arr) != n:
                raise self.model_error(f"{name} has {len(arr)} entries, nodes_featureids has {n}")
        n_leaves = len(leaf_weight)
        if len(leaf_target) != n_leaves:
            raise self.model_error(f"leaf_targetids has {len(leaf_target)} entries, leaf_weights {n_leaves}")
        if n and feature.min() < 0:
            raise self.model_error("nodes_featureids must be >= 0")
        if mode.size and (mode.min() < 0 or mode.max() > _MEMBER_V5):
            raise self.model_error("nodes_modes must lie in 0..6")
        if n_targets < 1 or (n_leaves and (leaf_target.min() < 0 or leaf_target.max() >= n_targets)):
            raise self.model_error(f"leaf_targetids must lie in [0, n_targets={n_targets})")
        for ids, leaf, what in ((true_id, true_leaf, "true"), (false_id, false_leaf, "false")):
            bound = np.where(leaf, n_leaves, n)
            if n and ((ids < 0) | (ids >= bound)).any():
                raise self.model_error(f"nodes_{what}nodeids reference a missing node or leaf")
        if roots.size == 0 or roots.min() < 0 or roots.max() >= n:
            raise self.model_error("tree_roots must be non-empty indices into nodes_*")
        if aggregate not in range(4) or post not in range(5):
            raise self.model_error(f"unknown aggregate_function {aggregate} or post_transform {post}")
        mode = np.where(mode == _MEMBER_V5, MODES.index("BRANCH_MEMBER"), mode).astype(np.int8)
        leaves = n + np.arange(n_leaves)
        nodes = TreeNodes(
            feature=np.concatenate([feature, np.zeros(n_leaves, np.int64)]),
            threshold=np.concatenate([split, np.zeros(n_leaves)]),
            mode=np.concatenate([mode, np.full(n_leaves, LEAF, np.int8)]),
            true_next=np.concatenate([np.where(true_leaf, n + true_id, true_id), leaves]),
            false_next=np.concatenate([np.where(false_leaf, n + false_id, false_id), leaves]),
            missing_true=np.concatenate([missing, np.zeros(n_leaves, bool)]), roots=roots,
            weight_node=leaves, weight_target=leaf_target, weight_value=leaf_weight,
            **self._member_sets(mode, n + n_leaves))
        self.make_ensemble(nodes, n_targets, "ensemble", aggregate=_AGGREGATES_V5[aggregate],
                           post_transform=("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")[post])

    def _member_sets(self, mode: np.ndarray, n_nodes: int) -> dict:
        """BRANCH_MEMBER sets: membership_values lists them in node order, each ended by a NaN."""
        member_nodes = np.flatnonzero(mode == MODES.index("BRANCH_MEMBER"))
        if not member_nodes.size:
            return {}
        values = np.asarray(self.attr("membership_values", np.zeros(0)), dtype=np.float64).reshape(-1)
        ends = np.flatnonzero(np.isnan(values)).tolist()
        if values.size and not math.isnan(values[-1]):
            ends.append(values.size)  # the last set may go without its NaN
        if len(ends) != member_nodes.size:
            raise self.model_error(f"membership_values holds {len(ends)} sets for {member_nodes.size} "
                                   f"BRANCH_MEMBER nodes")
        starts = [0] + [e + 1 for e in ends[:-1]]
        offsets = np.zeros(n_nodes + 1, np.int64)
        kept = []
        for node, start, end in zip(member_nodes.tolist(), starts, ends):
            kept.append(values[start:end])
            offsets[node + 1] = end - start
        return {"member_offsets": np.cumsum(offsets), "member_values": np.concatenate(kept)}

    def run(self, x):
        if not (isinstance(x, np.ndarray) and x.dtype == np.float16):
            return super().run(x)
        (y,) = super().run(x.astype(np.float32))
        return (y.astype(np.float16),)
