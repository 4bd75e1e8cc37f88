"""The tree ensemble kernel on random forests: every branch mode, NaN tracking, aggregate and
post-transform, against onnxruntime and the NumPy oracle (support/tree_oracle.py); batch sizes that
take each of the kernel's paths; thread counts; native plan steps; structural faults refused at load.
test_ops_ml_classic.py covers the two-class rules on hand-made trees, tests/corpus the converters."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from support import tree_oracle

import pyinfer
from pyinfer.ops.ml_tree import tree_nodes

ML = "ai.onnx.ml"
MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
GRID = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])  # thresholds and features meet here: == and <= differ from <


def random_forest(rng, n_trees: int, depth: int, n_features: int, modes: list[str], missing: float) -> dict:
    """The nodes_* attributes of random unbalanced trees (node ids shuffled within each tree) and the
    (tree id, node id) of every leaf."""
    cols = {k: [] for k in ("treeids", "nodeids", "featureids", "modes", "values", "truenodeids", "falsenodeids",
                            "missing_value_tracks_true")}
    leaves = []
    for tree in range(n_trees):
        first = len(cols["treeids"])

        def grow(level):
            at = len(cols["treeids"])
            for k in cols:
                cols[k].append(0)
            cols["treeids"][at], cols["nodeids"][at] = tree, at - first
            if level == depth or (level > 0 and rng.random() < 0.25):
                cols["modes"][at] = "LEAF"
                return at - first
            cols["modes"][at] = modes[rng.integers(len(modes))]
            cols["featureids"][at] = int(rng.integers(n_features))
            cols["values"][at] = float(rng.choice(GRID) if rng.random() < 0.5 else rng.normal())
            cols["missing_value_tracks_true"][at] = int(rng.random() < missing)
            cols["falsenodeids"][at] = grow(level + 1)
            cols["truenodeids"][at] = grow(level + 1)
            return at - first

        grow(0)
        new_id = rng.permutation(len(cols["treeids"]) - first)
        for k in ("nodeids", "truenodeids", "falsenodeids"):
            cols[k][first:] = new_id[cols[k][first:]].tolist()
        leaves += [(tree, cols["nodeids"][i]) for i in range(first, len(cols["treeids"])) if cols["modes"][i] == "LEAF"]
    return {f"nodes_{k}": v for k, v in cols.items()}, leaves


def features(rng, rows: int, n_features: int, dtype=np.float32) -> np.ndarray:
    x = np.where(rng.random((rows, n_features)) < 0.5, rng.choice(GRID, (rows, n_features)),
                 rng.normal(size=(rows, n_features)))
    x[rng.random(x.shape) < 0.05] = np.nan
    return x.astype(dtype)


def leaf_weights(rng, leaves, n_targets: int, prefix: str, scale: float = 1.0, every_target: bool = False) -> dict:
    """Weights for a random subset of the targets of each leaf (all of them with every_target)."""
    trees, nodes, ids, weights = [], [], [], []
    for tree, node in leaves:
        for target in range(n_targets):
            if every_target or rng.random() < 0.7:
                trees.append(tree), nodes.append(node), ids.append(target)
                weights.append(float(rng.uniform(0, scale) if scale < 1 else rng.normal()))
    return {f"{prefix}_treeids": trees, f"{prefix}_nodeids": nodes, f"{prefix}_ids": ids, f"{prefix}_weights": weights}


def node_model(op: str, attrs: dict, x: np.ndarray, n_outputs: int, ml_opset: int = 3):
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    node = helper.make_node(op, ["X"], ["Y", "Z"][:n_outputs] if n_outputs == 2 else ["Y"], domain=ML, name="forest",
                            **attrs)
    outs = [helper.make_value_info(n, helper.TypeProto()) for n in node.output]
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", elem, [None, x.shape[1]])], outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, ml_opset)],
                             ir_version=8)


def run_three(model, x: np.ndarray, threads: int = 1) -> tuple[list, list, list]:
    """(onnxruntime, pyinfer's Python path, pyinfer's compiled plan) outputs; asserts the plan ran the
    ensemble as a native step."""
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    sess = pyinfer.InferenceSession(model, num_threads=threads)
    first = sess.run(None, {"X": x})
    planned = sess.run(None, {"X": x})
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 1 and plan.kind["Y"] == "out"
    return want, first, planned


def assert_close(got, want, rtol=1e-5, atol=1e-5):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def op_of(model):
    """pyinfer's op for the model's node (its TreeNodes feed the oracle)."""
    return pyinfer.InferenceSession(model)._executor.steps[0][0]


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
@pytest.mark.parametrize("modes", [[m] for m in MODES] + [MODES], ids=[m[7:].lower() for m in MODES] + ["mixed"])
@pytest.mark.parametrize("missing", [0.0, 0.5], ids=["nan_false", "nan_tracked"])
def test_regressor_modes_aggregates(aggregate, modes, missing):
    rng = np.random.default_rng(len(modes) * 7 + int(missing * 10) + len(aggregate))
    nodes, leaves = random_forest(rng, 12, 6, 5, modes, missing)
    post = "SOFTMAX_ZERO" if aggregate == "SUM" else "NONE"
    attrs = dict(nodes, n_targets=3, aggregate_function=aggregate, post_transform=post, base_values=[0.5, -0.25, 1.0],
                 **leaf_weights(rng, leaves, 3, "target"))
    x = features(rng, 37, 5)
    model = node_model("TreeEnsembleRegressor", attrs, x, 1)
    (want,), (first,), (planned,) = run_three(model, x)
    assert_close(first, want)
    np.testing.assert_array_equal(planned, first)
    op = op_of(model)
    oracle = tree_oracle.regressor(tree_nodes(op, "target", 3), x.astype(np.float64), 3, aggregate, post,
                                   np.array([0.5, -0.25, 1.0], np.float32).astype(np.float64))
    assert_close(first, oracle.astype(np.float32), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"])
@pytest.mark.parametrize("n_targets", [1, 4])
def test_regressor_post_transforms(post, n_targets):
    rng = np.random.default_rng(n_targets)
    nodes, leaves = random_forest(rng, 10, 5, 4, ["BRANCH_LEQ"], 0.2)
    # PROBIT needs scores in (0, 1): ten trees of weights in [0, 0.1)
    attrs = dict(nodes, n_targets=n_targets, post_transform=post,
                 **leaf_weights(rng, leaves, n_targets, "target", scale=0.1 if post == "PROBIT" else 1.0,
                                every_target=post == "PROBIT"))
    x = features(rng, 20, 4)
    model = node_model("TreeEnsembleRegressor", attrs, x, 1)
    (want,), (first,), (planned,) = run_three(model, x)
    # onnxruntime's PROBIT is a float32 approximation of erfinv (pyinfer refines it in double: the oracle)
    assert_close(first, want, atol=2e-4 if post == "PROBIT" else 1e-5)
    np.testing.assert_array_equal(planned, first)
    oracle = tree_oracle.regressor(tree_nodes(op_of(model), "target", n_targets), x.astype(np.float64), n_targets,
                                   "SUM", post, np.zeros(0))
    assert_close(first, oracle.astype(np.float32), rtol=1e-6, atol=1e-7)


def check_classifier(attrs, x, labels, post, base, binary_case, all_positive):
    """A TreeEnsembleClassifier node against onnxruntime and the oracle: labels exactly, scores
    closely; the compiled plan gives the Python path's outputs."""
    model = node_model("TreeEnsembleClassifier", attrs, x, 2)
    (want_label, want), (label, first), (planned_label, planned) = run_three(model, x)
    np.testing.assert_array_equal(label, want_label)
    assert_close(first, want)
    np.testing.assert_array_equal(planned_label, label)
    np.testing.assert_array_equal(planned, first)
    oracle_label, oracle = tree_oracle.classifier(tree_nodes(op_of(model), "class", len(labels)), x.astype(np.float64),
                                                  labels, post, np.array(base, np.float32).astype(np.float64),
                                                  binary_case, all_positive)
    np.testing.assert_array_equal(label, oracle_label)
    assert_close(first, oracle.astype(np.float32), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"])
@pytest.mark.parametrize("base", [[], [0.2, -0.1, 0.3]], ids=["no_base", "base"])
def test_classifier_several_classes(post, base):
    rng = np.random.default_rng(len(post) + len(base))
    nodes, leaves = random_forest(rng, 15, 6, 6, ["BRANCH_LEQ", "BRANCH_GT"], 0.3)
    labels = np.array([4, 9, 2], np.int64)
    attrs = dict(nodes, classlabels_int64s=labels.tolist(), post_transform=post,
                 **leaf_weights(rng, leaves, 3, "class"), **({"base_values": base} if base else {}))
    check_classifier(attrs, features(rng, 50, 6), labels, post, base, binary_case=False, all_positive=True)


BINARY = {  # (class ids the leaves weigh, weight scale, base values, post-transform)
    "one class, probabilities": ([1], 0.1, [], "NONE"),
    "one class, logits": ([1], 1.0, [], "LOGISTIC"),
    "one class, logits, base": ([1], 1.0, [0.4], "LOGISTIC"),
    "one class, two base values": ([0], 1.0, [0.1, -0.2], "NONE"),
    "both classes": ([0, 1], 1.0, [], "SOFTMAX"),
}


@pytest.mark.parametrize("case", sorted(BINARY))
def test_classifier_two_classes(case):
    ids, scale, base, post = BINARY[case]
    rng = np.random.default_rng(len(case))
    nodes, leaves = random_forest(rng, 12, 5, 4, ["BRANCH_LT"], 0.2)
    weights = leaf_weights(rng, leaves, 1, "class", scale=scale, every_target=True)
    if ids == [0, 1]:  # both classes on every leaf
        weights = leaf_weights(rng, leaves, 2, "class", every_target=True)
    else:
        weights["class_ids"] = [ids[0]] * len(weights["class_ids"])
    labels = [7, 11]
    attrs = dict(nodes, classlabels_int64s=labels, post_transform=post, **weights,
                 **({"base_values": base} if base else {}))
    check_classifier(attrs, features(rng, 40, 4), np.array(labels), post, base, binary_case=len(ids) == 1,
                     all_positive=bool((np.array(weights["class_weights"]) >= 0).all()))


@pytest.fixture(scope="module")
def big_forest():
    rng = np.random.default_rng(5)
    nodes, leaves = random_forest(rng, 70, 9, 8, ["BRANCH_LEQ"], 0.3)
    attrs = dict(nodes, n_targets=2, **leaf_weights(rng, leaves, 2, "target"))
    return attrs, features(rng, 300, 8)


@pytest.mark.parametrize("rows", [1, 3, 4, 17, 64, 300])  # one row, rows one by one, padded lanes, blocks
def test_every_batch_size_gives_each_row_its_own_result(big_forest, rows):
    """Row r's result does not depend on the rows around it, the batch size or the thread count."""
    attrs, x = big_forest
    model = node_model("TreeEnsembleRegressor", attrs, x, 1)
    sess = pyinfer.InferenceSession(model, num_threads=1)
    whole = sess.run(None, {"X": x})[0]
    np.testing.assert_array_equal(sess.run(None, {"X": x[:rows]})[0], whole[:rows])
    np.testing.assert_array_equal(sess.run(None, {"X": x[-rows:]})[0], whole[-rows:])
    two = pyinfer.InferenceSession(model, num_threads=2)
    np.testing.assert_array_equal(two.run(None, {"X": x[:rows]})[0], whole[:rows])
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    assert_close(whole, want)


def test_double_inputs_and_thresholds(big_forest):
    """float64 X against thresholds given as double tensors (ml opset 3), and int64 X."""
    attrs, x = big_forest
    attrs = dict(attrs)
    values = np.array(attrs.pop("nodes_values"), np.float64) + 1e-9  # not float32 values
    attrs["nodes_values_as_tensor"] = numpy_helper.from_array(values, "v")
    attrs["target_weights_as_tensor"] = numpy_helper.from_array(np.array(attrs.pop("target_weights")), "w")
    xd = x.astype(np.float64)
    model = node_model("TreeEnsembleRegressor", attrs, xd, 1)
    sess = pyinfer.InferenceSession(model)
    first, planned = (sess.run(None, {"X": xd})[0] for _ in range(2))  # onnxruntime has no double kernel here
    np.testing.assert_array_equal(planned, first)
    op = sess._executor.steps[0][0]
    oracle = tree_oracle.regressor(tree_nodes(op, "target", 2), xd, 2, "SUM", "NONE", np.zeros(0))
    assert_close(first, oracle.astype(np.float32), rtol=1e-6, atol=1e-7)
    xi = np.nan_to_num(x * 3).astype(np.int64)  # integers read as float64
    from_int = pyinfer.InferenceSession(node_model("TreeEnsembleRegressor", big_forest[0], xi, 1)).run(None, {"X": xi})
    xf = xi.astype(np.float64)
    from_float = pyinfer.InferenceSession(node_model("TreeEnsembleRegressor", big_forest[0], xf, 1)).run(None, {"X": xf})
    np.testing.assert_array_equal(from_int[0], from_float[0])


def test_string_labels_stay_a_python_step():
    rng = np.random.default_rng(2)
    nodes, leaves = random_forest(rng, 5, 4, 3, ["BRANCH_LEQ"], 0.0)
    attrs = dict(nodes, classlabels_strings=["ant", "bee", "cat"], **leaf_weights(rng, leaves, 3, "class"))
    x = features(rng, 30, 3)
    model = node_model("TreeEnsembleClassifier", attrs, x, 2)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    sess = pyinfer.InferenceSession(model)
    for _ in range(2):
        label, scores = sess.run(None, {"X": x})
        np.testing.assert_array_equal(label, want[0])
        assert_close(scores, want[1])
    assert sess._executor.cached_plans()[0].native_steps == 0


@pytest.mark.parametrize("fault, message", [
    ({"nodes_truenodeids": [1, 0, 0]}, "cycle"),
    ({"nodes_falsenodeids": [2, 7, 0]}, "nodes_falsenodeids: node 1 of tree 0 points to node 7"),
])
def test_structural_faults_are_refused_at_load(fault, message):
    attrs = dict(nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 1, 0],
                 nodes_modes=["BRANCH_LEQ", "BRANCH_LEQ", "LEAF"], nodes_values=[0.0, 0.0, 0.0],
                 nodes_truenodeids=[1, 2, 0], nodes_falsenodeids=[2, 2, 0], n_targets=1, target_treeids=[0],
                 target_nodeids=[2], target_ids=[0], target_weights=[1.0])
    attrs.update(fault)
    with pytest.raises(pyinfer.InvalidModelError, match=message):
        pyinfer.InferenceSession(node_model("TreeEnsembleRegressor", attrs, np.zeros((1, 2), np.float32), 1))


# --- TreeEnsemble (ml opset 5) -------------------------------------------------------------------

def ensemble_v5(rng, n_trees: int, n_features: int, n_targets: int, dtype) -> dict:
    """Random trees in TreeEnsemble's layout: branches and leaves apart, some BRANCH_MEMBER nodes."""
    cols = {k: [] for k in ("featureids", "modes", "splits", "truenodeids", "falsenodeids", "trueleafs", "falseleafs",
                            "missing_value_tracks_true")}
    members, leaf_targets, leaf_weights_, roots = [], [], [], []

    def grow(level):  # -> (index, is_leaf)
        if level == 4 or (level > 0 and rng.random() < 0.3):
            leaf_targets.append(int(rng.integers(n_targets)))
            leaf_weights_.append(float(rng.normal()))
            return len(leaf_targets) - 1, 1
        at = len(cols["modes"])
        for k in cols:
            cols[k].append(0)
        mode = int(rng.integers(7))
        cols["modes"][at], cols["featureids"][at] = mode, int(rng.integers(n_features))
        cols["splits"][at] = float(rng.choice(GRID))
        cols["missing_value_tracks_true"][at] = int(rng.random() < 0.3)
        if mode == 6:
            # no 0: onnxruntime would count the grid's +-0.5 in (it truncates to an integer)
            members.extend(rng.choice([-1.0, 1.0, 2.0], 2, replace=False).tolist() + [np.nan])
        cols["falsenodeids"][at], cols["falseleafs"][at] = grow(level + 1)
        cols["truenodeids"][at], cols["trueleafs"][at] = grow(level + 1)
        return at, 0

    for _ in range(n_trees):
        roots.append(grow(0)[0] if True else None)
    typed = lambda name, values: helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)),
                                                    (len(values),), np.array(values, dtype))
    attrs = {f"nodes_{k}": v for k, v in cols.items() if k not in ("modes", "splits")}
    attrs.update(nodes_modes=helper.make_tensor("m", TensorProto.UINT8, (len(cols["modes"]),), cols["modes"]),
                 nodes_splits=typed("s", cols["splits"]), leaf_targetids=leaf_targets,
                 leaf_weights=typed("w", leaf_weights_), tree_roots=roots, n_targets=n_targets)
    if members:
        attrs["membership_values"] = typed("mv", members)
    return attrs


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])  # AVERAGE, SUM, MIN, MAX
@pytest.mark.parametrize("post", [0, 1, 2, 3])  # NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tree_ensemble_v5(aggregate, post, dtype):
    rng = np.random.default_rng(aggregate * 10 + post)
    attrs = ensemble_v5(rng, 8, 4, 3, dtype)
    attrs.update(aggregate_function=aggregate, post_transform=post)
    # Features on the grid: onnxruntime tests set membership on the feature truncated to an integer
    # (pyinfer: on the value), and onnx.reference misreads sets holding 0, so neither is a reference
    # for other values.
    x = rng.choice(GRID, (25, 4)).astype(dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    model = node_model("TreeEnsemble", attrs, x, 1, ml_opset=5)
    model.opset_import[0].version = 21
    sess = pyinfer.InferenceSession(model)
    first, planned = (sess.run(None, {"X": x})[0] for _ in range(2))
    assert sess._executor.cached_plans()[0].native_steps == 1
    np.testing.assert_array_equal(planned, first)
    # onnxruntime reads post_transform 1 as LOGISTIC and 2 as SOFTMAX (its own enum's order); the
    # spec, and pyinfer, the other way round
    (attr,) = [a for a in model.graph.node[0].attribute if a.name == "post_transform"]
    attr.i = {1: 2, 2: 1}.get(post, post)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    assert_close(first, want)
