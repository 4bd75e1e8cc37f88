"""Compiled plans: same outputs as the Python path, plan cache, outputs owned by the caller,
concurrent runs, data-dependent shapes, weights kept once."""
import os
import threading

import numpy as np
import onnx
from onnx import TensorProto, helper
import pytest

import pyinfer
from pyinfer import executor as executor_mod
from support.runtime_graphs import chain_model, conv_model, data_dependent_model

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "fixtures")


def plan_session(model, **kw):
    return pyinfer.InferenceSession(model, executor="plan", **kw)


def run_three(sess, feeds):
    """Python path (records shapes), compile + plan, plan."""
    return [sess.run(None, feeds) for _ in range(3)]


def chain_reference(x, n, width=16):
    c = np.linspace(-0.5, 0.5, width, dtype=np.float32).reshape(1, width)
    for i in range(n):
        x = x + c if i % 3 == 0 else x * c if i % 3 == 1 else np.maximum(x, 0)
    return x


@pytest.mark.parametrize("name", ["cifar10.legacy", "textcnn.legacy"])
def test_exported_models_plan_equals_python_path(name):
    path = os.path.join(FIXTURES, name + ".onnx")
    data = np.load(os.path.join(FIXTURES, name + ".npz"))
    py = pyinfer.InferenceSession(path, executor="python")
    sess = plan_session(path)
    batches = sorted({k.split(".")[0] for k in data.files})
    for b in batches:
        feeds = {k[len(b) + 4:]: v for k, v in data.items() if k.startswith(b + ".in.")}
        expected = {k[len(b) + 5:]: v for k, v in data.items() if k.startswith(b + ".out.")}
        ref = py.run(None, feeds)
        for out in run_three(sess, feeds):
            for arg, a, r in zip(sess.get_outputs(), out, ref):
                np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
                if arg.name in expected:  # PyTorch's outputs, the independent oracle
                    np.testing.assert_allclose(a, expected[arg.name], rtol=1e-3, atol=1e-4)
    # the first batch's signature has a static plan; the others ran on the class's dynamic plan
    plans = sess._executor.cached_plans() + sess._executor.dynamic_plans()
    assert [type(p).__name__ for p in plans] == ["CompiledPlan"] + ["DynamicPlan"] * (len(batches) > 1)
    assert all(p.native_steps > 0 for p in plans)


def test_chain_runs_natively_and_matches_numpy(rng):
    n = 60
    sess = plan_session(chain_model(n), num_threads=1)
    x = rng.standard_normal((2, 16)).astype(np.float32)
    for (y,) in run_three(sess, {"x": x}):
        np.testing.assert_allclose(y, chain_reference(x, n), rtol=1e-5, atol=1e-6)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == n
    # The chain needs two live buffers at a time, whatever its length.
    assert plan.memory.arena_bytes <= 2 * 192


def test_conv_model_and_weights_kept_once(rng):
    sess_ref = pyinfer.InferenceSession(conv_model(np.random.default_rng(0)), executor="python")
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32)
    ref = sess_ref.run(None, {"x": x})
    sess2 = plan_session(conv_model(np.random.default_rng(0)))
    for out in run_three(sess2, {"x": x}):
        for a, r in zip(out, ref):
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
    # The packed conv weights are the only copy: the initializer became a zero-memory placeholder.
    w = sess2._executor.constants["w"]
    assert w.shape == (8, 3, 3, 3) and w.strides == (0, 0, 0, 0)
    (plan,) = sess2._executor.cached_plans()
    # FusedConv (Conv + Relu), Reshape (an alias), Softmax, Add: no Python step left.
    assert plan.native_steps == len(plan.step_ops) == 4


def test_a_shape_class_holds_one_static_and_one_dynamic_plan(rng):
    """Batch sizes 1..6, each called five times: the first has a static plan (its second call),
    the others all run on the class's dynamic plan; nothing else is compiled or kept."""
    n = 9
    sess = plan_session(chain_model(n))
    ex = sess._executor
    for b in range(1, 7):
        x = rng.standard_normal((b, 16)).astype(np.float32)
        for _ in range(5):
            (y,) = sess.run(None, {"x": x})
            np.testing.assert_allclose(y, chain_reference(x, n), rtol=1e-5, atol=1e-6)
    assert [p.out_slots[0][1] for p in ex.cached_plans()] == [(1, 16)]
    assert len(ex.dynamic_plans()) == 1 and len(ex._plans) == 1


def test_plan_cache_is_a_bounded_lru(rng, monkeypatch):
    """Static plans are cached per signature in an LRU of PLAN_CACHE_SIZE: a model whose input
    has no fixed rank gives one shape class per rank."""
    monkeypatch.setattr(executor_mod, "PLAN_CACHE_SIZE", 3)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])], "any_rank",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    sess = plan_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    ex = sess._executor
    xs = {r: rng.standard_normal((2,) * r).astype(np.float32) for r in range(1, 6)}
    for r, x in xs.items():
        for _ in range(3):
            np.testing.assert_array_equal(sess.run(None, {"x": x})[0], -np.maximum(x, 0))
    assert [len(p.out_slots[0][1]) for p in ex.cached_plans()] == [3, 4, 5]
    sess.run(None, {"x": xs[3]})  # the most recent now; a new class evicts rank 4
    sess.run(None, {"x": rng.standard_normal((3,) * 6).astype(np.float32)})
    assert [len(k[0][1]) for k in ex._plans] == [5, 3, 6]
    np.testing.assert_array_equal(sess.run(None, {"x": xs[1]})[0], -np.maximum(xs[1], 0))  # evicted: still right


def test_outputs_belong_to_the_caller(rng):
    sess = plan_session(conv_model(rng))
    x1 = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    x2 = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    run_three(sess, {"x": x1})
    y1, z1 = sess.run(None, {"x": x1})
    keep_y, keep_z = y1.copy(), z1.copy()
    (plan,) = sess._executor.cached_plans()
    for frame in plan._frames:
        if frame.arena is not None:
            assert not np.shares_memory(y1, frame.arena) and not np.shares_memory(z1, frame.arena)
    y2, z2 = sess.run(None, {"x": x2})
    assert not np.shares_memory(y1, y2) and not np.shares_memory(z1, z2)
    np.testing.assert_array_equal(y1, keep_y)  # a later run does not overwrite earlier results
    np.testing.assert_array_equal(z1, keep_z)
    y1[...] = 0  # and writing into a result does not change the next run
    y3, _ = sess.run(None, {"x": x1})
    np.testing.assert_array_equal(y3, keep_y)


def test_concurrent_runs_on_one_session(rng):
    n = 30
    sess = plan_session(chain_model(n), num_threads=1)
    inputs = [rng.standard_normal((4, 16)).astype(np.float32) for _ in range(8)]
    run_three(sess, {"x": inputs[0]})
    errors = []

    def worker(i):
        try:
            for _ in range(200):
                x = inputs[i]
                (y,) = sess.run(None, {"x": x})
                np.testing.assert_allclose(y, chain_reference(x, n), rtol=1e-5, atol=1e-6)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_data_dependent_shapes_move_the_signature_to_the_dynamic_plan(monkeypatch):
    """The static plan compiled from the first call's shapes meets another Compress count: that call
    and every later one with this signature run on the class's dynamic plan (not the Python path,
    which a detector fed new images would otherwise take for good)."""
    from pyinfer.dynamic_plan import DynamicPlan

    dynamic_runs = []
    run = DynamicPlan.run
    monkeypatch.setattr(DynamicPlan, "run", lambda self, *a, **k: dynamic_runs.append(1) or run(self, *a, **k))
    sess = plan_session(data_dependent_model())
    x = np.array([-3, 1, -2, 4, 5, -1, 2, 0], np.float32)
    keeps = ([1, 0, 1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 0, 0, 1, 1], [0, 1, 0, 0, 0, 0, 0, 0], [1] * 8, [0] * 8)
    for i, keep in enumerate(keeps):
        k = np.array(keep, bool)
        (y,) = sess.run(None, {"x": x, "keep": k})
        np.testing.assert_array_equal(y, np.maximum(x[k], 0) + 1)
        # call 1: the Python path (recording); call 2: the static plan sees another count -> dynamic
        assert len(dynamic_runs) == max(0, i)
    assert len(sess._executor.dynamic_plans()) == 1


def test_executor_choice_is_checked():
    with pytest.raises(pyinfer.Error):
        pyinfer.InferenceSession(chain_model(3), executor="fast")


def test_python_executor_never_compiles(rng):
    sess = pyinfer.InferenceSession(chain_model(6), executor="python")
    x = rng.standard_normal((1, 16)).astype(np.float32)
    for (y,) in run_three(sess, {"x": x}):
        np.testing.assert_allclose(y, chain_reference(x, 6), rtol=1e-5, atol=1e-6)
    assert sess._executor.cached_plans() == []


def test_values_that_are_not_tensors_stay_in_python_steps():
    """A classifier's scores as ZipMap's list of dicts (skl2onnx's default output): the plan runs the
    classifier natively and ZipMap as a Python step."""
    from onnx import TensorProto, helper

    ml = "ai.onnx.ml"
    nodes = [helper.make_node("LinearClassifier", ["x"], ["label", "scores"], domain=ml, classlabels_ints=[0, 1, 2],
                              coefficients=[1.0, -1.0, 0.5, 2.0, 0.0, -0.5], intercepts=[0.1, 0.0, -0.1],
                              post_transform="SOFTMAX"),
             helper.make_node("ZipMap", ["scores"], ["probabilities"], domain=ml, classlabels_int64s=[0, 1, 2])]
    seq_map = helper.make_sequence_type_proto(helper.make_map_type_proto(
        TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, None)))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                              [helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
                               helper.make_value_info("probabilities", seq_map)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ml, 1)])
    sess = plan_session(model)
    x = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)
    first, planned = (sess.run(None, {"x": x}) for _ in range(2))
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 1 and plan.kind["scores"] == "arena" and plan.kind["probabilities"] == "py"
    np.testing.assert_array_equal(planned[0], first[0])
    assert planned[1] == first[1] and isinstance(planned[1][0], dict) and sorted(planned[1][0]) == [0, 1, 2]


def test_views_of_feeds_are_copies_in_the_static_plan(rng):
    """Unsqueeze of a feed read by a native op, and a Reshape of a feed that is a graph output
    (lstm_stream's hidden-state input): copy steps, not Python steps; the outputs own their bytes."""
    from onnx import numpy_helper

    from pyinfer.cli.python_steps import python_steps

    graph = helper.make_graph(
        [helper.make_node("Unsqueeze", ["h", "axis"], ["h3"]), helper.make_node("Add", ["h3", "x"], ["y"]),
         helper.make_node("Reshape", ["x", "flat"], ["z"])], "views",
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, [2, 4]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None), helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([0], np.int64), "axis"), numpy_helper.from_array(np.array([8], np.int64), "flat")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    feeds = {"h": rng.standard_normal((2, 4)).astype(np.float32), "x": rng.standard_normal((1, 2, 4)).astype(np.float32)}
    assert python_steps(model, feeds=feeds)["python"] == []
    sess = pyinfer.InferenceSession(model)
    for _ in range(3):  # record, compile, run the plan
        feeds = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in feeds.items()}
        y, z = sess.run(None, feeds)
        np.testing.assert_array_equal(y, feeds["h"][None] + feeds["x"])
        np.testing.assert_array_equal(z, feeds["x"].reshape(8))
        z[:] = 7.0
        assert not np.any(feeds["x"] == 7.0)
