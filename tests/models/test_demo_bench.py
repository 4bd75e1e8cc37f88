"""The bundled demo, `pyinfer demo` / `pyinfer bench`, the shared timing helpers and tools/bench.py."""
import json
import os
import statistics
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer import bench, demo
from pyinfer.cli import main as cli_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _have_ort():
    return bench.have_onnxruntime()


@pytest.fixture(scope="module")
def affine_model(tmp_path_factory):
    """y = x @ W + b with a symbolic batch dimension (MatMul + Add: no conv needed)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [onnx.numpy_helper.from_array(w, "W"), onnx.numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("bench") / "affine.onnx"
    onnx.save(model, str(path))
    return str(path), w, b


# --- bundled demo ------------------------------------------------------------------------


def test_bundled_files_are_small_and_consistent():
    data = demo.load_images()
    n = len(data["labels"])
    assert data["images"].shape == (n, 32, 32, 3) and data["images"].dtype == np.uint8
    assert len(data["classes"]) == 10 and set(data["labels"].tolist()) == set(range(10))
    assert os.path.getsize(demo.IMAGES_PATH) < 200_000
    model = onnx.load(demo.MODEL_PATH)
    onnx.checker.check_model(model)


def test_demo_matches_pytorch_and_truth():
    """pyinfer's logits equal the ones PyTorch computed when the demo was built, and are right."""
    with np.load(demo.IMAGES_PATH) as f:
        torch_logits = f["torch_logits"]
    out = []
    result = demo.run_demo(num_threads=1, repeats=2, out=out.append)
    data = demo.load_images()
    sess = pyinfer.InferenceSession(demo.MODEL_PATH)
    logits = sess.run(None, {"input": demo.preprocess(data["images"], data["mean"], data["std"])})[0]
    np.testing.assert_allclose(logits, torch_logits, rtol=1e-3, atol=1e-4)
    np.testing.assert_array_equal(result["predictions"], torch_logits.argmax(1))
    # The trained network gets (nearly) all of its own kind of images right.
    assert result["correct"] >= len(data["labels"]) - 1
    text = "\n".join(out)
    assert f"accuracy: {result['correct']}/{len(data['labels'])}" in text
    assert "ms for 1 image" in text


def test_preprocess_normalizes_like_training():
    img = np.zeros((1, 32, 32, 3), np.uint8)
    img[0, 0, 0] = (255, 0, 51)
    x = demo.preprocess(img, 0.5, 0.25)
    assert x.shape == (1, 3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [(1 - 0.5) / 0.25, -2.0, (0.2 - 0.5) / 0.25], rtol=1e-6)


def test_cli_demo(capsys):
    assert cli_main(["demo", "--repeats", "2", "--threads", "1"]) == 0
    assert "accuracy:" in capsys.readouterr().out


# --- timing helpers ------------------------------------------------------------------------


def test_parse_dims():
    assert bench.parse_dims(["batch=4", "seq_len = 16"]) == {"batch": 4, "seq_len": 16}
    for bad in (["batch"], ["batch=0"], ["batch=x"]):
        with pytest.raises(ValueError):
            bench.parse_dims(bad)


def test_random_feeds_follow_declared_types_and_dims():
    args = [pyinfer.NodeArg("x", ["batch", 3], "tensor(float)", TensorProto.FLOAT),
            pyinfer.NodeArg("ids", ["batch", "seq"], "tensor(int64)", TensorProto.INT64),
            pyinfer.NodeArg("mask", [2], "tensor(bool)", TensorProto.BOOL)]
    feeds = bench.random_feeds(args, {"seq": 7}, int_high=5)
    assert feeds["x"].shape == (1, 3) and feeds["x"].dtype == np.float32
    assert feeds["ids"].shape == (1, 7) and feeds["ids"].dtype == np.int64
    assert feeds["ids"].min() >= 0 and feeds["ids"].max() < 5
    assert feeds["mask"].dtype == np.bool_
    # onnxruntime-style NodeArgs (type string only) give the same arrays for the same seed.
    class OrtArg:
        def __init__(self, a):
            self.name, self.shape, self.type = a.name, a.shape, a.type
    again = bench.random_feeds([OrtArg(a) for a in args], {"seq": 7}, int_high=5)
    for k in feeds:
        np.testing.assert_array_equal(feeds[k], again[k])


def test_time_interleaved_and_summarize():
    calls = []
    runners = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = bench.time_interleaved(runners, repeats=4, warmup=2)
    assert [len(times["a"]), len(times["b"])] == [4, 4]
    assert calls[:4] == ["a", "a", "b", "b"]  # warm-up
    assert calls[4:] == ["a", "b", "b", "a", "a", "b", "b", "a"]  # alternating order per round
    s = bench.summarize([0.003, 0.001, 0.002, 0.010])
    assert s["median_ms"] == pytest.approx(2.5) and s["min_ms"] == pytest.approx(1.0)
    assert s["mean_ms"] == pytest.approx(statistics.fmean([3, 1, 2, 10]))
    assert s["repeats"] == 4


def test_max_abs_diff():
    assert bench.max_abs_diff([np.array([1.0, 2.0])], [np.array([1.5, 2.0])]) == pytest.approx(0.5)
    assert bench.max_abs_diff([np.zeros(2)], [np.zeros(3)]) == float("inf")


# --- pyinfer bench / tools/bench.py -----------------------------------------------------------


def test_cli_bench(affine_model, capsys):
    path, _, _ = affine_model
    assert cli_main(["bench", path, "--repeats", "3", "--warmup", "1", "--threads", "1", "--dim", "batch=5"]) == 0
    out = capsys.readouterr().out
    assert "x[5, 6]" in out and "pyinfer" in out and "median" in out


@pytest.mark.skipif(not _have_ort(), reason="onnxruntime is not installed")
def test_cli_bench_compare_ort(affine_model, capsys):
    path, _, _ = affine_model
    assert cli_main(["bench", path, "--repeats", "3", "--compare", "ort", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime" in out and "pyinfer/onnxruntime" in out


def test_cli_bench_bad_model(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert cli_main(["bench", str(bad), "--repeats", "1"]) == 1
    assert "error" in capsys.readouterr().err


@pytest.mark.skipif(not _have_ort(), reason="onnxruntime is not installed")
def test_tools_bench_json(affine_model, tmp_path):
    path, _, _ = affine_model
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), path, "--repeats", "3",
                           "--warmup", "1", "--dim", "batch=2", "--json", str(out_json)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "affine.onnx" in proc.stdout and "ratio" in proc.stdout
    data = json.loads(out_json.read_text())
    assert data["meta"]["threads"] == 1
    (rec,) = data["results"]
    assert rec["inputs"] == {"x": [2, 6]} and rec["error"] is None
    assert rec["pyinfer"]["repeats"] == 3 and rec["onnxruntime"]["repeats"] == 3
    assert rec["ratio"] == pytest.approx(rec["pyinfer"]["median_ms"] / rec["onnxruntime"]["median_ms"])
    assert rec["max_abs_diff_vs_ort"] < 1e-5


@pytest.mark.skipif(not _have_ort(), reason="onnxruntime is not installed")
def test_tools_bench_named_model(tmp_path):
    pytest.importorskip("torch")
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), "cifar10", "--exporter", "legacy",
                           "--repeats", "2", "--warmup", "1", "--json", str(out_json)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (rec,) = json.loads(out_json.read_text())["results"]
    assert rec["model"] == "cifar10" and rec["exporter"] == "legacy"
    assert rec["inputs"] == {"input": [1, 3, 32, 32]}
    assert rec["pyinfer_matches_pytorch"] and rec["onnxruntime_matches_pytorch"]
