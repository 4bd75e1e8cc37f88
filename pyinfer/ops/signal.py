"""Signal operators: DFT, STFT, the Hann/Hamming/Blackman windows, MelWeightMatrix, plus CumProd
and BitCast.

All NumPy. Transforms run in numpy.fft at the input's precision (complex64 for float32 and the
half types, as onnxruntime's float kernels do; complex128 for double) and are cast back to the
input's type; complex values travel as a trailing dimension of 2 (real, imaginary), real ones as 1.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto, helper

from ..registry import register
from .base import Op
from .int_inputs import axis_in_range, int_scalar

_FLOATS = {np.dtype(t) for t in (np.float16, np.float32, np.float64, ml_dtypes.bfloat16)}


def _check_float(op: Op, x: np.ndarray, what: str):
    if x.dtype not in _FLOATS:
        raise op.run_error(f"{what} must be float16, bfloat16, float or double, got {x.dtype}")


def _as_complex(op: Op, x: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    """[..., 1] real or [..., 2] (re, im) -> complex128 array without the last axis; is_complex."""
    _check_float(op, x, what)
    if x.ndim < 2 or x.shape[-1] not in (1, 2):
        raise op.run_error(f"{what} must end with a dimension of 1 (real) or 2 (complex), "
                           f"got shape {list(x.shape)}")
    real = np.float64 if x.dtype == np.float64 else np.float32
    v = x.astype(real)
    if x.shape[-1] == 1:
        return v[..., 0].astype(np.result_type(real, np.complex64)), False
    return v[..., 0] + np.complex64(1j) * v[..., 1], True


def _from_complex(c: np.ndarray, dtype) -> np.ndarray:
    return np.stack([c.real, c.imag], axis=-1).astype(dtype)


def dft(op: Op, x: np.ndarray, axis: int, length: int | None, inverse: bool, onesided: bool) -> np.ndarray:
    """The ONNX DFT of x along `axis` (an axis of x, the trailing complex axis excluded)."""
    c, is_complex = _as_complex(op, x, "input")
    n_axis = c.shape[axis]
    if length is None:
        length = 2 * (n_axis - 1) if (inverse and onesided) else n_axis
    if length < 1:
        raise op.run_error(f"dft_length must be positive, got {length}")
    if onesided and not inverse:
        if is_complex:
            raise op.run_error("onesided=1 forward DFT (RFFT) takes a real input ([..., 1]), got a complex one")
        return _from_complex(np.fft.rfft(c.real, n=length, axis=axis), x.dtype)
    if onesided and inverse:
        if not is_complex:
            raise op.run_error("onesided=1 inverse DFT (IRFFT) takes a complex input ([..., 2]), got a real one")
        return np.fft.irfft(c, n=length, axis=axis)[..., None].astype(x.dtype)
    out = np.fft.ifft(c, n=length, axis=axis) if inverse else np.fft.fft(c, n=length, axis=axis)
    return _from_complex(out, x.dtype)


def _signal_axis(op: Op, axis: int, rank: int) -> int:
    """DFT axis: [-r, -2] or [0, r-2]; the last axis holds (re, im) and is not a signal axis."""
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        raise op.run_error(f"axis {axis} is out of range for a rank-{rank} input "
                           f"(valid: [{-rank}, -2] or [0, {rank - 2}])")
    return axis + rank if axis < 0 else axis


def _opt_length(op: Op, value, what: str) -> int | None:
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim != 0 and arr.size != 1:
        raise op.run_error(f"{what} must be a scalar, got shape {list(arr.shape)}")
    return int_scalar(op, arr, what)


@register("DFT", 17, 20)
class DFT(Op):
    def setup(self):
        self.inverse = bool(self.attr("inverse", 0))
        self.onesided = bool(self.attr("onesided", 0))
        # Opset 17: axis attribute (default 1); opset 20: axis input (default -2).
        self.axis_attr = self.attr("axis", 1) if self.version < 20 else None

    def run(self, x, dft_length=None, axis=None):
        if self.version >= 20:
            axis = -2 if axis is None else _opt_length(self, axis, "axis")
        else:
            axis = self.axis_attr
        a = _signal_axis(self, axis, x.ndim)
        return (dft(self, x, a, _opt_length(self, dft_length, "dft_length"), self.inverse, self.onesided),)


@register("STFT", 17)
class STFT(Op):
    def setup(self):
        self.onesided = bool(self.attr("onesided", 1))

    def run(self, signal, frame_step, window=None, frame_length=None):
        c, is_complex = _as_complex(self, signal, "signal")
        if signal.ndim != 3:
            raise self.run_error(f"signal must be [batch, length, 1 or 2], got shape {list(signal.shape)}")
        step = _opt_length(self, frame_step, "frame_step")
        length = _opt_length(self, frame_length, "frame_length")
        if window is not None:
            _check_float(self, window, "window")
            if window.ndim != 1:
                raise self.run_error(f"window must be 1-D, got shape {list(window.shape)}")
            if length is not None and length != window.shape[0]:
                raise self.run_error(f"window has {window.shape[0]} values but frame_length is {length}")
            length = window.shape[0]
        n = c.shape[1]
        if length is None:
            length = n
        if step < 1 or length < 1 or length > n:
            raise self.run_error(f"need frame_step >= 1 and 1 <= frame_length <= signal length {n}; "
                                 f"got frame_step {step}, frame_length {length}")
        if self.onesided and is_complex:
            raise self.run_error("onesided=1 needs a real signal ([batch, length, 1]), got a complex one")
        w = np.ones(length, dtype=c.real.dtype) if window is None else window.astype(c.real.dtype)
        frames = (n - length) // step + 1
        idx = np.arange(frames)[:, None] * step + np.arange(length)[None, :]
        framed = c[:, idx] * w  # (batch, frames, length)
        spec = np.fft.rfft(framed.real, axis=-1) if self.onesided else np.fft.fft(framed, axis=-1)
        return (_from_complex(spec, signal.dtype),)


# --- windows ---------------------------------------------------------------------------------

_WINDOW_OUT_TYPES = {np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64, np.int8, np.int16,
                                           np.int32, np.int64, np.float16, np.float32, np.float64,
                                           ml_dtypes.bfloat16)}


def _out_type(op: Op, allowed) -> np.dtype:
    code = op.attr("output_datatype", TensorProto.FLOAT)
    try:
        dt = np.dtype(helper.tensor_dtype_to_np_dtype(code))
    except Exception:
        dt = None
    if dt not in allowed:
        raise op.model_error(f"output_datatype {code} is not one of the allowed output types")
    return dt


class _Window(Op):
    """w[n] = sum_k a_k cos(2 pi k n / N) with N = size (periodic) or size - 1 (symmetric)."""

    coefficients: tuple = ()

    def setup(self):
        self.periodic = bool(self.attr("periodic", 1))
        self.out_dtype = _out_type(self, _WINDOW_OUT_TYPES)

    def run(self, size):
        if size.dtype not in (np.int32, np.int64) or size.size != 1 or size.ndim > 1:
            raise self.run_error(f"size must be an int32/int64 scalar, got {size.dtype} of shape {list(size.shape)}")
        n_points = int(size.reshape(-1)[0])
        if n_points < 0:
            raise self.run_error(f"size must be >= 0, got {n_points}")
        denom = n_points if self.periodic else n_points - 1
        n = np.arange(n_points, dtype=np.float64)
        if denom <= 0:  # a one-point symmetric window: the peak (numpy.hanning(1) == [1])
            w = np.ones(n_points)
        else:
            w = sum(a * np.cos(2.0 * np.pi * k * n / denom) for k, a in enumerate(self.coefficients))
        return (w.astype(self.out_dtype),)


@register("HannWindow", 17)
class HannWindow(_Window):
    coefficients = (0.5, -0.5)


@register("HammingWindow", 17)
class HammingWindow(_Window):
    coefficients = (25.0 / 46.0, -21.0 / 46.0)


@register("BlackmanWindow", 17)
class BlackmanWindow(_Window):
    coefficients = (0.42, -0.5, 0.08)


@register("MelWeightMatrix", 17)
class MelWeightMatrix(Op):
    """Triangular mel filter bank, as onnxruntime builds it: num_mel_bins + 2 edges evenly spaced
    on the mel scale mel(f) = 2595 log10(1 + f / 700), each snapped to the DFT bin
    floor((dft_length + 1) * f / sample_rate)."""

    def setup(self):
        self.out_dtype = _out_type(self, _WINDOW_OUT_TYPES)

    def run(self, num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz):
        ints = [_opt_length(self, v, w) for v, w in ((num_mel_bins, "num_mel_bins"), (dft_length, "dft_length"),
                                                     (sample_rate, "sample_rate"))]
        n_mel, n_dft, rate = ints
        lo_hz, hi_hz = (float(_float_scalar(self, v, w)) for v, w in ((lower_edge_hertz, "lower_edge_hertz"),
                                                                       (upper_edge_hertz, "upper_edge_hertz")))
        if n_mel < 1 or n_dft < 1 or rate < 1:
            raise self.run_error(f"num_mel_bins, dft_length and sample_rate must be positive, got {ints}")
        if not 0 <= lo_hz <= hi_hz:
            raise self.run_error(f"need 0 <= lower_edge_hertz <= upper_edge_hertz, got {lo_hz}, {hi_hz}")
        n_spec = n_dft // 2 + 1
        lo_mel, hi_mel = (2595.0 * np.log10(1.0 + f / 700.0) for f in (lo_hz, hi_hz))
        step = (hi_mel - lo_mel) / (n_mel + 2)
        hz = 700.0 * (10.0 ** ((lo_mel + step * np.arange(n_mel + 2)) / 2595.0) - 1.0)
        bins = np.floor((n_dft + 1) * hz / rate).astype(np.int64)
        if bins[-1] >= n_spec:
            raise self.run_error(f"upper_edge_hertz {hi_hz} lies above the Nyquist frequency {rate / 2} "
                                 f"of the {n_spec} spectrogram bins")
        out = np.zeros((n_spec, n_mel))
        for i in range(n_mel):
            left, center, right = bins[i], bins[i + 1], bins[i + 2]
            if center == left:
                out[center, i] = 1.0
            else:
                j = np.arange(left, center + 1)
                out[j, i] = (j - left) / (center - left)
            if right > center:
                j = np.arange(center, right)
                out[j, i] = (right - j) / (right - center)
        return (out.astype(self.out_dtype),)


def _float_scalar(op: Op, v, what: str):
    arr = np.asarray(v)
    if arr.dtype not in _FLOATS or arr.size != 1 or arr.ndim > 1:
        raise op.run_error(f"{what} must be a float scalar, got {arr.dtype} of shape {list(arr.shape)}")
    return arr.astype(np.float64).reshape(-1)[0]


# --- CumProd / BitCast ------------------------------------------------------------------------

_CUMPROD_TYPES = {np.dtype(t) for t in (np.uint32, np.uint64, np.int32, np.int64, np.float16, np.float32,
                                        np.float64, ml_dtypes.bfloat16)}


@register("CumProd", 26)
class CumProd(Op):
    def setup(self):
        self.exclusive = bool(self.attr("exclusive", 0))
        self.reverse = bool(self.attr("reverse", 0))

    def run(self, x, axis):
        if x.dtype not in _CUMPROD_TYPES:
            raise self.run_error(f"x has unsupported dtype {x.dtype}")
        if np.ndim(axis) != 0:
            raise self.run_error(f"axis must be a 0-D tensor, got shape {list(np.shape(axis))}")
        a = axis_in_range(self, int_scalar(self, axis, "axis"), x.ndim)
        y = np.flip(x, a) if self.reverse else x
        if self.exclusive:  # shift right by one along the axis; the empty product 1 comes first
            shifted = np.ones_like(y)
            lead = (slice(None),) * a
            shifted[lead + (slice(1, None),)] = y[lead + (slice(0, -1),)]
            y = shifted
        out = np.multiply.accumulate(y, axis=a, dtype=x.dtype) if y.size else y.copy()
        if self.reverse:
            out = np.flip(out, a)
        return (np.ascontiguousarray(out, dtype=x.dtype),)


# Bit widths of the ONNX types numpy stores in a whole byte.
_SUB_BYTE_BITS = {np.dtype(ml_dtypes.int4): 4, np.dtype(ml_dtypes.uint4): 4, np.dtype(ml_dtypes.float4_e2m1fn): 4,
                  np.dtype(ml_dtypes.int2): 2, np.dtype(ml_dtypes.uint2): 2}


def _bits(dt: np.dtype) -> int:
    return _SUB_BYTE_BITS.get(dt, dt.itemsize * 8)


@register("BitCast", 26)
class BitCast(Op):
    def setup(self):
        code = self.attr("to")
        if code == TensorProto.STRING:
            raise self.model_error("BitCast to string is not allowed")
        try:
            self.to = np.dtype(helper.tensor_dtype_to_np_dtype(code))
        except Exception:
            raise self.model_error(f"'to'={code} is not a known ONNX tensor type") from None

    def run(self, x):
        if x.dtype.kind in "OUS":
            raise self.run_error("BitCast of a string tensor is not allowed")
        if _bits(x.dtype) != _bits(self.to):
            raise self.run_error(f"BitCast needs equal bit widths: {x.dtype} has {_bits(x.dtype)} bits, "
                                 f"{self.to} has {_bits(self.to)}")
        # ONNX reinterprets little-endian bytes; ml_dtypes keeps sub-byte values in the low bits
        # of a zeroed byte, so a view between same-width types is exact.
        src = x.astype(x.dtype.newbyteorder("<")) if x.dtype.byteorder == ">" else x
        if self.to == np.bool_:  # only 0 / 1 bytes are valid bools
            return (src.view(np.uint8) != 0,)
        return (src.view(self.to).copy(),)
