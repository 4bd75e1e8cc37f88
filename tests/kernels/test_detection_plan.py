"""A detection post-processing graph (scores -> TopK -> NonMaxSuppression -> Gather) compiles to a
plan without Python steps, matches onnxruntime, and pyinfer inspect's step list says so."""
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

import pyinfer
from pyinfer.cli.python_steps import format_python_steps, python_steps
from support.detection_graphs import postprocess_feeds, postprocess_model


def test_postprocess_plan_is_native_and_matches_onnxruntime(rng):
    model = postprocess_model(anchors=600, classes=7, candidates=200).SerializeToString()
    feeds = postprocess_feeds(rng, 600, 7)
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)
    sess = pyinfer.InferenceSession(model, executor="plan")
    for _ in range(3):
        got = sess.run(None, feeds)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == len(sess._executor.steps)
    # Other scores keep another number of boxes: the call runs on the dynamic plan, same answers.
    feeds = postprocess_feeds(rng, 600, 7)
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, feeds)
    for g, w in zip(sess.run(None, feeds), want):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def test_python_steps_report(rng):
    info = python_steps(postprocess_model(anchors=300, classes=3, candidates=50))
    assert info["compiled"] and info["python"] == [] and info["native"] == info["nodes"] == 17
    # A node without a kernel is listed with its reason.
    model = postprocess_model(anchors=300, classes=3, candidates=50)
    model.graph.node.append(helper.make_node("Unique", ["out_labels"], ["classes"]))
    model.graph.output.append(helper.make_tensor_value_info("classes", TensorProto.INT64, None))
    info = python_steps(model)
    assert [(s["op"], s["reason"]) for s in info["python"]] == [("Unique", "no native kernel")]
    assert "Unique" in "\n".join(format_python_steps(info))
