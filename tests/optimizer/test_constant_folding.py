"""Constant folding, including Shape arithmetic on statically known shapes."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["fold_constants", "eliminate_dead_nodes"]


def initializer(model, name):
    return next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == name)


def test_constant_subexpressions_are_computed_once(rng):
    w = random(rng, (3, 4))
    nodes = [
        helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.float32(2.0))),
        helper.make_node("Mul", ["w", "c"], ["w2"]),
        helper.make_node("Transpose", ["w2"], ["w2t"]),
        helper.make_node("MatMul", ["x", "w2t"], ["y"]),
    ]
    model = make_model(nodes, [vi("x", [2, 4])], [vi("y", [2, 3])], [const("w", w)])
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (2, 4))}, only=PASSES)
    assert op_types(out) == ["MatMul"]
    np.testing.assert_array_equal(initializer(out, "w2t"), (w * 2).T)
    assert report.pass_counts["fold_constants"] == 3


def reshape_by_shape_model(batch):
    """y = x.reshape(x.shape[0], -1) the way torch exports it, plus x.shape[1] as an output."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
        helper.make_node("Gather", ["s", "i1"], ["c"], axis=0),
    ]
    inits = [const("i0", np.int64(0)), const("i1", np.int64(1)), const("ax0", np.array([0], np.int64)),
             const("minus1", np.array([-1], np.int64))]
    return make_model(nodes, [vi("x", [batch, 3, 4, 5])], [vi("y", None), vi("c", None, TensorProto.INT64)], inits)


def test_shape_gather_unsqueeze_concat_reshape_chain_folds_with_static_shapes(rng):
    model = reshape_by_shape_model(2)
    out, _, (y, c) = optimize_and_compare(model, {"x": random(rng, (2, 3, 4, 5))}, only=PASSES)
    assert op_types(out) == ["Reshape"]
    np.testing.assert_array_equal(initializer(out, "shape"), [2, -1])
    np.testing.assert_array_equal(initializer(out, "c"), 3)
    assert y.shape == (2, 60) and c == 3


def test_symbolic_batch_is_never_folded_but_known_dims_are(rng):
    model = reshape_by_shape_model("batch")
    for n in (1, 3):
        out, _, (y, c) = optimize_and_compare(model, {"x": random(rng, (n, 3, 4, 5))}, only=PASSES)
        assert y.shape == (n, 60) and c == 3
    assert op_types(out) == ["Shape", "Gather", "Unsqueeze", "Concat", "Reshape"]
    np.testing.assert_array_equal(initializer(out, "c"), 3)  # x.shape[1] is known


def test_shape_with_start_end_and_slice_of_a_shape(rng):
    nodes = [
        helper.make_node("Shape", ["x"], ["tail"], start=1),  # [3, 4]: known although batch is not
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "st", "en"], ["mid"]),  # s[1:2] = [3]
        helper.make_node("Concat", ["tail", "mid"], ["y"], axis=0),
    ]
    inits = [const("st", np.array([1], np.int64)), const("en", np.array([2], np.int64))]
    model = make_model(nodes, [vi("x", ["N", 3, 4])], [vi("y", None, TensorProto.INT64)], inits)
    out, _, (y,) = optimize_and_compare(model, {"x": random(rng, (2, 3, 4))}, only=PASSES)
    assert op_types(out) == []
    np.testing.assert_array_equal(y, [3, 4, 3])


def test_shape_inferred_through_ops_folds(rng):
    # The shape of r is not declared: onnx shape inference derives it from the Conv.
    w = random(rng, (6, 3, 3, 3))
    nodes = [helper.make_node("Conv", ["x", "w"], ["r"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Shape", ["r"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 3, 9, 9])], [vi("y", None, TensorProto.INT64)], [const("w", w)])
    out, _, (y,) = optimize_and_compare(model, {"x": random(rng, (1, 3, 9, 9))}, only=PASSES)
    assert op_types(out) == []
    np.testing.assert_array_equal(y, [1, 6, 5, 5])


def test_random_ops_are_not_folded():
    from pyinfer.optimizer import optimize

    nodes = [helper.make_node("RandomUniform", [], ["r"], shape=[3], seed=1.0),
             helper.make_node("Mul", ["r", "zero"], ["y"])]
    model = make_model(nodes, [], [vi("y", [3])], [const("zero", np.zeros(3, np.float32))])
    out, report = optimize(model, only=PASSES)
    assert op_types(out) == ["RandomUniform", "Mul"] and report.pass_counts["fold_constants"] == 0


def test_not_folded_feeds_overridable_initializers_and_huge_results(rng):
    nodes = [
        helper.make_node("Add", ["k", "k"], ["k2"]),  # k can be fed: not a constant
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"]),  # 4M elements from 2
        helper.make_node("ReduceSum", ["big"], ["big_sum"], keepdims=0),
        helper.make_node("Add", ["k2", "big_sum"], ["y"]),
    ]
    inits = [const("k", np.ones(3, np.float32)),
             const("big_shape", np.array([2048, 2048], np.int64))]
    model = make_model(nodes, [vi("k", [3])], [vi("y", [3])], inits)
    model.graph.node[1].attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.ones(1, np.float32))))
    out, _, (y,) = optimize_and_compare(model, {}, only=PASSES)
    assert op_types(out) == ["Add", "ConstantOfShape", "ReduceSum", "Add"]
    np.testing.assert_allclose(y, np.full(3, 2 + 2048 * 2048, np.float32))
    _, _, (y,) = optimize_and_compare(model, {"k": np.full(3, 5, np.float32)}, only=PASSES)
    np.testing.assert_allclose(y, np.full(3, 10 + 2048 * 2048, np.float32))


def test_a_node_that_would_fail_is_left_for_run_time():
    nodes = [helper.make_node("Reshape", ["c", "bad_shape"], ["y"])]
    inits = [const("c", np.ones(6, np.float32)), const("bad_shape", np.array([4, 4], np.int64))]
    model = make_model(nodes, [], [vi("y", None)], inits)
    import pyinfer

    sess = pyinfer.InferenceSession(model)
    assert sess.optimization_report.pass_counts["fold_constants"] == 0
    with pytest.raises(pyinfer.Error):
        sess.run(None, {})
