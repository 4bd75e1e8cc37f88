"""SessionOptions and the optimization levels, as InferenceSession takes them."""
import numpy as np
import pytest
from onnx import helper

import pyinfer
from pyinfer import GraphOptimizationLevel as Level
from support.opt_helpers import const, make_model, op_types, random, vi


def conv_bn_relu_model(rng):
    c = 3
    nodes = [helper.make_node("Identity", ["x"], ["xi"]),
             helper.make_node("Conv", ["xi", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    inits = [const("w", random(rng, (c, 2, 3, 3))), const("s", rng.uniform(0.5, 2, c).astype(np.float32)),
             const("b", random(rng, (c,))), const("m", random(rng, (c,))), const("v", rng.uniform(0.5, 2, c).astype(np.float32))]
    return make_model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", None)], inits)


@pytest.mark.parametrize("level,ops", [
    (Level.ORT_DISABLE_ALL, ["Identity", "Conv", "BatchNormalization", "Relu"]),
    (Level.ORT_ENABLE_BASIC, ["Conv", "BatchNormalization", "Relu"]),
    (Level.ORT_ENABLE_EXTENDED, ["Conv", "Relu"]),
    (Level.ORT_ENABLE_ALL, ["FusedConv"]),
])
def test_levels_choose_the_passes(rng, level, ops):
    model = conv_bn_relu_model(rng)
    x = random(rng, (1, 2, 4, 4))
    (want,) = pyinfer.InferenceSession(model, graph_optimization_level=Level.ORT_DISABLE_ALL).run(None, {"x": x})
    sess = pyinfer.InferenceSession(model, graph_optimization_level=level)
    assert sorted(sess.optimization_report.ops_after.elements()) == sorted(
        ("pyinfer::" + o if o.startswith("Fused") else o) for o in ops)
    np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-5)


def test_default_is_all_and_options_object_is_read(rng):
    model = conv_bn_relu_model(rng)
    assert pyinfer.SessionOptions().graph_optimization_level == Level.ORT_ENABLE_ALL
    assert pyinfer.InferenceSession(model).options.graph_optimization_level == Level.ORT_ENABLE_ALL
    opts = pyinfer.SessionOptions()
    opts.graph_optimization_level = Level.ORT_ENABLE_BASIC
    opts.intra_op_num_threads = 1
    opts.enable_profiling = True
    opts.max_memory_bytes = 1 << 30
    opts.inter_op_num_threads = 2  # onnxruntime settings pyinfer does not use are accepted
    sess = pyinfer.InferenceSession(model, sess_options=opts)
    assert sess.options.graph_optimization_level == Level.ORT_ENABLE_BASIC
    assert (sess.num_threads, sess.options.enable_profiling, sess.options.max_memory_bytes) == (1, True, 1 << 30)
    assert "BatchNormalization" in sess.optimization_report.ops_after
    # Keywords win over the options object; num_threads= keeps working; the object is not changed.
    sess = pyinfer.InferenceSession(model, sess_options=opts, graph_optimization_level=Level.ORT_ENABLE_ALL, num_threads=2)
    assert sess.options.graph_optimization_level == Level.ORT_ENABLE_ALL and sess.num_threads == 2
    assert opts.graph_optimization_level == Level.ORT_ENABLE_BASIC and opts.intra_op_num_threads == 1
    sess = pyinfer.InferenceSession(model, intra_op_num_threads=3, enable_profiling=True)
    assert sess.num_threads == 3 and sess.options.enable_profiling


@pytest.mark.parametrize("value,want", [
    ("ORT_ENABLE_EXTENDED", Level.ORT_ENABLE_EXTENDED), (1, Level.ORT_ENABLE_BASIC), (99, Level.ORT_ENABLE_ALL),
    (Level.ORT_DISABLE_ALL, Level.ORT_DISABLE_ALL),
])
def test_level_accepts_names_and_values(value, want):
    opts = pyinfer.SessionOptions()
    opts.graph_optimization_level = value
    assert opts.graph_optimization_level is want


def test_onnxruntime_session_options_are_read(rng):
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.intra_op_num_threads = 2
    sess = pyinfer.InferenceSession(conv_bn_relu_model(rng), sess_options=so)
    assert sess.options.graph_optimization_level == Level.ORT_ENABLE_EXTENDED and sess.num_threads == 2


@pytest.mark.parametrize("name,value", [
    ("graph_optimization_level", 5), ("graph_optimization_level", "fast"), ("graph_optimization_level", None),
    ("intra_op_num_threads", -1), ("intra_op_num_threads", 1.5), ("max_memory_bytes", 0),
    ("optimized_model_filepath", 3),
])
def test_bad_values_raise_a_clear_error(name, value):
    opts = pyinfer.SessionOptions()
    with pytest.raises(pyinfer.SessionOptionsError, match=name.split("_")[0] if name != "intra_op_num_threads" else "num_threads"):
        setattr(opts, name, value)
    with pytest.raises(ValueError):  # also a ValueError, like onnxruntime's
        setattr(opts, name, value)


def test_bad_keyword_and_num_threads_raise(rng):
    model = conv_bn_relu_model(rng)
    with pytest.raises(pyinfer.SessionOptionsError, match="graph_optimization_level"):
        pyinfer.InferenceSession(model, graph_optimization_level="most")
    with pytest.raises(ValueError, match="num_threads"):
        pyinfer.InferenceSession(model, num_threads=-2)


def test_optimized_model_filepath_unwritable(rng, tmp_path):
    with pytest.raises(pyinfer.SessionOptionsError, match="cannot save"):
        pyinfer.InferenceSession(conv_bn_relu_model(rng), optimized_model_filepath=str(tmp_path / "no" / "dir" / "m.onnx"))


def test_saved_model_at_every_level_runs_again(rng, tmp_path):
    model = conv_bn_relu_model(rng)
    x = random(rng, (1, 2, 4, 4))
    (want,) = pyinfer.InferenceSession(model, graph_optimization_level=Level.ORT_DISABLE_ALL).run(None, {"x": x})
    for level in Level:
        path = tmp_path / f"{level.name}.onnx"
        pyinfer.InferenceSession(model, graph_optimization_level=level, optimized_model_filepath=path)
        (got,) = pyinfer.InferenceSession(str(path), graph_optimization_level=Level.ORT_DISABLE_ALL).run(None, {"x": x})
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_an_optimizer_bug_falls_back_to_the_unoptimized_graph(rng, monkeypatch):
    from pyinfer.optimizer import bn_folding

    def broken(g):
        raise RuntimeError("boom")

    monkeypatch.setattr(bn_folding, "run", broken)
    model = conv_bn_relu_model(rng)
    with pytest.warns(UserWarning, match="boom"):
        sess = pyinfer.InferenceSession(model)
    assert op_types(sess._optimized_model) == op_types(model)
    x = random(rng, (1, 2, 4, 4))
    assert sess.run(None, {"x": x})[0].shape == (1, 3, 4, 4)
