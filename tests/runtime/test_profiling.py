"""Profiling: Chrome-trace JSON written by end_profiling, and the `pyinfer profile` command."""
import json
import os

import numpy as np
import pytest

import pyinfer
from pyinfer.cli import main as cli_main
from pyinfer.profiling import op_type_table
from support.runtime_graphs import chain_model


def _check_chrome_trace(events):
    assert isinstance(events, list) and events
    for ev in events:
        assert ev["ph"] == "X"
        assert isinstance(ev["name"], str) and ev["cat"] in ("Node", "Session")
        assert isinstance(ev["ts"], (int, float)) and isinstance(ev["dur"], (int, float)) and ev["dur"] >= 0
        assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)


@pytest.mark.parametrize("executor", ["plan", "python"])
def test_end_profiling_writes_a_chrome_trace(tmp_path, rng, executor):
    n = 9
    opts = pyinfer.SessionOptions()
    opts.enable_profiling = True
    sess = pyinfer.InferenceSession(chain_model(n), sess_options=opts, executor=executor,
                                    profile_file_prefix=str(tmp_path / "prof"))
    x = rng.standard_normal((1, 16)).astype(np.float32)
    runs = 4
    for _ in range(runs):
        sess.run(None, {"x": x})
    path = sess.end_profiling()
    assert os.path.dirname(path) == str(tmp_path) and os.path.basename(path).startswith("prof_")
    with open(path) as f:
        events = json.load(f)
    _check_chrome_trace(events)
    nodes = [e for e in events if e["cat"] == "Node"]
    assert len(nodes) == runs * n
    assert sum(e["cat"] == "Session" for e in events) == runs
    assert {e["args"]["op_name"] for e in nodes} == {"Add", "Mul", "Relu"}
    if executor == "plan":  # run 1 records shapes on the Python path; runs 2-4 use the plan
        assert sum(e["args"]["provider"] == "native" for e in nodes) == (runs - 1) * n
    rows = op_type_table(events)
    assert sorted(r["count"] for r in rows) == [runs * 3] * 3
    assert abs(sum(r["share"] for r in rows) - 1) < 1e-9
    # Profiling starts afresh after end_profiling.
    sess.run(None, {"x": x})
    with open(sess.end_profiling()) as f:
        assert sum(e["cat"] == "Session" for e in json.load(f)) == 1


def test_profiling_off_returns_empty_path(rng):
    sess = pyinfer.InferenceSession(chain_model(3))
    sess.run(None, {"x": rng.standard_normal((1, 16)).astype(np.float32)})
    assert sess.end_profiling() == ""


def test_cli_profile_prints_op_type_table(tmp_path, capsys):
    import onnx

    path = tmp_path / "chain.onnx"
    onnx.save(chain_model(12, batch=1), str(path))
    png = tmp_path / "ops.png"
    assert cli_main(["profile", str(path), "--threads", "1", "--repeats", "3", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.split()}
    for op in ("Add", "Mul", "Relu"):
        assert lines[op][1] == str(3 * 4)  # 4 nodes of each type, 3 profiled runs
    try:
        import matplotlib  # noqa: F401
        assert png.exists() and png.stat().st_size > 0
    except ImportError:
        assert "matplotlib is not installed" in out and not png.exists()


def test_profiling_times_the_steps_of_a_dynamic_plan(tmp_path, rng):
    """Batch sizes 1, 2, 3: run 1 on the Python path, run 2 on the dynamic plan (a new batch
    size of the class), run 3 too; every node of runs 2 and 3 is a native step."""
    n = 9
    opts = pyinfer.SessionOptions()
    opts.enable_profiling = True
    sess = pyinfer.InferenceSession(chain_model(n), sess_options=opts, profile_file_prefix=str(tmp_path / "prof"))
    for batch in (1, 2, 3):
        (y,) = sess.run(None, {"x": rng.standard_normal((batch, 16)).astype(np.float32)})
        assert y.shape == (batch, 16)
    assert sess._executor.dynamic_plans()
    with open(sess.end_profiling()) as f:
        nodes = [e for e in json.load(f) if e["cat"] == "Node"]
    assert [e["args"]["provider"] for e in nodes] == ["python"] * n + ["native"] * (2 * n)
