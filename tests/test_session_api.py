"""The public API: InferenceSession shaped like onnxruntime's, feeds checked, errors clear."""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer


def transpose_model(dims=("N", 3), elem=TensorProto.FLOAT, opset=17):
    """Y = Transpose(X) with a symbolic first dim, plus a second output Z = Identity(X)."""
    x = helper.make_tensor_value_info("X", elem, list(dims))
    y = helper.make_tensor_value_info("Y", elem, list(reversed(dims)))
    z = helper.make_tensor_value_info("Z", elem, list(dims))
    nodes = [helper.make_node("Transpose", ["X"], ["Y"], name="t"), helper.make_node("Identity", ["X"], ["Z"], name="i")]
    graph = helper.make_graph(nodes, "g", [x], [y, z])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_inputs_and_outputs_describe_the_graph():
    sess = pyinfer.InferenceSession(transpose_model())
    (inp,) = sess.get_inputs()
    assert (inp.name, inp.shape, inp.type) == ("X", ["N", 3], "tensor(float)")
    assert [(o.name, o.shape, o.type) for o in sess.get_outputs()] == [
        ("Y", [3, "N"], "tensor(float)"), ("Z", ["N", 3], "tensor(float)")]


@pytest.mark.parametrize("form", ["proto", "bytes", "path"])
def test_model_can_be_a_proto_bytes_or_path(form, tmp_path):
    model = transpose_model()
    if form == "bytes":
        model = model.SerializeToString()
    elif form == "path":
        path = tmp_path / "m.onnx"
        onnx.save(model, str(path))
        model = str(path)
    sess = pyinfer.InferenceSession(model)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y, z = sess.run(None, {"X": x})
    np.testing.assert_array_equal(y, x.T)
    np.testing.assert_array_equal(z, x)


def test_run_selects_outputs_by_name_and_outputs_belong_to_caller():
    sess = pyinfer.InferenceSession(transpose_model())
    x = np.ones((2, 3), np.float32)
    (z,) = sess.run(["Z"], {"X": x})
    assert z is not x and not np.shares_memory(z, x)
    z[...] = 5
    assert x.sum() == 6  # the caller's feed is untouched


def test_unknown_output_name():
    sess = pyinfer.InferenceSession(transpose_model())
    with pytest.raises(pyinfer.UnknownInputError, match="'nope'"):
        sess.run(["nope"], {"X": np.ones((1, 3), np.float32)})


def test_missing_and_unknown_feeds():
    sess = pyinfer.InferenceSession(transpose_model())
    with pytest.raises(pyinfer.MissingInputError, match="X"):
        sess.run(None, {})
    with pytest.raises(pyinfer.UnknownInputError, match="'x_typo'"):
        sess.run(None, {"x_typo": np.ones((1, 3), np.float32)})


def test_wrong_dtype_is_not_cast():
    sess = pyinfer.InferenceSession(transpose_model())
    with pytest.raises(pyinfer.InputTypeError, match="float64"):
        sess.run(None, {"X": np.ones((1, 3), np.float64)})


def test_list_instead_of_array():
    sess = pyinfer.InferenceSession(transpose_model())
    with pytest.raises(pyinfer.InputTypeError, match="list"):
        sess.run(None, {"X": [[1.0, 2.0, 3.0]]})


def test_wrong_rank_and_fixed_dim():
    sess = pyinfer.InferenceSession(transpose_model())
    with pytest.raises(pyinfer.InputShapeError, match="rank 2"):
        sess.run(None, {"X": np.ones((3,), np.float32)})
    with pytest.raises(pyinfer.InputShapeError, match="dimension 1 must be 3"):
        sess.run(None, {"X": np.ones((2, 4), np.float32)})


def test_non_contiguous_feed_is_computed_correctly():
    sess = pyinfer.InferenceSession(transpose_model())
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    x = base[::2, ::2]  # (2, 3), strided
    y, _ = sess.run(None, {"X": x})
    np.testing.assert_array_equal(y, x.T)


def test_all_errors_share_one_base_class():
    for cls in (pyinfer.ModelLoadError, pyinfer.InvalidModelError, pyinfer.UnsupportedOpError,
                pyinfer.InvalidFeedError, pyinfer.MissingInputError, pyinfer.UnknownInputError,
                pyinfer.InputTypeError, pyinfer.InputShapeError, pyinfer.KernelArgumentError,
                pyinfer.NodeExecutionError):
        assert issubclass(cls, pyinfer.Error)


# --- loading -----------------------------------------------------------------------------

def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is definitely not a protobuf \xff\xfe\x00")
    with pytest.raises(pyinfer.ModelLoadError, match="not an ONNX model"):
        pyinfer.InferenceSession(str(path))


def test_empty_and_missing_file(tmp_path):
    with pytest.raises(pyinfer.ModelLoadError, match="empty"):
        pyinfer.InferenceSession(b"")
    with pytest.raises(pyinfer.ModelLoadError, match="not found"):
        pyinfer.InferenceSession(str(tmp_path / "nope.onnx"))


def test_truncated_model_every_cut_is_rejected_or_runs():
    """Cut a real model at every length: each prefix is a ModelLoadError/InvalidModelError or
    (for cuts that leave a complete model) runs correctly. Never another exception."""
    data = transpose_model().SerializeToString()
    x = np.arange(3, dtype=np.float32).reshape(1, 3)
    for cut in range(len(data)):
        try:
            sess = pyinfer.InferenceSession(data[:cut])
        except pyinfer.Error:
            continue
        try:
            outs = sess.run(None, {"X": x})
        except pyinfer.Error:
            continue
        np.testing.assert_array_equal(outs[0], x.T)


def test_wrong_argument_type():
    with pytest.raises(pyinfer.ModelLoadError, match="int"):
        pyinfer.InferenceSession(42)


# --- graph checks ------------------------------------------------------------------------

def _graph_model(nodes, inputs=("X",), outputs=("Y",), opset=17, initializers=()):
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs]
    vo = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs]
    graph = helper.make_graph(nodes, "g", vi, vo, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_unsupported_op_names_op_node_and_opset():
    model = _graph_model([helper.make_node("NoSuchOp", ["X"], ["Y"], name="weird")])
    with pytest.raises(pyinfer.UnsupportedOpError) as e:
        pyinfer.InferenceSession(model)
    assert "NoSuchOp" in str(e.value) and "weird" in str(e.value) and "17" in str(e.value)


def test_unsupported_version_lists_supported_versions(monkeypatch):
    from pyinfer import registry

    model = _graph_model([helper.make_node("Identity", ["X"], ["Y"], name="id")], opset=17)
    real = registry._TABLE[("", "Identity")]
    monkeypatch.setitem(registry._TABLE, ("", "Identity"), {v: c for v, c in real.items() if v != 16})
    with pytest.raises(pyinfer.UnsupportedOpError, match=r"Identity-16.*implements versions \[1, 13"):
        pyinfer.InferenceSession(model)


def test_cycle_is_rejected():
    nodes = [helper.make_node("Identity", ["B"], ["A"], name="n1"), helper.make_node("Identity", ["A"], ["B"], name="n2"),
             helper.make_node("Identity", ["X"], ["Y"], name="n3")]
    with pytest.raises(pyinfer.InvalidModelError, match="cycle"):
        pyinfer.InferenceSession(_graph_model(nodes))


def test_undefined_input_is_rejected():
    nodes = [helper.make_node("Identity", ["ghost"], ["Y"], name="n")]
    with pytest.raises(pyinfer.InvalidModelError, match="'ghost'"):
        pyinfer.InferenceSession(_graph_model(nodes))


def test_output_not_produced_is_rejected():
    nodes = [helper.make_node("Identity", ["X"], ["Y"], name="n")]
    with pytest.raises(pyinfer.InvalidModelError, match="'W'"):
        pyinfer.InferenceSession(_graph_model(nodes, outputs=("Y", "W")))


def test_value_produced_twice_is_rejected():
    nodes = [helper.make_node("Identity", ["X"], ["Y"], name="a"), helper.make_node("Identity", ["X"], ["Y"], name="b")]
    with pytest.raises(pyinfer.InvalidModelError, match="produced twice"):
        pyinfer.InferenceSession(_graph_model(nodes))


def test_initializer_listed_as_input_can_be_overridden():
    w = numpy_helper.from_array(np.full((2,), 3.0, np.float32), "W")
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])
    wi = helper.make_tensor_value_info("W", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("Identity", ["W"], ["Y"])], "g", [x, wi], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    sess = pyinfer.InferenceSession(model)
    assert [i.name for i in sess.get_inputs()] == ["X"]
    np.testing.assert_array_equal(sess.run(None, {"X": np.zeros(2, np.float32)})[0], [3, 3])
    override = np.array([7, 8], np.float32)
    np.testing.assert_array_equal(sess.run(None, {"X": np.zeros(2, np.float32), "W": override})[0], [7, 8])


def test_cpu_info_reports_the_active_tier():
    info = pyinfer.cpu_info()
    assert info["isa"] in info["supported_isas"]
    assert info["supported_isas"][0] == "scalar"
    assert info["default_num_threads"] >= 1


def test_isa_probe_reaches_the_copy_compiled_for_each_tier(isa):
    name, width = pyinfer._kernels.isa_probe()
    assert name == f"isa_{isa}"
    assert width == {"scalar": 1, "avx2": 8, "avx512": 16}[isa]


def test_pyinfer_isa_environment_forces_a_lower_tier():
    import subprocess
    import sys

    code = "import pyinfer; print(pyinfer.cpu_info()['isa'])"
    from support.child_python import NEUTRAL_CWD, child_env

    out = subprocess.run([sys.executable, "-c", code], env=child_env(PYINFER_ISA="scalar"), capture_output=True,
                         text=True, check=True, cwd=NEUTRAL_CWD)
    assert out.stdout.strip() == "scalar"
