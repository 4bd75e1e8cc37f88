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


def _cell_model(rng, batch):
    """x W + h R + b, as a recurrent cell written out (tf2onnx's Loop bodies) spells it."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("MatMul", ["h", "r"], ["hr"]),
             helper.make_node("Add", ["xw", "hr"], ["s"]), helper.make_node("Add", ["s", "b"], ["y"])]
    inits = [const("w", random(rng, (4, 6))), const("r", random(rng, (6, 6))), const("b", random(rng, (6,)))]
    return make_model(nodes, [vi("x", [batch, 4]), vi("h", [batch, 6])], [vi("y", None)], inits)


@pytest.mark.parametrize("batch", [3, "n"])
def test_cell_sum_becomes_two_gemms(rng, batch):
    model = _cell_model(rng, batch)
    feeds = {"x": random(rng, (3, 4)), "h": random(rng, (3, 6))}
    out, report, _ = optimize_and_compare(model, feeds, only=PASSES)
    # The bias moves onto one product (Gemm with C = b), whose result is the other's C: no Add left.
    assert op_types(out) == ["Gemm", "Gemm"]
    first, second = out.graph.node
    assert first.input[2] == "b" and {tuple(first.input[:2]), tuple(second.input[:2])} == {("x", "w"), ("h", "r")}
    assert second.input[2] == first.output[0] and second.output[0] == "y"
    assert report.pass_counts["matmul_add_to_gemm"] == 2


def test_computed_addend_of_another_shape_is_left_alone(rng):
    """C computed and broadcast (a [1, 5] row added to a [3, 5] product): not Gemm's full C."""
    nodes = [helper.make_node("MatMul", ["a", "w"], ["m"]), helper.make_node("Relu", ["row"], ["c"]),
             helper.make_node("Add", ["m", "c"], ["y"])]
    model = make_model(nodes, [vi("a", [3, 4]), vi("row", [1, 5])], [vi("y", None)], [const("w", random(rng, (4, 5)))])
    out, _, _ = optimize_and_compare(model, {"a": random(rng, (3, 4)), "row": random(rng, (1, 5))}, only=PASSES)
    assert op_types(out) == ["MatMul", "Relu", "Add"]
