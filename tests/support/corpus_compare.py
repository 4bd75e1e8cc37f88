"""Comparing pyinfer's outputs with onnxruntime's and with the estimator's."""
from __future__ import annotations

import numpy as np


def max_difference(want, got) -> float:
    """The largest absolute difference between two outputs (0 for equal discrete ones); raises
    AssertionError when they differ in kind, shape, dtype, keys or a discrete value."""
    if isinstance(want, list):  # onnxruntime's sequence of maps (ZipMap)
        assert isinstance(got, list) and len(got) == len(want), f"{len(want)} maps expected, got {type(got)}"
        worst = 0.0
        for w, g in zip(want, got):
            assert list(w) == list(g), f"map keys {list(w)} expected, got {list(g)}"
            worst = max(worst, max_difference(np.array(list(w.values())), np.array(list(g.values()))))
        return worst
    assert isinstance(got, np.ndarray), f"an array expected, got {type(got).__name__}"
    assert want.shape == got.shape, f"shape {want.shape} expected, got {got.shape}"
    if want.dtype.kind in "OUSb" or want.dtype.kind in "iu":
        assert want.dtype.kind == got.dtype.kind or {want.dtype.kind, got.dtype.kind} <= {"O", "U", "S"}, \
            f"dtype {want.dtype} expected, got {got.dtype}"
        mismatch = np.flatnonzero(want.reshape(-1) != got.reshape(-1))
        assert mismatch.size == 0, (f"{mismatch.size} of {want.size} discrete values differ, first at {mismatch[0]}: "
                                    f"{want.reshape(-1)[mismatch[0]]!r} expected, got {got.reshape(-1)[mismatch[0]]!r}")
        return 0.0
    assert want.dtype == got.dtype, f"dtype {want.dtype} expected, got {got.dtype}"
    if want.size == 0:
        return 0.0
    return float(np.nanmax(np.abs(want.astype(np.float64) - got.astype(np.float64))))


def assert_outputs_close(want: list, got: list, rtol: float, atol: float) -> float:
    assert len(want) == len(got), f"{len(want)} outputs expected, got {len(got)}"
    worst = 0.0
    for i, (w, g) in enumerate(zip(want, got)):
        worst = max(worst, max_difference(w, g))
        if isinstance(w, np.ndarray) and w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"output {i}")
        elif isinstance(w, list):
            for wm, gm in zip(w, g):
                np.testing.assert_allclose(list(gm.values()), list(wm.values()), rtol=rtol, atol=atol,
                                           err_msg=f"output {i}")
    return worst


def probabilities(output) -> np.ndarray:
    """[N, classes] from a probability tensor or a ZipMap list of dicts."""
    if isinstance(output, list):
        return np.array([list(row.values()) for row in output], dtype=np.float64)
    return np.asarray(output, dtype=np.float64)
