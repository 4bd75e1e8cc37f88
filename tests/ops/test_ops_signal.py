"""Signal ops (DFT, STFT, windows, MelWeightMatrix), CumProd and BitCast against numpy.fft,
the window formulas written out here, and hand-computed values."""
import ml_dtypes
import numpy as np
import pytest
from onnx import TensorProto

import pyinfer
from support.one_node import assert_same, reference, run


def _complex(x):
    return x[..., 0] + 1j * x[..., 1] if x.shape[-1] == 2 else x[..., 0].astype(np.complex128)


def _pack(c, dtype=np.float32):
    return np.stack([c.real, c.imag], axis=-1).astype(dtype)


# --- DFT -------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [17, 20])
def test_dft_real_and_complex_forward(rng, opset):
    real = rng.standard_normal((2, 8, 3, 1)).astype(np.float32)
    cplx = rng.standard_normal((2, 8, 3, 2)).astype(np.float32)
    for x in (real, cplx):
        if opset == 17:
            y = run("DFT", [x], opset=17, axis=1)
        else:
            y = run("DFT", [x, None, np.array(1, np.int64)], opset=20)
        assert y.dtype == np.float32 and y.shape == (2, 8, 3, 2)
        np.testing.assert_allclose(_complex(y), np.fft.fft(_complex(x.astype(np.float64)), axis=1), atol=1e-4)


def test_dft_opset20_default_axis_is_last_signal_axis(rng):
    x = rng.standard_normal((3, 5, 1)).astype(np.float64)
    y = run("DFT", [x], opset=20)
    assert y.dtype == np.float64
    np.testing.assert_allclose(_complex(y), np.fft.fft(x[..., 0], axis=1), atol=1e-12)


def test_dft_length_pads_and_truncates(rng):
    x = rng.standard_normal((1, 6, 1)).astype(np.float32)
    for n in (4, 9):
        y = run("DFT", [x, np.array(n, np.int64), np.array(-2, np.int64)], opset=20)
        np.testing.assert_allclose(_complex(y)[0], np.fft.fft(x[0, :, 0].astype(np.float64), n=n), atol=1e-4)


def test_dft_onesided_and_inverse(rng):
    x = rng.standard_normal((2, 10, 1)).astype(np.float32)
    y = run("DFT", [x], opset=20, onesided=1)
    assert y.shape == (2, 6, 2)
    np.testing.assert_allclose(_complex(y), np.fft.rfft(x[..., 0].astype(np.float64), axis=1), atol=1e-4)
    # inverse of the full spectrum gets the signal back (imaginary part 0)
    full = run("DFT", [x], opset=20)
    back = run("DFT", [full], opset=20, inverse=1)
    np.testing.assert_allclose(back[..., 0], x[..., 0], atol=1e-5)
    np.testing.assert_allclose(back[..., 1], 0, atol=1e-5)
    # IRFFT: one-sided spectrum -> real signal of length 2 * (6 - 1)
    irfft = run("DFT", [y], opset=20, onesided=1, inverse=1)
    assert irfft.shape == (2, 10, 1)
    np.testing.assert_allclose(irfft, x, atol=1e-5)


def test_dft_hand_case():
    # DFT of [1, 2, 3, 4]: [10, -2+2j, -2, -2-2j]
    y = run("DFT", [np.array([[1], [2], [3], [4]], np.float32)[None]], opset=17, axis=1)
    np.testing.assert_allclose(y[0], [[10, 0], [-2, 2], [-2, 0], [-2, -2]], atol=1e-6)


def test_dft_errors():
    with pytest.raises(pyinfer.Error, match="axis"):
        run("DFT", [np.zeros((2, 4, 1), np.float32), None, np.array(2, np.int64)], opset=20)
    with pytest.raises(pyinfer.Error, match="real input"):
        run("DFT", [np.zeros((2, 4, 2), np.float32)], opset=20, onesided=1)
    with pytest.raises(pyinfer.Error, match="dimension of 1"):
        run("DFT", [np.zeros((2, 4, 3), np.float32)], opset=20)
    with pytest.raises(pyinfer.Error, match="positive"):
        run("DFT", [np.zeros((2, 4, 1), np.float32), np.array(0, np.int64)], opset=20)


# --- STFT ------------------------------------------------------------------------------------

def test_stft_matches_framed_rfft(rng):
    signal = rng.standard_normal((2, 64, 1)).astype(np.float32)
    window = np.hanning(16).astype(np.float32)
    y = run("STFT", [signal, np.array(8, np.int64), window])
    frames = (64 - 16) // 8 + 1
    want = np.stack([np.fft.rfft(signal[:, f * 8:f * 8 + 16, 0].astype(np.float64) * window, axis=-1)
                     for f in range(frames)], axis=1)
    assert y.shape == (2, frames, 9, 2) and y.dtype == np.float32
    np.testing.assert_allclose(_complex(y), want, atol=1e-4)


def test_stft_two_sided_complex_and_frame_length(rng):
    signal = rng.standard_normal((1, 20, 2)).astype(np.float64)
    y = run("STFT", [signal, np.array(5, np.int64), None, np.array(6, np.int64)], onesided=0)
    c = _complex(signal)
    want = np.stack([np.fft.fft(c[:, f * 5:f * 5 + 6], axis=-1) for f in range(3)], axis=1)
    np.testing.assert_allclose(_complex(y), want, atol=1e-12)


def test_stft_errors():
    s = np.zeros((1, 10, 1), np.float32)
    with pytest.raises(pyinfer.Error, match="frame_length"):
        run("STFT", [s, np.array(1, np.int64), np.ones(4, np.float32), np.array(5, np.int64)])
    with pytest.raises(pyinfer.Error, match="frame_step"):
        run("STFT", [s, np.array(0, np.int64), np.ones(4, np.float32)])


# --- windows ---------------------------------------------------------------------------------

def _window(coefs, size, periodic):
    n = np.arange(size)
    denom = size if periodic else size - 1
    return sum(a * np.cos(2 * np.pi * k * n / denom) for k, a in enumerate(coefs))


@pytest.mark.parametrize("op,coefs", [("HannWindow", (0.5, -0.5)), ("HammingWindow", (25 / 46, -21 / 46)),
                                      ("BlackmanWindow", (0.42, -0.5, 0.08))])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows(op, coefs, periodic):
    y = run(op, [np.array(10, np.int32)], periodic=periodic)
    assert_same(y, _window(coefs, 10, periodic).astype(np.float32), rtol=1e-6, atol=1e-7)
    y = run(op, [np.array(7, np.int64)], periodic=periodic, output_datatype=TensorProto.DOUBLE)
    assert_same(y, _window(coefs, 7, periodic), rtol=1e-12, atol=1e-15)


def test_window_known_values_and_integer_output():
    np.testing.assert_allclose(run("HannWindow", [np.array(4, np.int64)]), [0, 0.5, 1, 0.5], atol=1e-7)
    np.testing.assert_allclose(run("HannWindow", [np.array(5, np.int64)], periodic=0), [0, .5, 1, .5, 0], atol=1e-7)
    np.testing.assert_allclose(run("HammingWindow", [np.array(1, np.int64)], periodic=0), [1])
    # numpy's symmetric windows
    np.testing.assert_allclose(run("BlackmanWindow", [np.array(9, np.int64)], periodic=0), np.blackman(9), atol=1e-6)
    assert_same(run("HannWindow", [np.array(4, np.int64)], output_datatype=TensorProto.INT32),
                np.array([0, 0, 1, 0], np.int32))


# --- MelWeightMatrix -------------------------------------------------------------------------

def test_mel_weight_matrix_triangles():
    n_mel, n_dft, rate, lo, hi = 8, 16, 8192, 0.0, 4096.0
    y = run("MelWeightMatrix", [np.array(n_mel, np.int64), np.array(n_dft, np.int64), np.array(rate, np.int64),
                                np.array(lo, np.float32), np.array(hi, np.float32)])
    assert y.shape == (n_dft // 2 + 1, n_mel) and y.dtype == np.float32
    # Band edges: n_mel + 2 points evenly spaced in mel, snapped to floor((n_dft + 1) * f / rate).
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    mels = mel(lo) + (mel(hi) - mel(lo)) / (n_mel + 2) * np.arange(n_mel + 2)
    edges = np.floor((n_dft + 1) * 700 * (10 ** (mels / 2595) - 1) / rate).astype(int)
    want = np.zeros_like(y, dtype=np.float64)
    for i in range(n_mel):
        a, c, b = edges[i:i + 3]
        if c == a:
            want[c, i] = 1
        for j in range(a, c + 1):
            if c > a:
                want[j, i] = (j - a) / (c - a)
        for j in range(c, b):
            want[j, i] = (b - j) / (b - c)
    np.testing.assert_allclose(y, want, atol=1e-7)
    assert_same(y, reference("MelWeightMatrix", [np.array(n_mel, np.int64), np.array(n_dft, np.int64),
                                                 np.array(rate, np.int64), np.array(lo, np.float32),
                                                 np.array(hi, np.float32)]))


def test_mel_weight_matrix_rejects_edge_above_nyquist():
    with pytest.raises(pyinfer.Error, match="Nyquist"):
        run("MelWeightMatrix", [np.array(4, np.int64), np.array(16, np.int64), np.array(100, np.int64),
                                np.array(0, np.float32), np.array(500, np.float32)])


# --- CumProd / BitCast -----------------------------------------------------------------------

@pytest.mark.parametrize("exclusive,reverse,want", [(0, 0, [1, 2, 6, 24]), (1, 0, [1, 1, 2, 6]),
                                                    (0, 1, [24, 24, 12, 4]), (1, 1, [24, 12, 4, 1])])
def test_cumprod_modes(exclusive, reverse, want):
    for dtype in (np.float32, np.int32, np.uint64, np.float16):
        y = run("CumProd", [np.array([1, 2, 3, 4], dtype), np.array(0, np.int64)], exclusive=exclusive, reverse=reverse)
        assert_same(y, np.array(want, dtype))


def test_cumprod_2d_axes(rng):
    x = rng.uniform(0.5, 1.5, (3, 4)).astype(np.float64)
    assert_same(run("CumProd", [x, np.array(-1, np.int32)]), np.cumprod(x, axis=1), rtol=1e-12)
    assert_same(run("CumProd", [x, np.array(0, np.int64)]), np.cumprod(x, axis=0), rtol=1e-12)
    with pytest.raises(pyinfer.Error, match="axis"):
        run("CumProd", [x, np.array(2, np.int64)])
    with pytest.raises(pyinfer.Error, match="0-D"):
        run("CumProd", [x, np.array([0], np.int64)])


def test_bitcast():
    y = run("BitCast", [np.array([1.0, -2.0], np.float32)], to=TensorProto.INT32)
    assert_same(y, np.array([0x3F800000, -0x40000000], np.int32))
    assert_same(run("BitCast", [np.array(1.0, np.float32)], to=TensorProto.UINT32), np.array(0x3F800000, np.uint32))
    assert_same(run("BitCast", [np.array([True, False])], to=TensorProto.UINT8), np.array([1, 0], np.uint8))
    y = run("BitCast", [np.array([-1, 7], ml_dtypes.int4)], to=TensorProto.UINT4)
    assert_same(y, np.array([15, 7], ml_dtypes.uint4))
    y = run("BitCast", [np.array([0x3C00], np.uint16)], to=TensorProto.FLOAT16)
    assert_same(y, np.array([1.0], np.float16))
    with pytest.raises(pyinfer.Error, match="bit widths|bit-width"):  # onnx's rules refuse it at load
        run("BitCast", [np.array([1.0], np.float32)], to=TensorProto.INT64)
