"""The transformer fusions on small hand-built graphs: layer norm (decomposed, RMS), GELU (erf and tanh
forms), MatMul bias and GELU into the GEMM epilogue, residual Add into the norm, Reshape targets from
shapes, Conv1D's flattened Gemm, attention (with packed QKV projections) and onnxruntime's Attention /
BiasGelu. Each checks the fused ops appear and the outputs match the unoptimized graph."""
import math

import numpy as np
import pytest
from onnx import TensorProto, helper

from support.opt_helpers import const, make_model, op_types, optimize_and_compare, random, vi

def ln_nodes(x, out, eps="eps", gamma="gamma", beta="beta"):
    """torch's legacy decomposition of LayerNorm over the last axis."""
    return [
        helper.make_node("ReduceMean", [x], ["mu"], axes=[-1]),
        helper.make_node("Sub", [x, "mu"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1]),
        helper.make_node("Add", ["var", eps], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["std"]),
        helper.make_node("Div", ["d", "std"], ["n"]),
        helper.make_node("Mul", ["n", gamma], ["ng"]),
        helper.make_node("Add", ["ng", beta], [out]),
    ]


@pytest.mark.parametrize("opset, fused", [(13, "FusedLayerNormalization"), (17, "LayerNormalization")])
def test_decomposed_layer_norm(rng, opset, fused):
    inits = [const("two", np.float32(2)), const("eps", np.float32(1e-5)),
             const("gamma", random(rng, 32)), const("beta", random(rng, 32))]
    model = make_model(ln_nodes("x", "y"), [vi("x", [2, 5, 32])], [vi("y", None)], inits, opset=opset)
    opt, report, _ = optimize_and_compare(model, {"x": random(rng, (2, 5, 32)) * 3 + 1}, rtol=1e-5, atol=1e-5)
    assert op_types(opt) == [fused] and report.pass_counts["fuse_layer_norm"] == 1


def test_rms_norm(rng):
    nodes = [helper.make_node("Pow", ["x", "two"], ["sq"]),
             helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[-1]),
             helper.make_node("Add", ["ms", "eps"], ["a"]),
             helper.make_node("Sqrt", ["a"], ["r"]),
             helper.make_node("Reciprocal", ["r"], ["inv"]),
             helper.make_node("Mul", ["x", "inv"], ["n"]),
             helper.make_node("Mul", ["n", "gamma"], ["y"])]
    inits = [const("two", np.float32(2)), const("eps", np.float32(1e-6)), const("gamma", random(rng, 16))]
    model = make_model(nodes, [vi("x", [3, 16])], [vi("y", None)], inits, opset=14)
    opt, _, _ = optimize_and_compare(model, {"x": random(rng, (3, 16))}, rtol=1e-5, atol=1e-5)
    assert op_types(opt) == ["FusedLayerNormalization"]
    assert {a.name: a.i for a in opt.graph.node[0].attribute}["rms"] == 1


def gelu_erf(x, out):
    return [helper.make_node("Div", [x, "sqrt2"], ["g0"]), helper.make_node("Erf", ["g0"], ["g1"]),
            helper.make_node("Add", ["g1", "one"], ["g2"]), helper.make_node("Mul", [x, "g2"], ["g3"]),
            helper.make_node("Mul", ["g3", "half"], [out])]


def gelu_tanh(x, out):
    return [helper.make_node("Pow", [x, "three"], ["t0"]), helper.make_node("Mul", ["t0", "c1"], ["t1"]),
            helper.make_node("Add", [x, "t1"], ["t2"]), helper.make_node("Mul", ["t2", "c2"], ["t3"]),
            helper.make_node("Tanh", ["t3"], ["t4"]), helper.make_node("Add", ["t4", "one"], ["t5"]),
            helper.make_node("Mul", ["half", x], ["t6"]), helper.make_node("Mul", ["t6", "t5"], [out])]


GELU_CONSTS = [const("sqrt2", np.float32(math.sqrt(2))), const("one", np.float32(1)), const("half", np.float32(0.5)),
               const("three", np.float32(3)), const("c1", np.float32(0.044715)),
               const("c2", np.float32(math.sqrt(2 / math.pi)))]


@pytest.mark.parametrize("form, approximate", [(gelu_erf, "none"), (gelu_tanh, "tanh")])
@pytest.mark.parametrize("opset", [17, 20])
def test_gelu_and_bias_join_the_matmul(rng, form, approximate, opset):
    """MatMul + bias + GELU (written out) -> one FusedMatMul with the bias and the activation."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["h"])]
    nodes += form("h", "y")
    inits = GELU_CONSTS + [const("w", random(rng, (16, 24))), const("b", random(rng, 24))]
    model = make_model(nodes, [vi("x", [2, 3, 16])], [vi("y", None)], inits, opset=opset)
    opt, _, _ = optimize_and_compare(model, {"x": random(rng, (2, 3, 16))})
    assert op_types(opt) == ["FusedMatMul"]
    attrs = {a.name: helper.get_attribute_value(a) for a in opt.graph.node[0].attribute}
    assert attrs["activation"] == b"Gelu" and attrs["approximate"] == approximate.encode()
    assert len(opt.graph.node[0].input) == 3  # the bias


def test_residual_add_joins_the_norm_and_keeps_the_sum(rng):
    """Add(a, b) -> LayerNorm with the sum read again (a pre-norm block): one fused node, two outputs."""
    nodes = [helper.make_node("Add", ["a", "b"], ["s"]),
             helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["n"], epsilon=1e-5),
             helper.make_node("Mul", ["n", "s"], ["y"])]
    inits = [const("gamma", random(rng, 32)), const("beta", random(rng, 32))]
    model = make_model(nodes, [vi("a", [2, 4, 32]), vi("b", [2, 4, 32])], [vi("y", None)], inits)
    opt, _, _ = optimize_and_compare(model, {"a": random(rng, (2, 4, 32)), "b": random(rng, (2, 4, 32))})
    assert op_types(opt) == ["FusedLayerNormalization", "Mul"]
    assert list(opt.graph.node[0].output)[-1] == "s"


def test_reshape_target_from_shapes_becomes_a_constant(rng):
    """x.view(x.size(0), x.size(1), 4, 8) with dynamic axes -> a constant target [0, 0, 4, 8]."""
    nodes = [helper.make_node("Shape", ["x"], ["sh"]),
             helper.make_node("Gather", ["sh", "i0"], ["b"], axis=0), helper.make_node("Gather", ["sh", "i1"], ["s"], axis=0),
             helper.make_node("Unsqueeze", ["b", "ax"], ["bu"]), helper.make_node("Unsqueeze", ["s", "ax"], ["su"]),
             helper.make_node("Concat", ["bu", "su", "hd"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [const("i0", np.int64(0)), const("i1", np.int64(1)), const("ax", np.array([0], np.int64)),
             const("hd", np.array([4, 8], np.int64))]
    model = make_model(nodes, [vi("x", ["batch", "seq", 32])], [vi("y", None)], inits)
    opt, report, _ = optimize_and_compare(model, {"x": random(rng, (2, 3, 32))})
    assert op_types(opt) == ["Reshape"] and report.pass_counts["fold_reshape_shapes"] >= 1
    target = [t for t in opt.graph.initializer if t.name == opt.graph.node[0].input[1]][0]
    assert list(np.frombuffer(target.raw_data, np.int64)) == [0, 0, 4, 8]


def test_flattened_gemm_runs_on_the_3d_input(rng):
    """Hugging Face Conv1D: Reshape(x, [-1, K]) -> Gemm -> Reshape back -> one FusedMatMul."""
    nodes = [helper.make_node("Reshape", ["x", "flat"], ["x2"]),
             helper.make_node("Gemm", ["x2", "w", "b"], ["y2"]),
             helper.make_node("Shape", ["x"], ["sh"]),
             helper.make_node("Slice", ["sh", "s0", "s2"], ["lead"]),
             helper.make_node("Concat", ["lead", "n"], ["back"], axis=0),
             helper.make_node("Reshape", ["y2", "back"], ["y"])]
    inits = [const("flat", np.array([-1, 16], np.int64)), const("w", random(rng, (16, 24))), const("b", random(rng, 24)),
             const("s0", np.array([0], np.int64)), const("s2", np.array([2], np.int64)), const("n", np.array([24], np.int64))]
    model = make_model(nodes, [vi("x", ["batch", "seq", 16])], [vi("y", None)], inits)
    opt, _, _ = optimize_and_compare(model, {"x": random(rng, (2, 5, 16))})
    assert op_types(opt) == ["FusedMatMul"]


def attention_graph(rng, hidden=32, heads=4, mask=True, scale_on_scores=False):
    """BERT-style self-attention: three projections, head split, scaled scores, mask, Softmax,
    IsNaN guard, merge."""
    d = hidden // heads
    nodes, inits = [], []
    for name in "qkv":
        inits += [const(f"w{name}", random(rng, (hidden, hidden)) * 0.3), const(f"b{name}", random(rng, hidden))]
        nodes += [helper.make_node("MatMul", ["x", f"w{name}"], [f"{name}m"]),
                  helper.make_node("Add", [f"{name}m", f"b{name}"], [f"{name}p"]),
                  helper.make_node("Reshape", [f"{name}p", "split"], [f"{name}r"])]
    nodes += [helper.make_node("Transpose", ["qr"], ["q4"], perm=[0, 2, 1, 3]),
              helper.make_node("Transpose", ["kr"], ["kt"], perm=[0, 2, 3, 1]),
              helper.make_node("Transpose", ["vr"], ["v4"], perm=[0, 2, 1, 3])]
    if scale_on_scores:
        nodes += [helper.make_node("MatMul", ["q4", "kt"], ["raw"]), helper.make_node("Div", ["raw", "sqrt_d"], ["sc"])]
    else:
        nodes += [helper.make_node("Mul", ["q4", "root"], ["qs"]), helper.make_node("Mul", ["kt", "root"], ["ks"]),
                  helper.make_node("MatMul", ["qs", "ks"], ["sc"])]
    nodes += [helper.make_node("Add", ["sc", "mask"], ["sm_in"])] if mask else []
    nodes += [helper.make_node("Softmax", ["sm_in" if mask else "sc"], ["p"], axis=-1),
              helper.make_node("IsNaN", ["p"], ["nan"]), helper.make_node("Where", ["nan", "zero", "p"], ["pg"]),
              helper.make_node("MatMul", ["pg", "v4"], ["o4"]),
              helper.make_node("Transpose", ["o4"], ["o"], perm=[0, 2, 1, 3]),
              helper.make_node("Reshape", ["o", "merge"], ["y"])]
    inits += [const("split", np.array([0, 0, heads, d], np.int64)), const("merge", np.array([0, 0, hidden], np.int64)),
              const("root", np.float32(d ** -0.25)), const("sqrt_d", np.float32(math.sqrt(d))),
              const("zero", np.float32(0))]
    inputs = [vi("x", ["batch", "seq", hidden])] + ([vi("mask", ["batch", 1, 1, "seq"])] if mask else [])
    return make_model(nodes, inputs, [vi("y", None)], inits)


@pytest.mark.parametrize("mask, scale_on_scores", [(True, False), (False, True)])
def test_attention_is_one_node_on_packed_projections(rng, mask, scale_on_scores):
    model = attention_graph(rng, mask=mask, scale_on_scores=scale_on_scores)
    feeds = {"x": random(rng, (2, 7, 32))}
    if mask:
        m = np.zeros((2, 1, 1, 7), np.float32)
        m[1, ..., 5:] = -np.inf  # padding keys
        feeds["mask"] = m
    opt, report, _ = optimize_and_compare(model, feeds, rtol=1e-4, atol=2e-5)
    assert sorted(op_types(opt)) == ["FusedMatMul", "MultiHeadAttention"]
    assert report.pass_counts["fuse_attention"] == 1
    mha = [n for n in opt.graph.node if n.op_type == "MultiHeadAttention"][0]
    assert not any(mha.input[1:3])  # q, k, v read from the one packed projection


def test_microsoft_attention_and_bias_gelu_split_onto_the_kernels(rng):
    """com.microsoft Attention -> FusedMatMul + MultiHeadAttention; MatMul -> BiasGelu -> FusedMatMul."""
    import onnxruntime as ort

    hidden, heads = 32, 4
    nodes = [helper.make_node("Attention", ["x", "w", "b", "mask"], ["a"], domain="com.microsoft", num_heads=heads),
             helper.make_node("MatMul", ["a", "w2"], ["m"]),
             helper.make_node("BiasGelu", ["m", "b2"], ["y"], domain="com.microsoft")]
    inits = [const("w", random(rng, (hidden, 3 * hidden)) * 0.3), const("b", random(rng, 3 * hidden)),
             const("w2", random(rng, (hidden, 48))), const("b2", random(rng, 48))]
    graph = helper.make_graph(nodes, "g", [vi("x", [2, 6, hidden]), vi("mask", [2, 6], TensorProto.INT32)],
                              [vi("y", None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    mask = np.ones((2, 6), np.int32)
    mask[0, 4:] = 0
    feeds = {"x": random(rng, (2, 6, hidden)), "mask": mask}
    opt, _, got = optimize_and_compare(model, feeds, rtol=1e-4, atol=2e-5)
    assert sorted(op_types(opt)) == ["FusedMatMul", "FusedMatMul", "MultiHeadAttention"]
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=2e-5)


def test_microsoft_embed_layer_norm_and_length_masks_split_onto_the_kernels(rng):
    """com.microsoft EmbedLayerNormalization -> Gathers + FusedLayerNormalization (positions from
    Range, mask_index from ReduceSum); its [B] mask_index feeding two Attentions (the second
    after a SkipLayerNormalization, whose shape onnx does not infer) -> key-padding masks.
    Compared with onnxruntime at three shapes; every step of the plans is native."""
    import onnxruntime as ort

    import pyinfer

    hidden, heads, vocab = 16, 2, 30
    ms = dict(domain="com.microsoft")
    nodes = [helper.make_node("EmbedLayerNormalization", ["ids", "seg", "word", "pos", "segemb", "gamma", "beta",
                                                          "mask"], ["emb", "mask_index"], epsilon=1e-12, **ms),
             helper.make_node("Attention", ["emb", "w", "b", "mask_index"], ["a1"], num_heads=heads, **ms),
             helper.make_node("SkipLayerNormalization", ["a1", "emb", "gamma", "beta"], ["s1"], **ms),
             helper.make_node("Attention", ["s1", "w", "b", "mask_index"], ["y"], num_heads=heads, **ms)]
    inits = [const("word", random(rng, (vocab, hidden))), const("pos", random(rng, (12, hidden))),
             const("segemb", random(rng, (2, hidden))), const("gamma", random(rng, hidden) + 1),
             const("beta", random(rng, hidden)), const("w", random(rng, (hidden, 3 * hidden)) * 0.3),
             const("b", random(rng, 3 * hidden))]
    i32 = TensorProto.INT32
    graph = helper.make_graph(nodes, "g", [vi("ids", ["B", "S"], i32), vi("seg", ["B", "S"], i32),
                                           vi("mask", ["B", "S"], i32)], [vi("y", None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    sess = pyinfer.InferenceSession(model)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for batch, seq in [(2, 7), (2, 7), (3, 11), (1, 4)]:
        mask = np.ones((batch, seq), np.int32)
        mask[0, seq - 2:] = 0
        feeds = {"ids": rng.integers(0, vocab, (batch, seq)).astype(np.int32),
                 "seg": rng.integers(0, 2, (batch, seq)).astype(np.int32), "mask": mask}
        np.testing.assert_allclose(sess.run(None, feeds)[0], ref.run(None, feeds)[0], rtol=1e-4, atol=2e-5)
    left = [n.op_type for n in sess._optimized_model.graph.node if n.domain == "com.microsoft"]
    assert left == ["SkipLayerNormalization"]  # (a kernel of its own)
    plans = sess._executor.cached_plans() + sess._executor.dynamic_plans()
    assert plans and all(plan.native_steps == len(plan.step_ops) for plan in plans)
