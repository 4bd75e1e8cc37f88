"""Per-channel Mul / Add folded into BatchNormalization (fold_bn_mul_add), and the activation
after it fused into pyinfer::FusedBatchNormalization (fuse_activation)."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from support.opt_helpers import ALL, const, make_model, op_types, optimize_and_compare, random, vi

FOLD = ["fold_bn_mul_add", "eliminate_dead_nodes"]
C = 6


def bn_inits(rng, c=C, dtype=np.float32):
    return [const("s", random(rng, (c,), dtype)), const("b", random(rng, (c,), dtype)),
            const("m", random(rng, (c,), dtype)), const("v", rng.uniform(0.2, 2.0, c).astype(dtype))]


def pre_activation_model(rng, mul_shape=(C, 1, 1), add_shape=(1, C, 1, 1), act="Relu", opset=17,
                         dtype=np.float32, elem=TensorProto.FLOAT):
    """DenseNet's pattern: Concat -> BN -> Mul -> Add -> act."""
    nodes = [helper.make_node("Concat", ["x1", "x2"], ["cat"], axis=1),
             helper.make_node("BatchNormalization", ["cat", "s", "b", "m", "v"], ["bn"], epsilon=1e-3),
             helper.make_node("Mul", ["bn", "k"], ["mul"]),
             helper.make_node("Add", ["mul", "a"], ["add"])]
    inits = bn_inits(rng, dtype=dtype) + [const("k", random(rng, mul_shape, dtype)),
                                          const("a", random(rng, add_shape, dtype))]
    if act == "Clip":
        nodes.append(helper.make_node("Clip", ["add", "lo", "hi"], ["y"]))
        inits += [const("lo", np.array(0, dtype)), const("hi", np.array(6, dtype))]
    elif act == "LeakyRelu":
        nodes.append(helper.make_node("LeakyRelu", ["add"], ["y"], alpha=0.2))
    elif act:
        nodes.append(helper.make_node(act, ["add"], ["y"]))
    else:
        nodes[-1].output[0] = "y"
    inputs = [vi("x1", [1, 2, 5, 7], elem), vi("x2", [1, C - 2, 5, 7], elem)]
    return make_model(nodes, inputs, [vi("y", None, elem)], inits, opset=opset)


def feeds(rng, dtype=np.float32):
    return {"x1": random(rng, (1, 2, 5, 7), dtype) * 2, "x2": random(rng, (1, C - 2, 5, 7), dtype) * 2}


@pytest.mark.parametrize("mul_shape", [(C, 1, 1), (1, C, 1, 1), (1,), (), (1, 1, 1, 1)])
@pytest.mark.parametrize("add_shape", [(C, 1, 1), (1, C, 1, 1), ()])
def test_mul_add_fold_into_bn(rng, mul_shape, add_shape):
    model = pre_activation_model(rng, mul_shape, add_shape, act=None)
    out, report, _ = optimize_and_compare(model, feeds(rng), only=FOLD, rtol=1e-5, atol=1e-5)
    assert op_types(out) == ["Concat", "BatchNormalization"]
    assert report.pass_counts["fold_bn_mul_add"] == 2


@pytest.mark.parametrize("act", ["Relu", "Clip", "LeakyRelu", "Sigmoid"])
def test_whole_chain_becomes_one_fused_bn(rng, act):
    model = pre_activation_model(rng, act=act)
    out, report, _ = optimize_and_compare(model, feeds(rng), level=ALL, rtol=1e-5, atol=1e-5)
    assert op_types(out) == ["Concat", "FusedBatchNormalization"]
    fused = out.graph.node[1]
    assert fused.domain == "pyinfer" and len(fused.output) == 1
    attrs = {a.name: helper.get_attribute_value(a) for a in fused.attribute}
    assert attrs["activation"] == act.encode() and attrs["epsilon"] == pytest.approx(1e-3)


@pytest.mark.parametrize("opset", [7, 9, 14])
def test_older_bn_versions(rng, opset):
    model = pre_activation_model(rng, opset=opset)
    out, _, _ = optimize_and_compare(model, feeds(rng), level=ALL, rtol=1e-5, atol=1e-5)
    assert op_types(out) == ["Concat", "FusedBatchNormalization"]


def test_float64_folds_but_does_not_fuse(rng):
    model = pre_activation_model(rng, dtype=np.float64, elem=TensorProto.DOUBLE)
    out, _, _ = optimize_and_compare(model, feeds(rng, np.float64), level=ALL, rtol=1e-9, atol=1e-9)
    assert op_types(out) == ["Concat", "BatchNormalization", "Relu"]


def test_rank2_vector_is_per_channel(rng):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Mul", ["k", "bn"], ["y"])]
    model = make_model(nodes, [vi("x", [3, C])], [vi("y", None)], bn_inits(rng) + [const("k", random(rng, (C,)))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (3, C))}, only=FOLD, rtol=1e-5, atol=1e-5)
    assert op_types(out) == ["BatchNormalization"]


@pytest.mark.parametrize("k_shape", [(C,), (1, 1, 5, 7), (2, C, 1, 1), (1, 1, 1, 1, 1), (1, C, 5, 1)])
def test_constants_that_are_not_per_channel_stay(rng, k_shape):
    # (C,) on a rank-4 output broadcasts along the width (7 = C + 1 would not even broadcast;
    # here the width is C so it is valid ONNX, but not per channel).
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Mul", ["bn", "k"], ["y"])]
    x_shape = [1, C, 5, C] if k_shape == (C,) else [1, C, 5, 7]
    model = make_model(nodes, [vi("x", x_shape)], [vi("y", None)], bn_inits(rng) + [const("k", random(rng, k_shape))])
    out, report, _ = optimize_and_compare(model, {"x": random(rng, tuple(x_shape))}, only=FOLD)
    assert op_types(out) == ["BatchNormalization", "Mul"] and report.pass_counts["fold_bn_mul_add"] == 0


def test_bn_output_with_another_reader_is_not_folded(rng):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Mul", ["bn", "k"], ["y"]),
             helper.make_node("Relu", ["bn"], ["z"])]
    model = make_model(nodes, [vi("x", [1, C, 4, 4])], [vi("y", None), vi("z", None)],
                       bn_inits(rng) + [const("k", random(rng, (C, 1, 1)))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, C, 4, 4))}, level=ALL)
    assert op_types(out) == ["BatchNormalization", "Mul", "Relu"]


def test_bn_output_that_is_a_graph_output_is_not_fused(rng):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["y"])]
    model = make_model(nodes, [vi("x", [1, C, 4, 4])], [vi("y", None), vi("bn", None)], bn_inits(rng))
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, C, 4, 4))}, level=ALL)
    assert op_types(out) == ["BatchNormalization", "Relu"]


def test_non_constant_parameters_are_not_folded(rng):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Mul", ["bn", "k"], ["mul"]),
             helper.make_node("Relu", ["mul"], ["y"])]
    inits = bn_inits(rng)[1:] + [const("k", random(rng, (C, 1, 1)))]
    model = make_model(nodes, [vi("x", [1, C, 4, 4]), vi("s", [C])], [vi("y", None)], inits)
    feed = {"x": random(rng, (1, C, 4, 4)), "s": random(rng, (C,))}
    out, _, _ = optimize_and_compare(model, feed, level=ALL)
    assert op_types(out) == ["BatchNormalization", "Mul", "Relu"]


def test_training_mode_bn_is_left_alone(rng):
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn", "running_mean", "running_var"],
                              training_mode=1),  # training mode has three outputs (onnx and onnxruntime refuse one)
             helper.make_node("Mul", ["bn", "k"], ["mul"]),
             helper.make_node("Relu", ["mul"], ["y"])]
    model = make_model(nodes, [vi("x", [2, C, 4, 4])], [vi("y", None)],
                       bn_inits(rng) + [const("k", random(rng, (C, 1, 1)))])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (2, C, 4, 4))}, level=ALL)
    assert op_types(out) == ["BatchNormalization", "Mul", "Relu"]


def test_activation_after_a_fused_bn_relu_is_not_fused_again(rng):
    # BN -> Relu -> Mul: the Mul comes after the activation and must not fold.
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Relu", ["bn"], ["r"]),
             helper.make_node("Mul", ["r", "k"], ["y"])]
    model = make_model(nodes, [vi("x", [1, C, 4, 4])], [vi("y", None)],
                       bn_inits(rng) + [const("k", -random(rng, (C, 1, 1)) ** 2)])
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, C, 4, 4))}, level=ALL)
    assert op_types(out) == ["FusedBatchNormalization", "Mul"]


def test_parameters_of_another_dtype_are_not_folded(rng):
    # BatchNormalization-15: float16 parameters for a float32 input; scale * c in float16 would
    # lose precision the unfolded graph keeps.
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"]),
             helper.make_node("Mul", ["bn", "k"], ["y"])]
    inits = bn_inits(rng, dtype=np.float16) + [const("k", random(rng, (C, 1, 1)))]
    model = make_model(nodes, [vi("x", [1, C, 4, 4])], [vi("y", None)], inits)
    out, _, _ = optimize_and_compare(model, {"x": random(rng, (1, C, 4, 4))}, only=FOLD)
    assert op_types(out) == ["BatchNormalization", "Mul"]
