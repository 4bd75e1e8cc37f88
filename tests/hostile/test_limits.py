"""Size bombs: a clear ResourceLimitError before allocating, never an out-of-memory kill."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from pyinfer.executor import GraphExecutor
from pyinfer.graph import opset_map
from pyinfer.limits import check_allocation, default_max_memory_bytes
from support.hostile_models import add_model, model, single_op, vi

X4 = np.ones((1, 2, 5, 5), np.float32)


def run(m, feeds):
    return pyinfer.InferenceSession(m).run(None, feeds)


def bomb(m, feeds, culprit):
    with pytest.raises(pyinfer.ResourceLimitError, match=f"{culprit} node 'n0': a tensor of shape") as e:
        run(m, feeds)
    assert "max_memory_bytes" in str(e.value)


def test_constant_of_shape():
    bomb(single_op("ConstantOfShape", [], consts=[np.array([10**6, 10**6], np.int64)]), {}, "ConstantOfShape")


def test_expand():
    bomb(single_op("Expand", [[1, 1]], consts=[np.array([10**6, 10**6], np.int64)]),
         {"X0": np.ones((1, 1), np.float32)}, "Expand")


def test_tile():
    bomb(single_op("Tile", [[2, 2]], consts=[np.array([10**6, 10**6], np.int64)]),
         {"X0": np.ones((2, 2), np.float32)}, "Tile")


def test_resize_by_a_million():
    bomb(single_op("Resize", [[1, 2, 5, 5]], consts=[np.zeros(0, np.float32), np.array([1, 1, 1e6, 1e6], np.float32)]),
         {"X0": X4}, "Resize")


def test_resize_to_huge_sizes():
    m = single_op("Resize", [[1, 2, 5, 5]], consts=[np.zeros(0, np.float32), np.zeros(0, np.float32),
                                                     np.array([1, 2, 10**7, 10**7], np.int64)])
    bomb(m, {"X0": X4}, "Resize")


def test_resize_with_infinite_scale():
    m = single_op("Resize", [[1, 2, 5, 5]], consts=[np.zeros(0, np.float32), np.array([1, 1, np.inf, 1], np.float32)])
    with pytest.raises(pyinfer.NodeExecutionError, match="'n0': scales .* must hold 4 positive values"):
        run(m, {"X0": X4})


def test_range():
    m = single_op("Range", [], consts=[np.array(0, np.int64), np.array(10**12, np.int64), np.array(1, np.int64)])
    bomb(m, {}, "Range")


def test_range_with_an_infinite_limit():
    m = single_op("Range", [], consts=[np.array(0, np.float32), np.array(np.inf, np.float32), np.array(1, np.float32)])
    with pytest.raises(pyinfer.NodeExecutionError, match="'n0': .*do not give a finite number of elements"):
        run(m, {})


def test_pad():
    bomb(single_op("Pad", [[1, 2, 5, 5]], consts=[np.array([0, 0, 10**6, 10**6, 0, 0, 10**6, 10**6], np.int64)]),
         {"X0": X4}, "Pad")


def test_pad_with_2_to_the_62():
    bomb(single_op("Pad", [[1, 2, 5, 5]], consts=[np.array([0, 0, 2**62, 0, 0, 0, 0, 0], np.int64)]), {"X0": X4}, "Pad")


def test_one_hot_depth():
    m = single_op("OneHot", [], consts=[np.array([1, 2], np.int64), np.array(10**12, np.int64),
                                         np.array([0, 1], np.float32)])
    bomb(m, {}, "OneHot")


def test_average_pool_pads():
    bomb(single_op("AveragePool", [[1, 2, 5, 5]], attrs={"kernel_shape": [2, 2], "pads": [10**6] * 4}),
         {"X0": X4}, "AveragePool")


def test_conv_transpose_strides():
    w = np.ones((2, 4, 3, 3), np.float32)
    bomb(single_op("ConvTranspose", [[1, 2, 5, 5]], attrs={"strides": [10**6, 10**6]}, consts=[w]),
         {"X0": X4}, "ConvTranspose")


def test_max_unpool_output_shape():
    m = single_op("MaxUnpool", [[1, 1, 2, 2]], attrs={"kernel_shape": [2, 2]},
                  consts=[np.zeros((1, 1, 2, 2), np.int64), np.array([1, 1, 10**6, 10**6], np.int64)])
    bomb(m, {"X0": np.ones((1, 1, 2, 2), np.float32)}, "MaxUnpool")


def test_huge_initializer_dims_without_data():
    m = add_model()
    m.graph.initializer[0].dims[:] = [10**6, 10**6]
    with pytest.raises(pyinfer.ResourceLimitError, match="initializer 'W': a tensor of shape"):
        pyinfer.InferenceSession(m)


def test_huge_sparse_initializer():
    values = numpy_helper.from_array(np.array([1.0], np.float32), "W")
    indices = numpy_helper.from_array(np.array([0], np.int64), "W_idx")
    m = add_model()
    del m.graph.initializer[:]
    m.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [10**7, 10**7]))
    with pytest.raises(pyinfer.ResourceLimitError, match="sparse initializer 'W'"):
        pyinfer.InferenceSession(m)


def test_the_limit_is_the_contexts_max_memory_bytes():
    m = single_op("ConstantOfShape", [], consts=[np.array([300], np.int64)])
    small = GraphExecutor(m.graph, opset_map(m), max_memory_bytes=1024)
    with pytest.raises(pyinfer.ResourceLimitError, match=r"shape \[300\].*needs 1.2 KiB.*limit of 1.0 KiB"):
        small.run({})
    ok = GraphExecutor(m.graph, opset_map(m), max_memory_bytes=2048)
    np.testing.assert_array_equal(ok.run({})[0], np.zeros(300, np.float32))


def test_default_limit_is_a_fraction_of_physical_memory():
    import os
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert default_max_memory_bytes() == total // 2


def test_the_default_limit_can_be_lowered_for_the_process():
    """What the fuzzer does: every session without its own max_memory_bytes gets the new default."""
    from pyinfer.limits import set_default_max_memory_bytes

    m = single_op("ConstantOfShape", [], consts=[np.array([300], np.int64)])
    previous = default_max_memory_bytes()
    set_default_max_memory_bytes(1024)
    try:
        assert default_max_memory_bytes() == 1024
        with pytest.raises(pyinfer.ResourceLimitError, match=r"limit of 1.0 KiB"):
            pyinfer.InferenceSession(m).run(None, {})
    finally:
        set_default_max_memory_bytes(previous)
    np.testing.assert_array_equal(pyinfer.InferenceSession(m).run(None, {})[0], np.zeros(300, np.float32))


def test_check_allocation_counts_in_exact_integers():
    class FakeOp:
        op_type, name = "Fake", "f"

        class ctx:
            max_memory_bytes = 2**70

    check_allocation(FakeOp, [2**30, 2**30], np.float32)  # 2^62 bytes: fits under 2^70
    with pytest.raises(pyinfer.ResourceLimitError):
        check_allocation(FakeOp, [2**40, 2**40], np.float32)  # would overflow int64


def test_strong_antialiased_downscale_matches_the_reference():
    # 1/40 downscaling with antialias: more filter taps than input pixels (the dense path)
    from onnx.reference import ReferenceEvaluator
    x = np.random.default_rng(0).random((1, 1, 8, 80)).astype(np.float32)
    m = single_op("Resize", [[1, 1, 8, 80]], opset=18, attrs={"antialias": 1, "mode": "linear"},
                  consts=[np.zeros(0, np.float32), np.array([1, 1, 1 / 4, 1 / 40], np.float32)])
    (got,) = run(m, {"X0": x})
    (want,) = ReferenceEvaluator(m).run(None, {"X0": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_range_of_small_constants_does_not_stall_session_creation():
    """onnx's shape-inference data propagation would materialize Range(0, 2**31 - 1, 1) (seconds,
    gigabytes) while the optimizer infers shapes: the session must be created at once and the
    bomb caught by pyinfer's own limit when the node runs."""
    import time

    m = single_op("Range", [], consts=[np.array(0, np.int32), np.array(2**31 - 1, np.int32), np.array(1, np.int32)])
    start = time.perf_counter()
    sess = pyinfer.InferenceSession(m, max_memory_bytes=1 << 24)
    assert time.perf_counter() - start < 2.0
    with pytest.raises(pyinfer.ResourceLimitError, match="Range node 'n0'"):
        sess.run(None, {})


def _bomb_body(name: str, elements: int):
    """A one-in, one-out subgraph that allocates `elements` float32 zeros (ConstantOfShape) and
    adds their sum (0) to its input: the result is the input, the allocation checked."""
    shape = numpy_helper.from_array(np.array([elements], np.int64), "big_shape")
    return helper.make_graph(
        [helper.make_node("ConstantOfShape", ["big_shape"], ["big"], name="bomb"),
         helper.make_node("ReduceSum", ["big"], ["zero"], keepdims=0),
         helper.make_node("Add", ["s", "zero"], ["out"])],
        name, [vi("s", None)], [vi("out", None)], [shape])


def _flex_attention_model(score_mod):
    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview", score_mod=score_mod)
    graph = helper.make_graph([node], "flex", [vi(n, [1, 1, 2, 4]) for n in "qkv"], [vi("y", None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26),
                                                   helper.make_opsetid("ai.onnx.preview", 1)])


@pytest.mark.parametrize("limit, fits", [(1024, False), (2048, True)])
def test_flex_attention_subgraph_inherits_the_memory_limit(limit, fits):
    """score_mod allocates 1.2 KiB: over a 1 KiB session limit, under a 2 KiB one."""
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal((1, 1, 2, 4)).astype(np.float32) for n in "qkv"}
    sess = pyinfer.InferenceSession(_flex_attention_model(_bomb_body("score_mod", 300)), max_memory_bytes=limit)
    if not fits:
        with pytest.raises(pyinfer.ResourceLimitError, match=r"'bomb': a tensor of shape \[300\].*limit of 1.0 KiB"):
            sess.run(None, feeds)
        return
    (y,) = sess.run(None, feeds)
    (want,) = pyinfer.InferenceSession(_flex_attention_model(helper.make_graph(
        [helper.make_node("Identity", ["s"], ["out"])], "score_mod", [vi("s", None)], [vi("out", None)]))
    ).run(None, feeds)
    np.testing.assert_array_equal(y, want)


def test_if_branch_inherits_the_memory_limit():
    cond = numpy_helper.from_array(np.array(True), "cond")
    node = helper.make_node("If", ["cond"], ["y"], then_branch=_bomb_body("then", 300),
                            else_branch=_bomb_body("else", 1))
    # The branches read "s" from the enclosing graph: the model's input.
    for branch in (node.attribute[0].g, node.attribute[1].g):  # If branches take no inputs
        del branch.input[:]
    graph = helper.make_graph([node], "if", [vi("s", [2])], [vi("y", None)], [cond])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    s = np.array([1.0, 2.0], np.float32)
    with pytest.raises(pyinfer.ResourceLimitError, match=r"'bomb': a tensor of shape \[300\]"):
        pyinfer.InferenceSession(m, max_memory_bytes=1024).run(None, {"s": s})
    np.testing.assert_array_equal(pyinfer.InferenceSession(m, max_memory_bytes=2048).run(None, {"s": s})[0], s)
