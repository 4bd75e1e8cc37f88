"""Loading with the weights split out of the protobuf (pyinfer/model_file.py): the same model
as onnx's own parser sees, each weight held once, and malformed files still rejected."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from pyinfer.loader import load_model_parts
from pyinfer.model_file import MIN_SPLIT_BYTES


def _model(rng, extra_inits=()):
    """Conv (large weight) -> Add (small constant) -> Relu, plus any extra initializers."""
    w = rng.standard_normal((32, 8, 3, 3)).astype(np.float32)  # 9 KiB: split out
    b = rng.standard_normal(32).astype(np.float32)  # 128 B: stays in the message
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"), *extra_inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), w, b


def _reference(x, w, b):
    out = np.zeros((1, w.shape[0], 6, 6), np.float64)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    for i in range(6):
        for j in range(6):
            out[0, :, i, j] = np.tensordot(w, xp[0, :, i:i + 3, j:j + 3], axes=3)
    return np.maximum(out + b.reshape(1, -1, 1, 1), 0)


@pytest.fixture
def saved(tmp_path, rng):
    model, w, b = _model(rng, [numpy_helper.from_array(np.arange(3000, dtype=np.int64), "ids"),
                               numpy_helper.from_array(np.ones(5000, np.float16), "half")])
    path = str(tmp_path / "m.onnx")
    onnx.save(model, path)
    return path, w, b


def test_large_weights_come_out_as_arrays_and_stay_as_stubs(saved):
    path, w, b = saved
    for source in (path, open(path, "rb").read()):
        proto, weights = load_model_parts(source)
        assert sorted(weights) == ["half", "ids", "w"]  # b (128 B) is below MIN_SPLIT_BYTES
        np.testing.assert_array_equal(weights["w"], w)
        np.testing.assert_array_equal(weights["ids"], np.arange(3000))
        assert weights["half"].dtype == np.float16 and weights["half"].shape == (5000,)
        stubs = {t.name: t for t in proto.graph.initializer}
        assert not stubs["w"].HasField("raw_data") and list(stubs["w"].dims) == [32, 8, 3, 3]
        assert stubs["w"].data_type == TensorProto.FLOAT
        np.testing.assert_array_equal(numpy_helper.to_array(stubs["b"]), b)
        # Everything but the split-out data is what onnx parses from the file.
        full = onnx.load(path)
        for t in full.graph.initializer:
            if t.name in weights:
                t.ClearField("raw_data")
        assert proto.SerializeToString() == full.SerializeToString()


def test_session_from_file_bytes_and_proto_agree_with_reference(saved, rng):
    path, w, b = saved
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    want = _reference(x, w, b)
    for source in (path, open(path, "rb").read(), onnx.load(path)):
        for executor in ("python", "plan"):
            sess = pyinfer.InferenceSession(source, executor=executor)
            for _ in range(3):  # Python path, compile, plan
                np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)


def test_saved_optimized_model_holds_the_weights(saved, tmp_path, rng):
    path, w, b = saved
    out = str(tmp_path / "opt.onnx")
    pyinfer.InferenceSession(path, optimized_model_filepath=out)
    opt = onnx.load(out)
    conv = [n for n in opt.graph.node if "Conv" in n.op_type][0]
    inits = {t.name: numpy_helper.to_array(t) for t in opt.graph.initializer}
    np.testing.assert_array_equal(inits[conv.input[1]], w)
    x = rng.standard_normal((1, 8, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(pyinfer.InferenceSession(out).run(None, {"x": x})[0], _reference(x, w, b),
                               rtol=1e-4, atol=1e-5)


def test_weight_with_wrong_length_is_rejected_by_name(tmp_path, rng):
    model, _, _ = _model(rng)
    bad = model.graph.initializer[0]
    bad.raw_data = bad.raw_data[:-4]  # one float short
    path = str(tmp_path / "short.onnx")
    onnx.save(model, path)
    with pytest.raises(pyinfer.InvalidModelError, match=r"initializer 'w'.*need 9216 bytes.*found 9212"):
        pyinfer.InferenceSession(path)


def test_exotic_types_stay_in_the_message(tmp_path):
    bf16 = helper.make_tensor("bf", TensorProto.BFLOAT16, [MIN_SPLIT_BYTES], np.zeros(MIN_SPLIT_BYTES, np.uint16).tobytes(),
                              raw=True)
    graph = helper.make_graph([helper.make_node("Cast", ["bf"], ["y"], to=TensorProto.FLOAT)], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [bf16])
    path = str(tmp_path / "bf.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    proto, weights = load_model_parts(path)
    assert weights == {} and len(proto.graph.initializer[0].raw_data) == 2 * MIN_SPLIT_BYTES
    np.testing.assert_array_equal(pyinfer.InferenceSession(path).run(None, {})[0], np.zeros(MIN_SPLIT_BYTES))


@pytest.mark.parametrize("cut", [1, 7, 100, 2000, -5])
def test_truncated_files_are_refused(saved, tmp_path, cut):
    path, _, _ = saved
    data = open(path, "rb").read()
    short = str(tmp_path / "cut.onnx")
    with open(short, "wb") as f:
        f.write(data[:cut] if cut > 0 else data[:cut])
    with pytest.raises(pyinfer.Error):
        pyinfer.InferenceSession(short)


def test_packed_weights_replace_the_loaded_ones(saved):
    path, w, _ = saved
    sess = pyinfer.InferenceSession(path)
    held = [v for v in sess._executor.constants.values() if isinstance(v, np.ndarray) and v.shape == w.shape]
    # The conv packed its weight: what the session keeps under the name takes no memory.
    assert held and all(v.strides == (0,) * v.ndim for v in held)


def test_little_endian_float32_spelled_explicitly_is_float32(rng):
    # dtype('<f4') with an explicit byte order is a different dtype object from np.float32.
    x = rng.standard_normal((2, 5)).astype(np.dtype(np.float32).newbyteorder("<"))
    assert x.dtype.byteorder == "<"
    np.testing.assert_array_equal(pyinfer.kernels.relu(x), np.maximum(x, 0))


# --- the weights' bytes, read on a thread of their own while the graph is checked -------------

def test_background_reads_fill_each_array_from_its_offset(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, 3 << 20, dtype=np.uint8)
    path = tmp_path / "bytes.bin"
    data.tofile(path)
    spans = [(0, 10), (17, 70000), (5000, 2 << 20), ((3 << 20) - 9, 9)]  # small, large, up to EOF
    arrays = [np.empty(n, np.uint8) for _, n in spans]
    with open(path, "rb") as f:
        pending = pyinfer._kernels._read_file_async(f.fileno(), arrays, [o for o, _ in spans])
    pending.wait()  # the file was closed meanwhile: the reads use their own descriptor
    for (offset, n), arr in zip(spans, arrays):
        np.testing.assert_array_equal(arr, data[offset:offset + n])


def test_background_read_past_the_end_is_an_error(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(b"x" * 100)
    with open(path, "rb") as f:
        pending = pyinfer._kernels._read_file_async(f.fileno(), [np.empty(64, np.uint8)], [90])
    with pytest.raises(OSError, match="ended early"):
        pending.wait()


def test_a_weight_that_cannot_be_read_is_a_load_error(saved, monkeypatch):
    """A file that shrinks between the split and the reads (rewritten while loading)."""
    from pyinfer import model_file

    path, _, _ = saved
    real = model_file.read_split

    def read_then_shrink(p):
        with open(p, "rb") as f:
            data = f.read()
        loaded = real(p)
        loaded.wait()
        with open(p, "rb") as f:  # the same split, but its reads start past a shrunk file
            pending = pyinfer._kernels._read_file_async(f.fileno(), [np.empty(8, np.uint8)], [len(data) + 1])
        return model_file.Loaded(loaded.lean, loaded.raw, pending)

    monkeypatch.setattr(model_file, "read_split", read_then_shrink)
    with pytest.raises(pyinfer.ModelLoadError, match="cannot read model file.*ended early"):
        load_model_parts(path)


def test_a_fault_found_while_reading_is_the_error_reported(tmp_path, rng):
    """The checks run while the weights are read: the model's own fault is what the user sees."""
    model, _, _ = _model(rng)
    model.graph.node[0].attribute.append(helper.make_attribute("group", 3))  # 8 channels, 3 groups
    path = str(tmp_path / "bad_group.onnx")
    onnx.save(model, path)
    with pytest.raises(pyinfer.InvalidModelError, match="Conv"):
        pyinfer.InferenceSession(path)


@pytest.mark.parametrize("bad", [bytearray(8), np.empty(8, np.float32), np.empty(16, np.uint8)[::2],
                                 np.frombuffer(b"12345678", np.uint8)])
def test_background_reads_take_only_writable_contiguous_byte_arrays(tmp_path, bad):
    path = tmp_path / "b.bin"
    path.write_bytes(b"y" * 64)
    with open(path, "rb") as f, pytest.raises(pyinfer.Error, match="_read_file_async"):
        pyinfer._kernels._read_file_async(f.fileno(), [bad], [0])
