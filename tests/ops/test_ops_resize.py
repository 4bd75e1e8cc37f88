"""Resize / Upsample (pyinfer/ops/resize.py) against PyTorch, hand-computed cases and onnx.reference."""
import time

import numpy as np
import pytest
import torch

import pyinfer
from support.one_node import assert_same, reference, run

f32 = np.float32
EMPTY = np.array([], f32)  # roi not given; scales not given is None (an empty tensor fed with sizes is refused,
# by onnx's rules and onnxruntime, as giving both)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(f32)


# --- independent oracles: PyTorch ---------------------------------------------------------------

@pytest.mark.parametrize("size", [(7, 9), (3, 4), (10, 5)])
@pytest.mark.parametrize("torch_mode, onnx_mode", [("bilinear", "linear"), ("bicubic", "cubic")])
def test_half_pixel_matches_torch(size, torch_mode, onnx_mode):
    # torch's align_corners=False is half_pixel (pytorch_half_pixel only differs for size 1);
    # its bicubic uses A = -0.75, ONNX's default.
    x = rand(2, 3, 5, 6)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode=torch_mode,
                                           align_corners=False).numpy()
    out = run("Resize", [x, None, None, np.array([2, 3, *size], np.int64)], mode=onnx_mode,
              coordinate_transformation_mode="pytorch_half_pixel")
    assert_same(out, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("torch_mode, onnx_mode", [("bilinear", "linear"), ("bicubic", "cubic")])
def test_align_corners_matches_torch(torch_mode, onnx_mode):
    x = rand(1, 2, 4, 5)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=(7, 3), mode=torch_mode,
                                           align_corners=True).numpy()
    out = run("Resize", [x, None, None, np.array([1, 2, 7, 3], np.int64)], mode=onnx_mode,
              coordinate_transformation_mode="align_corners")
    assert_same(out, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size", [(7, 5), (10, 8), (3, 15)])
@pytest.mark.parametrize("torch_mode, onnx_mode", [("bilinear", "linear"), ("bicubic", "cubic")])
def test_antialias_matches_torch_with_exclude_outside(size, torch_mode, onnx_mode):
    # torch's antialiased kernels drop taps outside the image (ONNX: exclude_outside=1; ONNX's
    # default clamps them to the edge instead) and its antialiased bicubic uses A = -0.5.
    x = rand(1, 2, 20, 16)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=size, mode=torch_mode,
                                           align_corners=False, antialias=True).numpy()
    out = run("Resize", [x, None, None, np.array([1, 2, *size], np.int64)], mode=onnx_mode, antialias=1,
              exclude_outside=1, cubic_coeff_a=-0.5)
    assert_same(out, want, rtol=1e-4, atol=1e-5)


def test_nearest_asymmetric_floor_matches_torch_nearest():
    x = rand(1, 1, 5, 7)
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=(8, 4), mode="nearest").numpy()
    out = run("Resize", [x, None, None, np.array([1, 1, 8, 4], np.int64)],
              coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    assert_same(out, want)


# --- hand-computed cases ------------------------------------------------------------------------

def test_linear_half_pixel_by_hand():
    x = np.array([[[[1, 2], [3, 4]]]], f32)
    out = run("Resize", [x, EMPTY, np.array([1, 1, 2, 2], f32)], mode="linear")
    # half_pixel: out j -> (j + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (edges clamp)
    row = lambda a, b: [a, a + 0.25 * (b - a), a + 0.75 * (b - a), b]  # noqa: E731
    r0, r1 = row(1, 2), row(3, 4)
    want = np.array([row(r0[k], r1[k]) for k in range(4)], f32).T[None, None]
    assert_same(out, want, rtol=1e-6)


@pytest.mark.parametrize("nearest_mode, want", [
    ("round_prefer_floor", [0, 0, 1, 1, 2]), ("round_prefer_ceil", [0, 1, 1, 2, 2]),
    ("floor", [0, 0, 1, 1, 2]), ("ceil", [0, 1, 1, 2, 2]),
])
def test_nearest_modes_by_hand(nearest_mode, want):
    # asymmetric, scale 2: x_original = j / 2 = 0, 0.5, 1, 1.5, 2 -- every other one a tie
    x = np.array([10, 11, 12, 13], np.int32)
    out = run("Resize", [x, EMPTY, np.array([2.0], f32)], coordinate_transformation_mode="asymmetric",
              nearest_mode=nearest_mode)
    assert out.dtype == np.int32 and out.shape == (8,)
    assert (out[:5] - 10).tolist() == want


def test_half_pixel_symmetric_by_hand():
    # 7 -> 3.5 (3 outputs): offset = 3.5 * (1 - 3/3.5) = 0.5, x = 0.5 + (y + 0.5) / 0.5 - 0.5 = 1, 3, 5.
    # (onnx.reference returns ~0 for the first one: its tap window and its weights disagree when
    # x rounds to 1.0000000000000002.)
    x = np.arange(7, dtype=f32)
    for mode in ("nearest", "linear", "cubic"):
        out = run("Resize", [x, EMPTY, np.array([0.5], f32)], mode=mode,
                  coordinate_transformation_mode="half_pixel_symmetric")
        assert_same(out, np.array([1, 3, 5], f32), atol=1e-6)


def test_tf_crop_and_resize_extrapolation_by_hand():
    x = np.arange(1, 5, dtype=f32).reshape(1, 4)
    roi = np.array([0, 0.5, 1, 1.5], f32)  # axis 1 from 0.5 to 1.5 of (len-1)=3 -> 1.5 .. 4.5
    out = run("Resize", [x, roi, None, np.array([1, 3], np.int64)], mode="linear",
              coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=-1.0)
    # coordinates 1.5, 3.0, 4.5 -> 2.5, 4, outside
    assert_same(out, np.array([[2.5, 4.0, -1.0]], f32))


def test_upsample_spec_example():
    x = np.array([[[[1, 2], [3, 4]]]], f32)
    want = np.array([[[[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4], [3, 3, 3, 4, 4, 4]]]], f32)
    assert_same(run("Upsample", [x, np.array([1, 1, 2, 3], f32)], opset=9), want)
    assert_same(run("Upsample", [x], opset=7, scales=[1.0, 1.0, 2.0, 3.0]), want)
    with pytest.raises(pyinfer.Error):
        run("Upsample", [x, np.array([1, 1, 0.5, 1], f32)], opset=9)


def test_resize10_nearest_downsample_uses_ceil():
    # The opset-10 backend case: asymmetric, ceil when downsampling (as Upsample/onnxruntime do).
    x = np.array([[[[1, 2, 3, 4], [5, 6, 7, 8]]]], f32)
    assert_same(run("Resize", [x, np.array([1, 1, 0.6, 0.6], f32)], opset=10), np.array([[[[1, 3]]]], f32))


# --- onnx.reference as an oracle over the attribute space ---------------------------------------

CASES = []
for mode in ("nearest", "linear", "cubic"):
    for coord in ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric"):
        CASES.append((mode, coord, dict()))
CASES += [
    ("cubic", "half_pixel", dict(cubic_coeff_a=-0.5, exclude_outside=1)),
    ("nearest", "half_pixel", dict(nearest_mode="ceil")),
    ("nearest", "align_corners", dict(nearest_mode="round_prefer_ceil")),
    ("linear", "half_pixel", dict(antialias=1)),
    ("cubic", "half_pixel", dict(antialias=1)),
    ("cubic", "asymmetric", dict(antialias=1, exclude_outside=1)),
]


@pytest.mark.parametrize("mode, coord, extra", CASES)
@pytest.mark.parametrize("scales", [[1, 1, 0.6, 1.7], [1, 1, 2.0, 0.45], [1, 1, 0.34, 3.0]])
def test_scales_vs_reference(mode, coord, extra, scales):
    x = rand(1, 2, 5, 7, seed=1)
    args = [x, EMPTY, np.array(scales, f32)]
    attrs = dict(mode=mode, coordinate_transformation_mode=coord, **extra)
    assert_same(run("Resize", args, **attrs), reference("Resize", args, **attrs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("policy", ["stretch", "not_larger", "not_smaller"])
@pytest.mark.parametrize("axes", [None, [2, 3], [3, 2]])
def test_sizes_axes_policy_vs_reference(policy, axes):
    x = rand(1, 2, 6, 4, seed=2)
    sizes = np.array([3, 9] if axes else [1, 2, 3, 9], np.int64)
    attrs = dict(mode="linear", keep_aspect_ratio_policy=policy)
    if axes:
        attrs["axes"] = axes
    args = [x, None, None, sizes]
    assert_same(run("Resize", args, **attrs), reference("Resize", args, **attrs), rtol=1e-4, atol=1e-5)
    if axes:  # negative axes (which onnx.reference cannot take) mean the same
        neg = dict(attrs, axes=[a - 4 for a in axes])
        assert_same(run("Resize", args, **neg), run("Resize", args, **attrs))


def test_uint8_linear_rounds_and_saturates_like_reference():
    x = np.random.default_rng(4).integers(0, 256, (1, 3, 6, 6)).astype(np.uint8)
    args = [x, EMPTY, np.array([1, 1, 1.5, 0.75], f32)]
    assert_same(run("Resize", args, mode="cubic"), reference("Resize", args, mode="cubic"))


def test_nearest_keeps_any_dtype():
    x = np.array([["a", "b"], ["c", "d"]], dtype=object)
    out = run("Resize", [x, EMPTY, np.array([1, 2], f32)])
    assert out.tolist() == [["a", "a", "b", "b"], ["c", "c", "d", "d"]]


# --- errors and speed ---------------------------------------------------------------------------

def test_errors():
    x = rand(1, 1, 4, 4)
    with pytest.raises(pyinfer.Error):  # both scales and sizes
        run("Resize", [x, EMPTY, np.ones(4, f32), np.array([1, 1, 4, 4], np.int64)])
    with pytest.raises(pyinfer.Error):  # wrong number of scales
        run("Resize", [x, EMPTY, np.ones(3, f32)])
    with pytest.raises(pyinfer.Error):  # linear on strings
        run("Resize", [np.array(["a", "b"], dtype=object), EMPTY, np.array([2], f32)], mode="linear")
    with pytest.raises(pyinfer.Error):  # half_pixel_symmetric arrived in opset 19
        run("Resize", [x, EMPTY, np.ones(4, f32)], opset=18, coordinate_transformation_mode="half_pixel_symmetric")


def test_224_feature_map_is_fast():
    x = rand(1, 16, 224, 224)
    start = time.perf_counter()
    out = run("Resize", [x, EMPTY, np.array([1, 1, 2, 2], f32)], mode="linear")
    elapsed = time.perf_counter() - start
    assert out.shape == (1, 16, 448, 448)
    assert elapsed < 3.0, f"Resize of a 16x224x224 map took {elapsed:.2f}s"


def test_opset11_tf_half_pixel_for_nn_by_hand():
    # x_original = (y + 0.5) / 2 = 0.25, 0.75, 1.25, ... -> nearest (round_prefer_floor) 0, 1, 1, 2, ...
    x = np.array([5, 6, 7], np.int64)
    out = run("Resize", [x, EMPTY, np.array([2.0], f32)], opset=11,
              coordinate_transformation_mode="tf_half_pixel_for_nn")
    assert_same(out, np.array([5, 6, 6, 7, 7, 7], np.int64))


def test_opset13_roi_and_scales_may_be_omitted():
    x = rand(1, 1, 3, 3)
    with_sizes = run("Resize", [x, None, None, np.array([1, 1, 6, 6], np.int64)], opset=13, mode="linear")
    with_scales = run("Resize", [x, None, np.array([1, 1, 2, 2], f32)], opset=13, mode="linear")
    assert_same(with_sizes, with_scales)
