"""Per-channel Mul / Add folded into Conv."""
import pytest
from onnx import helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["fold_conv_mul_add", "eliminate_dead_nodes"]


@pytest.mark.parametrize("op", ["Mul", "Add"])
@pytest.mark.parametrize("c_shape", [(1, 4, 1, 1), (4, 1, 1), (1,), ()])
@pytest.mark.parametrize("conv_first", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_per_channel_constant_is_folded(rng, op, c_shape, conv_first, with_bias):
    conv_in = ["x", "w", "b"] if with_bias else ["x", "w"]
    operands = ["c", "k"] if conv_first else ["k", "c"]
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1]), helper.make_node(op, operands, ["y"])]
    inits = [const("w", random(rng, (4, 3, 3, 3))), const("b", random(rng, (4,))), const("k", random(rng, c_shape))]
    model = make_model(nodes, [vi("x", [1, 3, 5, 5])], [vi("y", [1, 4, 5, 5])], inits)
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 3, 5, 5))}, only=PASSES)
    assert op_types(out) == ["Conv"] and report.pass_counts["fold_conv_mul_add"] == 1


@pytest.mark.parametrize("c_shape", [(1, 1, 5, 5), (1, 1, 1, 5), (2, 4, 1, 1), (1, 1, 1, 1, 1)])
def test_constants_that_are_not_per_channel_stay(rng, c_shape):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Mul", ["c", "k"], ["y"])]
    inits = [const("w", random(rng, (4, 3, 3, 3))), const("k", random(rng, c_shape))]
    model = make_model(nodes, [vi("x", [1, 3, 5, 5])], [vi("y", None)], inits)
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 3, 5, 5))}, only=PASSES)
    assert op_types(out) == ["Conv", "Mul"] and report.pass_counts["fold_conv_mul_add"] == 0
