"""prune_padding_taps: kernel taps that only read padding (atrous convs on small maps) are cut."""
import numpy as np
import pytest
from onnx import helper

from support.opt_helpers import const, make_model, optimize_and_compare, random, vi

ort = pytest.importorskip("onnxruntime")
PASSES = ["prune_padding_taps", "fuse_activation"]


def ort_run(model, feeds):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


@pytest.mark.parametrize("hw, rate, stride, kept", [
    (14, 24, 1, (1, 1)),   # DeepLabV3's ASPP at 224 x 224: every tap but the centre reads padding
    (14, 36, 1, (1, 1)),
    (14, 12, 1, (3, 3)),   # rate 12 on 14: the outer taps reach rows 0..1 / 12..13: all kept
    (9, 8, 1, (3, 3)),
    (6, 6, 1, (1, 1)),
    (7, 5, 2, (3, 3)),
    (5, 5, 2, (1, 1)),
])
def test_atrous_conv_loses_the_taps_that_read_padding(rng, hw, rate, stride, kept):
    c, m = 6, 4
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], dilations=[rate, rate], pads=[rate] * 4,
                              strides=[stride, stride]),
             helper.make_node("Relu", ["c"], ["y"])]
    model = make_model(nodes, [vi("x", [1, c, hw, hw])], [vi("y", None)],
                       [const("w", random(rng, (m, c, 3, 3))), const("b", random(rng, (m,)))])
    feeds = {"x": random(rng, (1, c, hw, hw))}
    out, report, (got,) = optimize_and_compare(model, feeds, only=PASSES)
    conv = out.graph.node[0]
    w = next(t for t in out.graph.initializer if t.name == conv.input[1])
    assert tuple(w.dims[2:]) == kept
    assert report.pass_counts["prune_padding_taps"] == (kept != (3, 3))
    if kept == (1, 1):
        assert attrs(conv)["dilations"] == [1, 1]
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-5)


def test_asymmetric_and_one_axis(rng):
    """A 1x5 kernel dilated 4 along W only, on a map 3 wide: W keeps its centre tap, H is untouched."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], dilations=[1, 4], pads=[0, 8, 0, 8])]
    model = make_model(nodes, [vi("x", [1, 2, 4, 3])], [vi("y", None)], [const("w", random(rng, (3, 2, 1, 5)))])
    feeds = {"x": random(rng, (1, 2, 4, 3))}
    out, _, (got,) = optimize_and_compare(model, feeds, only=PASSES)
    w = next(t for t in out.graph.initializer if t.name == out.graph.node[0].input[1])
    assert tuple(w.dims) == (3, 2, 1, 1) and attrs(out.graph.node[0])["pads"] == [0, 0, 0, 0]
    np.testing.assert_allclose(got, ort_run(model, feeds)[0], rtol=1e-4, atol=1e-5)


def test_non_finite_weights_and_dynamic_sizes_are_left_alone(rng):
    w = random(rng, (2, 2, 3, 3))
    w[0, 0, 0, 0] = np.inf  # inf * 0 (padding) is NaN: the taps must stay
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], dilations=[8, 8], pads=[8] * 4)]
    model = make_model(nodes, [vi("x", [1, 2, 5, 5])], [vi("y", None)], [const("w", w)])
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 5, 5))}, only=PASSES)
    assert report.pass_counts["prune_padding_taps"] == 0
    model = make_model(nodes, [vi("x", [1, 2, "h", "w"])], [vi("y", None)], [const("w", random(rng, (2, 2, 3, 3)))])
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 5, 5))}, only=PASSES)
    assert report.pass_counts["prune_padding_taps"] == 0
