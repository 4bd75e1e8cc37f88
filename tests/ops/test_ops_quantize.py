"""Quantization ops against hand-computed values and plain NumPy formulas written here
(onnx.reference only as a secondary oracle)."""
import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto

import pyinfer
from support.one_node import assert_same, reference, run


# --- QuantizeLinear ---------------------------------------------------------------------------

def test_quantize_rounds_half_to_even_and_saturates():
    x = np.array([1, 3, 5, -1, -3, 1000, -1000, 2.9], np.float32)
    # x / 2 = .5, 1.5, 2.5, -.5, -1.5, 500, -500, 1.45 -> rint 0, 2, 2, -0, -2, ... -> + 10
    y = run("QuantizeLinear", [x, np.float32(2), np.uint8(10)])
    assert_same(y, np.array([10, 12, 12, 10, 8, 255, 0, 11], np.uint8))
    y = run("QuantizeLinear", [x, np.float32(2), np.int8(-3)])
    assert_same(y, np.array([-3, -1, -1, -3, -5, 127, -128, -2], np.int8))


def test_quantize_default_output_is_uint8():
    assert_same(run("QuantizeLinear", [np.array([-4.0, 7.0, 600.0], np.float32), np.float32(1)]),
                np.array([0, 7, 255], np.uint8))


@pytest.mark.parametrize("opset", [13, 19, 21, 25])
def test_quantize_per_axis(rng, opset):
    x = (rng.standard_normal((2, 3, 4)) * 50).astype(np.float32)
    scale = np.array([0.5, 1.0, 2.0], np.float32)
    zp = np.array([0, 100, 200], np.uint8)
    want = np.clip(np.rint(x / scale[:, None]) + zp[:, None], 0, 255).astype(np.uint8)
    assert_same(run("QuantizeLinear", [x, scale, zp], opset=opset, axis=1), want)
    assert_same(run("QuantizeLinear", [x, scale, zp], opset=opset, axis=-2), want)


def test_quantize_blocked_with_a_partial_last_block():
    x = np.array([[1, 2, 3, 4, 50], [-1, -2, -3, -4, -50]], np.float32)
    scale = np.array([[1, 2, 10], [1, 4, 20]], np.float32)  # blocks of 2: [0,1] [2,3] [4]
    zp = np.array([[0, 1, 2], [3, 4, 5]], np.int8)
    # rint(3/2) = 2 -> +1 = 3; rint(-3/4) = -1 -> +4 = 3; rint(-50/20) = rint(-2.5) = -2 -> +5 = 3
    want = np.array([[1, 2, 3, 3, 7], [2, 1, 3, 3, 3]], np.int8)
    assert_same(run("QuantizeLinear", [x, scale, zp], axis=1, block_size=2), want)


def test_quantize_blocked_rejects_wrong_block_count():
    x = np.zeros((2, 6), np.float32)
    with pytest.raises(pyinfer.Error, match="blocks"):
        run("QuantizeLinear", [x, np.ones((2, 2), np.float32)], axis=1, block_size=2)


@pytest.mark.parametrize("dtype,lo,hi", [(ml_dtypes.int4, -8, 7), (ml_dtypes.uint4, 0, 15), (np.int16, -32768, 32767),
                                         (np.uint16, 0, 65535), (ml_dtypes.int2, -2, 1), (ml_dtypes.uint2, 0, 3)])
def test_quantize_small_int_ranges(dtype, lo, hi):
    x = np.array([-1e6, -2.0, -1.0, 0.0, 1.0, 2.0, 1e6], np.float32)
    y = run("QuantizeLinear", [x, np.float32(1), np.zeros((), dtype)])
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(y.astype(np.int64), np.clip([-1e6, -2, -1, 0, 1, 2, 1e6], lo, hi))


def test_quantize_output_dtype_attribute_and_mismatch():
    x = np.array([-300.0, 5.0], np.float32)
    assert_same(run("QuantizeLinear", [x, np.float32(1)], output_dtype=TensorProto.INT16),
                np.array([-300, 5], np.int16))
    with pytest.raises(pyinfer.Error, match="output_dtype"):
        run("QuantizeLinear", [x, np.float32(1), np.uint8(0)], output_dtype=TensorProto.INT8)


def test_quantize_division_precision_follows_scale_type():
    # float16 spacing at 1000 is 0.5: 1001.3 -> 1001.5 -> rint -> 1002; float32 keeps 1001.3 -> 1001.
    x = np.array([1001.3], np.float32)
    half = np.float16(1)
    assert_same(run("QuantizeLinear", [x, half], output_dtype=TensorProto.INT16), np.array([1002], np.int16))
    assert_same(run("QuantizeLinear", [x, half], output_dtype=TensorProto.INT16, precision=TensorProto.FLOAT),
                np.array([1001], np.int16))


def test_quantize_float8_saturate():
    x = np.array([0.0, 1.0, 1000.0, -1000.0, np.inf, np.nan], np.float32)
    e4 = np.zeros((), ml_dtypes.float8_e4m3fn)
    y = run("QuantizeLinear", [x, np.float32(1), e4])
    assert y.dtype == ml_dtypes.float8_e4m3fn
    np.testing.assert_array_equal(y.astype(np.float32)[:5], [0, 1, 448, -448, 448])
    assert np.isnan(y.astype(np.float32)[5])
    y = run("QuantizeLinear", [x, np.float32(1), e4], saturate=0)
    assert np.isnan(y.astype(np.float32)[[2, 3, 4, 5]]).all()  # e4m3fn has no infinity
    e5 = np.zeros((), ml_dtypes.float8_e5m2)
    y = run("QuantizeLinear", [x, np.float32(1), e5], saturate=0)
    np.testing.assert_array_equal(y.astype(np.float32)[2:5], [1024, -1024, np.inf])
    y = run("QuantizeLinear", [np.array([1e6], np.float32), np.float32(1), e5])
    np.testing.assert_array_equal(y.astype(np.float32), [57344])


def test_quantize_float4_always_saturates():
    x = np.array([0.0, 0.5, 1.4, 100.0, -100.0], np.float32)
    y = run("QuantizeLinear", [x, np.float32(1), np.zeros((), ml_dtypes.float4_e2m1fn)], saturate=0)
    np.testing.assert_array_equal(y.astype(np.float32), [0, 0.5, 1.5, 6, -6])


def test_quantize_opset10_rejects_per_axis():
    with pytest.raises(pyinfer.Error, match="scalar"):
        run("QuantizeLinear", [np.zeros((2, 3), np.float32), np.ones(3, np.float32)], opset=10)


def test_quantize_rejects_bad_axis_and_length():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(pyinfer.Error, match="axis"):
        run("QuantizeLinear", [x, np.ones(3, np.float32)], axis=5)
    with pytest.raises(pyinfer.Error, match="3"):
        run("QuantizeLinear", [x, np.ones(2, np.float32)], axis=1)


def test_quantize_matches_reference_oracle(rng):
    x = (rng.standard_normal((3, 8)) * 20).astype(np.float32)
    scale = rng.uniform(0.1, 2, (3, 4)).astype(np.float32)
    zp = rng.integers(-20, 20, (3, 4)).astype(np.int8)
    args = dict(axis=1, block_size=2)
    assert_same(run("QuantizeLinear", [x, scale, zp], **args), reference("QuantizeLinear", [x, scale, zp], **args))


# --- DequantizeLinear --------------------------------------------------------------------------

def test_dequantize_per_tensor_and_int32():
    y = run("DequantizeLinear", [np.array([0, 3, 128, 255], np.uint8), np.float32(2), np.uint8(128)])
    assert_same(y, np.array([-256, -250, 0, 254], np.float32))
    big = np.array([2 ** 31 - 1, -(2 ** 31)], np.int32)
    assert_same(run("DequantizeLinear", [big, np.float32(0.5)]), np.array([1073741823.5, -1073741824], np.float32))


def test_dequantize_per_axis_and_blocked(rng):
    x = rng.integers(-128, 128, (2, 3, 5)).astype(np.int8)
    scale = np.array([0.5, 2.0, 3.0], np.float32)
    zp = np.array([-1, 0, 5], np.int8)
    want = (x.astype(np.float64) - zp[:, None]) * scale[:, None]
    assert_same(run("DequantizeLinear", [x, scale, zp], axis=1), want.astype(np.float32))
    bscale = rng.uniform(0.5, 2, (2, 3, 3)).astype(np.float32)
    bzp = rng.integers(-5, 5, (2, 3, 3)).astype(np.int8)
    full_s, full_z = np.repeat(bscale, 2, axis=2)[..., :5], np.repeat(bzp, 2, axis=2)[..., :5]
    want = ((x.astype(np.float64) - full_z) * full_s).astype(np.float32)
    assert_same(run("DequantizeLinear", [x, bscale, bzp], axis=-1, block_size=2), want)


def test_dequantize_output_dtype_and_half_scale():
    x = np.array([1, -2, 7], ml_dtypes.int4)
    y = run("DequantizeLinear", [x, np.float16(0.5)])
    assert_same(y, np.array([0.5, -1, 3.5], np.float16))
    y = run("DequantizeLinear", [x, np.float32(0.5)], output_dtype=TensorProto.BFLOAT16)
    assert_same(y, np.array([0.5, -1, 3.5], ml_dtypes.bfloat16))


def test_dequantize_float8():
    x = np.array([0.5, -448, 3], np.float32).astype(ml_dtypes.float8_e4m3fn)
    assert_same(run("DequantizeLinear", [x, np.float32(2)]), np.array([1, -896, 6], np.float32))


def test_dequantize_zero_point_type_must_match():
    with pytest.raises(pyinfer.Error, match="dtype|inconsistent type"):  # onnx's type rules refuse it at load
        run("DequantizeLinear", [np.array([1], np.uint8), np.float32(1), np.int8(0)])


# --- DynamicQuantizeLinear ----------------------------------------------------------------------

def _dynamic_quantize(x):
    hi, lo = max(0.0, float(x.max())), min(0.0, float(x.min()))
    scale = np.float32((hi - lo) / 255) if hi != lo else np.float32(1)
    zp = np.rint(np.clip(np.float32(0) - np.float32(lo) / scale, 0, 255))
    y = np.clip(np.rint(x / scale) + zp, 0, 255)
    return y.astype(np.uint8), scale, np.uint8(zp)


@pytest.mark.parametrize("data", [[0, 2, -3, -2.5, 1.34, 0.5], [1, 2, 3, 4], [-1, -2, -3], [0, 0]])
def test_dynamic_quantize_linear(data):
    x = np.array(data, np.float32)
    y, scale, zp = run("DynamicQuantizeLinear", [x], n_outputs=3)
    wy, ws, wz = _dynamic_quantize(x)
    assert_same(y, wy)
    assert_same(scale, np.array(ws, np.float32))
    assert_same(zp, np.array(wz, np.uint8))


def test_dynamic_quantize_hand_case():
    # range [0, 255] -> scale 1, zero point 0
    y, scale, zp = run("DynamicQuantizeLinear", [np.array([0, 255, 127.5], np.float32)], n_outputs=3)
    assert_same(y, np.array([0, 255, 128], np.uint8))
    assert float(scale) == 1.0 and int(zp) == 0


# --- integer products ---------------------------------------------------------------------------

def test_matmul_integer_with_row_and_column_zero_points(rng):
    a = rng.integers(0, 256, (2, 3, 4)).astype(np.uint8)
    b = rng.integers(-128, 128, (4, 5)).astype(np.int8)
    azp = rng.integers(0, 256, (3,)).astype(np.uint8)
    bzp = rng.integers(-128, 128, (5,)).astype(np.int8)
    want = np.einsum("bmk,kn->bmn", a.astype(np.int64) - azp[:, None], b.astype(np.int64) - bzp)
    assert_same(run("MatMulInteger", [a, b, azp, bzp]), want.astype(np.int32))
    assert_same(run("MatMulInteger", [a, b]), (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32))


def test_matmul_integer_errors():
    with pytest.raises(pyinfer.Error, match="inner|Incompatible dimensions"):
        run("MatMulInteger", [np.zeros((2, 3), np.uint8), np.zeros((4, 2), np.uint8)])
    with pytest.raises(pyinfer.Error, match="values"):
        run("MatMulInteger", [np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), np.zeros(5, np.uint8)])


def _naive_conv(x, w, strides, pads, dil, group):
    """Direct definition: y[n, m, o] = sum_{c, k} x_pad[n, g*C/g + c, o*s + k*d] * w[m, c, k] (2-D)."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]), np.int64)
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[2] - (kh - 1) * dil[0] - 1) // strides[0] + 1
    ow = (xp.shape[3] - (kw - 1) * dil[1] - 1) // strides[1] + 1
    y = np.zeros((n, m, oh, ow), np.int64)
    mg = m // group
    for b in range(n):
        for oc in range(m):
            g = oc // mg
            for i in range(oh):
                for j in range(ow):
                    acc = 0
                    for ic in range(cg):
                        for p in range(kh):
                            for q in range(kw):
                                acc += xp[b, g * cg + ic, i * strides[0] + p * dil[0], j * strides[1] + q * dil[1]] \
                                    * w[oc, ic, p, q]
                    y[b, oc, i, j] = acc
    return y


@pytest.mark.parametrize("strides,pads,dil,group", [((1, 1), (0, 0, 0, 0), (1, 1), 1),
                                                    ((2, 1), (1, 2, 0, 1), (1, 2), 2)])
def test_conv_integer(rng, strides, pads, dil, group):
    x = rng.integers(0, 256, (2, 4, 6, 7)).astype(np.uint8)
    w = rng.integers(-128, 128, (4, 4 // group, 3, 2)).astype(np.int8)
    xzp, wzp = np.uint8(7), rng.integers(-5, 5, (4,)).astype(np.int8)
    want = _naive_conv(x.astype(np.int64) - 7, w.astype(np.int64) - wzp[:, None, None, None], strides, pads, dil, group)
    got = run("ConvInteger", [x, w, xzp, wzp], strides=list(strides), pads=list(pads), dilations=list(dil), group=group)
    assert_same(got, want.astype(np.int32))


def test_conv_integer_same_upper_matches_reference(rng):
    x = rng.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8)
    w = rng.integers(0, 256, (3, 2, 3, 3)).astype(np.uint8)
    args = dict(auto_pad="SAME_UPPER", strides=[2, 2])
    assert_same(run("ConvInteger", [x, w], **args), reference("ConvInteger", [x, w], **args))


def test_conv_integer_rejects_channel_mismatch():
    with pytest.raises(pyinfer.Error, match="channels"):
        run("ConvInteger", [np.zeros((1, 3, 4, 4), np.uint8), np.zeros((2, 2, 1, 1), np.uint8)])


def test_qlinear_conv_per_channel(rng):
    x = rng.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8)
    w = rng.integers(-128, 128, (3, 2, 2, 2)).astype(np.int8)
    bias = rng.integers(-1000, 1000, (3,)).astype(np.int32)
    xs, xzp = np.float32(0.05), np.uint8(120)
    ws, wzp = np.array([0.01, 0.02, 0.03], np.float32), np.zeros(3, np.int8)
    ys, yzp = np.float32(0.2), np.int8(-5)
    acc = _naive_conv(x.astype(np.int64) - 120, w.astype(np.int64), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    acc = acc + bias[None, :, None, None]
    real = acc * (np.float64(xs) * ws.astype(np.float64)[None, :, None, None] / np.float64(ys))
    want = np.clip(np.rint(real) + yzp, -128, 127).astype(np.int8)
    got = run("QLinearConv", [x, xs, xzp, w, ws, wzp, ys, yzp, bias], pads=[1, 1, 1, 1])
    assert_same(got, want)


def test_qlinear_matmul(rng):
    a = rng.integers(0, 256, (3, 4)).astype(np.uint8)
    b = rng.integers(0, 256, (4, 2)).astype(np.uint8)
    sa, za, sb, zb = np.float32(0.02), np.uint8(110), np.float32(0.03), np.uint8(130)
    sy, zy = np.float32(0.5), np.uint8(100)
    acc = (a.astype(np.int64) - 110) @ (b.astype(np.int64) - 130)
    want = np.clip(np.rint(acc * (0.02 * 0.03 / 0.5)) + 100, 0, 255).astype(np.uint8)
    got = run("QLinearMatMul", [a, sa, za, b, sb, zb, sy, zy])
    # float32 scales differ from the decimal literals by < 1e-7 relative: allow one step at exact .5 ties
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert_same(got, reference("QLinearMatMul", [a, sa, za, b, sb, zb, sy, zy]))


def test_qlinear_matmul_per_row_scale(rng):
    a = rng.integers(-128, 128, (3, 4)).astype(np.int8)
    b = rng.integers(-128, 128, (4, 2)).astype(np.int8)
    sa, za = np.array([0.1, 0.2, 0.4], np.float32), np.array([1, 2, 3], np.int8)
    sb, zb = np.float32(0.05), np.int8(0)
    sy, zy = np.float32(1.0), np.int8(0)
    acc = (a.astype(np.int64) - za[:, None]) @ b.astype(np.int64)
    want = np.clip(np.rint(acc * sa.astype(np.float64)[:, None] * np.float64(sb)), -128, 127).astype(np.int8)
    assert_same(run("QLinearMatMul", [a, sa, za, b, sb, zb, sy, zy]), want)
