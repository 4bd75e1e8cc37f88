"""String operators: StringNormalizer, StringSplit, StringConcat, RegexFullMatch, and the n-gram
counter TfIdfVectorizer.

String tensors arrive as numpy object (or unicode / bytes) arrays and leave as object arrays of
Python str, the representation onnx.numpy_helper uses for tensor(string).
"""
from __future__ import annotations

import re

import numpy as np

from ..registry import register
from .base import Op


def string_array(op: Op, x, what: str = "input") -> np.ndarray:
    """x as an object array of str; bytes are decoded as UTF-8."""
    x = np.asarray(x)
    if x.dtype.kind not in "OUS":
        raise op.run_error(f"{what} must be a string tensor, got dtype {x.dtype}")
    out = np.empty(x.shape, dtype=object)
    flat_in, flat_out = x.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in):
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        elif not isinstance(v, str):
            raise op.run_error(f"{what} holds a {type(v).__name__} ({v!r}), not a string")
        flat_out[i] = v
    return out


@register("StringNormalizer", 10)
class StringNormalizer(Op):
    def setup(self):
        self.action = self.attr("case_change_action", "NONE")
        if self.action not in ("LOWER", "UPPER", "NONE"):
            raise self.model_error(f"case_change_action must be LOWER, UPPER or NONE, got {self.action!r}")
        self.case_sensitive = bool(self.attr("is_case_sensitive", 0))
        stopwords = self.attr("stopwords", [])
        # Case-insensitive matching compares case-folded forms (full Unicode folding).
        self.stopwords = set(stopwords) if self.case_sensitive else {w.casefold() for w in stopwords}
        # Case mapping is Python's locale-independent Unicode mapping; the locale attribute is
        # accepted but only affects locale-specific rules (e.g. Turkish dotless i) elsewhere.
        self.locale = self.attr("locale", "")

    def run(self, x):
        x = string_array(self, x, "X")
        if not (x.ndim == 1 or (x.ndim == 2 and x.shape[0] == 1)):
            raise self.run_error(f"X must have shape [C] or [1, C], got {list(x.shape)}")
        words = list(x.reshape(-1))
        if self.stopwords:
            key = (lambda w: w) if self.case_sensitive else str.casefold
            words = [w for w in words if key(w) not in self.stopwords]
        if self.action == "LOWER":
            words = [w.lower() for w in words]
        elif self.action == "UPPER":
            words = [w.upper() for w in words]
        if not words:  # everything dropped: one empty string, keeping the rank
            words = [""]
        out = np.empty(len(words), dtype=object)
        out[:] = words
        return (out.reshape(1, -1) if x.ndim == 2 else out,)


@register("StringSplit", 20)
class StringSplit(Op):
    def setup(self):
        # Unset or "": split on runs of whitespace, dropping leading/trailing whitespace.
        self.delimiter = self.attr("delimiter", "") or None
        self.maxsplit = self.attr("maxsplit", None)
        if self.maxsplit is not None and self.maxsplit < 0:
            raise self.model_error(f"maxsplit must be >= 0, got {self.maxsplit}")

    def run(self, x):
        x = string_array(self, x, "X")
        maxsplit = -1 if self.maxsplit is None else self.maxsplit
        parts = [s.split(self.delimiter, maxsplit) for s in x.reshape(-1)]
        width = max((len(p) for p in parts), default=0)
        y = np.full((len(parts), width), "", dtype=object)
        for i, p in enumerate(parts):
            y[i, :len(p)] = p
        counts = np.array([len(p) for p in parts], dtype=np.int64).reshape(x.shape)
        return y.reshape(x.shape + (width,)), counts


@register("StringConcat", 20)
class StringConcat(Op):
    def run(self, x, y):
        x, y = string_array(self, x, "X"), string_array(self, y, "Y")
        try:
            shape = np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise self.run_error(f"shapes {list(x.shape)} and {list(y.shape)} do not broadcast") from None
        out = np.empty(shape, dtype=object)
        out[...] = np.frompyfunc(lambda a, b: a + b, 2, 1)(x, y)
        return (out,)


@register("RegexFullMatch", 20)
class RegexFullMatch(Op):
    """RE2 patterns run on Python's re. re.ASCII makes \\w \\d \\s \\b ASCII-only as in RE2.
    Known differences: re accepts some non-RE2 syntax (backreferences, lookaround) and rejects
    RE2's \\pL-style Unicode classes; `$` may match before a final newline in re."""

    def setup(self):
        pattern = self.attr("pattern")
        try:
            self.regex = re.compile(pattern, re.ASCII)
        except re.error as e:
            raise self.model_error(f"invalid regular expression {pattern!r}: {e}") from None

    def run(self, x):
        x = string_array(self, x, "X")
        out = np.zeros(x.shape, dtype=np.bool_)
        flat = out.reshape(-1)
        for i, s in enumerate(x.reshape(-1)):
            flat[i] = self.regex.fullmatch(s) is not None
        return (out,)


@register("TfIdfVectorizer", 9)
class TfIdfVectorizer(Op):
    """Counts, per row, every pool n-gram with min_gram_length <= n <= max_gram_length found
    with its items `skip + 1` apart, for skip in 0..max_skip_count (1-grams counted once)."""

    def setup(self):
        self.mode = self.attr("mode")
        if self.mode not in ("TF", "IDF", "TFIDF"):
            raise self.model_error(f"mode must be TF, IDF or TFIDF, got {self.mode!r}")
        self.min_n = self.attr("min_gram_length")
        self.max_n = self.attr("max_gram_length")
        self.max_skip = self.attr("max_skip_count")
        if not 1 <= self.min_n <= self.max_n or self.max_skip < 0:
            raise self.model_error(f"need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0, "
                                   f"got {self.min_n}, {self.max_n}, {self.max_skip}")
        ints, strings = self.attr("pool_int64s", None), self.attr("pool_strings", None)
        if (ints is None) == (strings is None):
            raise self.model_error("exactly one of pool_int64s and pool_strings must be set")
        self.strings = strings is not None
        pool = list(strings if self.strings else ints)
        starts = list(self.attr("ngram_counts"))
        indexes = list(self.attr("ngram_indexes"))
        # Pool slice k (from starts[k] to the next start) holds consecutive (k+1)-grams.
        grams = []
        for k, begin in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(pool)
            n = k + 1
            if not 0 <= begin <= end <= len(pool) or (end - begin) % n:
                raise self.model_error(f"ngram_counts {starts} do not split a pool of {len(pool)} into whole "
                                       f"{n}-grams")
            grams += [(tuple(pool[i:i + n])) for i in range(begin, end, n)]
        if len(indexes) != len(grams):
            raise self.model_error(f"ngram_indexes has {len(indexes)} entries for {len(grams)} n-grams in the pool")
        if not indexes or min(indexes) < 0:
            raise self.model_error("ngram_indexes must be non-empty and non-negative")
        self.out_size = max(indexes) + 1
        weights = self.attr("weights", None)
        if weights is not None and len(weights) != len(grams):
            raise self.model_error(f"weights has {len(weights)} entries for {len(grams)} n-grams")
        self.weights = np.ones(len(grams)) if weights is None else np.asarray(weights, dtype=np.float64)
        self.indexes = np.asarray(indexes, dtype=np.int64)
        self.lookup = {g: i for i, g in enumerate(grams) if self.min_n <= len(g) <= self.max_n}

    def run(self, x):
        if self.strings:
            x = string_array(self, x, "X")
        elif x.dtype not in (np.int32, np.int64):
            raise self.run_error(f"X must be int32 or int64 with pool_int64s, got {x.dtype}")
        if x.ndim not in (1, 2):
            raise self.run_error(f"X must have shape [C] or [N, C], got {list(x.shape)}")
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        out = np.zeros((rows.shape[0], self.out_size), dtype=np.float64)
        for r, row in enumerate(rows):
            items = row.tolist()
            counts = np.zeros(len(self.weights), dtype=np.int64)
            for n in range(self.min_n, self.max_n + 1):
                for skip in range(self.max_skip + 1 if n > 1 else 1):
                    step = skip + 1
                    for start in range(len(items) - (n - 1) * step):
                        i = self.lookup.get(tuple(items[start:start + (n - 1) * step + 1:step]))
                        if i is not None:
                            counts[i] += 1
            if self.mode == "TF":
                values = counts.astype(np.float64)
            elif self.mode == "IDF":
                values = (counts > 0) * self.weights
            else:
                values = counts * self.weights
            np.add.at(out[r], self.indexes, values)
        out = out.astype(np.float32)
        return (out[0] if x.ndim == 1 else out,)
