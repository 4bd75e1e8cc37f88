"""MatMul + Add(bias) -> Gemm."""
import pytest
from onnx import helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

PASSES = ["matmul_add_to_gemm", "eliminate_dead_nodes"]


@pytest.mark.parametrize("bias_shape", [(5,), (1, 5), (3, 5), ()])
@pytest.mark.parametrize("batch", [3, "n"])
def test_2d_matmul_add_becomes_gemm(rng, bias_shape, batch):
    nodes = [helper.make_node("MatMul", ["a", "w"], ["m"]), helper.make_node("Add", ["bias", "m"], ["y"])]
    inits = [const("w", random(rng, (4, 5))), const("bias", random(rng, bias_shape))]
    model = make_model(nodes, [vi("a", [batch, 4])], [vi("y", None)], inits)
    out, _, _ = optimize_and_compare(model, {"a": random(rng, (3, 4))}, only=PASSES)
    fused = bias_shape != (3, 5) or batch == 3  # a full (M, N) bias needs M known
    assert op_types(out) == (["Gemm"] if fused else ["MatMul", "Add"])


def test_3d_matmul_is_left_alone(rng):
    nodes = [helper.make_node("MatMul", ["a", "w"], ["m"]), helper.make_node("Add", ["m", "bias"], ["y"])]
    inits = [const("w", random(rng, (4, 5))), const("bias", random(rng, (5,)))]
    model = make_model(nodes, [vi("a", [2, 3, 4])], [vi("y", None)], inits)
    out, _, _ = optimize_and_compare(model, {"a": random(rng, (2, 3, 4))}, only=PASSES)
    assert op_types(out) == ["MatMul", "Add"]


def test_bias_that_would_broadcast_the_output_is_left_alone(rng):
    nodes = [helper.make_node("MatMul", ["a", "w"], ["m"]), helper.make_node("Add", ["m", "bias"], ["y"])]
    inits = [const("w", random(rng, (4, 5))), const("bias", random(rng, (2, 1, 5)))]
    model = make_model(nodes, [vi("a", [3, 4])], [vi("y", None)], inits)
    out, _, (y,) = optimize_and_compare(model, {"a": random(rng, (3, 4))}, only=PASSES)
    assert op_types(out) == ["MatMul", "Add"] and y.shape == (2, 3, 5)
