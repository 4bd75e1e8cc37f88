"""PyTorch sequence models (nn.LSTM / nn.GRU / nn.RNN) exported to ONNX run in pyinfer like in PyTorch.

The models and PyTorch's reference outputs come from support/model_export.py (random weights; see
conftest.py): a bidirectional LSTM tagger, a GRU, nn.RNN with tanh and relu, a padded batch with
lengths (the ONNX LSTM's sequence_lens input), a one-step LSTM with the state passed in and out,
and a CRNN (convolutions, then a bidirectional LSTM over the image's columns). The test sizes are
small; tools/bench.py times the big ones (bilstm, gru, rnn_tanh, rnn_relu, crnn).
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import pyinfer

RTOL, ATOL = 1e-3, 1e-4
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

F32 = "tensor(float)"
# name -> (expected inputs, expected outputs) as (name, shape, type), written out independently of
# the export script. The dynamo exporter fixes some dimensions the legacy one keeps symbolic, so
# only the legacy interfaces are pinned down.
INTERFACES = {
    "bilstm_small": ([("tokens", ["batch", "seq_len"], "tensor(int64)")],
                     [("logits", ["batch", "seq_len", 10], F32), ("h_n", [4, "batch", 24], F32),
                      ("c_n", [4, "batch", 24], F32)]),
    "gru_small": ([("feats", ["batch", "seq_len", 10], F32)],
                  [("y", ["batch", "seq_len", 24], F32), ("h_n", [2, "batch", 24], F32)]),
    "rnn_tanh_small": ([("feats", ["batch", "seq_len", 8], F32)],
                       [("y", ["batch", "seq_len", 16], F32), ("h_n", [2, "batch", 16], F32)]),
    "rnn_relu_small": ([("feats", ["batch", "seq_len", 8], F32)],
                       [("y", ["batch", "seq_len", 16], F32), ("h_n", [2, "batch", 16], F32)]),
    "lstm_varlen": ([("feats", ["batch", "seq_len", 12], F32), ("lengths", ["batch"], "tensor(int64)")],
                    [("y", ["batch", "seq_len", 40], F32), ("h_n", [2, "batch", 20], F32),
                     ("c_n", [2, "batch", 20], F32)]),
    "lstm_stream": ([("x", ["batch", 16], F32), ("h", [2, "batch", 32], F32), ("c", [2, "batch", 32], F32)],
                    [("y", ["batch", 32], F32), ("h_out", [2, "batch", 32], F32), ("c_out", [2, "batch", 32], F32)]),
    # ANY: the legacy exporter gives log_probs' 32 columns a made-up symbolic name
    "crnn": ([("image", ["batch", 1, 32, 128], F32)], [("log_probs", ["batch", "ANY", 37], F32)]),
}

# The recurrent op each legacy export must contain (so the RNN kernels, not unrolled MatMuls, run).
RECURRENT_OP = {"bilstm_small": "LSTM", "gru_small": "GRU", "rnn_tanh_small": "RNN", "rnn_relu_small": "RNN",
                "lstm_varlen": "LSTM", "lstm_stream": "LSTM", "crnn": "LSTM"}

# lstm_varlen has no dynamo export: torch.export cannot trace pack_padded_sequence (its sizes are
# data). The dynamo exporter unrolls nn.RNN into MatMul/Add/Tanh|Relu per step (no RNN node).
CASES = [(name, "legacy") for name in RECURRENT_OP] + [
    (name, "dynamo") for name in RECURRENT_OP if name != "lstm_varlen"]

# Reference-file cases that are not a feed of the model itself (see test_stream_loop_*).
NOT_FEEDS = {"sequence"}


def _id(case):
    return f"{case[0]}-{case[1]}"


@pytest.fixture(scope="module", params=CASES, ids=_id)
def loaded(request, exported):
    name, exporter = request.param
    path, cases = exported(name, exporter)
    return name, exporter, path, pyinfer.InferenceSession(path), cases


def _assert_outputs_match(got, expected, what):
    assert len(got) == len(expected), what
    for (out_name, want), value in zip(expected.items(), got):
        assert value.dtype == want.dtype and value.shape == want.shape, (what, out_name, value.shape, want.shape)
        np.testing.assert_allclose(value, want, rtol=RTOL, atol=ATOL, err_msg=f"{what} output {out_name}")


@pytest.mark.parametrize("name", list(INTERFACES))
def test_legacy_interface(name, exported):
    path, _ = exported(name, "legacy")
    sess = pyinfer.InferenceSession(path)
    want_in, want_out = INTERFACES[name]

    def described(args, want):
        return [(a.name, [w if w == "ANY" else d for d, w in zip(a.shape, ws)], a.type)
                for a, (_, ws, _) in zip(args, want)]

    assert described(sess.get_inputs(), want_in) == want_in
    assert described(sess.get_outputs(), want_out) == want_out
    assert len(sess.get_inputs()) == len(want_in) and len(sess.get_outputs()) == len(want_out)


def test_matches_pytorch(loaded):
    name, exporter, _, sess, cases = loaded
    feeds = {case: v for case, v in cases.items() if case not in NOT_FEEDS}
    assert feeds, "the reference file holds no cases"
    for case, (inputs, expected) in feeds.items():
        _assert_outputs_match(sess.run(None, inputs), expected, f"{name}/{exporter} case {case}")


def test_export_has_the_recurrent_node(loaded):
    name, exporter, path, _, _ = loaded
    ops = {n.op_type for n in onnx.load(path).graph.node}
    if exporter == "dynamo" and name.startswith("rnn_"):
        assert "RNN" not in ops and "MatMul" in ops  # unrolled: nothing of ours to check here
    else:
        assert RECURRENT_OP[name] in ops, sorted(ops)


# --- a padded batch with lengths: ONNX sequence_lens ---------------------------------------------


def test_varlen_export_feeds_lengths_to_sequence_lens(exported):
    path, _ = exported("lstm_varlen", "legacy")
    (lstm,) = [n for n in onnx.load(path).graph.node if n.op_type == "LSTM"]
    assert len(lstm.input) > 4 and lstm.input[4], "the LSTM node has no sequence_lens input"


def test_varlen_rows_match_each_sequence_run_alone(exported):
    """Row i of the padded batch equals PyTorch run on sequence i alone (unpadded, batch 1):
    the same outputs for its own steps, zeros after them, and its own final states."""
    path, cases = exported("lstm_varlen", "legacy")
    sess = pyinfer.InferenceSession(path)
    (batch_case,) = [c for c in cases if c.startswith("b")]
    inputs, _ = cases[batch_case]
    lengths = inputs["lengths"]
    assert len(set(lengths.tolist())) > 2 and lengths.min() < inputs["feats"].shape[1], "lengths should differ"
    y, h_n, c_n = sess.run(None, inputs)
    for i, n in enumerate(lengths):
        alone_in, alone_out = cases[f"seq{i}"]
        assert alone_in["feats"].shape[1] == n and alone_in["lengths"].tolist() == [n]
        np.testing.assert_allclose(y[i, :n], alone_out["y"][0], rtol=RTOL, atol=ATOL, err_msg=f"row {i} y")
        assert not y[i, n:].any(), f"row {i}: Y must be 0 past the sequence's length {n}"
        np.testing.assert_allclose(h_n[:, i], alone_out["h_n"][:, 0], rtol=RTOL, atol=ATOL, err_msg=f"row {i} h_n")
        np.testing.assert_allclose(c_n[:, i], alone_out["c_n"][:, 0], rtol=RTOL, atol=ATOL, err_msg=f"row {i} c_n")


def test_varlen_rejects_a_length_beyond_the_padded_sequence(exported):
    path, cases = exported("lstm_varlen", "legacy")
    sess = pyinfer.InferenceSession(path)
    feats = np.zeros((2, 5, 12), np.float32)
    with pytest.raises(pyinfer.Error, match="sequence_lens"):
        sess.run(None, {"feats": feats, "lengths": np.array([5, 6])})


# --- streaming: one step at a time ---------------------------------------------------------------


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_stream_loop_matches_the_whole_sequence(exporter, exported):
    """Calling the one-step model over time, feeding each step's state to the next, reproduces
    nn.LSTM run once over the whole sequence (reference case "sequence")."""
    path, cases = exported("lstm_stream", exporter)
    sess = pyinfer.InferenceSession(path)
    inputs, expected = cases["sequence"]
    x, h, c = inputs["x"], inputs["h"], inputs["c"]
    assert x.shape[1] > 1
    ys = []
    for t in range(x.shape[1]):
        y, h, c = sess.run(["y", "h_out", "c_out"], {"x": x[:, t], "h": h, "c": c})
        ys.append(y)
    np.testing.assert_allclose(np.stack(ys, axis=1), expected["y"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(h, expected["h"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(c, expected["c"], rtol=RTOL, atol=ATOL)


# --- SIMD tiers and threads ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bilstm_small", "gru_small", "rnn_relu_small", "lstm_varlen"])
def test_seq_models_under_every_isa_and_thread_count(name, isa, exported):
    path, cases = exported(name, "legacy")
    for threads in (1, 2):
        sess = pyinfer.InferenceSession(path, num_threads=threads)
        for case, (inputs, expected) in cases.items():
            _assert_outputs_match(sess.run(None, inputs), expected, f"{name} {case} isa={isa} threads={threads}")


# --- tools/bench.py on a named sequence model ---------------------------------------------------


def test_tools_bench_times_every_case_of_a_sequence_model(tmp_path, exported):
    pytest.importorskip("onnxruntime")
    exported("gru_small", "legacy")  # export into the cache first (or skip without torch)
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), "gru_small", "--cases", "all",
                           "--repeats", "2", "--warmup", "1", "--json", str(out_json)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out_json.read_text())["results"]
    assert [r["model"] for r in results] == ["gru_small:b3_t9", "gru_small:b1_t13"]
    assert [r["inputs"] for r in results] == [{"feats": [3, 9, 10]}, {"feats": [1, 13, 10]}]
    assert all(r["pyinfer_matches_pytorch"] and r["onnxruntime_matches_pytorch"] for r in results)


def test_bench_ort_session_does_not_spin(exported):
    """Idle onnxruntime threads busy-waiting would take the cores from pyinfer's interleaved runs."""
    pytest.importorskip("onnxruntime")
    from pyinfer.cli.bench import ort_session

    path, _ = exported("gru_small", "legacy")
    key = "session.intra_op.allow_spinning"
    assert ort_session(path, 2).get_session_options().get_session_config_entry(key) == "0"
    assert ort_session(path, 2, spinning=True).get_session_options().get_session_config_entry(key) == "1"
