"""ai.onnx.ml operators: LabelEncoder, ArrayFeatureExtractor, Binarizer (the tree ensembles are in
ml_tree.py)."""
from __future__ import annotations

import math

import numpy as np

from ..registry import register
from .base import Op
from .ml_common import ML
from .text import string_array


# --- LabelEncoder ------------------------------------------------------------------------------

def _tensor_values(op: Op, t: np.ndarray, what: str) -> tuple[list, np.dtype]:
    """A keys_/values_/default_tensor attribute as Python values plus its dtype (object for strings)."""
    t = np.asarray(t)
    if t.dtype.kind in "OSU":
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in t.reshape(-1)], np.dtype(object)
    allowed = (np.int64, np.float32, np.int32, np.int16, np.float64)
    if t.dtype not in allowed:
        raise op.model_error(f"{what} has unsupported dtype {t.dtype}")
    return t.reshape(-1).tolist(), t.dtype


@register("LabelEncoder", 1, 2, 4, domain=ML)
class LabelEncoder(Op):
    def setup(self):
        if self.version == 1:
            self._setup_v1()
            return
        kinds = ("floats", "int64s", "strings") + (("tensor",) if self.version >= 4 else ())
        keys = [k for k in kinds if f"keys_{k}" in self.attrs]
        vals = [k for k in kinds if f"values_{k}" in self.attrs]
        if len(keys) != 1 or len(vals) != 1:
            raise self.model_error("exactly one keys_* and one values_* attribute must be set")
        self.keys, self.key_dtype = self._attr_list("keys", keys[0])
        values, self.out_dtype = self._attr_list("values", vals[0])
        if len(self.keys) != len(values):
            raise self.model_error(f"{len(self.keys)} keys but {len(values)} values")
        self.default = self._default(vals[0])
        self._build(self.keys, values)

    def _attr_list(self, side: str, kind: str):
        value = self.attr(f"{side}_{kind}")
        if kind == "tensor":
            return _tensor_values(self, value, f"{side}_tensor")
        dtype = {"floats": np.dtype(np.float32), "int64s": np.dtype(np.int64), "strings": np.dtype(object)}[kind]
        return list(value), dtype

    def _default(self, kind: str):
        if kind == "tensor":
            if "default_tensor" in self.attrs:
                vals, dt = _tensor_values(self, self.attrs["default_tensor"], "default_tensor")
                if len(vals) != 1 or dt != self.out_dtype:
                    raise self.model_error(f"default_tensor must hold one {self.out_dtype} value")
                return vals[0]
            return {"O": "_Unused", "i": -1, "f": -0.0}[self.out_dtype.kind]
        return {"floats": self.attr("default_float", -0.0), "int64s": self.attr("default_int64", -1),
                "strings": self.attr("default_string", "_Unused")}[kind]

    def _build(self, keys, values):
        # Later duplicates win; every NaN key matches every NaN input.
        self.table, self.nan_value = {}, None
        for k, v in zip(keys, values):
            if isinstance(k, float) and math.isnan(k):
                self.nan_value = (v,)
            else:
                self.table[k] = v

    def _setup_v1(self):
        classes = list(self.attr("classes_strings", []))
        self.v1_classes = classes
        self.v1_default_string = self.attr("default_string", "_Unused")
        self.v1_default_int = self.attr("default_int64", -1)

    def run(self, x):
        if self.version == 1:
            return self._run_v1(x)
        if self.key_dtype.kind == "O":
            xs = string_array(self, x, "X")
        elif x.dtype != self.key_dtype:
            raise self.run_error(f"X has dtype {x.dtype}; the keys are {self.key_dtype}")
        else:
            xs = x
        out = np.empty(x.shape, dtype=self.out_dtype)
        flat_out = out.reshape(-1)
        nan_value = self.nan_value
        for i, v in enumerate(xs.reshape(-1).tolist()):
            if nan_value is not None and isinstance(v, float) and v != v:
                flat_out[i] = nan_value[0]
            else:
                flat_out[i] = self.table.get(v, self.default)
        return (out,)

    def _run_v1(self, x):
        if x.dtype == np.int64:  # index -> class string
            out = np.empty(x.shape, dtype=object)
            n = len(self.v1_classes)
            out.reshape(-1)[:] = [self.v1_classes[i] if 0 <= i < n else self.v1_default_string
                                  for i in x.reshape(-1).tolist()]
            return (out,)
        xs = string_array(self, x, "X")
        index = {}
        for i, c in enumerate(self.v1_classes):
            index.setdefault(c, i)
        out = np.array([index.get(s, self.v1_default_int) for s in xs.reshape(-1)], dtype=np.int64)
        return (out.reshape(x.shape),)


# --- ArrayFeatureExtractor / Binarizer ----------------------------------------------------------

@register("ArrayFeatureExtractor", 1, domain=ML)
class ArrayFeatureExtractor(Op):
    def run(self, x, y):
        if x.dtype not in (np.float32, np.float64, np.int64, np.int32) and x.dtype.kind not in "OUS":
            raise self.run_error(f"X has unsupported dtype {x.dtype}")
        if y.dtype != np.int64:
            raise self.run_error(f"Y (indices) must be int64, got {y.dtype}")
        if x.ndim == 0:
            raise self.run_error("X must have rank >= 1")
        idx = y.reshape(-1)
        n = x.shape[-1]
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise self.run_error(f"indices {idx.tolist()} must be non-empty and lie in [0, {n})")
        out = x[..., idx]
        # As onnxruntime: a 1-D X gives a [1, k] result.
        return (out.reshape(1, -1) if x.ndim == 1 else out,)


@register("Binarizer", 1, domain=ML)
class Binarizer(Op):
    def setup(self):
        self.threshold = float(self.attr("threshold", 0.0))

    def run(self, x):
        if x.dtype not in (np.float32, np.float64, np.int64, np.int32):
            raise self.run_error(f"X has unsupported dtype {x.dtype}")
        return ((x.astype(np.float64) > self.threshold).astype(x.dtype),)
