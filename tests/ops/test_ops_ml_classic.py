"""The classic ai.onnx.ml predictors and preprocessors, one node at a time, against onnxruntime: the
attribute combinations converters rarely emit (the corpus in tests/corpus covers what they do)."""
import numpy as np
import onnxruntime as ort
from support import ort_node
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import pyinfer

ML = "ai.onnx.ml"


def run_both(op, inputs: dict, attrs: dict, outputs: int = 1, ml_opset: int = 3):
    return ort_node.run_both(op, inputs, attrs, outputs, ML, {"": 17, ML: ml_opset})


def run_planned(op, inputs: dict, attrs: dict, outputs: int = 1, native: bool = True):
    """(onnxruntime's outputs, pyinfer's through a compiled plan); checks the plan ran the node as a
    native step (native) and gave the Python path's outputs exactly."""
    model = ort_node.node_model(op, inputs, attrs, outputs, {"": 17, ML: 1}, ML, {})
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, inputs)
    sess = pyinfer.InferenceSession(model)
    first, planned = (sess.run(None, inputs) for _ in range(2))
    assert sess._executor.cached_plans()[0].native_steps == int(native)
    for a, b in zip(first, planned):
        np.testing.assert_array_equal(a, b)
    return want, planned


assert_same = ort_node.assert_same


# --- tree ensembles -----------------------------------------------------------------------------

# Two trees over 3 features. Tree 0: n0 x0 <= 0.5 ? n1 : n2; n1 x2 < 0.1 ? leaf n3 : leaf n4; n2 leaf.
# Tree 1: n0 x1 >= -0.2 ? leaf n1 : leaf n2 (modes vary by node).
NODES = dict(nodes_treeids=[0, 0, 0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 3, 4, 0, 1, 2],
             nodes_featureids=[0, 2, 0, 0, 0, 1, 0, 0],
             nodes_truenodeids=[1, 3, 0, 0, 0, 1, 0, 0], nodes_falsenodeids=[2, 4, 0, 0, 0, 2, 0, 0],
             nodes_missing_value_tracks_true=[1, 0, 0, 0, 0, 0, 0, 0])
MODES = ["BRANCH_LEQ", "BRANCH_LT", "LEAF", "LEAF", "LEAF", "BRANCH_GTE", "LEAF", "LEAF"]
THRESHOLDS = [0.5, 0.1, 0, 0, 0, -0.2, 0, 0]
LEAVES = dict(treeids=[0, 0, 0, 0, 1, 1, 1], nodeids=[2, 3, 3, 4, 1, 1, 2], ids=[0, 0, 1, 1, 0, 1, 1],
              weights=[0.5, -1.0, 2.0, 0.25, 1.5, -0.75, 0.3])


def x_rows(dtype=np.float32):
    x = np.random.default_rng(3).normal(size=(16, 3)).astype(dtype)
    x[2, 0] = np.nan  # missing: tracks true at node 0 of tree 0
    return x


def regressor_attrs(as_tensor=None, **extra):
    """as_tensor: the dtype of the *_as_tensor attributes (ml opset 3), which is X's."""
    attrs = dict(NODES, nodes_modes=MODES, n_targets=2, target_treeids=LEAVES["treeids"],
                 target_nodeids=LEAVES["nodeids"], target_ids=LEAVES["ids"], **extra)
    if as_tensor is not None:
        attrs["nodes_values_as_tensor"] = numpy_helper.from_array(np.array(THRESHOLDS, as_tensor), "v")
        attrs["target_weights_as_tensor"] = numpy_helper.from_array(np.array(LEAVES["weights"], as_tensor), "w")
    else:
        attrs["nodes_values"] = THRESHOLDS
        attrs["target_weights"] = LEAVES["weights"]
    return attrs


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"])
def test_tree_regressor_aggregates_and_transforms(aggregate, post):
    attrs = regressor_attrs(aggregate_function=aggregate, post_transform=post, base_values=[0.1, -0.2])
    assert_same(*run_both("TreeEnsembleRegressor", {"X": x_rows()}, attrs, ml_opset=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tree_regressor_v3_double_attributes(dtype):
    attrs = regressor_attrs(as_tensor=dtype)
    assert_same(*run_both("TreeEnsembleRegressor", {"X": x_rows(dtype)}, attrs, ml_opset=3))


@pytest.mark.parametrize("aggregate", ["SUM", "AVERAGE", "MIN", "MAX"])
def test_tree_regressor_single_target(aggregate):
    attrs = dict(NODES, nodes_modes=MODES, nodes_values=THRESHOLDS, n_targets=1, aggregate_function=aggregate,
                 target_treeids=[0, 0, 0, 1, 1], target_nodeids=[2, 3, 4, 1, 2], target_ids=[0] * 5,
                 target_weights=[0.5, -1.0, 2.0, 1.5, 0.3], base_values=[0.7])
    assert_same(*run_both("TreeEnsembleRegressor", {"X": x_rows()}, attrs, ml_opset=1))


CLASSIFIER_BINARY = {
    # weights for class 1 only ("binary case"), all positive: probabilities around 0.5
    "one class, positive weights": dict(class_ids=[1, 1, 1, 1, 1], class_weights=[0.2, 0.7, 0.9, 0.4, 0.1]),
    # one class, mixed signs (gradient boosting) with LOGISTIC
    "one class, logits": dict(class_ids=[1] * 5, class_weights=[0.5, -1.0, 2.0, 1.5, -0.3],
                              post_transform="LOGISTIC"),
    "one class, logits, base": dict(class_ids=[1] * 5, class_weights=[0.5, -1.0, 2.0, 1.5, -0.3],
                                    post_transform="LOGISTIC", base_values=[0.3]),
    "one class, two base values": dict(class_ids=[0] * 5, class_weights=[0.5, -1.0, 2.0, 1.5, -0.3],
                                       base_values=[0.1, 0.2]),
    "both classes": dict(class_ids=[0, 1, 0, 1, 1], class_weights=[0.5, 0.5, 0.9, 0.1, 0.6]),
}


@pytest.mark.parametrize("case", sorted(CLASSIFIER_BINARY))
@pytest.mark.parametrize("labels", ["ints", "strings"])
def test_tree_classifier_two_classes(case, labels):
    leaves = dict(class_treeids=[0, 0, 0, 1, 1], class_nodeids=[2, 3, 4, 1, 2])
    label_attr = {"classlabels_int64s": [3, 8]} if labels == "ints" else {"classlabels_strings": ["no", "yes"]}
    attrs = dict(NODES, nodes_modes=MODES, nodes_values=THRESHOLDS, **leaves, **label_attr, **CLASSIFIER_BINARY[case])
    assert_same(*run_both("TreeEnsembleClassifier", {"X": x_rows()}, attrs, outputs=2, ml_opset=1))


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"])
def test_tree_classifier_three_classes(post):
    attrs = dict(NODES, nodes_modes=MODES, nodes_values=THRESHOLDS, classlabels_int64s=[0, 1, 2],
                 class_treeids=[0, 0, 0, 1, 1, 1], class_nodeids=[2, 3, 4, 1, 2, 2], class_ids=[0, 1, 2, 1, 2, 0],
                 class_weights=[0.5, 1.0, 2.0, 0.25, 0.75, 0.1], base_values=[0.0, 0.1, -0.1], post_transform=post)
    assert_same(*run_both("TreeEnsembleClassifier", {"X": x_rows()}, attrs, outputs=2, ml_opset=1))


def test_tree_with_a_cycle_is_refused_at_load():
    attrs = dict(NODES, nodes_modes=MODES, nodes_values=THRESHOLDS)
    attrs["nodes_truenodeids"] = [1, 0, 0, 0, 0, 1, 0, 0]  # node 1 of tree 0 leads back to node 0
    attrs.update(n_targets=1, target_treeids=[0], target_nodeids=[2], target_ids=[0], target_weights=[1.0])
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, name="forest", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", T.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("Y", T.FLOAT, [None, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])
    with pytest.raises(pyinfer.InvalidModelError, match="TreeEnsembleRegressor node 'forest'.*cycle"):
        pyinfer.InferenceSession(model)


# --- linear models, SVMs ------------------------------------------------------------------------

@pytest.mark.parametrize("post", ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO"])
@pytest.mark.parametrize("targets", [1, 3])
def test_linear_classifier(post, targets):
    rng = np.random.default_rng(targets)
    coef = rng.normal(size=targets * 4).round(2).tolist()
    labels = {"classlabels_ints": [0, 1] if targets == 1 else [5, 6, 7]}
    attrs = dict(coefficients=coef, intercepts=rng.normal(size=targets).tolist(), post_transform=post, **labels)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    assert_same(*run_planned("LinearClassifier", {"X": x}, attrs, outputs=2))


@pytest.mark.parametrize("post", ["NONE", "SOFTMAX"])
def test_linear_regressor_several_targets(post):
    rng = np.random.default_rng(0)
    attrs = dict(coefficients=rng.normal(size=8).tolist(), intercepts=[0.5, -0.5], targets=2, post_transform=post)
    assert_same(*run_planned("LinearRegressor", {"X": rng.normal(size=(5, 4)).astype(np.float32)}, attrs))


@pytest.mark.parametrize("kernel", ["LINEAR", "POLY", "RBF", "SIGMOID"])
def test_svm_regressor_kernels(kernel):
    rng = np.random.default_rng(1)
    attrs = dict(kernel_type=kernel, kernel_params=[0.3, 0.5, 3.0], n_supports=4,
                 support_vectors=rng.normal(size=12).tolist(), coefficients=rng.normal(size=4).tolist(), rho=[0.2])
    assert_same(*run_planned("SVMRegressor", {"X": rng.normal(size=(5, 3)).astype(np.float32)}, attrs),
                rtol=1e-4, atol=1e-5)


def test_svm_regressor_linear_and_one_class():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, 3)).astype(np.float32)
    assert_same(*run_both("SVMRegressor", {"X": x}, dict(coefficients=[0.5, -1.0, 2.0], rho=[0.1], n_supports=0,
                                                           kernel_params=[0.0, 0.0, 0.0]),
                          ml_opset=1))
    attrs = dict(kernel_type="RBF", kernel_params=[0.5, 0.0, 0.0], n_supports=2, support_vectors=[0.0, 0.0, 0.0, 1.0, 1.0, 1.0],
                 coefficients=[1.0, -1.0], rho=[0.05], one_class=1)
    assert_same(*run_both("SVMRegressor", {"X": x}, attrs, ml_opset=1))


def test_svm_classifier_linear_mode():
    rng = np.random.default_rng(3)
    attrs = dict(coefficients=rng.normal(size=9).tolist(), rho=[0.1], classlabels_ints=[1, 2, 3],
                 post_transform="SOFTMAX", kernel_params=[0.0, 0.0, 0.0])
    assert_same(*run_planned("SVMClassifier", {"X": rng.normal(size=(5, 3)).astype(np.float32)}, attrs, outputs=2))


@pytest.mark.parametrize("probabilities", [False, True])
@pytest.mark.parametrize("classes", [2, 4])
def test_svm_classifier_support_vectors(probabilities, classes):
    """libsvm's one-vs-one: decisions per class pair (two classes: two columns), or Platt
    probabilities coupled pairwise."""
    rng = np.random.default_rng(classes)
    per_class = [3] * classes
    n_vectors, pairs = sum(per_class), classes * (classes - 1) // 2
    attrs = dict(kernel_type="RBF", kernel_params=[0.4, 0.0, 0.0], vectors_per_class=per_class,
                 support_vectors=rng.normal(size=n_vectors * 4).tolist(),
                 coefficients=rng.normal(size=(classes - 1) * n_vectors).tolist(), rho=rng.normal(size=pairs).tolist(),
                 classlabels_ints=list(range(10, 10 + classes)))
    if probabilities:
        attrs.update(prob_a=(-1 - rng.random(pairs)).tolist(), prob_b=(0.1 * rng.normal(size=pairs)).tolist())
    x = rng.normal(size=(12, 4)).astype(np.float32)
    assert_same(*run_planned("SVMClassifier", {"X": x}, attrs, outputs=2), rtol=1e-4, atol=1e-5)


# --- preprocessing ------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_normalizer(norm, dtype):
    x = np.array([[1, -2, 3], [0, 0, 0], [-4, 5, 6]]).astype(dtype)
    assert_same(*run_planned("Normalizer", {"X": x}, {"norm": norm}, native=dtype == np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_scaler(dtype):
    x = np.array([[1, -2, 3], [4, 5, 6]]).astype(dtype)
    native = dtype in (np.float32, np.float64)
    assert_same(*run_planned("Scaler", {"X": x}, {"offset": [0.5, 1.0, -1.5], "scale": [2.0, 0.5, 3.0]}, native=native))
    assert_same(*run_planned("Scaler", {"X": x}, {"offset": [0.5], "scale": [2.0]}, native=native))


def test_imputer_int64_and_per_column_floats():
    x = np.array([[1, -1, 3], [-1, 5, -1]], np.int64)
    assert_same(*run_both("Imputer", {"X": x}, {"imputed_value_int64s": [7], "replaced_value_int64": -1}, ml_opset=1))
    xf = np.array([[1, np.nan, 3], [np.nan, 5, 2]], np.float32)
    assert_same(*run_both("Imputer", {"X": xf}, {"imputed_value_floats": [0.5, 1.5, 2.5],
                                                 "replaced_value_float": float("nan")}, ml_opset=1))


@pytest.mark.parametrize("kind", ["strings", "int64s"])
def test_one_hot_encoder(kind):
    if kind == "strings":
        x, cats = np.array([["a", "c"], ["zz", "b"]], dtype=object), {"cats_strings": ["a", "b", "c"]}
    else:
        x, cats = np.array([[1, 9], [4, 4]], np.int64), {"cats_int64s": [4, 1, 7]}
    assert_same(*run_both("OneHotEncoder", {"X": x}, dict(cats, zeros=1), ml_opset=1))


def test_one_hot_encoder_unknown_category_with_zeros_0_is_a_run_error():
    node = helper.make_node("OneHotEncoder", ["X"], ["Y"], domain=ML, name="onehot", cats_int64s=[1, 2], zeros=0)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", T.INT64, [None])],
                              [helper.make_tensor_value_info("Y", T.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])
    with pytest.raises(pyinfer.NodeExecutionError, match="OneHotEncoder node 'onehot'.*holds 5"):
        pyinfer.InferenceSession(model).run(None, {"X": np.array([1, 5], np.int64)})


def test_category_mapper_both_ways():
    attrs = {"cats_strings": ["cat", "dog", "eel"], "cats_int64s": [10, 20, 30], "default_int64": -7,
             "default_string": "?"}
    assert_same(*run_both("CategoryMapper", {"X": np.array([["dog", "fox"], ["eel", "cat"]], dtype=object)}, attrs,
                          ml_opset=1))
    assert_same(*run_both("CategoryMapper", {"X": np.array([30, 11, 10], np.int64)}, attrs, ml_opset=1))


def test_feature_vectorizer_pads_and_truncates():
    inputs = {"a": np.array([[1, 2, 3], [4, 5, 6]], np.float32), "b": np.array([[0.5], [1.5]], np.float32),
              "c": np.array([[7.0, 8.0], [9.0, 10.0]], np.float32)}
    assert_same(*run_both("FeatureVectorizer", inputs, {"inputdimensions": [2, 3, 2]}, ml_opset=1))


def test_zip_map_returns_a_list_of_dicts_like_onnxruntime():
    x = np.array([[0.25, 0.75], [0.5, 0.5]], np.float32)
    node = helper.make_node("ZipMap", ["X"], ["Z"], domain=ML, classlabels_strings=["no", "yes"])
    seq_map = helper.make_sequence_type_proto(helper.make_map_type_proto(T.STRING, helper.make_tensor_type_proto(
        T.FLOAT, None)))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", T.FLOAT, [None, 2])],
                              [helper.make_value_info("Z", seq_map)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 1)])
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})
    sess = pyinfer.InferenceSession(model)
    assert sess.get_outputs()[0].type == "seq(map(string,tensor(float)))"
    got = sess.run(None, {"X": x})
    assert got == want == [[{"no": 0.25, "yes": 0.75}, {"no": 0.5, "yes": 0.5}]]
