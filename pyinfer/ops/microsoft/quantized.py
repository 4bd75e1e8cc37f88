"""com.microsoft dynamic quantization ops (onnxruntime.quantization.quantize_dynamic, then its
graph optimizer): DynamicQuantizeMatMul, MatMulIntegerToFloat, DynamicQuantizeLSTM."""
from __future__ import annotations

import numpy as np

from ... import kernels
from ...errors import KernelArgumentError
from ...registry import register
from ..base import Op
from ..quantize import dynamic_quantize, integer_matmul, per_column_scale
from ..rnn import LSTM
from . import MS


def _scaled_product(op: Op, acc: np.ndarray, a_scale, b_scale, b: np.ndarray, bias) -> np.ndarray:
    """acc * a_scale * b_scale (+ bias) in float32, scales per tensor or per column of B."""
    scale = np.float32(np.asarray(a_scale, dtype=np.float32).reshape(()))
    y = acc.astype(np.float32) * (scale * per_column_scale(op, np.asarray(b_scale, dtype=np.float32), b, "b_scale"))
    if bias is not None:
        if bias.shape != (y.shape[-1],):
            raise op.run_error(f"bias must have one value per output column ({y.shape[-1]}), got {list(bias.shape)}")
        y = y + bias.astype(np.float32)
    return y.astype(np.float32)


@register("DynamicQuantizeMatMul", 1, domain=MS)
class DynamicQuantizeMatMul(Op):
    """Y = dequantize(DynamicQuantizeLinear(A)) @ dequantize(B) + bias, computed as onnxruntime does:
    an integer product of the quantized A with B, scaled once."""

    def run(self, a, b, b_scale, b_zero_point=None, bias=None):
        a_q, a_scale, a_zp = dynamic_quantize(self, a, "A")
        acc = integer_matmul(self, a_q, b, a_zp, b_zero_point)
        return (_scaled_product(self, acc, a_scale, b_scale, b, bias),)


@register("MatMulIntegerToFloat", 1, domain=MS)
class MatMulIntegerToFloat(Op):
    """Y = (A - a_zero_point) @ (B - b_zero_point) * a_scale * b_scale + bias."""

    def run(self, a, b, a_scale, b_scale, a_zero_point=None, b_zero_point=None, bias=None):
        if np.asarray(a_scale).size != 1:
            raise self.run_error(f"a_scale must be a scalar, got shape {list(np.shape(a_scale))}")
        acc = integer_matmul(self, a, b, a_zero_point, b_zero_point)
        return (_scaled_product(self, acc, a_scale, b_scale, b, bias),)


@register("DynamicQuantizeLSTM", 1, domain=MS)
class DynamicQuantizeLSTM(LSTM):
    """LSTM whose W [D, input, 4H] and R [D, H, 4H] are int8 / uint8 with per-direction (or per
    direction and gate column) scales and zero points. The weights are dequantized (once, when
    they are initializers) and the float LSTM kernel runs; onnxruntime instead quantizes the
    activations too, so the two differ by that rounding (see tests/corpus)."""

    _QUANT_INPUTS = (8, 9, 10, 11)  # W_scale, W_zero_point, R_scale, R_zero_point

    def _prepare_weights(self):
        consts = [self.const_input(i) for i in (1, 2) + self._QUANT_INPUTS]
        has_b = len(self.node.input) > 3 and bool(self.node.input[3])
        bias = self.const_input(3) if has_b else None
        if any(c is None for c in consts) or (has_b and bias is None):
            return None
        w, r, w_scale, w_zp, r_scale, r_zp = consts
        try:
            return kernels.RnnWeights("lstm", self._dequantized(w, w_scale, w_zp, "W"),
                                      self._dequantized(r, r_scale, r_zp, "R"),
                                      None if bias is None else bias.astype(np.float32),
                                      num_threads=self.num_threads)
        except KernelArgumentError:
            return None  # the call reports the shapes

    def _dequantized(self, q, scale, zero_point, what: str) -> np.ndarray:
        """[D, rows, 4H] quantized -> ONNX LSTM layout [D, 4H, rows] float32."""
        if not isinstance(q, np.ndarray) or q.dtype not in (np.int8, np.uint8) or q.ndim != 3:
            raise self.run_error(f"{what} must be a 3-D int8 or uint8 tensor, got "
                                 f"{getattr(q, 'dtype', type(q).__name__)} {list(np.shape(q))}")
        directions, _, columns = q.shape
        scale = np.asarray(scale, dtype=np.float32)
        zero_point = np.asarray(zero_point)
        for name, p in ((f"{what}_scale", scale), (f"{what}_zero_point", zero_point)):
            if p.shape not in ((directions,), (directions, columns)):
                raise self.run_error(f"{name} must be [{directions}] or [{directions}, {columns}], got {list(p.shape)}")
        if zero_point.dtype != q.dtype:
            raise self.run_error(f"{what}_zero_point has dtype {zero_point.dtype}, {what} has {q.dtype}")
        per = (lambda p: p.reshape(directions, 1, -1))
        w = (q.astype(np.float32) - per(zero_point).astype(np.float32)) * per(scale)
        return np.ascontiguousarray(w.transpose(0, 2, 1))

    def run(self, X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None,
            W_scale=None, W_zero_point=None, R_scale=None, R_zero_point=None):
        if self.weights is None:
            W = self._dequantized(W, W_scale, W_zero_point, "W")
            R = self._dequantized(R, R_scale, R_zero_point, "R")
        return self.call_kernel(X, W, R, B, sequence_lens, initial_h, initial_c=initial_c, P=P)
