"""Shape operators (pyinfer/ops/shape.py) against NumPy written here, spec examples and onnx.reference."""
import numpy as np
import pytest
import torch

import pyinfer
from support.one_node import assert_native, assert_same, reference, run

i64 = np.int64


def arange(*shape, dtype=np.float32):
    return np.arange(int(np.prod(shape))).astype(dtype).reshape(shape)


# --- Reshape ------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, want", [
    ([0, -1], (2, 12)), ([-1, 4], (6, 4)), ([2, 0, 4], (2, 3, 4)), ([4, 0, 2], (4, 3, 2)), ([24], (24,)),
])
def test_reshape_zero_copies_and_minus_one_infers(shape, want):
    x = arange(2, 3, 4)
    assert_same(run("Reshape", [x, np.array(shape, i64)]), x.reshape(want))


def test_reshape_allowzero_keeps_zero_dims():
    x = np.zeros((0, 3), np.float32)
    out = run("Reshape", [x, np.array([3, 0], i64)], opset=14, allowzero=1)
    assert out.shape == (3, 0)


def test_reshape_attribute_form_opset1():
    x = arange(2, 6, dtype=np.float32)  # Reshape-1 takes float types only (onnx's type rules, checked at load)
    assert_same(run("Reshape", [x], opset=1, shape=[3, -1]), x.reshape(3, 4))


@pytest.mark.parametrize("shape", [[-1, -1], [5, -1], [7], [1, 2, 3, 0, 1]])
def test_reshape_errors(shape):
    with pytest.raises(pyinfer.Error):
        run("Reshape", [arange(2, 3, 4), np.array(shape, i64)])


def test_reshape_strings_and_bool():
    s = np.array([["a", "b"], ["c", "d"]], dtype=object)
    assert_same(run("Reshape", [s, np.array([4], i64)]), s.reshape(4))
    b = np.array([True, False, True, False])
    assert_same(run("Reshape", [b, np.array([2, 2], i64)]), b.reshape(2, 2))


# --- Flatten / Transpose / Squeeze / Unsqueeze --------------------------------------------------

@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1, -3])
def test_flatten(axis):
    x = arange(2, 3, 4)
    a = axis + 3 if axis < 0 else axis
    want = x.reshape(int(np.prod(x.shape[:a])), int(np.prod(x.shape[a:])))
    assert_same(run("Flatten", [x], axis=axis), want)


def test_transpose_default_and_perm():
    x = arange(2, 3, 4, dtype=np.float16)
    assert_same(run("Transpose", [x]), x.transpose(2, 1, 0))
    assert_same(run("Transpose", [x], perm=[1, 2, 0]), x.transpose(1, 2, 0))


@pytest.mark.parametrize("perm", [[0, 0, 1], [0, 1], [0, 1, 3]])
def test_transpose_bad_perm(perm):
    with pytest.raises(pyinfer.Error):
        run("Transpose", [arange(2, 3, 4)], perm=perm)


def test_squeeze_unsqueeze_both_forms():
    x = arange(1, 3, 1, 2)
    assert_same(run("Squeeze", [x]), x.reshape(3, 2))
    assert_same(run("Squeeze", [x], opset=11, axes=[-2]), x.reshape(1, 3, 2))
    assert_same(run("Squeeze", [x, np.array([0, 2], i64)], opset=13), x.reshape(3, 2))
    y = arange(3, 2)
    assert_same(run("Unsqueeze", [y], opset=11, axes=[0, -1]), y.reshape(1, 3, 2, 1))
    assert_same(run("Unsqueeze", [y, np.array([3, 1], i64)], opset=13), y.reshape(3, 1, 2, 1))


@pytest.mark.parametrize("op, axes", [("Squeeze", [1]), ("Squeeze", [4]), ("Unsqueeze", [0, 0]), ("Unsqueeze", [6])])
def test_squeeze_unsqueeze_errors(op, axes):
    with pytest.raises(pyinfer.Error):
        run(op, [arange(1, 3, 1, 2), np.array(axes, i64)], opset=13)


# --- Concat / Split -----------------------------------------------------------------------------

def test_concat_negative_axis_and_bool():
    a, b = arange(2, 3), arange(2, 1) + 100
    assert_same(run("Concat", [a, b], axis=-1), np.concatenate([a, b], axis=1))
    p, q = np.array([True, False]), np.array([False])
    assert_same(run("Concat", [p, q], axis=0), np.array([True, False, False]))


def test_concat_shape_mismatch():
    with pytest.raises(pyinfer.Error):
        run("Concat", [arange(2, 3), arange(3, 3)], axis=1)


def test_split_forms():
    x = arange(7, 2)
    outs = run("Split", [x], n_outputs=2, opset=11, axis=0, split=[3, 4])
    assert_same(outs[0], x[:3])
    assert_same(outs[1], x[3:])
    outs = run("Split", [x, np.array([5, 2], i64)], n_outputs=2, opset=13)
    assert_same(outs[0], x[:5])
    assert_same(outs[1], x[5:])
    # opset 18 num_outputs: ceil-sized chunks, the last smaller (7 -> 3, 3, 1)
    outs = run("Split", [x], n_outputs=3, opset=18, num_outputs=3)
    assert [o.shape[0] for o in outs] == [3, 3, 1]
    assert_same(np.concatenate(outs), x)
    outs = run("Split", [arange(2, 6)], n_outputs=3, opset=13, axis=-1)
    assert_same(outs[2], arange(2, 6)[:, 4:])


@pytest.mark.parametrize("args", [dict(opset=13), dict(opset=11, split=[3, 3])])
def test_split_errors(args):
    with pytest.raises(pyinfer.Error):
        run("Split", [arange(7)], n_outputs=2, **args)


# --- Expand / Tile / Shape / Size ---------------------------------------------------------------

def test_expand_bidirectional():
    x = arange(3, 1, dtype=np.int32)
    out = run("Expand", [x, np.array([2, 1, 6], i64)])
    assert_same(out, np.tile(x, (2, 1, 6)))
    with pytest.raises(pyinfer.Error):
        run("Expand", [x, np.array([4, 6], i64)])


def test_tile():
    x = np.array([["a", "b"]], dtype=object)
    assert_same(run("Tile", [x, np.array([2, 3], i64)]), np.tile(x, (2, 3)))
    with pytest.raises(pyinfer.Error):
        run("Tile", [x, np.array([2], i64)])


@pytest.mark.parametrize("start, end", [(None, None), (1, None), (-1, None), (0, -1), (-10, 10), (2, 1)])
def test_shape_start_end(start, end):
    x = np.zeros((2, 3, 4), np.float32)
    attrs = {k: v for k, v in dict(start=start, end=end).items() if v is not None}
    s = 0 if start is None else start
    e = 3 if end is None else end
    assert_same(run("Shape", [x], **attrs), np.array([2, 3, 4], i64)[slice(s, e)])


def test_size_is_int64_scalar():
    assert_same(run("Size", [np.zeros((2, 5), np.uint8)]), np.array(10, i64))


# --- Identity / Dropout -------------------------------------------------------------------------

def test_identity_and_dropout_inference():
    x = arange(2, 3, dtype=np.float64)
    assert_same(run("Identity", [x]), x)
    out, mask = run("Dropout", [x, np.array(0.3, np.float32)], n_outputs=2)
    assert_same(out, x)
    assert_same(mask, np.ones((2, 3), bool))
    out, mask = run("Dropout", [x, np.array(0.0, np.float32), np.array(True)], n_outputs=2)
    assert_same(out, x)


def test_dropout_training_is_an_error():
    with pytest.raises(pyinfer.Error, match="training_mode"):
        run("Dropout", [arange(2, 3), np.array(0.5, np.float32), np.array(True)], n_outputs=2)


# --- Pad ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes_match_numpy(mode):
    x = arange(3, 4) + 1
    pads = np.array([1, 2, 2, 3], i64)  # begin0, begin1, end0, end1
    out = run("Pad", [x, pads, np.array(7.5, np.float32)] if mode == "constant" else [x, pads], mode=mode)
    kw = dict(constant_values=7.5) if mode == "constant" else {}
    assert_same(out, np.pad(x, [(1, 2), (2, 3)], mode=mode, **kw))


def test_pad_negative_crops():
    x = arange(4, 5)
    out = run("Pad", [x, np.array([-1, 2, 0, -3], i64)])
    want = np.pad(x[1:, :2], [(0, 0), (2, 0)])
    assert_same(out, want)


def test_pad_axes_input_and_attribute_form():
    x = arange(2, 3, 4, dtype=np.int32)
    out = run("Pad", [x, np.array([1, 1], i64), None, np.array([-1], i64)], opset=18, mode="edge")
    assert_same(out, np.pad(x, [(0, 0), (0, 0), (1, 1)], mode="edge"))
    xf = x.astype(np.float32)  # Pad-2 takes float types only (onnx's type rules, checked at load)
    out = run("Pad", [xf], opset=2, pads=[0, 1, 0, 0, 0, 2], value=3.0)
    assert_same(out, np.pad(xf, [(0, 0), (1, 0), (0, 2)], constant_values=3))


def test_pad_strings_default_empty():
    x = np.array(["a", "b"], dtype=object)
    assert run("Pad", [x, np.array([1, 1], i64)]).tolist() == ["", "a", "b", ""]


def test_pad_bad_length():
    with pytest.raises(pyinfer.Error):
        run("Pad", [arange(2, 3), np.array([1, 1, 1], i64)])


# --- CenterCropPad / DepthToSpace / SpaceToDepth / Col2Im ---------------------------------------

@pytest.mark.parametrize("shape, axes", [([3, 5], None), ([6, 2], None), ([5], [-1]), ([2, 7], [0, 2])])
def test_center_crop_pad_vs_reference(shape, axes):
    x = arange(4, 3, 4) if axes else arange(4, 3)
    attrs = {"axes": axes} if axes else {}
    s = np.array(shape, i64)
    assert_same(run("CenterCropPad", [x, s], **attrs), reference("CenterCropPad", [x, s], **attrs))


def test_center_crop_pad_hand_case():
    x = np.array([1, 2, 3, 4, 5], np.int32)
    assert_same(run("CenterCropPad", [x, np.array([2], i64)]), np.array([2, 3], np.int32))
    assert_same(run("CenterCropPad", [x, np.array([8], i64)]), np.array([0, 1, 2, 3, 4, 5, 0, 0], np.int32))


@pytest.mark.parametrize("mode", ["DCR", "CRD"])
def test_depth_to_space_spec_formula(mode):
    x = arange(2, 8, 3, 2)
    b, c, h, w = x.shape
    if mode == "DCR":
        want = x.reshape(b, 2, 2, c // 4, h, w).transpose(0, 3, 4, 1, 5, 2).reshape(b, c // 4, h * 2, w * 2)
    else:
        want = x.reshape(b, c // 4, 2, 2, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(b, c // 4, h * 2, w * 2)
    assert_same(run("DepthToSpace", [x], blocksize=2, mode=mode), want)
    # SpaceToDepth (opset 28 has the same modes) inverts it
    assert_same(run("SpaceToDepth", [want], blocksize=2, mode=mode), x)
    assert_same(run("SpaceToDepth", [want], opset=13, blocksize=2), run("SpaceToDepth", [want], blocksize=2))


def test_depth_to_space_bad_channels():
    with pytest.raises(pyinfer.Error):
        run("DepthToSpace", [arange(1, 6, 2, 2)], blocksize=2)


@pytest.mark.parametrize("stride, pad, dil", [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 2), (1, 2))])
def test_col2im_matches_torch_fold(stride, pad, dil):
    rng = np.random.default_rng(0)
    image, block = (6, 7), (2, 3)
    counts = [(image[i] + 2 * pad[i] - dil[i] * (block[i] - 1) - 1) // stride[i] + 1 for i in range(2)]
    x = rng.standard_normal((2, 3 * 6, counts[0] * counts[1])).astype(np.float32)
    want = torch.nn.functional.fold(torch.from_numpy(x), image, block, dilation=dil, padding=pad,
                                    stride=stride).numpy()
    out = run("Col2Im", [x, np.array(image, i64), np.array(block, i64)], strides=list(stride),
              pads=[pad[0], pad[1], pad[0], pad[1]], dilations=list(dil))
    assert_same(out, want, rtol=1e-5, atol=1e-5)


def test_dropout_without_its_mask_is_a_view_in_plans():
    x = arange(2, 3)
    (y,) = assert_native("Dropout", [x, np.array(0.3, np.float32)], consts=[1])
    assert_same(y, x)
    (y,) = assert_native("Dropout", [x, np.array(0.3, np.float32), np.array(False)], consts=[1, 2])
    assert_same(y, x)
