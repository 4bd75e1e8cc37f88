"""torchvision's SSDlite320 and Faster R-CNN MobileNetV3-Large 320 FPN, random weights, exported
with their NonMaxSuppression and RoiAlign (support/detection_export.py), against PyTorch's
detections on the export image and onnxruntime's on a second image.

The second image keeps another number of boxes per class and of RoIs per FPN level than the
first, so the static plan compiled from the first hands the signature to the dynamic plan: both
plans are checked. Detections are compared as sets (support/detection_graphs.match_detections):
runtimes order detections whose scores differ by rounding either way. Tolerances: boxes are
decoded from regression deltas through exp() and anchor sizes of up to 320 pixels, so the
convolutions' rounding (summation order, Winograd) shows as up to ~0.004 pixels over ten
images (scores: ~1e-4); 0.01 pixels and 1e-3 leave room for other SIMD tiers.

The export (~40 s, needs torchvision) is cached outside the checkout; without torchvision and
without a cached export the tests skip, saying how to provide it.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import pyinfer
from support import detection_export
from support.detection_graphs import match_detections

ort = pytest.importorskip("onnxruntime")
BOX_ATOL, SCORE_ATOL = 0.01, 1e-3


@pytest.fixture(scope="module", params=detection_export.MODELS)
def detector(request):
    name = request.param
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed (the export needs torch and torchvision)")
    try:
        path, npz = detection_export.cached_export(name)
    except detection_export.TorchvisionUnavailable as e:
        pytest.skip(f"{name}: {e}")
    return name, path, npz, pyinfer.InferenceSession(path, num_threads=1)


def _check(got, want, what):
    assert len(got[0]) == len(want[0]), f"{what}: {len(got[0])} detections, want {len(want[0])}"
    assert got[2].dtype == np.int64 and got[0].shape == (len(want[0]), 4)
    missing = match_detections(got, want, BOX_ATOL, SCORE_ATOL)
    assert not missing, f"{what}: wanted detections {missing} have no match"


def test_matches_pytorch_then_onnxruntime_on_another_image(detector):
    name, path, npz, sess = detector
    feeds, want = detection_export.load(npz)
    torch_out = (want["boxes"], want["scores"], want["labels"])
    assert len(want["boxes"]) >= 50  # NonMaxSuppression had real work: many boxes kept
    for i in range(3):  # Python path (recording), compile + static plan, static plan
        _check(sess.run(None, feeds), torch_out, f"{name} run {i}")
    other = {"images": detection_export.image(seed=1)}
    want_other = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, other)
    for i in range(2):
        _check(sess.run(None, other), want_other, f"{name} second image, run {i}")
    _check(sess.run(None, feeds), torch_out, f"{name} first image again")
    assert sess._executor.dynamic_plans(), "the second image's shapes should have moved the signature to the dynamic plan"
