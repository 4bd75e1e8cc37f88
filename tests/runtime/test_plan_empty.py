"""Empty tensors as native plan steps: the ops a detector runs on an empty selection (a class with
no candidate above the threshold, an FPN level no RoI maps to) keep their kernels in a static plan
(Op.empty_tensors_ok), against onnxruntime (shapes, dtypes, and the values of outputs that are not
empty: Concat, ScatterElements, Shape); and a plan compiled on an empty selection meets a
non-empty one correctly."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer

F, I64 = np.float32, np.int64
rng0 = np.random.default_rng(0)
X = rng0.standard_normal((1, 2, 8, 8)).astype(F)

# (op, {input name: array}, attributes, outputs, names of the inputs that are initializers)
CASES = [
    ("Gather", {"x": np.arange(12, dtype=F).reshape(4, 3), "i": np.zeros(0, I64)}, {"axis": 0}, 1, ()),
    ("Gather", {"x": np.zeros((0, 4), F), "i": np.zeros((0,), I64)}, {"axis": 0}, 1, ()),
    ("GatherND", {"x": np.ones((3, 4), F), "i": np.zeros((0, 2), I64)}, {}, 1, ()),
    ("Squeeze", {"x": np.zeros((0, 1), F), "axes": np.array([1], I64)}, {}, 1, ("axes",)),
    ("Unsqueeze", {"x": np.zeros((0,), I64), "axes": np.array([1], I64)}, {}, 1, ("axes",)),
    ("Reshape", {"x": np.zeros((0, 4), F), "s": np.array([-1, 2], I64)}, {}, 1, ("s",)),
    ("Flatten", {"x": np.zeros((0, 2, 3), F)}, {"axis": 1}, 1, ()),
    ("Transpose", {"x": np.zeros((0, 3), I64)}, {"perm": [1, 0]}, 1, ()),
    ("Split", {"x": np.zeros((0, 4), F), "s": np.array([1, 3], I64)}, {"axis": 1}, 2, ("s",)),
    ("Shape", {"x": np.zeros((0, 4), F)}, {}, 1, ()),
    ("Cast", {"x": np.zeros((0,), F)}, {"to": TensorProto.INT64}, 1, ()),
    ("Concat", {"a": np.zeros((0, 3), F), "b": np.arange(6, dtype=F).reshape(2, 3)}, {"axis": 0}, 1, ()),
    ("Slice", {"x": np.zeros((0, 4), F), "s": np.array([1], I64), "e": np.array([3], I64),
               "a": np.array([1], I64)}, {}, 1, ("s", "e", "a")),
    ("Expand", {"x": np.zeros((0, 1), F), "s": np.array([0, 3], I64)}, {}, 1, ("s",)),
    ("ScatterElements", {"x": np.arange(12, dtype=F).reshape(4, 3), "i": np.zeros((0, 3), I64),
                         "u": np.zeros((0, 3), F)}, {"axis": 0}, 1, ()),
    ("Add", {"a": np.zeros((0, 4), F), "b": np.ones(4, F)}, {}, 1, ()),
    ("Mul", {"a": np.zeros((0, 4), F), "b": np.ones((1, 4), F)}, {}, 1, ()),
    ("Greater", {"a": np.zeros((0,), F), "b": np.array(0.5, F)}, {}, 1, ()),
    ("Clip", {"x": np.zeros((0, 4), F), "lo": np.array(0, F), "hi": np.array(1, F)}, {}, 1, ("lo", "hi")),
    ("Where", {"c": np.zeros((0,), bool), "a": np.zeros((0,), F), "b": np.zeros((0,), F)}, {}, 1, ()),
    ("NonZero", {"x": np.zeros((5,), F)}, {}, 1, ()),
    ("TopK", {"x": np.zeros((0,), F), "k": np.array([0], I64)}, {}, 2, ()),
    ("RoiAlign", {"x": X, "r": np.zeros((0, 4), F), "b": np.zeros((0,), I64)},
     {"output_height": 3, "output_width": 3, "sampling_ratio": 2}, 1, ()),
    ("NonMaxSuppression", {"b": np.zeros((1, 0, 4), F), "s": np.zeros((1, 1, 0), F), "m": np.array([10], I64),
                           "t": np.array([0.5], F)}, {}, 1, ("m", "t")),
    ("TopK", {"x": np.arange(5, dtype=F), "k": np.array([0], I64)}, {}, 2, ("k",)),
    ("Sub", {"a": np.ones((3, 1), I64), "b": np.zeros((0,), I64)}, {}, 1, ()),
    ("Div", {"a": np.zeros((0, 2), F), "b": np.ones((2,), F)}, {}, 1, ()),
    ("Max", {"a": np.zeros((0, 4), F), "b": np.ones((4,), F)}, {}, 1, ()),
    ("Sum", {"a": np.zeros((2, 0), F), "b": np.ones((2, 1), F)}, {}, 1, ()),
    ("Sqrt", {"x": np.zeros((0, 4), F)}, {}, 1, ()),
    ("Relu", {"x": np.zeros((4, 0), F)}, {}, 1, ()),
    ("Equal", {"a": np.zeros((0,), I64), "b": np.array(3, I64)}, {}, 1, ()),
    ("ConstantOfShape", {"s": np.array([0, 4], I64)}, {}, 1, ()),
    ("Range", {"a": np.array(3, I64), "b": np.array(3, I64), "d": np.array(1, I64)}, {}, 1, ()),
    ("Softmax", {"x": np.zeros((0, 5), F)}, {"axis": -1}, 1, ()),
    ("Sigmoid", {"x": np.zeros((0, 5), F)}, {}, 1, ()),
    ("Exp", {"x": np.zeros((0, 5), F)}, {}, 1, ()),
]


def _model(op, inputs, attrs, n_out, consts):
    elem = helper.np_dtype_to_tensor_dtype
    node = helper.make_node(op, list(inputs), [f"y{i}" for i in range(n_out)], **attrs)
    graph = helper.make_graph(
        [node], "empty", [helper.make_tensor_value_info(n, elem(a.dtype), list(a.shape))
                          for n, a in inputs.items() if n not in consts],
        [helper.make_value_info(f"y{i}", helper.TypeProto()) for i in range(n_out)],
        [numpy_helper.from_array(inputs[n], n) for n in consts])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("op,inputs,attrs,n_out,consts", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_empty_tensors_run_natively(op, inputs, attrs, n_out, consts):
    model = _model(op, inputs, attrs, n_out, consts).SerializeToString()
    feeds = {n: a for n, a in inputs.items() if n not in consts}
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for _ in range(3):  # Python path, compile + plan, plan
        got = sess.run(None, feeds)
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
            np.testing.assert_array_equal(g, w)
    (plan,) = sess._executor.cached_plans()
    kinds = [plan.kind[f"y{i}"] for i in range(n_out)]
    assert "py" not in kinds, f"{op} stayed a Python step"


def _selection_model():
    """scores (N,) > 0.5 -> NonZero -> the selected boxes -> RoiAlign on a feature map: an empty
    selection (nothing above the threshold) runs natively too."""
    n = helper.make_node
    nodes = [
        n("Greater", ["scores", "thr"], ["keep"]),
        n("NonZero", ["keep"], ["nz"]),
        n("Squeeze", ["nz", "ax0"], ["idx"]),
        n("Gather", ["boxes", "idx"], ["sel"], axis=0),
        n("Cast", ["idx"], ["bi0"], to=TensorProto.INT64),
        n("Mul", ["bi0", "zero"], ["bi"]),
        n("RoiAlign", ["x", "sel", "bi"], ["pooled"], output_height=3, output_width=3, sampling_ratio=2,
          spatial_scale=0.5),
        n("Gather", ["scores", "idx"], ["sel_scores"], axis=0),
    ]
    inits = {"thr": np.array(0.5, F), "ax0": np.array([0], I64), "zero": np.array(0, I64)}
    graph = helper.make_graph(
        nodes, "select", [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [6]),
                          helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [6, 4]),
                          helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("sel_scores", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


@pytest.mark.parametrize("first", ["empty", "some"])
def test_a_plan_compiled_on_an_empty_selection_meets_other_ones(rng, first):
    model = _selection_model()
    boxes = np.sort(rng.uniform(0, 14, (6, 2, 2)), axis=1).transpose(0, 2, 1).reshape(6, 4).astype(F)
    x = rng.standard_normal((1, 2, 8, 8)).astype(F)
    empty = np.zeros(6, F)
    some = np.array([0.9, 0.1, 0.7, 0.2, 0.6, 0.0], F)
    order = [empty, empty, empty, some, some, empty, np.ones(6, F)]
    if first == "some":
        order = [some, some, some, empty, empty, some, np.ones(6, F)]
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    sess = pyinfer.InferenceSession(model, executor="plan")
    for i, scores in enumerate(order):
        feeds = {"scores": scores, "boxes": boxes, "x": x}
        for g, w in zip(sess.run(None, feeds), ref.run(None, feeds)):
            assert g.shape == w.shape, (i, g.shape, w.shape)
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
        if i == 2:  # the static plan of the first selection: every step native
            (plan,) = sess._executor.cached_plans()
            assert plan.native_steps == len(sess._executor.steps)


def test_a_plan_whose_values_are_all_empty():
    """Every value empty: the plan has no arena at all (onnx's reduce_*_empty_set_expanded cases)."""
    n = helper.make_node
    graph = helper.make_graph(
        [n("Abs", ["x"], ["a"]), n("Neg", ["a"], ["b"]), n("Transpose", ["b"], ["y"], perm=[1, 0, 2])], "all_empty",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 0, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for _ in range(3):
        (y,) = sess.run(None, {"x": np.zeros((2, 0, 4), F)})
        assert y.shape == (0, 2, 4) and y.dtype == F
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 3 and plan.memory.arena_bytes == 0
