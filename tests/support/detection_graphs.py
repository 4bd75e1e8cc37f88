"""Detection post-processing graphs (what SSD / RetinaNet / Faster R-CNN exports end with), built
with onnx.helper: per-anchor class scores -> best class -> TopK candidates -> NonMaxSuppression ->
the kept boxes, scores and labels. Shared by tests/kernels/test_detection_plan.py and
tools/bench_detection.py.

    model = postprocess_model(anchors=3234, classes=91, candidates=1000)
    feeds = postprocess_feeds(rng, anchors=3234, classes=91)
    match_detections(got, want, box_atol, score_atol) -> the wanted detections got lacks
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def postprocess_model(anchors: int, classes: int, candidates: int, max_out: int = 100, iou: float = 0.5,
                      score: float = 0.05, opset: int = 13):
    """boxes (1, anchors, 4) and logits (1, classes, anchors) -> kept boxes (S, 4), scores (S,) and
    labels (S,) int64; S depends on the data."""
    consts = {
        "k": np.array([candidates], np.int64), "max_out": np.array([max_out], np.int64),
        "iou": np.array([iou], np.float32), "score_thr": np.array([score], np.float32),
        "ax0": np.array([0], np.int64), "ax1": np.array([1], np.int64), "col2": np.array([2], np.int64),
    }
    n = helper.make_node
    nodes = [
        n("Sigmoid", ["logits"], ["probs"]),
        n("ReduceMax", ["probs"], ["best"], axes=[1], keepdims=0),                # (1, anchors)
        n("ArgMax", ["probs"], ["label"], axis=1, keepdims=0),                    # (1, anchors)
        n("TopK", ["best", "k"], ["top_scores", "top_idx"], axis=1),             # (1, K)
        n("Squeeze", ["top_idx", "ax0"], ["top_idx1"]),                          # (K,)
        n("Gather", ["boxes", "top_idx1"], ["cand_boxes"], axis=1),              # (1, K, 4)
        n("Unsqueeze", ["top_scores", "ax1"], ["cand_scores"]),                  # (1, 1, K)
        n("NonMaxSuppression", ["cand_boxes", "cand_scores", "max_out", "iou", "score_thr"], ["selected"]),
        n("Gather", ["selected", "col2"], ["kept_col"], axis=1),                 # (S, 1)
        n("Squeeze", ["kept_col", "ax1"], ["kept"]),                             # (S,)
        n("Squeeze", ["cand_boxes", "ax0"], ["cand_boxes1"]),                    # (K, 4)
        n("Gather", ["cand_boxes1", "kept"], ["out_boxes"], axis=0),
        n("Squeeze", ["top_scores", "ax0"], ["top_scores1"]),
        n("Gather", ["top_scores1", "kept"], ["out_scores"], axis=0),
        n("Squeeze", ["label", "ax0"], ["label1"]),
        n("Gather", ["label1", "top_idx1"], ["cand_labels"], axis=0),
        n("Gather", ["cand_labels", "kept"], ["out_labels"], axis=0),
    ]
    graph = helper.make_graph(
        nodes, "detection_postprocess",
        [helper.make_tensor_value_info("boxes", F, [1, anchors, 4]),
         helper.make_tensor_value_info("logits", F, [1, classes, anchors])],
        [helper.make_tensor_value_info("out_boxes", F, None), helper.make_tensor_value_info("out_scores", F, None),
         helper.make_tensor_value_info("out_labels", I64, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def postprocess_feeds(rng, anchors: int, classes: int) -> dict:
    """Anchor boxes clustered like a detector's (many overlapping), logits mostly negative."""
    centers = rng.uniform(0, 320, (anchors, 2))
    sizes = rng.uniform(8, 96, (anchors, 2))
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], 1)[None].astype(np.float32)
    logits = (rng.standard_normal((1, classes, anchors)) * 2 - 4).astype(np.float32)
    return {"boxes": boxes, "logits": logits}


def match_detections(got: tuple, want: tuple, box_atol: float, score_atol: float) -> list:
    """Pair each wanted detection (boxes, scores, labels) with a got one of the same label, its
    score within score_atol and every box coordinate within box_atol, greedily by score (each got
    detection used once); returns the wanted indices left without a partner. Order is not
    compared: two runtimes rank detections whose scores differ by rounding either way."""
    gb, gs, gl = (np.asarray(a) for a in got)
    wb, ws, wl = (np.asarray(a) for a in want)
    used = np.zeros(len(gs), bool)
    unmatched = []
    for i in np.argsort(-ws, kind="stable"):
        ok = ~used & (gl == wl[i]) & (np.abs(gs - ws[i]) <= score_atol) & \
            (np.abs(gb - wb[i]).max(axis=1, initial=0) <= box_atol)
        j = np.flatnonzero(ok)
        if len(j):
            used[j[np.argmin(np.abs(gs[j] - ws[i]))]] = True
        else:
            unmatched.append(int(i))
    return unmatched
