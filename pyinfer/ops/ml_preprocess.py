"""ai.onnx.ml feature preprocessing and output shaping: Scaler, Normalizer, Imputer, OneHotEncoder,
CategoryMapper, DictVectorizer, FeatureVectorizer and ZipMap (what skl2onnx writes around its
predictors: StandardScaler, Normalizer, SimpleImputer, OneHotEncoder, DictVectorizer, and the
probabilities as a list of {label: probability} dicts)."""
from __future__ import annotations

import numpy as np

from .. import kernels
from ..lowering import Native
from ..registry import register
from .base import Op
from .ml_common import ML, NUMERIC_INPUTS
from .text import string_array

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _per_column(op: Op, values: np.ndarray, n_columns: int, name: str) -> np.ndarray:
    """An attribute with one value for all columns or one per column, as a row to broadcast."""
    if values.size == 1 or values.size == n_columns:
        return values.reshape(1, -1) if values.size > 1 else values.reshape(1, 1)
    raise op.run_error(f"attribute {name} has {values.size} values; X has {n_columns} columns (give 1 or "
                       f"{n_columns})")


def _numeric(op: Op, x, allowed=NUMERIC_INPUTS) -> np.ndarray:
    if not isinstance(x, np.ndarray) or x.dtype not in allowed:
        names = ", ".join(np.dtype(t).name for t in allowed)
        raise op.run_error(f"X must be a tensor of {names}, got {getattr(x, 'dtype', type(x).__name__)}")
    return x


def _columns(x: np.ndarray) -> int:
    return x.shape[-1] if x.ndim else 1


@register("Scaler", 1, domain=ML)
class Scaler(Op):
    """Y = (X - offset) * scale, as float32, computed in X's type (float32 for integers), as
    onnxruntime does; the C++ kernel of csrc/ml/preprocess.cpp."""

    def setup(self):
        self.offset = np.asarray(self.attr("offset", [0.0]), dtype=np.float32).astype(np.float64)
        self.scale = np.asarray(self.attr("scale", [1.0]), dtype=np.float32).astype(np.float64)

    def _check_columns(self, columns: int) -> None:
        for name, values in (("offset", self.offset), ("scale", self.scale)):
            _per_column(self, values, columns, name)

    def run(self, x):
        x = _numeric(self, x)
        self._check_columns(_columns(x))
        return (kernels.scaler(x if x.dtype in _KERNEL_DTYPES else x.astype(np.float32), self.offset, self.scale),)

    def lower(self, node):
        x = node.inputs[0]
        if x.dtype not in _KERNEL_DTYPES or any(v.size not in (1, _columns(x)) for v in (self.offset, self.scale)):
            return None
        return Native(kernels.prepare_scaler(list(x.shape), x.dtype.name, self.offset, self.scale), [0])


@register("Normalizer", 1, domain=ML)
class Normalizer(Op):
    """Each row (axis 1) divided by its max, L1 or L2 norm; a zero norm leaves the row as it is.
    float32 (other inputs are converted first), on the C++ kernel of csrc/ml/preprocess.cpp."""

    def setup(self):
        self.norm = self.attr("norm", "MAX")
        if self.norm not in ("MAX", "L1", "L2"):
            raise self.model_error(f"attribute norm must be MAX, L1 or L2, got {self.norm!r}")

    def run(self, x):
        x = _numeric(self, x)
        if x.ndim == 0:
            raise self.run_error("X must have rank >= 1")
        return (kernels.normalizer(x.astype(np.float32, copy=False), self.norm),)

    def lower(self, node):
        x = node.inputs[0]
        if x.dtype != np.float32 or x.ndim == 0:
            return None
        return Native(kernels.prepare_normalizer(list(x.shape), self.norm), [0])


@register("Imputer", 1, domain=ML)
class Imputer(Op):
    """Replaces replaced_value_* (NaN for floats by default in practice) by imputed_value_*."""

    def setup(self):
        self.floats = np.asarray(self.attr("imputed_value_floats", []), dtype=np.float32)
        self.ints = np.asarray(self.attr("imputed_value_int64s", []), dtype=np.int64)
        if not self.floats.size and not self.ints.size:
            raise self.model_error("one of the attributes imputed_value_floats or imputed_value_int64s must be set")
        self.replaced_float = np.float32(self.attr("replaced_value_float", 0.0))
        self.replaced_int = np.int64(self.attr("replaced_value_int64", 0))

    def run(self, x):
        x = _numeric(self, x, (np.float32, np.int64))
        if x.dtype == np.float32:
            if not self.floats.size:
                raise self.run_error("X is float but the model imputes int64 values (imputed_value_int64s)")
            fill, replaced = self.floats, self.replaced_float
            missing = np.isnan(x) if np.isnan(replaced) else x == replaced
        else:
            if not self.ints.size:
                raise self.run_error("X is int64 but the model imputes float values (imputed_value_floats)")
            fill, replaced = self.ints, self.replaced_int
            missing = x == replaced
        n = _columns(x)
        fill_row = np.broadcast_to(_per_column(self, fill, n, "imputed_value_*"), (1, n)).reshape(-1)
        filled = np.broadcast_to(fill_row, x.shape) if x.ndim else fill_row[0]
        return (np.where(missing, filled, x).astype(x.dtype),)


def _category_index(categories: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in categories (first occurrence), -1 when absent: a vectorized lookup
    through the sorted categories."""
    order = np.argsort(categories, kind="stable")
    ordered = categories[order]
    flat = values.reshape(-1)
    if not len(categories):
        return np.full(values.shape, -1, dtype=np.int64)
    at = np.clip(np.searchsorted(ordered, flat), 0, len(ordered) - 1)
    found = ordered[at] == flat
    return np.where(found, order[at], -1).reshape(values.shape).astype(np.int64)


def _lookup_values(op: Op, x, strings: bool, what: str = "X") -> np.ndarray:
    if strings:
        return string_array(op, x, what)
    if not isinstance(x, np.ndarray) or x.dtype not in (np.int64, np.int32, np.float32, np.float64):
        raise op.run_error(f"{what} must be a tensor of int64, int32, float or double, got "
                           f"{getattr(x, 'dtype', type(x).__name__)}")
    return x.astype(np.int64)  # onnxruntime truncates float categories to int64


def _strings_or_ints(op: Op, strings_attr: str, ints_attr: str) -> tuple[list, bool]:
    """(values, are_strings) of the one attribute of the pair that is set."""
    strings, ints = op.attr(strings_attr, None), op.attr(ints_attr, None)
    if bool(strings) == bool(ints):
        raise op.model_error(f"exactly one of the attributes {strings_attr} or {ints_attr} must be set")
    return (list(strings), True) if strings else ([int(v) for v in ints], False)


@register("OneHotEncoder", 1, domain=ML)
class OneHotEncoder(Op):
    """Y[..., k] = 1 where X equals the k-th category: shape X.shape + [categories], float32."""

    def setup(self):
        categories, self.strings = _strings_or_ints(self, "cats_strings", "cats_int64s")
        self.categories = np.array(categories, dtype=object if self.strings else np.int64)
        self.zeros = int(self.attr("zeros", 1))

    def run(self, x):
        if self.strings != (isinstance(x, np.ndarray) and x.dtype.kind in "OUS"):
            raise self.run_error(f"X must be {'a string' if self.strings else 'a numeric'} tensor for these "
                                 f"categories, got {getattr(x, 'dtype', type(x).__name__)}")
        index = _category_index(self.categories, _lookup_values(self, x, self.strings))
        if not self.zeros and (index < 0).any():
            flat = _lookup_values(self, x, self.strings).reshape(-1)
            unknown = flat[np.flatnonzero(index.reshape(-1) < 0)[0]]
            unknown = unknown if isinstance(unknown, str) else unknown.item()
            raise self.run_error(f"X holds {unknown!r}, not a category, and attribute zeros is 0")
        out = np.zeros(index.shape + (len(self.categories),), dtype=np.float32)
        hit = index >= 0
        out[hit, index[hit]] = 1.0
        return (out,)


@register("CategoryMapper", 1, domain=ML)
class CategoryMapper(Op):
    """string -> int64 through cats_strings / cats_int64s, or back; unknown -> default_*."""

    def setup(self):
        self.strings = np.array(list(self.attr("cats_strings", [])), dtype=object)
        self.ints = np.asarray(self.attr("cats_int64s", []), dtype=np.int64)
        if len(self.strings) != len(self.ints):
            raise self.model_error(f"attributes cats_strings ({len(self.strings)}) and cats_int64s "
                                   f"({len(self.ints)}) must have the same length")
        self.default_int = np.int64(self.attr("default_int64", -1))
        self.default_string = self.attr("default_string", "_Unused")

    def run(self, x):
        if isinstance(x, np.ndarray) and x.dtype.kind in "OUS":
            index = _category_index(self.strings, string_array(self, x, "X"))
            return (np.where(index >= 0, self.ints[np.maximum(index, 0)] if len(self.ints) else 0,
                             self.default_int).astype(np.int64),)
        if not isinstance(x, np.ndarray) or x.dtype != np.int64:
            raise self.run_error(f"X must be a string or int64 tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        index = _category_index(self.ints, x)
        out = np.full(x.shape, self.default_string, dtype=object)
        hit = index >= 0
        out[hit] = self.strings[index[hit]]
        return (out,)


@register("DictVectorizer", 1, domain=ML)
class DictVectorizer(Op):
    """A map (dict) -> [1, vocabulary] in the vocabulary's order; keys outside it are ignored."""

    def setup(self):
        vocabulary, self.string_keys = _strings_or_ints(self, "string_vocabulary", "int64_vocabulary")
        self.position = {key: i for i, key in reversed(list(enumerate(vocabulary)))}

    def run(self, mapping):
        if not isinstance(mapping, dict):
            raise self.run_error(f"X must be a map (a dict), got {type(mapping).__name__}")
        keys = [k.decode("utf-8") if isinstance(k, bytes) else k for k in mapping]
        if keys and self.string_keys != isinstance(keys[0], str):
            raise self.run_error(f"X's keys must be {'strings' if self.string_keys else 'int64'}, got "
                                 f"{type(keys[0]).__name__}")
        values = list(mapping.values())
        dtype = _map_value_dtype(self, values)
        out = np.zeros((1, len(self.position)), dtype=dtype) if dtype != object else \
            np.full((1, len(self.position)), "", dtype=object)
        slots = [(self.position.get(int(k) if not self.string_keys else k), v) for k, v in zip(keys, values)]
        for column, value in slots:  # one entry per key of the single map this op reads
            if column is not None:
                out[0, column] = value
        return (out,)


def _map_value_dtype(op: Op, values: list):
    if not values:
        return np.float32
    arr = np.asarray(values)
    if arr.dtype.kind in "OUS":
        return object
    if arr.dtype in (np.float32, np.float64, np.int64):
        return arr.dtype
    if arr.dtype.kind == "f":
        return np.float32
    if arr.dtype.kind in "iu":
        return np.int64
    raise op.run_error(f"X's values must be float, double, int64 or strings, got {arr.dtype}")


@register("FeatureVectorizer", 1, domain=ML)
class FeatureVectorizer(Op):
    """Concatenates the first inputdimensions[i] columns of each input (zero-padded) into float32."""

    def setup(self):
        self.dims = [int(d) for d in self.attr("inputdimensions", [])]
        if len(self.dims) != len(self.node.input):
            raise self.model_error(f"attribute inputdimensions has {len(self.dims)} entries for "
                                   f"{len(self.node.input)} inputs")
        if any(d < 0 for d in self.dims):
            raise self.model_error(f"attribute inputdimensions {self.dims} must not be negative")

    def run(self, *inputs):
        rows = None
        parts = []
        for i, (x, width) in enumerate(zip(inputs, self.dims)):
            x = _numeric(self, x)
            x2 = x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)
            if rows is None:
                rows = x2.shape[0]
            elif x2.shape[0] != rows:
                raise self.run_error(f"input {i} has {x2.shape[0]} rows, input 0 has {rows}")
            part = np.zeros((rows, width), dtype=np.float32)
            take = min(width, x2.shape[1])
            part[:, :take] = x2[:, :take]
            parts.append(part)
        return (np.concatenate(parts, axis=1) if parts else np.zeros((0, 0), np.float32),)


@register("ZipMap", 1, domain=ML)
class ZipMap(Op):
    """[N, C] scores -> a list of N dicts {class label: score} (onnxruntime's sequence of maps)."""

    def setup(self):
        self.labels, _ = _strings_or_ints(self, "classlabels_strings", "classlabels_int64s")

    def run(self, x):
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            raise self.run_error(f"X must be a float tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        if rows.ndim != 2 or rows.shape[1] != len(self.labels):
            raise self.run_error(f"X must be [N, {len(self.labels)}] (one column per class label), got shape "
                                 f"{list(x.shape)}")
        labels = self.labels
        return ([dict(zip(labels, row)) for row in rows.tolist()],)
