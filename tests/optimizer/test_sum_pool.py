"""AveragePool * window size -> pyinfer::SumPool."""
import numpy as np
import pytest
from onnx import helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["avgpool_mul_to_sumpool", "eliminate_dead_nodes"]


@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 2], pads=[1, 1, 1, 0], count_include_pad=1),
    dict(kernel_shape=[2, 2], dilations=[2, 1], auto_pad="VALID"),
])
def test_avgpool_times_window_size_is_a_sum_pool(rng, attrs):
    k = float(np.prod(attrs["kernel_shape"]))
    nodes = [helper.make_node("AveragePool", ["x"], ["p"], **attrs), helper.make_node("Mul", ["k", "p"], ["y"])]
    model = make_model(nodes, [vi("x", [2, 3, 6, 7])], [vi("y", None)], [const("k", np.float32(k))], opset=19)
    x = random(rng, (2, 3, 6, 7))
    out, report, (y,) = optimize_and_compare(model, {"x": x}, only=PASSES)
    assert op_types(out) == ["SumPool"] and out.graph.node[0].domain == "pyinfer"
    if attrs.get("strides") == [2, 2]:  # a plain 2x2 window sum, written out
        np.testing.assert_allclose(y, x[:, :, :6, :6].reshape(2, 3, 3, 2, 3, 2).sum(axis=(3, 5)), rtol=1e-5)


@pytest.mark.parametrize("attrs,k", [
    (dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1]), 4.0),  # excluded pads: windows divide by less
    (dict(kernel_shape=[2, 2], ceil_mode=1, strides=[2, 2]), 4.0),
    (dict(kernel_shape=[2, 2]), 3.0),  # not the window size
])
def test_cases_that_are_not_sums_stay(rng, attrs, k):
    nodes = [helper.make_node("AveragePool", ["x"], ["p"], **attrs), helper.make_node("Mul", ["p", "k"], ["y"])]
    model = make_model(nodes, [vi("x", [1, 2, 5, 5])], [vi("y", None)], [const("k", np.float32(k))], opset=19)
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 5, 5))}, only=PASSES)
    assert op_types(out) == ["AveragePool", "Mul"]
