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


def _grown_model():
    nodes = [
        helper.make_node("Add", ["k", "k"], ["k2"]),  # k can be fed: not a constant
        helper.make_node("ConstantOfShape", ["big_shape"], ["big"]),  # 4M elements (16 MiB) from 2
        helper.make_node("ReduceSum", ["big"], ["big_sum"], keepdims=0),
        helper.make_node("Add", ["k2", "big_sum"], ["y"]),
    ]
    inits = [const("k", np.ones(3, np.float32)),
             const("big_shape", np.array([2048, 2048], np.int64))]
    model = make_model(nodes, [vi("k", [3])], [vi("y", [3])], inits)
    model.graph.node[1].attribute.append(helper.make_attribute("value", numpy_helper.from_array(np.ones(1, np.float32))))
    return model


def test_not_folded_feeds_overridable_initializers(rng):
    out, _, (y,) = optimize_and_compare(_grown_model(), {}, only=PASSES)
    # the 16 MiB ConstantOfShape is within the default budget: it and its sum fold
    assert op_types(out) == ["Add", "Add"]
    np.testing.assert_allclose(y, np.full(3, 2 + 2048 * 2048, np.float32))
    _, _, (y,) = optimize_and_compare(_grown_model(), {"k": np.full(3, 5, np.float32)}, only=PASSES)
    np.testing.assert_allclose(y, np.full(3, 10 + 2048 * 2048, np.float32))


def test_growth_beyond_max_memory_bytes_is_left_to_run_time():
    import pyinfer

    model = _grown_model()
    small = pyinfer.InferenceSession(model, max_memory_bytes=8 << 20)  # 8 MiB: the 16 MiB fill stays
    assert small.optimization_report.ops_after == {"Add": 2, "ConstantOfShape": 1, "ReduceSum": 1}
    big = pyinfer.InferenceSession(model, max_memory_bytes=32 << 20)
    assert big.optimization_report.ops_after == {"Add": 2}


def test_growth_budget_is_for_the_whole_graph():
    """Two 16 MiB fills under a 24 MiB limit: each alone fits, together they do not."""
    import pyinfer

    nodes = [helper.make_node("ConstantOfShape", ["s"], ["a"], value=numpy_helper.from_array(np.ones(1, np.float32))),
             helper.make_node("ConstantOfShape", ["s"], ["b"], value=numpy_helper.from_array(np.full(1, 2, np.float32))),
             helper.make_node("MatMul", ["x", "a"], ["xa"]),
             helper.make_node("MatMul", ["xa", "b"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 2048])], [vi("y", [1, 2048])], [const("s", np.array([2048, 2048], np.int64))])
    sess = pyinfer.InferenceSession(model, max_memory_bytes=24 << 20)
    assert sess.optimization_report.pass_counts["fold_constants"] == 1
    assert sess.optimization_report.ops_after["ConstantOfShape"] == 1
    x = np.full((1, 2048), 1e-3, np.float32)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], np.full((1, 2048), 2048 * 2048 * 2e-3, np.float32),
                               rtol=1e-4)


def test_weights_computed_from_constants_are_packed_like_initializers(rng):
    """Cast / Transpose / DequantizeLinear / Reshape of weights fold, so the Conv reads a constant
    and its BatchNorm and Relu fuse into it."""
    import pyinfer

    w8 = rng.integers(-100, 100, (8, 4, 3, 3), dtype=np.int8)
    nodes = [
        helper.make_node("DequantizeLinear", ["w8", "ws"], ["wq"]),
        helper.make_node("Transpose", ["wq"], ["wt"], perm=[1, 0, 2, 3]),
        helper.make_node("Transpose", ["wt"], ["w"], perm=[1, 0, 2, 3]),
        helper.make_node("ConstantOfShape", ["bshape"], ["bias64"],
                         value=numpy_helper.from_array(np.full(1, 0.25, np.float64))),
        helper.make_node("Cast", ["bias64"], ["bias"], to=TensorProto.FLOAT),
        helper.make_node("Conv", ["x", "w", "bias"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "b", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["y"]),
    ]
    inits = [const("w8", w8), const("ws", np.float32(0.01)), const("bshape", np.array([8], np.int64)),
             const("g", np.full(8, 1.5, np.float32)), const("b", np.full(8, 0.1, np.float32)),
             const("m", np.full(8, 0.2, np.float32)), const("v", np.full(8, 2.0, np.float32))]
    model = make_model(nodes, [vi("x", [1, 4, 6, 6])], [vi("y", [1, 8, 6, 6])], inits)
    x = random(rng, (1, 4, 6, 6))
    sess = pyinfer.InferenceSession(model)
    assert dict(sess.optimization_report.ops_after) == {"pyinfer::FusedConv": 1}
    import onnxruntime as ort

    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for _ in range(3):  # Python path, compile, plan
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)


def test_ir3_initializers_listed_as_inputs_are_constants(rng):
    """IR 3 lists every initializer as a graph input; onnxruntime reads them as constants (not
    overridable), and so does pyinfer: they fold, and feeding one is an unknown input."""
    import onnxruntime as ort
    import pyinfer

    nodes = [helper.make_node("ConstantOfShape", ["s"], ["w"], value=numpy_helper.from_array(np.full(1, 0.5, np.float32))),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    model = make_model(nodes, [vi("x", [2, 3]), vi("s", [2], TensorProto.INT64)], [vi("y", [2, 4])],
                       [const("s", np.array([3, 4], np.int64))], opset=9)
    model.ir_version = 3
    sess = pyinfer.InferenceSession(model)
    assert [i.name for i in sess.get_inputs()] == ["x"]
    assert dict(sess.optimization_report.ops_after) == {"MatMul": 1}
    x = random(rng, (2, 3))
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert [i.name for i in ref.get_inputs()] == ["x"]
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], ref.run(None, {"x": x})[0], rtol=1e-6)
    with pytest.raises(pyinfer.UnknownInputError, match="'s'"):
        sess.run(None, {"x": x, "s": np.array([3, 4], np.int64)})


def test_a_node_that_would_fail_is_left_for_run_time():
    nodes = [helper.make_node("Reshape", ["c", "bad_shape"], ["y"])]
    inits = [const("c", np.ones(6, np.float32)), const("bad_shape", np.array([4, 4], np.int64))]
    model = make_model(nodes, [], [vi("y", None)], inits)
    import pyinfer

    sess = pyinfer.InferenceSession(model)
    assert sess.optimization_report.pass_counts["fold_constants"] == 0
    with pytest.raises(pyinfer.Error):
        sess.run(None, {})
