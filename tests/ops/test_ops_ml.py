"""ai.onnx.ml and ai.onnx.preview.training ops against hand-computed values and the spec's
pseudo code written out in NumPy."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer
from support.one_node import assert_same, reference, run

ML = "ai.onnx.ml"
TRAINING = "ai.onnx.preview.training"


def strings(*values):
    return np.array(list(values), dtype=object)


# --- LabelEncoder ----------------------------------------------------------------------------

def test_label_encoder_v2_string_to_int_and_float_nan():
    y = run("LabelEncoder", [strings("a", "z", "b")], opset=2, domain=ML, keys_strings=["a", "b"],
            values_int64s=[5, 6])
    assert_same(y, np.array([5, -1, 6], np.int64))  # default_int64 is -1
    x = np.array([1.5, np.nan, 3.0], np.float32)
    y = run("LabelEncoder", [x], opset=2, domain=ML, keys_floats=[1.5, float("nan")], values_strings=["x", "nan"])
    assert_same(y, strings("x", "nan", "_Unused"))


def test_label_encoder_v4_tensors_and_last_duplicate_wins():
    keys = helper.make_tensor("k", TensorProto.INT32, (3,), [1, 2, 1])
    vals = helper.make_tensor("v", TensorProto.DOUBLE, (3,), [10.0, 20.0, 30.0])
    default = helper.make_tensor("d", TensorProto.DOUBLE, (1,), [-5.0])
    y = run("LabelEncoder", [np.array([[1, 2], [3, 1]], np.int32)], opset=4, domain=ML,
            keys_tensor=keys, values_tensor=vals, default_tensor=default)
    assert_same(y, np.array([[30.0, 20.0], [-5.0, 30.0]]))
    with pytest.raises(pyinfer.Error, match="dtype|key type"):  # refused at load by onnx's type rules
        run("LabelEncoder", [np.array([1], np.int64)], opset=4, domain=ML, keys_tensor=keys, values_tensor=vals)


def test_label_encoder_v1_both_directions():
    args = dict(opset=1, domain=ML, classes_strings=["x", "y", "z"])
    assert_same(run("LabelEncoder", [strings("y", "q")], default_int64=9, **args), np.array([1, 9], np.int64))
    assert_same(run("LabelEncoder", [np.array([2, 7], np.int64)], default_string="?", **args), strings("z", "?"))


# --- TreeEnsemble ----------------------------------------------------------------------------

def _tree_attrs(**extra):
    # One tree: node 0: x0 <= 1 ? node 1 : leaf 2;  node 1: x1 in {1, 3} ? leaf 0 : leaf 1.
    # A second, single-leaf tree (node 2 -> leaf 3) adds 10 to target 1.
    attrs = dict(
        nodes_featureids=[0, 1, 0], nodes_truenodeids=[1, 0, 3], nodes_falsenodeids=[2, 1, 3],
        nodes_trueleafs=[0, 1, 1], nodes_falseleafs=[1, 1, 1],
        nodes_modes=helper.make_tensor("m", TensorProto.UINT8, (3,), [0, 6, 0]),
        nodes_splits=helper.make_tensor("s", TensorProto.FLOAT, (3,), [1.0, 0.0, 0.0]),
        membership_values=helper.make_tensor("mv", TensorProto.FLOAT, (3,), [1.0, 3.0, float("nan")]),
        leaf_targetids=[0, 0, 0, 1],
        leaf_weights=helper.make_tensor("w", TensorProto.FLOAT, (4,), [1.0, 2.0, 3.0, 10.0]),
        tree_roots=[0, 2], n_targets=2)
    attrs.update(extra)
    return attrs


def test_tree_ensemble_paths_and_aggregation():
    x = np.array([[0.5, 3.0], [0.5, 2.0], [4.0, 1.0], [np.nan, 1.0]], np.float32)
    y = run("TreeEnsemble", [x], domain=ML, **_tree_attrs())
    assert_same(y, np.array([[1, 10], [2, 10], [3, 10], [3, 10]], np.float32))  # NaN <= 1 is false
    y = run("TreeEnsemble", [x], domain=ML, **_tree_attrs(nodes_missing_value_tracks_true=[1, 0, 0]))
    assert y[3, 0] == 1.0  # NaN now follows the true branch, then x1 = 1 is a member
    y = run("TreeEnsemble", [x], domain=ML, **_tree_attrs(aggregate_function=0))
    assert_same(y, np.array([[0.5, 5], [1, 5], [1.5, 5], [1.5, 5]], np.float32))


def test_tree_ensemble_post_transforms():
    x = np.array([[0.5, 3.0]], np.float64)
    raw = np.array([1.0, 10.0])
    # a double X takes double splits, sets and weights (onnx's type rules, checked at load)
    double = dict(nodes_splits=helper.make_tensor("s", TensorProto.DOUBLE, (3,), [1.0, 0.0, 0.0]),
                  membership_values=helper.make_tensor("mv", TensorProto.DOUBLE, (3,), [1.0, 3.0, float("nan")]),
                  leaf_weights=helper.make_tensor("w", TensorProto.DOUBLE, (4,), [1.0, 2.0, 3.0, 10.0]))
    y = run("TreeEnsemble", [x], domain=ML, **_tree_attrs(post_transform=1, **double))
    np.testing.assert_allclose(y[0], np.exp(raw - 10) / np.exp(raw - 10).sum())
    y = run("TreeEnsemble", [x], domain=ML, **_tree_attrs(post_transform=2, **double))
    np.testing.assert_allclose(y[0], 1 / (1 + np.exp(-raw)))
    double["leaf_weights"] = helper.make_tensor("w", TensorProto.DOUBLE, (4,), [0.975, 2.0, 3.0, 0.5])
    y = run("TreeEnsemble", [x], domain=ML, **_tree_attrs(post_transform=4, **double))
    np.testing.assert_allclose(y[0], [1.959963985, 0.0], atol=1e-6)  # probit(0.975), probit(0.5)


def test_tree_ensemble_rejects_bad_model_and_input():
    with pytest.raises(pyinfer.Error, match="membership"):
        run("TreeEnsemble", [np.zeros((1, 2), np.float32)], domain=ML,
            **_tree_attrs(membership_values=helper.make_tensor("mv", TensorProto.FLOAT, (0,), [])))
    with pytest.raises(pyinfer.Error, match="feature"):
        run("TreeEnsemble", [np.zeros((1, 1), np.float32)], domain=ML, **_tree_attrs())


# --- ArrayFeatureExtractor / Binarizer -------------------------------------------------------

def test_array_feature_extractor():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert_same(run("ArrayFeatureExtractor", [x, np.array([3, 0], np.int64)], domain=ML), x[:, [3, 0]])
    assert_same(run("ArrayFeatureExtractor", [strings("a", "b", "c"), np.array([2], np.int64)], domain=ML),
                np.array([["c"]], dtype=object))
    with pytest.raises(pyinfer.Error, match="indices"):
        run("ArrayFeatureExtractor", [x, np.array([4], np.int64)], domain=ML)


def test_binarizer():
    x = np.array([-1.0, 0.0, 0.5, 2.0], np.float32)
    assert_same(run("Binarizer", [x], domain=ML, threshold=0.5), np.array([0, 0, 0, 1], np.float32))
    assert_same(run("Binarizer", [np.array([-3, 0, 4], np.int64)], domain=ML), np.array([0, 0, 1], np.int64))


# --- training optimizers ---------------------------------------------------------------------
# Attributes are float32 in the model: the expectations use the float32-rounded values.

def f32(v):
    return float(np.float32(v))


def test_adagrad_two_tensors(rng):
    r, t = np.array(0.1, np.float32), np.array(3, np.int64)
    x1, g1, h1 = (rng.standard_normal(3).astype(np.float32) for _ in range(3))
    x2, g2, h2 = (rng.standard_normal((2, 2)).astype(np.float32) for _ in range(3))
    h1, h2 = np.abs(h1), np.abs(h2)
    outs = run("Adagrad", [r, t, x1, x2, g1, g2, h1, h2], n_outputs=4, domain=TRAINING,
               decay_factor=0.1, epsilon=1e-5, norm_coefficient=0.01)
    rate = 0.1 / (1 + 3 * 0.1)
    for x, g, h, got_x, got_h in ((x1, g1, h1, outs[0], outs[2]), (x2, g2, h2, outs[1], outs[3])):
        gr = 0.01 * x + g
        h_new = h + gr * gr
        assert_same(got_h, h_new.astype(np.float32), rtol=1e-6)
        assert_same(got_x, (x - rate * gr / (np.sqrt(h_new) + 1e-5)).astype(np.float32), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", ["standard", "nesterov"])
@pytest.mark.parametrize("step", [0, 5])
def test_momentum(rng, mode, step):
    x, g, v = (rng.standard_normal(4) for _ in range(3))
    x_new, v_new = run("Momentum", [np.array(0.01), np.array(step, np.int64), x, g, v], n_outputs=2, domain=TRAINING,
                       alpha=0.9, beta=0.5, norm_coefficient=0.1, mode=mode)
    alpha, beta, norm = f32(0.9), f32(0.5), f32(0.1)
    gr = norm * x + g
    want_v = alpha * v + (beta if step > 0 else 1.0) * gr
    want_x = x - 0.01 * ((gr + alpha * want_v) if mode == "nesterov" else want_v)
    assert_same(v_new, want_v, rtol=1e-12)
    assert_same(x_new, want_x, rtol=1e-12)


@pytest.mark.parametrize("step", [0, 4])
def test_adam(rng, step):
    x, g, v, h = (rng.standard_normal(5) for _ in range(4))
    h = np.abs(h)
    outs = run("Adam", [np.array(0.05), np.array(step, np.int64), x, g, v, h], n_outputs=3, domain=TRAINING,
               alpha=0.8, beta=0.9, epsilon=1e-4, norm_coefficient=0.02, norm_coefficient_post=0.01)
    alpha, beta, eps, norm, post = f32(0.8), f32(0.9), f32(1e-4), f32(0.02), f32(0.01)
    gr = norm * x + g
    v_new = alpha * v + (1 - alpha) * gr
    h_new = beta * h + (1 - beta) * gr * gr
    rate = 0.05 * np.sqrt(1 - beta ** step) / (1 - alpha ** step) if step > 0 else 0.05
    x_new = (1 - post) * (x - rate * v_new / (np.sqrt(h_new) + eps))
    for got, want in zip(outs, (x_new, v_new, h_new)):
        assert_same(got, want, rtol=1e-12)
    ref = reference("Adam", [np.array(0.05), np.array(step, np.int64), x, g, v, h], n_outputs=3, domain=TRAINING,
                    alpha=0.8, beta=0.9, epsilon=1e-4, norm_coefficient=0.02, norm_coefficient_post=0.01)
    for got, want in zip(outs, ref):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_optimizer_input_count_checked():
    with pytest.raises(pyinfer.Error, match="inputs per optimized tensor|multiple of 4"):
        run("Adam", [np.array(0.1), np.array(1, np.int64), np.zeros(2), np.zeros(2)], domain=TRAINING)
