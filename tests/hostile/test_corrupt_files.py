"""Truncated, bit-flipped and non-ONNX files: ModelLoadError (or another pyinfer.Error), never a crash."""
import os

import numpy as np
import pytest

import pyinfer
from support.hostile_models import CIFAR, add_model, save, single_op

X4 = np.arange(4, dtype=np.float32)


def outcome(data, feeds):
    try:
        pyinfer.InferenceSession(data).run(None, feeds)
        return "ok"
    except pyinfer.Error as e:
        return type(e).__name__


def test_every_truncation_of_a_small_model():
    data = add_model().SerializeToString()
    seen = {outcome(data[:n], {"X": X4}) for n in range(len(data))}
    assert seen <= {"ok", "ModelLoadError", "InvalidModelError", "UnsupportedOpError", "MissingInputError",
                    "UnknownInputError", "InputShapeError", "InputTypeError", "NodeExecutionError"}
    assert "ModelLoadError" in seen


def test_truncated_big_model_file(tmp_path):
    with open(CIFAR, "rb") as f:
        data = f.read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(pyinfer.ModelLoadError, match="cut.onnx.*truncated/corrupt"):
        pyinfer.InferenceSession(str(path))


# A flipped bit in metadata (a graph name that is no longer UTF-8) once made the optimizer fail
# and fall back to the unoptimized graph: that is a bug, so here the warning is an error.
@pytest.mark.filterwarnings("error::pyinfer.session.OptimizerWarning")
def test_every_single_bit_flip_of_a_small_model():
    data = bytearray(single_op("Softmax", [[2, 3]], attrs={"axis": 1}).SerializeToString())
    x = np.ones((2, 3), np.float32)
    kinds = set()
    for i in range(len(data)):
        for bit in range(8):
            data[i] ^= 1 << bit
            kinds.add(outcome(bytes(data), {"X0": x}))
            data[i] ^= 1 << bit
    assert "ok" in kinds and "ModelLoadError" in kinds and "InvalidModelError" in kinds


@pytest.mark.parametrize("content, message", [
    (b"", "empty input"),
    (b"\x00" * 64, "not an ONNX model"),
    (b"this is a text file, not a model\n", "not an ONNX model"),
    (bytes(range(256)) * 4, "not an ONNX model"),
    (b"\x08\x07", "no ir_version or no graph"),  # ir_version only
])
def test_not_onnx_files(tmp_path, content, message):
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    with pytest.raises(pyinfer.ModelLoadError, match=message):
        pyinfer.InferenceSession(str(path))


def test_directory_fifo_and_missing_paths(tmp_path):
    os.mkfifo(tmp_path / "pipe.onnx")
    for p in (tmp_path, tmp_path / "pipe.onnx", tmp_path / "missing.onnx"):
        with pytest.raises(pyinfer.ModelLoadError, match="not found \\(or not a regular file\\)"):
            pyinfer.InferenceSession(str(p))


def test_path_with_nul_byte():
    with pytest.raises(pyinfer.ModelLoadError, match="NUL byte"):
        pyinfer.InferenceSession("model\0.onnx")


@pytest.mark.parametrize("thing", [42, None, 3.5, ["m.onnx"], {"graph": 1}])
def test_model_of_the_wrong_type(thing):
    with pytest.raises(pyinfer.ModelLoadError, match="cannot load a model from"):
        pyinfer.InferenceSession(thing)
