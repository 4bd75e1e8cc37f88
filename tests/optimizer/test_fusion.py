"""Activation and residual-Add fusion into Conv / Gemm / MatMul (pyinfer::Fused*)."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer.optimizer import optimize
from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["fuse_residual_add", "fuse_activation", "fold_constants", "eliminate_dead_nodes"]

# (activation node maker, extra initializers, the attributes the fused node must carry)
ACTIVATIONS = {
    "Relu": (lambda i, o: helper.make_node("Relu", [i], [o]), [], {"activation": "Relu"}),
    "ReLU6": (lambda i, o: helper.make_node("Clip", [i, "lo", "hi"], [o]),
              [const("lo", np.float32(0)), const("hi", np.float32(6))],
              {"activation": "Clip", "clip_min": 0.0, "clip_max": 6.0}),
    "ClipMinOnly": (lambda i, o: helper.make_node("Clip", [i, "lo"], [o]), [const("lo", np.float32(-0.5))],
                    {"activation": "Clip", "clip_min": -0.5, "clip_max": float("inf")}),
    "LeakyRelu": (lambda i, o: helper.make_node("LeakyRelu", [i], [o], alpha=0.2), [],
                  {"activation": "LeakyRelu", "activation_alpha": 0.2}),
    "Sigmoid": (lambda i, o: helper.make_node("Sigmoid", [i], [o]), [], {"activation": "Sigmoid"}),
    "HardSwish": (lambda i, o: helper.make_node("HardSwish", [i], [o]), [], {"activation": "HardSwish"}),
    "Gelu": (lambda i, o: helper.make_node("Gelu", [i], [o]), [], {"activation": "Gelu", "approximate": "none"}),
    "GeluTanh": (lambda i, o: helper.make_node("Gelu", [i], [o], approximate="tanh"), [],
                 {"activation": "Gelu", "approximate": "tanh"}),
    "Tanh": (lambda i, o: helper.make_node("Tanh", [i], [o]), [], {"activation": "Tanh"}),
    "HardSigmoid": (lambda i, o: helper.make_node("HardSigmoid", [i], [o], alpha=0.3, beta=0.4), [],
                    {"activation": "HardSigmoid", "activation_alpha": 0.3, "activation_beta": 0.4}),
    "Mish": (lambda i, o: helper.make_node("Mish", [i], [o]), [], {"activation": "Mish"}),
    # x * sigmoid(x) as torch exports SiLU before opset 24 / Swish: two nodes reading x
    "SigmoidMul": (lambda i, o: [helper.make_node("Sigmoid", [i], [i + "_sig"]),
                                 helper.make_node("Mul", [i, i + "_sig"], [o])], [], {"activation": "Silu"}),
    "MulSigmoid": (lambda i, o: [helper.make_node("Sigmoid", [i], [i + "_sig"]),
                                 helper.make_node("Mul", [i + "_sig", i], [o])], [], {"activation": "Silu"}),
    "HardSigmoidMul": (lambda i, o: [helper.make_node("HardSigmoid", [i], [i + "_hs"], alpha=1 / 6, beta=0.5),
                                     helper.make_node("Mul", [i, i + "_hs"], [o])], [], {"activation": "HardSwish"}),
}


def _nodes(made):
    return made if isinstance(made, list) else [made]


def fused_attrs(node):
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def check_attrs(node, want):
    got = fused_attrs(node)
    for k, v in want.items():
        assert got[k] == pytest.approx(v) if isinstance(v, float) else got[k] == v, (k, got)


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_activation_after_conv(rng, act):
    make, inits, attrs = ACTIVATIONS[act]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]), *_nodes(make("c", "y"))]
    inits = inits + [const("w", random(rng, (4, 3, 3, 3))), const("b", random(rng, (4,)))]
    model = make_model(nodes, [vi("x", [2, 3, 7, 7])], [vi("y", None)], inits, opset=20)
    feeds = {"x": random(rng, (2, 3, 7, 7)) * 3}
    out, report, (got,) = optimize_and_compare(model, feeds, only=PASSES)
    assert op_types(out) == ["FusedConv"] and out.graph.node[0].domain == "pyinfer"
    check_attrs(out.graph.node[0], {**attrs, "strides": [2, 2], "pads": [1, 1, 1, 1]})
    assert report.pass_counts["fuse_activation"] == 1
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-5)


def ort_run(model, feeds):
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


@pytest.mark.parametrize("act", ["Relu", "ReLU6", "LeakyRelu", "Sigmoid", "HardSwish", "Gelu", "Tanh", "Mish",
                                 "SigmoidMul", "HardSigmoidMul"])
@pytest.mark.parametrize("producer", ["Gemm", "MatMul"])
def test_activation_after_gemm_and_matmul(rng, act, producer):
    make, inits, attrs = ACTIVATIONS[act]
    if producer == "Gemm":
        node = helper.make_node("Gemm", ["a", "w", "bias"], ["g"], transB=1, alpha=0.7)
        inits = inits + [const("w", random(rng, (5, 4))), const("bias", random(rng, (5,)))]
        a_shape = [3, 4]
    else:
        node = helper.make_node("MatMul", ["a", "w"], ["g"])
        inits = inits + [const("w", random(rng, (4, 5)))]
        a_shape = [2, 3, 4]
    model = make_model([node, *_nodes(make("g", "y"))], [vi("a", a_shape)], [vi("y", None)], inits, opset=20)
    out, _, _ = optimize_and_compare(model, {"a": random(rng, a_shape) * 3}, only=PASSES)
    assert op_types(out) == ["Fused" + producer]
    check_attrs(out.graph.node[0], attrs)


@pytest.mark.parametrize("add", ["Add", "Sum"])
@pytest.mark.parametrize("act", [None, "Relu", "HardSwish"])
@pytest.mark.parametrize("conv_side", [0, 1])
def test_residual_add_then_activation(rng, act, conv_side, add):
    add_in = ["c", "x"] if conv_side == 0 else ["x", "c"]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node(add, add_in, ["s"])]
    inits = [const("w", random(rng, (3, 3, 3, 3))), const("b", random(rng, (3,)))]
    if act:
        nodes.append(ACTIVATIONS[act][0]("s", "y"))
    model = make_model(nodes, [vi("x", ["N", 3, 5, 5])], [vi("y" if act else "s", None)], inits)
    x = random(rng, (2, 3, 5, 5))
    out, report, (y,) = optimize_and_compare(model, {"x": x}, only=PASSES)
    assert op_types(out) == ["FusedConv"] and list(out.graph.node[0].input) == ["x", "w", "b", "x"]
    assert report.pass_counts["fuse_residual_add"] == 1
    assert fused_attrs(out.graph.node[0]).get("activation", "") == (act or "")


def test_sum_of_three_is_not_a_residual(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Sum", ["c", "x", "x"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", None)], [const("w", random(rng, (3, 3, 1, 1)))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, 3, 4, 4))}, only=PASSES)
    assert op_types(out) == ["Conv", "Sum"]


def test_residual_that_broadcasts_is_not_fused(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["c", "z"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 2, 4, 4]), vi("z", [1, 3, 1, 4])], [vi("y", None)],
                       [const("w", random(rng, (3, 2, 1, 1)))])
    feeds = {"x": random(rng, (1, 2, 4, 4)), "z": random(rng, (1, 3, 1, 4))}
    out, _, _ = optimize_and_compare(model, feeds, only=PASSES)
    assert op_types(out) == ["Conv", "Add"]


def test_activated_conv_takes_no_residual(rng):
    # act(conv) + z is not act(conv + z), and the Add's Sigmoid is not the conv's.
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Add", ["r", "x"], ["s"]), helper.make_node("Sigmoid", ["s"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", None)], [const("w", random(rng, (2, 2, 1, 1)))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 4, 4))}, only=PASSES)
    assert op_types(out) == ["FusedConv", "Add", "Sigmoid"]


def test_activation_not_fused_when_conv_output_is_also_read_or_not_float32(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", None), vi("c", None)],
                       [const("w", random(rng, (2, 2, 1, 1)))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 4, 4))}, only=PASSES)
    assert op_types(out) == ["Conv", "Relu"]
    model = make_model(nodes, [vi("x", [1, 2, 4, 4], TensorProto.DOUBLE)], [vi("y", None, TensorProto.DOUBLE)],
                       [const("w", random(rng, (2, 2, 1, 1), np.float64))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 4, 4), np.float64)}, only=PASSES)
    assert op_types(out) == ["Conv", "Relu"]


@pytest.mark.parametrize("dtype,elem", [(np.float64, TensorProto.DOUBLE), (np.float16, TensorProto.FLOAT16)])
@pytest.mark.parametrize("act", ["Relu", "ReLU6", "LeakyRelu", "Sigmoid", "HardSwish", "Gelu", "GeluTanh"])
def test_fused_conv_in_other_dtypes_matches_the_unfused_graph(rng, dtype, elem, act):
    """The optimizer fuses float32 only, but a hand-written FusedConv must work in every float type."""
    make, inits, attrs = ACTIVATIONS[act]
    inits = [const(t.name, np.asarray(np.frombuffer(t.raw_data, np.float32) if t.raw_data else t.float_data[0],
                                      np.float32).reshape(()).astype(dtype)) for t in inits]
    w, b, z = random(rng, (3, 2, 3, 3), dtype), random(rng, (3,), dtype), random(rng, (1, 3, 4, 4), dtype)
    plain = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("Add", ["c", "z"], ["s"]), make("s", "y")],
                       [vi("x", [1, 2, 4, 4], elem), vi("z", [1, 3, 4, 4], elem)], [vi("y", None, elem)],
                       inits + [const("w", w), const("b", b)], opset=20)
    fused_node = helper.make_node("FusedConv", ["x", "w", "b", "z"], ["y"], domain="pyinfer", pads=[1, 1, 1, 1], **attrs)
    fused = make_model([fused_node], [vi("x", [1, 2, 4, 4], elem), vi("z", [1, 3, 4, 4], elem)], [vi("y", None)],
                       [const("w", w), const("b", b)], opset=20)
    fused.opset_import.append(helper.make_opsetid("pyinfer", 1))
    feeds = {"x": random(rng, (1, 2, 4, 4), dtype), "z": z}
    off = pyinfer.GraphOptimizationLevel.ORT_DISABLE_ALL
    (want,) = pyinfer.InferenceSession(plain, graph_optimization_level=off).run(None, feeds)
    (got,) = pyinfer.InferenceSession(fused, graph_optimization_level=off).run(None, feeds)
    assert got.dtype == dtype
    tol = 1e-3 if dtype == np.float16 else 1e-10
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol)


def test_fused_conv_rejects_a_residual_of_the_wrong_shape(rng):
    node = helper.make_node("FusedConv", ["x", "w", "", "z"], ["y"], domain="pyinfer", activation="Relu")
    model = make_model([node], [vi("x", [1, 2, 4, 4]), vi("z", None)], [vi("y", None)], [const("w", random(rng, (3, 2, 1, 1)))])
    model.opset_import.append(helper.make_opsetid("pyinfer", 1))
    sess = pyinfer.InferenceSession(model)
    with pytest.raises(pyinfer.KernelArgumentError, match="FusedConv node .*residual"):
        sess.run(None, {"x": random(rng, (1, 2, 4, 4)), "z": random(rng, (1, 3, 4, 1))})
    bad = make_model([helper.make_node("FusedConv", ["x", "w"], ["y"], domain="pyinfer", activation="Softplus")],
                     [vi("x", [1, 2, 4, 4])], [vi("y", None)], [const("w", random(rng, (3, 2, 1, 1)))])
    bad.opset_import.append(helper.make_opsetid("pyinfer", 1))
    with pytest.raises(pyinfer.InvalidModelError, match="activation"):
        pyinfer.InferenceSession(bad)


def test_passes_run_to_a_fixed_point(rng):
    # Conv -> BN -> Add(residual) -> Identity -> Relu: needs identity removal, BN folding,
    # residual then activation fusion, and elimination, across the passes' order.
    c = 3
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
             helper.make_node("Add", ["n", "x"], ["a"]), helper.make_node("Identity", ["a"], ["i"]),
             helper.make_node("Relu", ["i"], ["y"])]
    inits = [const("w", random(rng, (c, c, 3, 3))), const("s", rng.uniform(0.5, 2, c).astype(np.float32)),
             const("bb", random(rng, (c,))), const("m", random(rng, (c,))), const("v", rng.uniform(0.5, 2, c).astype(np.float32))]
    model = make_model(nodes, [vi("x", [1, c, 5, 5])], [vi("y", None)], inits)
    out, report = optimize(model)
    assert op_types(out) == ["FusedConv"] and fused_attrs(out.graph.node[0])["activation"] == "Relu"
    # The BN's five constants (old weights and statistics) go when the fold replaces the nodes
    # reading them, so dead-node elimination finds nothing left to remove.
    assert {k: v for k, v in report.pass_counts.items() if v} == {
        "remove_identity": 1, "fold_batchnorm": 1, "fuse_residual_add": 1, "fuse_activation": 1}
    assert {t.name for t in out.graph.initializer}.isdisjoint({"w", "s", "bb", "m", "v"})
    optimize_and_compare(model, {"x": random(rng, (1, c, 5, 5))})


@pytest.mark.parametrize("act", ["SigmoidMul", "HardSigmoidMul", "Mish", "HardSigmoid"])
def test_gate_activations_after_batchnorm(rng, act):
    """A BatchNormalization the convs cannot absorb (after a Concat) takes the activation too."""
    make, inits, attrs = ACTIVATIONS[act]
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]), *_nodes(make("n", "y"))]
    inits = inits + [const("s", np.array([1.5, 0.5, 1.0], np.float32)), const("b", np.array([0.1, -0.2, 0.3], np.float32)),
                     const("m", np.array([0.2, 0.0, -0.1], np.float32)), const("v", np.array([2.0, 1.0, 0.5], np.float32))]
    model = make_model(nodes, [vi("x", [1, 3, 5, 5])], [vi("y", None)], inits, opset=20)
    feeds = {"x": random(rng, (1, 3, 5, 5)) * 3}
    out, _, (got,) = optimize_and_compare(model, feeds, only=PASSES)
    assert op_types(out) == ["FusedBatchNormalization"]
    check_attrs(out.graph.node[0], attrs)
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-5)


def test_swish_with_alpha_one_is_silu(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Swish", ["c"], ["y"]),
             helper.make_node("Conv", ["x", "w"], ["c2"]), helper.make_node("Swish", ["c2"], ["y2"], alpha=2.0)]
    model = make_model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", None), vi("y2", None)],
                       [const("w", random(rng, (3, 2, 1, 1)))], opset=24)
    x = random(rng, (1, 2, 4, 4)) * 3
    out, _, (y, y2) = optimize_and_compare(model, {"x": x}, only=PASSES)
    assert sorted(op_types(out)) == ["Conv", "FusedConv", "Swish"]
    w = np.asarray(model.graph.initializer[0].float_data or
                   np.frombuffer(model.graph.initializer[0].raw_data, np.float32)).reshape(3, 2)
    c = np.einsum("oc,nchw->nohw", w, x)
    np.testing.assert_allclose(y, c / (1 + np.exp(-c)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y2, c / (1 + np.exp(-2 * c)), rtol=1e-4, atol=1e-5)
    check_attrs(next(n for n in out.graph.node if n.op_type == "FusedConv"), {"activation": "Silu"})


@pytest.mark.parametrize("case", ["x_read_elsewhere", "gate_read_elsewhere", "other_operand", "hard_sigmoid_params",
                                  "gate_of_another_value"])
def test_gate_patterns_that_must_not_fuse(rng, case):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"])]
    outputs = [vi("y", None)]
    gate_in, mul_other = "c", "c"
    gate = helper.make_node("Sigmoid", ["c"], ["s"])
    if case == "hard_sigmoid_params":
        gate = helper.make_node("HardSigmoid", ["c"], ["s"], alpha=0.2, beta=0.5)  # not x * relu6(x + 3) / 6
    if case == "gate_of_another_value":
        gate = helper.make_node("Sigmoid", ["x"], ["s"])
        gate_in = "x"
    if case == "other_operand":
        mul_other = "x"  # conv(x) is not the gated value: sigmoid(c) * x
    nodes += [gate, helper.make_node("Mul", [mul_other, "s"], ["y"])]
    if case == "x_read_elsewhere":
        nodes.append(helper.make_node("Relu", ["c"], ["r"]))
        outputs.append(vi("r", None))
    if case == "gate_read_elsewhere":
        outputs.append(vi("s", None))
    shape = [1, 3, 4, 4]
    model = make_model(nodes, [vi("x", shape)], outputs, [const("w", random(rng, (3, 3, 1, 1)))], opset=20)
    feeds = {"x": random(rng, shape)}
    out, report, got = optimize_and_compare(model, feeds, only=PASSES)
    assert "Mul" in op_types(out)  # (sigmoid(conv) * x fuses the Sigmoid alone: legitimately)
    assert all(fused_attrs(n).get("activation") not in ("Silu", "HardSwish") for n in out.graph.node)
    for g, w in zip(got, ort_run(model, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_fused_conv_rejects_an_unknown_activation(rng):
    node = helper.make_node("FusedConv", ["x", "w"], ["y"], domain="pyinfer", activation="Softplus")
    model = helper.make_model(helper.make_graph([node], "g", [vi("x", [1, 2, 3, 3])], [vi("y", None)],
                                                [const("w", random(rng, (2, 2, 1, 1)))]),
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("pyinfer", 1)])
    with pytest.raises(pyinfer.Error, match="activation must be one of"):
        pyinfer.InferenceSession(model)
