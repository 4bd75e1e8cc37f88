"""fuse_squeeze_excite: pool -> 1x1 conv -> act -> 1x1 conv -> gate -> Mul as one pyinfer::SqueezeExcite."""
import numpy as np
import pytest
from onnx import helper

import pyinfer
from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["remove_identity", "fuse_activation", "fuse_squeeze_excite", "eliminate_dead_nodes"]
ort = pytest.importorskip("onnxruntime")


def ort_run(model, feeds):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def se_model(rng, c=8, s=3, hw=5, pool="gap", act="Relu", gate="Sigmoid", layers=2, z=None, mul_order=0,
             bias=True, opset=17, extra_outputs=()):
    nodes, inits = [], []
    if pool == "gap":
        nodes.append(helper.make_node("GlobalAveragePool", ["x"], ["p"]))
    elif opset >= 18:
        inits.append(const("axes", np.array([-1, -2], np.int64)))
        nodes.append(helper.make_node("ReduceMean", ["x", "axes"], ["p"], keepdims=1))
    else:
        nodes.append(helper.make_node("ReduceMean", ["x"], ["p"], axes=[2, 3], keepdims=1))
    m = c if z is None else z
    prev = "p"
    shapes = [(s, c), (m, s)] if layers == 2 else [(m, c)]
    for i, (o, n_in) in enumerate(shapes):
        ins = [prev, f"w{i}"] + ([f"b{i}"] if bias else [])
        inits.append(const(f"w{i}", random(rng, (o, n_in, 1, 1))))
        if bias:
            inits.append(const(f"b{i}", random(rng, (o,))))
        nodes.append(helper.make_node("Conv", ins, [f"c{i}"]))
        last = i == len(shapes) - 1
        a = gate if last else act
        if a == "Relu":
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"a{i}"]))
        elif a == "Silu":
            nodes += [helper.make_node("Sigmoid", [f"c{i}"], [f"s{i}"]), helper.make_node("Mul", [f"c{i}", f"s{i}"], [f"a{i}"])]
        elif a == "Sigmoid":
            nodes.append(helper.make_node("Sigmoid", [f"c{i}"], [f"a{i}"]))
        elif a == "HardSigmoid":
            nodes.append(helper.make_node("HardSigmoid", [f"c{i}"], [f"a{i}"], alpha=1 / 6, beta=0.5))
        elif a is None:
            nodes.append(helper.make_node("Identity", [f"c{i}"], [f"a{i}"]))
        prev = f"a{i}"
    target = "x" if z is None else "z"
    nodes.append(helper.make_node("Mul", [target, prev] if mul_order == 0 else [prev, target], ["y"]))
    inputs = [vi("x", [1, c, hw, hw])] + ([vi("z", [1, z, hw + 2, hw + 1])] if z is not None else [])
    feeds = {"x": random(rng, (1, c, hw, hw)) * 2}
    if z is not None:
        feeds["z"] = random(rng, (1, z, hw + 2, hw + 1))
    outputs = [vi("y", None)] + [vi(n, None) for n in extra_outputs]
    return make_model(nodes, inputs, outputs, inits, opset=opset), feeds


CASES = {
    "relu_sigmoid": {},
    "silu_sigmoid_reducemean": {"act": "Silu", "pool": "mean"},
    "silu_sigmoid_reducemean18": {"act": "Silu", "pool": "mean", "opset": 18},
    "relu_hardsigmoid": {"gate": "HardSigmoid", "mul_order": 1},
    "no_hidden_activation": {"act": None, "bias": False},
    "one_layer_other_map": {"layers": 1, "z": 6, "bias": False},
}


@pytest.mark.parametrize("case", list(CASES))
def test_squeeze_excite_fuses_and_matches_onnxruntime(rng, case):
    model, feeds = se_model(rng, **CASES[case])
    out, report, (got,) = optimize_and_compare(model, feeds, only=PASSES)
    assert op_types(out) == ["SqueezeExcite"] and report.pass_counts["fuse_squeeze_excite"] == 1
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-5)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for _ in range(3):  # Python path, compile, plan
        np.testing.assert_allclose(sess.run(None, feeds)[0], got, rtol=1e-5, atol=1e-6)
    (plan,) = sess._executor.cached_plans()
    assert plan.kind["y"] in ("arena", "out")


@pytest.mark.parametrize("case", ["pool_read_elsewhere", "hidden_read_elsewhere", "gate_is_relu", "strided_conv",
                                  "z_needs_broadcast"])
def test_squeeze_excite_patterns_that_must_not_fuse(rng, case):
    kw = {"pool_read_elsewhere": {"extra_outputs": ("p",)}, "hidden_read_elsewhere": {"extra_outputs": ("a0",)},
          "gate_is_relu": {"gate": "Relu"}}.get(case, {})
    model, feeds = se_model(rng, **kw)
    if case == "strided_conv":
        model.graph.node[1].attribute.append(helper.make_attribute("strides", [2, 2]))
    if case == "z_needs_broadcast":  # Mul(g, x[:, :, :1, :1]) would grow g: not this block
        model.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 1
        model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 1
        model.graph.node[-1].input[0] = "p"
        feeds["x"] = feeds["x"][:, :, :1, :1].copy()
    out, report, got = optimize_and_compare(model, feeds, only=PASSES)
    assert "SqueezeExcite" not in op_types(out)
    for g, w in zip(got, ort_run(model, feeds)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_squeeze_excite_rejects_weights_that_do_not_fit(rng):
    node = helper.make_node("SqueezeExcite", ["x", "w1", "b1", "w2"], ["y"], domain="pyinfer", activation="Relu")
    model = make_model([node], [vi("x", [1, 4, 3, 3])], [vi("y", None)],
                       [const("w1", random(rng, (2, 4, 1, 1))), const("b1", random(rng, (2,))),
                        const("w2", random(rng, (5, 2, 1, 1)))])
    model.opset_import.append(helper.make_opsetid("pyinfer", 1))
    sess = pyinfer.InferenceSession(model)
    with pytest.raises(pyinfer.Error, match="do not fit"):
        sess.run(None, {"x": random(rng, (1, 4, 3, 3))})


def test_squeeze_excite_rejects_an_unknown_gate(rng):
    node = helper.make_node("SqueezeExcite", ["x", "w1"], ["y"], domain="pyinfer", gate="Softplus")
    model = make_model([node], [vi("x", [1, 4, 3, 3])], [vi("y", None)], [const("w1", random(rng, (4, 4, 1, 1)))])
    model.opset_import.append(helper.make_opsetid("pyinfer", 1))
    with pytest.raises(pyinfer.Error, match="gate must be one of"):
        pyinfer.InferenceSession(model)


@pytest.mark.parametrize("dtype", [np.float64, np.float16])
def test_squeeze_excite_in_other_dtypes(rng, dtype):
    from onnx import TensorProto

    elem = {np.float64: TensorProto.DOUBLE, np.float16: TensorProto.FLOAT16}[dtype]
    node = helper.make_node("SqueezeExcite", ["x", "w1", "b1", "w2", "b2"], ["y"], domain="pyinfer",
                            activation="Relu", gate="HardSigmoid", gate_alpha=0.2, gate_beta=0.5)
    w1, b1, w2, b2 = (random(rng, s).astype(dtype) for s in ((2, 4, 1, 1), (2,), (4, 2, 1, 1), (4,)))
    model = make_model([node], [vi("x", [1, 4, 3, 3], elem)], [vi("y", None, elem)],
                       [const("w1", w1), const("b1", b1), const("w2", w2), const("b2", b2)])
    model.opset_import.append(helper.make_opsetid("pyinfer", 1))
    x = random(rng, (1, 4, 3, 3)).astype(dtype)
    (y,) = pyinfer.InferenceSession(model).run(None, {"x": x})
    x64 = x.astype(np.float64)
    s = x64.mean(axis=(2, 3))
    h = np.maximum(s @ w1.reshape(2, 4).T.astype(np.float64) + b1, 0)
    g = np.clip((h @ w2.reshape(4, 2).T.astype(np.float64) + b2) * 0.2 + 0.5, 0, 1)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.astype(np.float64), x64 * g[:, :, None, None], rtol=1e-2 if dtype == np.float16 else 1e-6)
