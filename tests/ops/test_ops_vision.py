"""Vision ops (pyinfer/ops/vision.py): GridSample, AffineGrid, RoiAlign, NonMaxSuppression,
DeformConv, Shrink, Det.

Oracles: torch.nn.functional (grid_sample, affine_grid, conv2d), hand-computed cases and plain
loops written here; onnx.reference only as a secondary check.
"""
import numpy as np
import pytest

import pyinfer
from support.one_node import reference, run

torch = pytest.importorskip("torch")
F = torch.nn.functional
T = torch.from_numpy


# --- GridSample ---------------------------------------------------------------------------

TORCH_MODE = {"linear": "bilinear", "nearest": "nearest", "cubic": "bicubic"}


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [0, 1])
def test_grid_sample_2d_matches_torch(rng, mode, padding, align):
    x = rng.standard_normal((2, 3, 5, 6))
    # bicubic with border/reflection: onnxruntime (and the spec's reference) fold an outside
    # location before taking taps while torch folds each tap, so compare inside points there.
    limit = 0.95 if (mode == "cubic" and padding != "zeros") else 1.4
    grid = rng.uniform(-limit, limit, size=(2, 4, 7, 2))
    y = run("GridSample", [x, grid], opset=22, mode=mode, padding_mode=padding, align_corners=align)
    want = F.grid_sample(T(x), T(grid), mode=TORCH_MODE[mode], padding_mode=padding, align_corners=bool(align))
    assert y.dtype == np.float64 and y.shape == (2, 3, 4, 7)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_grid_sample_3d_matches_torch(rng, mode, padding):
    x = rng.standard_normal((1, 2, 3, 4, 5)).astype(np.float32)
    grid = rng.uniform(-1.3, 1.3, size=(1, 2, 3, 4, 3)).astype(np.float32)
    y = run("GridSample", [x, grid], opset=20, mode=mode, padding_mode=padding)
    want = F.grid_sample(T(x), T(grid), mode=TORCH_MODE[mode], padding_mode=padding, align_corners=False)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-5, atol=1e-5)


def test_grid_sample_opset16_names_and_1d():
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 3, 4)
    grid = np.array([[[[-1, -1], [1, 1], [0, 0]]]], np.float32)  # corners and centre
    y = run("GridSample", [x, grid], opset=16, mode="bilinear", align_corners=1)
    np.testing.assert_allclose(y, [[[[0, 11, 5.5]]]])
    with pytest.raises(pyinfer.Error):
        run("GridSample", [x, grid], opset=16, mode="linear")  # not an opset-16 name
    # 1 spatial dimension (opset 20+): linear interpolation on a line
    line = np.array([[[0.0, 10.0, 20.0]]])
    g = np.array([[[-1.0], [0.25], [1.0]]])  # align_corners=1: positions 0, 1.25, 2
    np.testing.assert_allclose(run("GridSample", [line, g], opset=20, align_corners=1), [[[0, 12.5, 20]]])


def test_grid_sample_reflection_far_outside_and_int_nearest():
    # spec example: x = -3.5 reflects at -1 to 1.5 then at 1 to 0.5 (normalized units)
    line = np.arange(5, dtype=np.float64)[None, None]  # values = positions, align_corners=1
    g = np.array([[[-3.5]]])
    y = run("GridSample", [line, g], opset=20, align_corners=1, padding_mode="reflection")
    np.testing.assert_allclose(y, [[[(0.5 + 1) / 2 * 4]]])
    xi = np.arange(6, dtype=np.int32).reshape(1, 1, 2, 3)
    yi = run("GridSample", [xi, np.array([[[[1.0, 1.0], [-1.0, -1.0]]]], np.float32)], opset=20,
             mode="nearest", align_corners=1)
    assert yi.dtype == np.int32
    np.testing.assert_array_equal(yi, [[[[5, 0]]]])


def test_grid_sample_checks_grid_shape(rng):
    x = rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    with pytest.raises(pyinfer.Error, match="grid"):
        run("GridSample", [x, np.zeros((1, 2, 2, 3), np.float32)], opset=20)


# --- AffineGrid ---------------------------------------------------------------------------

@pytest.mark.parametrize("align", [0, 1])
def test_affine_grid_2d_3d_match_torch(rng, align):
    theta2 = rng.standard_normal((2, 2, 3)).astype(np.float32)
    g2 = run("AffineGrid", [theta2, np.array([2, 3, 4, 5], np.int64)], opset=20, align_corners=align)
    want = F.affine_grid(T(theta2), [2, 3, 4, 5], align_corners=bool(align)).numpy()
    np.testing.assert_allclose(g2, want, rtol=1e-5, atol=1e-6)
    theta3 = rng.standard_normal((1, 3, 4))
    g3 = run("AffineGrid", [theta3, np.array([1, 1, 3, 2, 4], np.int64)], opset=20, align_corners=align)
    assert g3.dtype == np.float64
    want = F.affine_grid(T(theta3), [1, 1, 3, 2, 4], align_corners=bool(align)).numpy()
    np.testing.assert_allclose(g3, want, rtol=1e-10, atol=1e-12)


def test_affine_grid_rejects_mismatched_theta():
    with pytest.raises(pyinfer.Error, match="theta"):
        run("AffineGrid", [np.zeros((1, 3, 4), np.float32), np.array([1, 1, 4, 4], np.int64)], opset=20)


# --- RoiAlign -----------------------------------------------------------------------------

def ramp_image():
    yy, xx = np.mgrid[0:8, 0:8].astype(np.float32)
    return np.stack([xx, 10 * yy, 3 * xx - yy + 1])[None]  # (1, 3, 8, 8), each linear in x, y


@pytest.mark.parametrize("ctm, shift", [("half_pixel", 0.5), ("output_half_pixel", 0.0)])
def test_roi_align_avg_on_linear_image_is_bin_centre(ctm, shift):
    # bilinear sampling reproduces a linear image exactly; symmetric samples average to the bin centre
    x = ramp_image()
    rois = np.array([[1, 1, 5, 5], [2, 1, 6, 3]], np.float32)  # samples stay inside (no clamping)
    y = run("RoiAlign", [x, rois, np.array([0, 0], np.int64)], opset=16, output_height=2, output_width=2,
            sampling_ratio=2, coordinate_transformation_mode=ctm)
    for r, (x1, y1, x2, y2) in enumerate(rois):
        xc = x1 - shift + (np.array([0.5, 1.5]) * (x2 - x1) / 2)
        yc = y1 - shift + (np.array([0.5, 1.5]) * (y2 - y1) / 2)
        Y, X = np.meshgrid(yc, xc, indexing="ij")
        np.testing.assert_allclose(y[r, 0], X, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(y[r, 1], 10 * Y, rtol=1e-6, atol=1e-5)
        np.testing.assert_allclose(y[r, 2], 3 * X - Y + 1, rtol=1e-6, atol=1e-5)


def test_roi_align_max_mode_takes_largest_weighted_corner():
    x = np.full((1, 1, 6, 6), 2.0, np.float32)
    rois = np.array([[0, 0, 4, 4]], np.float32)
    # half_pixel: samples at integer pixels -> a corner weight of 1 -> 2.0
    y = run("RoiAlign", [x, rois, np.array([0])], opset=16, mode="max", output_height=2, output_width=2,
            sampling_ratio=2)
    np.testing.assert_allclose(y, np.full((1, 1, 2, 2), 2.0))
    # output_half_pixel: samples at pixel centres +0.5 -> four weights of 0.25 -> 0.5
    y = run("RoiAlign", [x, rois, np.array([0])], opset=10, mode="max", output_height=2, output_width=2,
            sampling_ratio=2)
    np.testing.assert_allclose(y, np.full((1, 1, 2, 2), 0.5))


def test_roi_align_agrees_with_reference_and_checks_indices(rng):
    x = rng.standard_normal((2, 2, 7, 9)).astype(np.float32)
    rois = np.array([[0.3, 1.2, 6.5, 5.1], [-2, -1, 3, 10], [4, 4, 4.5, 4.2]], np.float32)
    bi = np.array([1, 0, 1], np.int64)
    for mode in ("avg", "max"):
        args = dict(opset=22, mode=mode, output_height=3, output_width=2, spatial_scale=0.9)
        np.testing.assert_allclose(run("RoiAlign", [x, rois, bi], **args),
                                   reference("RoiAlign", [x, rois, bi], **args), rtol=1e-5, atol=1e-6)
    with pytest.raises(pyinfer.Error, match="batch_indices"):
        run("RoiAlign", [x, rois, np.array([0, 2, 0], np.int64)], opset=22)


# --- NonMaxSuppression --------------------------------------------------------------------

BOXES = np.array([[[0, 0, 1, 1],         # A .90
                   [0, 0.1, 1, 1.1],     # B .80, IoU(A) = 0.9 / 1.1
                   [0, 10, 1, 11],       # C .70, far away
                   [0, 0.5, 1, 1.5]]],   # D .95, IoU(A) = 1/3, IoU(B) = 0.6 / 1.4
                 np.float32)
SCORES = np.array([[[0.9, 0.8, 0.7, 0.95]]], np.float32)


def test_nms_hand_computed():
    sel = run("NonMaxSuppression", [BOXES, SCORES, np.array([10]), np.array([0.5], np.float32)], opset=11)
    np.testing.assert_array_equal(sel, [[0, 0, 3], [0, 0, 0], [0, 0, 2]])
    sel = run("NonMaxSuppression", [BOXES, SCORES, np.array([2]), np.array([0.5], np.float32)], opset=11)
    np.testing.assert_array_equal(sel, [[0, 0, 3], [0, 0, 0]])
    sel = run("NonMaxSuppression", [BOXES, SCORES, np.array([10]), np.array([0.5], np.float32),
                                    np.array([0.75], np.float32)], opset=11)
    np.testing.assert_array_equal(sel, [[0, 0, 3], [0, 0, 0]])
    sel = run("NonMaxSuppression", [BOXES, SCORES, np.array([10]), np.array([0.9], np.float32)], opset=11)
    np.testing.assert_array_equal(sel, [[0, 0, 3], [0, 0, 0], [0, 0, 1], [0, 0, 2]])
    sel = run("NonMaxSuppression", [BOXES, SCORES], opset=10)  # no max_output -> nothing
    assert sel.shape == (0, 3) and sel.dtype == np.int64


def test_nms_center_point_boxes_and_batches():
    b = BOXES[0]
    centre = np.stack([(b[:, 1] + b[:, 3]) / 2, (b[:, 0] + b[:, 2]) / 2, b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]], 1)
    boxes = np.stack([centre, centre])
    scores = np.concatenate([SCORES, SCORES[:, :, ::-1].copy()])
    scores = np.concatenate([scores, scores], axis=1)  # 2 batches x 2 classes
    sel = run("NonMaxSuppression", [boxes.astype(np.float32), scores, np.array([1]), np.array([0.5], np.float32)],
              opset=11, center_point_box=1)
    np.testing.assert_array_equal(sel, [[0, 0, 3], [0, 1, 3], [1, 0, 0], [1, 1, 0]])


def test_nms_rejects_bad_shapes():
    with pytest.raises(pyinfer.Error, match="scores"):
        run("NonMaxSuppression", [BOXES, SCORES[:, :, :3], np.array([1])], opset=11)


# --- DeformConv ---------------------------------------------------------------------------

def conv_attrs(**kw):
    return dict(strides=[2, 1], pads=[1, 0, 1, 2], dilations=[1, 2], **kw)


def test_deform_conv_zero_offset_is_conv(rng):
    x = rng.standard_normal((2, 4, 7, 8)).astype(np.float32)
    w = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    want = torch.nn.functional.conv2d(F.pad(T(x), (0, 2, 1, 1)), T(w), T(b), stride=(2, 1), dilation=(1, 2), groups=2)
    oh, ow = want.shape[2:]
    offset = np.zeros((2, 2 * 3 * 2 * 2, oh, ow), np.float32)  # offset_group 2
    mask = np.full((2, 2 * 3 * 2, oh, ow), 0.5, np.float32)
    y = run("DeformConv", [x, w, offset, b], opset=19, group=2, offset_group=2, **conv_attrs())
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-4, atol=1e-4)
    y = run("DeformConv", [x, w, offset, None, mask], opset=22, group=2, offset_group=2, **conv_attrs())
    np.testing.assert_allclose(y, 0.5 * (want.numpy() - b[None, :, None, None]), rtol=1e-4, atol=1e-4)


def test_deform_conv_integer_offset_shifts_input(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    offset = np.zeros((1, 2 * 2 * 2, 5, 5), np.float32)
    offset[:, 0::2] = 1.0  # every tap moves one row down
    y = run("DeformConv", [x, w, offset], opset=22)
    shifted = np.concatenate([x[:, :, 1:], np.zeros((1, 2, 1, 6), np.float32)], axis=2)
    np.testing.assert_allclose(y, F.conv2d(T(shifted), T(w)).numpy(), rtol=1e-5, atol=1e-5)


def test_deform_conv_fractional_offsets_plain_loop(rng):
    x = rng.standard_normal((1, 2, 4, 5))
    w = rng.standard_normal((2, 2, 2, 2))
    offset = rng.uniform(-1.5, 1.5, size=(1, 8, 3, 4))
    y = run("DeformConv", [x, w, offset], opset=22)

    def pixel(c, r, q):
        return x[0, c, r, q] if 0 <= r < 4 and 0 <= q < 5 else 0.0

    def bilinear(c, py, px):
        r0, q0 = int(np.floor(py)), int(np.floor(px))
        a, b = py - r0, px - q0
        return ((1 - a) * (1 - b) * pixel(c, r0, q0) + (1 - a) * b * pixel(c, r0, q0 + 1)
                + a * (1 - b) * pixel(c, r0 + 1, q0) + a * b * pixel(c, r0 + 1, q0 + 1))

    want = np.zeros((1, 2, 3, 4))
    for o in range(2):
        for i in range(3):
            for j in range(4):
                for c in range(2):
                    for ki in range(2):
                        for kj in range(2):
                            tap = ki * 2 + kj
                            py = i + ki + offset[0, 2 * tap, i, j]
                            px = j + kj + offset[0, 2 * tap + 1, i, j]
                            want[0, o, i, j] += w[o, c, ki, kj] * bilinear(c, py, px)
    np.testing.assert_allclose(y, want, rtol=1e-10, atol=1e-10)


def test_deform_conv_checks_offset_shape(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 2, 2)).astype(np.float32)
    with pytest.raises(pyinfer.Error, match="offset"):
        run("DeformConv", [x, w, np.zeros((1, 8, 4, 4), np.float32)], opset=22)


# --- Shrink / Det -------------------------------------------------------------------------

def test_shrink_float_and_int():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.7, 2.0], np.float32)
    np.testing.assert_allclose(run("Shrink", [x], opset=9, lambd=0.6, bias=0.5), [-2.5, -0.5, 0, 0, 0.2, 1.5])
    xi = np.array([-5, -1, 0, 1, 5], np.int8)
    y = run("Shrink", [xi], opset=9, lambd=1.5, bias=1.0)
    assert y.dtype == np.int8
    np.testing.assert_array_equal(y, [-4, 0, 0, 0, 4])


def test_det_hand_computed():
    a = np.array([[[1.0, 2.0], [3.0, 4.0]], [[2.0, 0.0], [0.0, 5.0]]], np.float32)
    y = run("Det", [a], opset=22)
    assert y.dtype == np.float32 and y.shape == (2,)
    np.testing.assert_allclose(y, [1 * 4 - 2 * 3, 10.0], rtol=1e-6)
    m = np.array([[2.0, -1.0, 0.0], [1.0, 3.0, 2.0], [0.0, 1.0, 4.0]])
    want = 2 * (3 * 4 - 2 * 1) - (-1) * (1 * 4 - 2 * 0) + 0
    np.testing.assert_allclose(run("Det", [m], opset=11), want, rtol=1e-12)
    assert run("Det", [m.astype(np.float16)], opset=11).dtype == np.float16
    with pytest.raises(pyinfer.Error, match="M, M|inner-most 2 dimensions"):
        run("Det", [np.zeros((2, 3), np.float32)], opset=11)
