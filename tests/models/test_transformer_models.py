"""Tiny Hugging Face transformers (2 layers, hidden 64, random weights; support/transformer_models.py),
exported by torch's legacy and dynamo exporters: the transformer fusions fire on what the exporters
write (one MultiHeadAttention per layer, no Softmax left, the norms fused with their residual adds),
the fused ops run natively in the compiled plan, and the outputs match PyTorch float32."""
import collections

import numpy as np
import pytest

import pyinfer

pytest.importorskip("transformers")
pytest.importorskip("torch")

from support import transformer_models as tm  # noqa: E402

CASES = [  # (model, exporter, attention implementation)
    ("bert-base", "legacy", None),      # sdpa: pre-scaled q and k^T, IsNaN guard
    ("bert-base", "legacy", "eager"),   # MatMul, Div by sqrt(d), Add mask, Softmax
    ("bert-base", "dynamo", None),      # k^T through 3-D reshapes, allowzero targets
    ("gpt2", "legacy", None),           # the prompt: torch's is_causal as a Trilu mask, presents written
    ("gpt2-past", "legacy", None),      # Conv1D projections, Split QKV, past Concat, tanh GELU
    ("vit", "legacy", None),            # pre-norm: the norms write the residual sums
]


@pytest.mark.parametrize("name, exporter, attn", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_fused_and_native_and_accurate(name, exporter, attn):
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    path, feeds, want = tm.cached_export(name, exporter, attn=attn)
    sess = pyinfer.InferenceSession(path, num_threads=1)
    for _ in range(3):  # record, compile, run the plan
        got = sess.run(None, feeds)
    ops = collections.Counter(n.op_type for n in sess._optimized_model.graph.node)
    assert ops["MultiHeadAttention"] == 2 and ops["Softmax"] == 0
    assert ops["FusedLayerNormalization"] >= 2 and ops["Erf"] == ops["Tanh"] == ops["Trilu"] == 0
    (plan,) = sess._executor.cached_plans()
    attention = [n.output[0] for n in sess._optimized_model.graph.node if n.op_type == "MultiHeadAttention"]
    assert all(plan.kind[o] in ("arena", "out") for o in attention)  # native steps
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert np.max(np.abs(g - w)) <= 1e-4 * np.max(np.abs(w))
