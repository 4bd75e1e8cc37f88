"""Resize's kernel (csrc/image/resize.cpp) against resize.py's NumPy path on every mode and
coordinate transformation, and Resize as a native plan step (constant scales; sizes the plan
computes, checked on every run)."""
import numpy as np
import pytest
from onnx import helper

import pyinfer.ops.resize as resize_module
from pyinfer.ops.base import OpContext
from pyinfer.ops.resize import Resize
from support.one_node import run_in_plan

MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
         "tf_crop_and_resize")


def _numpy_path(monkeypatch, op, *inputs):
    with monkeypatch.context() as m:
        m.setattr(resize_module, "kernel_for", lambda *a, **k: "the NumPy path")
        return op.run(*inputs)[0]


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("antialias", [0, 1])
def test_kernel_matches_the_numpy_path(rng, monkeypatch, mode, antialias):
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    roi = np.array([0, 0, 0.1, 0.2, 1, 1, 0.9, 1.1], np.float32)
    for ctm in MODES:
        node = helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode=mode, antialias=antialias,
                                coordinate_transformation_mode=ctm, extrapolation_value=7.0)
        op = Resize(node, 19, OpContext())
        for scales in ([1, 1, 2.0, 1.5], [1, 1, 0.6, 0.5]):
            s = np.array(scales, np.float32)
            got, want = op.run(x, roi, s)[0], _numpy_path(monkeypatch, op, x, roi, s)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{ctm} {scales}")


def test_nearest_moves_any_dtype(rng, monkeypatch):
    x = rng.integers(0, 255, (1, 2, 5, 6)).astype(np.uint8)
    op = Resize(helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest"), 13, OpContext())
    s = np.array([1, 1, 1.5, 0.5], np.float32)
    np.testing.assert_array_equal(op.run(x, None, s)[0], _numpy_path(monkeypatch, op, x, None, s))


def test_resize_plans(rng):
    x = rng.standard_normal((1, 2, 6, 8)).astype(np.float32)
    got, want, kinds = run_in_plan("Resize", [x, np.zeros(0, np.float32), np.array([1, 1, 2, 2], np.float32)],
                                   opset=13, consts=(1, 2), mode="linear")
    assert kinds == ["out"] and got[0].shape == (1, 2, 12, 16)
    np.testing.assert_array_equal(got[0], want[0])
    sizes = np.array([1, 2, 9, 4], np.int64)  # a feed: read on every run
    got, want, kinds = run_in_plan("Resize", [x, np.zeros(0, np.float32), np.zeros(0, np.float32), sizes],
                                   opset=13, consts=(1, 2), mode="cubic")
    assert kinds == ["out"] and got[0].shape == (1, 2, 9, 4)
    np.testing.assert_array_equal(got[0], want[0])


def test_computed_sizes_that_resize_nothing_are_a_checked_copy(rng):
    """sizes fed (read on every run) equal to x's shape: a native copy (Faster R-CNN's transform
    resizing 320 x 320 to 320 x 320); other sizes in the same signature are caught by the copy's
    check and resized for real."""
    import onnx

    import pyinfer
    from support.one_node import make_model

    x = rng.standard_normal((1, 2, 6, 8)).astype(np.float32)
    empty = np.zeros(0, np.float32)
    got, want, kinds = run_in_plan("Resize", [x, empty, empty, np.array([1, 2, 6, 8], np.int64)],
                                   opset=13, consts=(1, 2), mode="linear")
    assert kinds == ["out"]
    np.testing.assert_array_equal(got[0], x)
    np.testing.assert_array_equal(want[0], x)
    model, feeds = make_model("Resize", [x, empty, empty, np.array([1, 2, 6, 8], np.int64)], opset=13, mode="linear")
    for name in ("in1", "in2"):
        model.graph.initializer.append(onnx.numpy_helper.from_array(feeds.pop(name), name))
    del model.graph.input[1:3]
    sess = pyinfer.InferenceSession(model, executor="plan")
    for _ in range(3):
        (y,) = sess.run(None, feeds)
        np.testing.assert_array_equal(y, x)
    feeds["in3"] = np.array([1, 2, 9, 4], np.int64)
    (y,) = sess.run(None, feeds)
    (want,) = pyinfer.InferenceSession(model, executor="python").run(None, feeds)
    assert y.shape == (1, 2, 9, 4)
    np.testing.assert_array_equal(y, want)
