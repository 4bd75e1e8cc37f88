"""External tensor data: only files inside the model's directory, offsets and lengths checked.

The attacks are those of CVE-2024-27318 / CVE-2025-51480 (path traversal through `location`)
and CVE-2026-27489 (a symlink leading out of the model directory).
"""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from support.hostile_models import add_model, externalize, model, save, vi

W = np.array([1, 2, 3, 4], np.float32)
X = np.array([10, 20, 30, 40], np.float32)


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    # a "secret" outside the model directory that the attacks try to read (16 bytes = 4 floats)
    (tmp_path / "secret.bin").write_bytes(np.array([7, 7, 7, 7], np.float32).tobytes())
    return d


def session_for(model_dir, location, **kw):
    return pyinfer.InferenceSession(save(externalize(add_model(), "W", location, **kw), model_dir / "m.onnx"))


def test_external_data_inside_the_directory_loads(model_dir):
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "w.bin").write_bytes(b"\0" * 8 + W.tobytes())
    sess = session_for(model_dir, "sub/w.bin", offset=8, length=16)
    np.testing.assert_array_equal(sess.run(None, {"X": X})[0], X + W)


def test_symlink_that_stays_inside_is_fine(model_dir):
    (model_dir / "real.bin").write_bytes(W.tobytes())
    os.symlink("real.bin", model_dir / "alias.bin")
    sess = session_for(model_dir, "alias.bin")
    np.testing.assert_array_equal(sess.run(None, {"X": X})[0], X + W)


@pytest.mark.parametrize("location", ["../secret.bin", "sub/../../secret.bin", "..\\secret.bin", "./../secret.bin"])
def test_dot_dot_is_refused(model_dir, location):
    (model_dir / "sub").mkdir()
    with pytest.raises(pyinfer.ModelLoadError, match=r"'\.\.'") as e:
        session_for(model_dir, location)
    assert "initializer 'W'" in str(e.value)


def test_absolute_path_is_refused(model_dir, tmp_path):
    with pytest.raises(pyinfer.ModelLoadError, match="absolute path"):
        session_for(model_dir, str(tmp_path / "secret.bin"))


@pytest.mark.parametrize("location", ["C:\\secret.bin", "\\\\server\\share\\secret.bin", "/etc/passwd"])
def test_windows_and_unc_absolute_paths_are_refused(model_dir, location):
    with pytest.raises(pyinfer.ModelLoadError, match="absolute path"):
        session_for(model_dir, location)


def test_symlink_leading_out_is_refused(model_dir, tmp_path):
    os.symlink(tmp_path / "secret.bin", model_dir / "w.bin")
    with pytest.raises(pyinfer.ModelLoadError, match="outside the model's directory"):
        session_for(model_dir, "w.bin")


def test_symlinked_directory_leading_out_is_refused(model_dir, tmp_path):
    os.symlink(tmp_path, model_dir / "data")
    with pytest.raises(pyinfer.ModelLoadError, match="outside the model's directory"):
        session_for(model_dir, "data/secret.bin")


def test_offset_past_the_end_of_the_file(model_dir):
    (model_dir / "w.bin").write_bytes(W.tobytes())
    with pytest.raises(pyinfer.ModelLoadError, match="has only 16 bytes"):
        session_for(model_dir, "w.bin", offset=4)


def test_length_disagreeing_with_dims(model_dir):
    (model_dir / "w.bin").write_bytes(W.tobytes() * 4)
    with pytest.raises(pyinfer.ModelLoadError, match="length 64 disagrees with dims \\[4\\]"):
        session_for(model_dir, "w.bin", length=64)


@pytest.mark.parametrize("offset, message", [("-4", "negative"), ("0x10", "not an integer"), ("1e3", "not an integer")])
def test_bad_offsets(model_dir, offset, message):
    (model_dir / "w.bin").write_bytes(W.tobytes())
    m = externalize(add_model(), "W", "w.bin")
    e = m.graph.initializer[0].external_data.add()
    e.key, e.value = "offset", offset
    with pytest.raises(pyinfer.ModelLoadError, match=message):
        pyinfer.InferenceSession(save(m, model_dir / "m.onnx"))


def test_missing_file(model_dir):
    with pytest.raises(pyinfer.ModelLoadError, match="cannot open external data file 'nothere.bin'"):
        session_for(model_dir, "nothere.bin")


def test_directory_as_location(model_dir):
    (model_dir / "adir").mkdir()
    with pytest.raises(pyinfer.ModelLoadError, match="not a regular file"):
        session_for(model_dir, "adir")


def test_fifo_as_location_does_not_block(model_dir):
    os.mkfifo(model_dir / "pipe")
    with pytest.raises(pyinfer.ModelLoadError, match="not a regular file"):
        session_for(model_dir, "pipe")


def test_empty_location(model_dir):
    with pytest.raises(pyinfer.ModelLoadError, match="without a 'location'"):
        session_for(model_dir, "")


@pytest.mark.parametrize("form", ["bytes", "proto"])
def test_external_data_needs_a_path(form):
    m = externalize(add_model(), "W", "w.bin")
    given = m.SerializeToString() if form == "bytes" else m
    with pytest.raises(pyinfer.ModelLoadError, match="only be read when the model is loaded from a file path"):
        pyinfer.InferenceSession(given)


def test_huge_external_tensor_is_refused_before_reading(model_dir):
    (model_dir / "w.bin").write_bytes(W.tobytes())
    m = add_model()
    m.graph.initializer[0].dims[:] = [10**12]
    with pytest.raises(pyinfer.ResourceLimitError, match="initializer 'W'"):
        pyinfer.InferenceSession(save(externalize(m, "W", "w.bin"), model_dir / "m.onnx"))


def test_external_data_of_a_constant_node_is_checked_too(model_dir, tmp_path):
    t = numpy_helper.from_array(W, "c")
    m = model([helper.make_node("Constant", [], ["W"], name="const", value=t),
               helper.make_node("Add", ["X", "W"], ["Y"])], [vi("X", [4])], [vi("Y", [4])])
    t = m.graph.node[0].attribute[0].t
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "../secret.bin"
    with pytest.raises(pyinfer.ModelLoadError, match=r"attribute 'value' of node 'const'.*'\.\.'"):
        pyinfer.InferenceSession(save(m, model_dir / "m.onnx"))
    e.value = "c.bin"
    (model_dir / "c.bin").write_bytes(W.tobytes())
    sess = pyinfer.InferenceSession(save(m, model_dir / "m.onnx"))
    np.testing.assert_array_equal(sess.run(None, {"X": X})[0], X + W)


def test_the_callers_proto_is_not_modified(model_dir):
    (model_dir / "w.bin").write_bytes(W.tobytes())
    path = save(externalize(add_model(), "W", "w.bin"), model_dir / "m.onnx")
    sess = pyinfer.InferenceSession(path)
    np.testing.assert_array_equal(sess.run(None, {"X": X})[0], X + W)
    assert onnx.load(path, load_external_data=False).graph.initializer[0].data_location == TensorProto.EXTERNAL
