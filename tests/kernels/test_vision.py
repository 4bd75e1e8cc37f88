"""NonMaxSuppression and RoiAlign kernels (csrc/vision/) against onnxruntime and the NumPy
implementation, and as compiled-plan steps."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import pyinfer
from pyinfer import kernels
from pyinfer.ops.base import OpContext
from pyinfer.ops.vision import RoiAlign


def _model(node, inputs, outputs, opset):
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _nms_model(center_point_box=0):
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "thr"], ["selected"],
                            center_point_box=center_point_box)
    return _model(node, [("boxes", TensorProto.FLOAT, None), ("scores", TensorProto.FLOAT, None),
                         ("max", TensorProto.INT64, [1]), ("iou", TensorProto.FLOAT, [1]),
                         ("thr", TensorProto.FLOAT, [1])], [("selected", TensorProto.INT64)], 11)


def _random_boxes(rng, batches, n, center):
    xy = rng.uniform(0, 100, (batches, n, 2))
    wh = rng.uniform(1, 30, (batches, n, 2))
    return np.concatenate([xy, wh if center else xy + wh], -1).astype(np.float32)


@pytest.mark.parametrize("center_point_box", [0, 1])
def test_nms_matches_onnxruntime(isa, rng, center_point_box):
    model = _nms_model(center_point_box).SerializeToString()
    ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    for _ in range(6):
        b, c, n = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 200))
        boxes = _random_boxes(rng, b, n, center_point_box)
        scores = rng.random((b, c, n)).astype(np.float32)
        scores[..., ::5] = 0.5  # ties: the lower box index first
        max_out, iou, thr = int(rng.integers(1, 100)), float(rng.uniform(0.1, 0.9)), float(rng.uniform(0, 0.4))
        got = kernels.non_max_suppression(boxes, scores, max_out, iou, thr, bool(center_point_box))
        want = ref.run(None, {"boxes": boxes, "scores": scores, "max": np.array([max_out]),
                              "iou": np.array([iou], np.float32), "thr": np.array([thr], np.float32)})[0]
        np.testing.assert_array_equal(got, want)


def test_nms_edge_cases():
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2], [0, 0, 1, 1]]], np.float32)  # [2] has no area
    scores = np.array([[[0.9, np.nan, 0.8, 0.7]]], np.float32)
    # Duplicates suppress each other; the empty box is kept; NaN ranks last and is suppressed too.
    np.testing.assert_array_equal(kernels.non_max_suppression(boxes, scores, 10, 0.5),
                                  [[0, 0, 0], [0, 0, 2]])
    assert kernels.non_max_suppression(boxes, scores, 0, 0.5).shape == (0, 3)
    with pytest.raises(pyinfer.KernelArgumentError, match="iou_threshold"):
        kernels.non_max_suppression(boxes, scores, 1, 1.5)


def test_nms_plan_step_and_count_change(rng):
    """The plan runs NMS natively for the selected count it compiled; another count re-runs the
    call on the Python path (same results)."""
    sess = pyinfer.InferenceSession(_nms_model(), executor="plan")
    boxes = _random_boxes(rng, 1, 60, False)
    feeds = {"boxes": boxes, "scores": rng.random((1, 2, 60)).astype(np.float32), "max": np.array([20]),
             "iou": np.array([0.3], np.float32), "thr": np.array([0.1], np.float32)}
    want = kernels.non_max_suppression(boxes, feeds["scores"], 20, 0.3, 0.1)
    for _ in range(3):
        np.testing.assert_array_equal(sess.run(None, feeds)[0], want)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 1
    feeds["max"] = np.array([3])
    np.testing.assert_array_equal(sess.run(None, feeds)[0], kernels.non_max_suppression(boxes, feeds["scores"], 3,
                                                                                        0.3, 0.1))


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("ctm", ["half_pixel", "output_half_pixel"])
@pytest.mark.parametrize("sampling_ratio", [0, 2])
def test_roi_align_matches_numpy(rng, mode, ctm, sampling_ratio):
    x = rng.standard_normal((2, 3, 20, 25)).astype(np.float32)
    corner = rng.uniform(-5, 15, (9, 2))
    rois = np.concatenate([corner, corner + rng.uniform(0, 12, (9, 2))], 1).astype(np.float32)
    batch = rng.integers(0, 2, 9).astype(np.int64)
    node = helper.make_node("RoiAlign", ["x", "r", "b"], ["y"], mode=mode, output_height=4, output_width=3,
                            sampling_ratio=sampling_ratio, spatial_scale=0.8, coordinate_transformation_mode=ctm)
    op = RoiAlign(node, 16, OpContext())
    got = op.run(x, rois, batch)[0]  # float32: the kernel
    want = op.run(x.astype(np.float64), rois.astype(np.float64), batch)[0]  # float64: NumPy
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_roi_align_plan_step(rng):
    node = helper.make_node("RoiAlign", ["x", "rois", "batch"], ["y"], output_height=2, output_width=2,
                            sampling_ratio=2)
    model = _model(node, [("x", TensorProto.FLOAT, [1, 2, 8, 8]), ("rois", TensorProto.FLOAT, [3, 4]),
                          ("batch", TensorProto.INT64, [3])], [("y", TensorProto.FLOAT)], 16)
    sess = pyinfer.InferenceSession(model, executor="plan")
    feeds = {"x": rng.standard_normal((1, 2, 8, 8)).astype(np.float32),
             "rois": np.array([[0, 0, 4, 4], [1, 2, 7, 7], [3, 3, 3.5, 6]], np.float32), "batch": np.zeros(3, np.int64)}
    want = kernels.roi_align(feeds["x"], feeds["rois"], feeds["batch"], output_height=2, output_width=2,
                             sampling_ratio=2)
    for _ in range(3):
        np.testing.assert_array_equal(sess.run(None, feeds)[0], want)
    (plan,) = sess._executor.cached_plans()
    assert plan.native_steps == 1
    feeds["batch"] = np.array([0, 1, 0], np.int64)
    with pytest.raises(pyinfer.Error, match="batch index 1 is out of range"):
        sess.run(None, feeds)


def test_nms_many_boxes_batched_by_offsets(isa, rng):
    """Batched NMS as torchvision exports it: every class moved to its own region (many boxes kept),
    over 512 candidates: the kept boxes are binned by x1, with onnxruntime's selection."""
    n, classes = 3000, 30
    boxes = _random_boxes(rng, 1, n, False)
    boxes += (rng.integers(0, classes, n) * 200.0)[None, :, None].astype(np.float32)  # class offsets
    boxes[0, ::97] = [[5, 5, 5, 5]]  # no area: kept, never suppressing
    scores = rng.random((1, 1, n)).astype(np.float32)
    feeds = {"boxes": boxes, "scores": scores, "max": np.array([n]), "iou": np.array([0.5], np.float32),
             "thr": np.array([0.0], np.float32)}
    want = ort.InferenceSession(_nms_model().SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = kernels.non_max_suppression(boxes, scores, n, 0.5, 0.0)
    assert len(got) > 1000
    np.testing.assert_array_equal(got, want)
