"""BatchNormalization folded into Conv / ConvTranspose / Gemm."""
import numpy as np
import pytest
from onnx import helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["fold_batchnorm", "eliminate_dead_nodes"]


def bn_inits(rng, c, prefix="bn"):
    return [const(f"{prefix}_s", rng.uniform(0.5, 2, c).astype(np.float32)),
            const(f"{prefix}_b", random(rng, (c,))),
            const(f"{prefix}_m", random(rng, (c,))),
            const(f"{prefix}_v", rng.uniform(0.1, 3, c).astype(np.float32))]


def bn_node(x, y, prefix="bn", eps=1e-3):
    return helper.make_node("BatchNormalization", [x] + [f"{prefix}_{k}" for k in "sbmv"], [y], epsilon=eps)


@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_bn(rng, with_bias):
    inputs = ["x", "w", "b"] if with_bias else ["x", "w"]
    nodes = [helper.make_node("Conv", inputs, ["c"], pads=[1, 1, 1, 1], group=2), bn_node("c", "y")]
    inits = [const("w", random(rng, (6, 2, 3, 3)))] + bn_inits(rng, 6)
    if with_bias:
        inits.append(const("b", random(rng, (6,))))
    model = make_model(nodes, [vi("x", [2, 4, 5, 5])], [vi("y", [2, 6, 5, 5])], inits)
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (2, 4, 5, 5))}, only=PASSES)
    assert op_types(out) == ["Conv"] and len(out.graph.node[0].input) == 3  # a bias was created
    assert len(out.graph.initializer) == 2  # the BN parameters and the old weights are gone
    assert report.pass_counts["fold_batchnorm"] == 1


@pytest.mark.parametrize("group", [1, 2])
def test_conv_transpose_bn(rng, group):
    nodes = [helper.make_node("ConvTranspose", ["x", "w"], ["c"], strides=[2, 2], group=group), bn_node("c", "y")]
    inits = [const("w", random(rng, (4, 3, 3, 3)))] + bn_inits(rng, 3 * group)
    model = make_model(nodes, [vi("x", [1, 4, 4, 4])], [vi("y", None)], inits)
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, 4, 4, 4))}, only=PASSES)
    assert op_types(out) == ["ConvTranspose"]


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("c_shape", [None, (5,), (1, 5)])
def test_gemm_bn(rng, trans_b, c_shape):
    inputs = ["a", "w"] + (["c"] if c_shape else [])
    nodes = [helper.make_node("Gemm", inputs, ["g"], transB=trans_b, alpha=0.5, beta=2.0), bn_node("g", "y")]
    inits = [const("w", random(rng, (5, 4) if trans_b else (4, 5)))] + bn_inits(rng, 5)
    if c_shape:
        inits.append(const("c", random(rng, c_shape)))
    model = make_model(nodes, [vi("a", [3, 4])], [vi("y", [3, 5])], inits)
    out, _, _ = optimize_and_compare(model, {"a": random(rng, (3, 4))}, only=PASSES)
    assert op_types(out) == ["Gemm"]


def test_not_folded_when_the_conv_output_has_another_reader(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("c", "y"), helper.make_node("Relu", ["c"], ["z"])]
    inits = [const("w", random(rng, (3, 2, 1, 1)))] + bn_inits(rng, 3)
    model = make_model(nodes, [vi("x", [1, 2, 3, 3])], [vi("y", None), vi("z", None)], inits)
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 3, 3))}, only=PASSES)
    assert "BatchNormalization" in op_types(out) and report.pass_counts["fold_batchnorm"] == 0


def test_not_folded_when_bn_parameters_are_fed(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("BatchNormalization", ["c", "s", "bn_b", "bn_m", "bn_v"], ["y"])]
    inits = [const("w", random(rng, (3, 2, 1, 1)))] + bn_inits(rng, 3)[1:]
    model = make_model(nodes, [vi("x", [1, 2, 3, 3]), vi("s", [3])], [vi("y", None)], inits)
    feeds = {"x": random(rng, (1, 2, 3, 3)), "s": random(rng, (3,))}
    out, report, _ = optimize_and_compare(model, feeds, only=PASSES)
    assert report.pass_counts["fold_batchnorm"] == 0


def test_shared_weights_are_not_overwritten(rng):
    # Two convs read the same weights; folding one BN must not change the other conv.
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), bn_node("c", "y"), helper.make_node("Conv", ["x", "w"], ["z"])]
    inits = [const("w", random(rng, (3, 2, 1, 1)))] + bn_inits(rng, 3)
    model = make_model(nodes, [vi("x", [1, 2, 3, 3])], [vi("y", None), vi("z", None)], inits)
    out, report, _ = optimize_and_compare(model, {"x": random(rng, (1, 2, 3, 3))}, only=PASSES)
    assert op_types(out) == ["Conv", "Conv"] and report.pass_counts["fold_batchnorm"] == 1
