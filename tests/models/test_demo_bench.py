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
from pyinfer.cli import bench, demo
from pyinfer.cli import main as cli_main
from support import light_models as light

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _have_ort():
    return bench.have_onnxruntime()


def _have(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


needs_ort = pytest.mark.skipif(not _have_ort(), reason="onnxruntime is not installed")
needs_openvino = pytest.mark.skipif(not bench.have_openvino(), reason="openvino is not installed (bench extra)")
needs_matplotlib = pytest.mark.skipif(not _have("matplotlib"), reason="matplotlib is not installed (bench extra)")


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


@needs_ort
def test_tools_bench_json(affine_model, tmp_path):
    path, _, _ = affine_model
    out_json = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), path, "--repeats", "3",
                           "--warmup", "1", "--dim", "batch=2", "--peers", "ort", "--json", str(out_json)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "affine.onnx" in proc.stdout and "ratio" in proc.stdout
    data = json.loads(out_json.read_text())
    assert data["meta"]["threads"] == [1]
    (rec,) = data["results"]
    assert rec["inputs"] == {"x": [2, 6]} and rec["error"] is None and rec["threads"] == 1
    assert rec["pyinfer"]["repeats"] == 3 and rec["onnxruntime"]["repeats"] == 3
    assert rec["best_peer"] == "onnxruntime"
    assert rec["ratio"] == pytest.approx(rec["pyinfer"]["median_ms"] / rec["onnxruntime"]["median_ms"])
    assert rec["max_abs_diff_vs_ort"] < 1e-5 and rec["close_to_pyinfer"] == {"onnxruntime": True}
    # efficiency: x[2, 6] @ W[6, 4] is 48 multiply-accumulates (the Add none)
    assert rec["macs"] == 2 * 6 * 4
    assert rec["pyinfer_gflops"] == pytest.approx(2 * 48 / (rec["pyinfer"]["median_ms"] * 1e6))
    assert rec["numpy_gemm_gflops"] > 0 and rec["of_numpy_ceiling"] == pytest.approx(
        rec["pyinfer_gflops"] / rec["numpy_gemm_gflops"])
    assert "of ceiling" in proc.stdout


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


def test_outputs_close_scales_atol_with_the_output():
    want = [np.array([1000.0, 0.5])]
    assert bench.outputs_close([np.array([1000.05, 0.5])], want)  # 5e-5 relative: fine
    assert not bench.outputs_close([np.array([1000.0, 0.7])], want)  # 0.2 off where |want| = 0.5
    assert not bench.outputs_close([np.zeros(3)], [np.zeros(2)])
    assert not bench.outputs_close([np.zeros(2)], [np.zeros(2), np.zeros(2)])


def test_tile_batch():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(bench.tile_batch(x, 5), x[[0, 1, 0, 1, 0]])
    np.testing.assert_array_equal(bench.tile_batch(x, 1), x[:1])


@needs_ort
@needs_openvino
def test_cli_bench_compare_ort_and_openvino(affine_model, capsys):
    path, _, _ = affine_model
    assert cli_main(["bench", path, "--repeats", "2", "--compare", "ort,openvino", "--threads", "1",
                     "--dim", "batch=3"]) == 0
    out = capsys.readouterr().out
    assert "pyinfer/onnxruntime" in out and "pyinfer/openvino" in out


def test_cli_bench_compare_rejects_unknown_peer(affine_model, capsys):
    path, _, _ = affine_model
    assert cli_main(["bench", path, "--compare", "tvm"]) == 2
    assert "tvm" in capsys.readouterr().err


@needs_openvino
def test_openvino_runner_is_float32_and_matches(affine_model):
    """OpenVINO forced to f32 reproduces x @ W + b to float32 rounding (bf16 would be ~1e-2 off)."""
    path, w, b = affine_model
    x = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    (y,) = bench.openvino_runner(path, 1, {"x": x}, ["y"])()
    np.testing.assert_allclose(y, x.astype(np.float64) @ w + b, rtol=1e-5, atol=1e-5)


# --- light models --------------------------------------------------------------------------------


def test_light_model_gets_random_weights_of_the_same_shapes(tmp_path):
    """light_squeezenet: every ConstantOfShape weight becomes an initializer of its shape, He-scaled."""
    src = onnx.load(light.source_path("squeezenet"))
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in src.graph.initializer}
    filled = {n.output[0]: tuple(inits[n.input[0]]) for n in src.graph.node if n.op_type == "ConstantOfShape"}
    model = onnx.load(light.cached_light("squeezenet", base=str(tmp_path)))
    onnx.checker.check_model(model)
    assert not [n for n in model.graph.node if n.op_type == "ConstantOfShape"]
    assert [i.name for i in model.graph.input] == ["data_0"]
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert {k: weights[k].shape for k in filled} == filled
    conv = next(n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in filled)
    w = weights[conv.input[1]]
    fan_in = int(np.prod(w.shape[1:]))
    assert np.std(w) == pytest.approx(np.sqrt(2 / fan_in), rel=0.1)
    assert len(np.unique(w)) > w.size // 2  # not a constant fill any more


@needs_ort
def test_calibrated_batchnorm_normalizes_its_input():
    """After calibration a BatchNormalization after a Relu sees mean / var of relu(N(0, 1))."""
    c = 3
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]),
         helper.make_node("BatchNormalization", ["r", "scale", "bias", "mean", "var"], ["y"])],
        "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 64, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, 64, 64])],
        [onnx.numpy_helper.from_array(np.full(c, v, np.float32), name)
         for name, v in (("scale", 1.0), ("bias", 0.0), ("mean", 5.0), ("var", 9.0))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])
    model.ir_version = 4
    light.calibrate_batchnorm(model, seed=0)
    got = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    # E[relu(z)] = 1/sqrt(2 pi); Var[relu(z)] = 1/2 - 1/(2 pi), z ~ N(0, 1); 4096 samples per channel
    np.testing.assert_allclose(got["mean"], np.full(c, 1 / np.sqrt(2 * np.pi)), rtol=0.05)
    np.testing.assert_allclose(got["var"], np.full(c, 0.5 - 1 / (2 * np.pi)), rtol=0.08)


@needs_ort
@needs_openvino
@needs_matplotlib
def test_tools_bench_suite_paths(tmp_path):
    """Two thread counts in subprocesses, every peer, a light model, NAME@bN, JSON and PNG."""
    pytest.importorskip("torch")
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench.py"), "cifar10@b3", "light:squeezenet",
                           "--threads", "1,2", "--repeats", "2", "--warmup", "0", "--json", str(out_json),
                           "--png", str(out_png)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out_json.read_text())
    assert data["meta"]["threads"] == [1, 2] and data["meta"]["omp_wait_policy"] == "PASSIVE"
    rows = {(r["model"], r["threads"]): r for r in data["results"]}
    assert set(rows) == {("cifar10@b3", 1), ("cifar10@b3", 2), ("light:squeezenet", 1), ("light:squeezenet", 2)}
    for (model, _), r in rows.items():
        peers = {"onnxruntime", "openvino", "torch"} if model.startswith("cifar10") else {"onnxruntime", "openvino"}
        assert r["error"] is None and set(r["ratios"]) == peers
        assert all(r["close_to_pyinfer"].values()), r["max_abs_diff_vs"]
        best = min(peers, key=lambda p: r[p]["median_ms"])
        assert r["best_peer"] == best and r["ratio"] == pytest.approx(r["pyinfer"]["median_ms"] / r[best]["median_ms"])
    assert rows[("cifar10@b3", 1)]["inputs"] == {"input": [3, 3, 32, 32]}
    assert rows[("cifar10@b3", 1)]["pyinfer_matches_pytorch"]  # against the torch peer's own outputs
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "light:squeezenet" in proc.stdout and "best peer" in proc.stdout
