"""nhwc_to_nchw: ConvNeXt's Transpose -> LayerNorm / MatMul / Gelu -> Transpose islands run on NCHW."""
import numpy as np
import pytest
from onnx import helper

import pyinfer
from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

ort = pytest.importorskip("onnxruntime")


def ort_run(model, feeds):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def convnext_block(rng, c=8, hw=6, gelu="op", opset=20, read_inside=False, bias_shape=None):
    """dwconv 7x7 -> Transpose -> LayerNorm(-1) -> MatMul -> Add -> GELU -> MatMul -> Add -> Transpose
    -> Mul(gamma) -> Add(x), as both exporters write it."""
    nodes = [helper.make_node("Conv", ["x", "dw_w", "dw_b"], ["d"], group=c, pads=[3, 3, 3, 3]),
             helper.make_node("Transpose", ["d"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("LayerNormalization", ["t", "ln_s", "ln_b"], ["n"], axis=-1, epsilon=1e-6),
             helper.make_node("MatMul", ["n", "w1"], ["m1"]),
             helper.make_node("Add", ["m1", "b1"], ["a1"])]
    inits = [const("dw_w", random(rng, (c, 1, 7, 7)) * 0.2), const("dw_b", random(rng, (c,))),
             const("ln_s", random(rng, (c,))), const("ln_b", random(rng, (c,))),
             const("w1", random(rng, (c, 4 * c)) * 0.3), const("b1", random(rng, bias_shape or (4 * c,))),
             const("w2", random(rng, (4 * c, c)) * 0.3), const("b2", random(rng, (c,))),
             const("gamma", random(rng, (c, 1, 1)))]
    if gelu == "op":
        nodes.append(helper.make_node("Gelu", ["a1"], ["g"]))
    else:  # the legacy exporter's erf form
        inits += [const("sqrt2", np.float32(np.sqrt(2))), const("one", np.float32(1)), const("half", np.float32(0.5))]
        nodes += [helper.make_node("Div", ["a1", "sqrt2"], ["g0"]), helper.make_node("Erf", ["g0"], ["g1"]),
                  helper.make_node("Add", ["g1", "one"], ["g2"]), helper.make_node("Mul", ["a1", "g2"], ["g3"]),
                  helper.make_node("Mul", ["g3", "half"], ["g"])]
    nodes += [helper.make_node("MatMul", ["g", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["a2"]),
              helper.make_node("Transpose", ["a2"], ["back"], perm=[0, 3, 1, 2]),
              helper.make_node("Mul", ["back", "gamma"], ["s"]), helper.make_node("Add", ["s", "x"], ["y"])]
    outputs = [vi("y", None)] + ([vi("n", None)] if read_inside else [])
    model = make_model(nodes, [vi("x", [1, c, hw, hw])], outputs, inits, opset=opset)
    return model, {"x": random(rng, (1, c, hw, hw))}


@pytest.mark.parametrize("gelu", ["op", "erf"])
def test_convnext_block_runs_in_nchw(rng, gelu):
    model, feeds = convnext_block(rng, gelu=gelu)
    sess = pyinfer.InferenceSession(model)
    after = sess.optimization_report.ops_after
    assert after["Transpose"] == 0 and after["LayerNormalization"] == 0 and after["MatMul"] == 0, dict(after)
    assert after["pyinfer::ChannelLayerNorm"] == 1 and sess.optimization_report.pass_counts["nhwc_to_nchw"] == 1
    if gelu == "op":  # bias, Gelu, layer scale and residual all fold / fuse into the two convs
        assert dict(after) == {"Conv": 1, "pyinfer::ChannelLayerNorm": 1, "pyinfer::FusedConv": 2}  # + the 7x7
    (want,) = ort_run(model, feeds)
    for _ in range(3):  # Python path, compile, plan
        np.testing.assert_allclose(sess.run(None, feeds)[0], want, rtol=1e-4, atol=1e-5)


def test_layernorm2d_alone(rng):
    c = 5
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("LayerNormalization", ["t", "s", "b"], ["n"], axis=3, epsilon=1e-6),
             helper.make_node("Transpose", ["n"], ["y"], perm=[0, 3, 1, 2])]
    model = make_model(nodes, [vi("x", [2, c, 3, 4])], [vi("y", None)],
                       [const("s", random(rng, (c,))), const("b", random(rng, (c,)))])
    feeds = {"x": random(rng, (2, c, 3, 4)) * 3 + 1}
    out, report, (got,) = optimize_and_compare(model, feeds, only=["nhwc_to_nchw", "remove_identity",
                                                                   "eliminate_dead_nodes"])
    assert op_types(out) == ["ChannelLayerNorm"]
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", ["read_inside", "positional_bias"])
def test_islands_that_must_stay(rng, case):
    kw = {"read_inside": {"read_inside": True}, "positional_bias": {"bias_shape": (6, 6, 32)}}[case]
    model, feeds = convnext_block(rng, **kw)
    sess = pyinfer.InferenceSession(model)
    assert sess.optimization_report.pass_counts["nhwc_to_nchw"] == 0
    for got, want in zip(sess.run(None, feeds), ort_run(model, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_channel_layer_norm_checks_its_inputs(rng):
    node = helper.make_node("ChannelLayerNorm", ["x", "s"], ["y"], domain="pyinfer", epsilon=1e-5)
    model = make_model([node], [vi("x", [1, 4, 2, 2]), vi("s", [3])], [vi("y", None)])
    model.opset_import.append(helper.make_opsetid("pyinfer", 1))
    with pytest.raises(pyinfer.Error, match=r"Scale must have shape \[4\]"):
        pyinfer.InferenceSession(model).run(None, {"x": random(rng, (1, 4, 2, 2)), "s": random(rng, (3,))})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_layer_norm_matches_numpy(rng, dtype):
    from onnx import TensorProto

    elem = {np.float32: TensorProto.FLOAT, np.float64: TensorProto.DOUBLE}[dtype]
    x = (random(rng, (2, 7, 30, 21)) * 4 + 2).astype(dtype)
    s, b = random(rng, (7,)).astype(dtype), random(rng, (7,)).astype(dtype)
    node = helper.make_node("ChannelLayerNorm", ["x", "s", "b"], ["y"], domain="pyinfer", epsilon=1e-3)
    model = make_model([node], [vi("x", list(x.shape), elem)], [vi("y", None, elem)], [const("s", s), const("b", b)])
    model.opset_import.append(helper.make_opsetid("pyinfer", 1))
    sess = pyinfer.InferenceSession(model)
    xd = x.astype(np.float64)
    mean = xd.mean(axis=1, keepdims=True)
    want = (xd - mean) / np.sqrt(xd.var(axis=1, keepdims=True) + 1e-3) * s[:, None, None] + b[:, None, None]
    for _ in range(3):
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)
