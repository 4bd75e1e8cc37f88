"""Every file of the corpus (tests/support/corpus_models.py: real converters' output, made at test
time) loads in pyinfer and gives onnxruntime's outputs; scikit-learn models also give the estimator's
own predictions, Keras models Keras's outputs. A converter that is not installed skips its cases,
saying which package is missing."""
import numpy as np
import onnxruntime as ort
import pytest
from support.corpus_compare import assert_outputs_close, probabilities
from support.corpus_models import CASES, build, missing

import pyinfer

_BUILT = {}


def built_case(case, corpus_dir):
    absent = missing(case)
    if absent:
        pytest.skip(f"{case.converter} needs {', '.join(absent)} (not installed)")
    if case.id not in _BUILT:
        _BUILT[case.id] = build(case, corpus_dir)
    return _BUILT[case.id]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_loads_and_matches_onnxruntime(case, corpus_dir):
    built = built_case(case, corpus_dir)
    sess = pyinfer.InferenceSession(built.path)
    ref = ort.InferenceSession(built.path, providers=["CPUExecutionProvider"])
    assert [a.name for a in sess.get_inputs()] == [a.name for a in ref.get_inputs()]
    assert [a.shape for a in sess.get_inputs()] == [a.shape for a in ref.get_inputs()]
    for feeds in built.feeds:
        want = ref.run(None, feeds)
        for _ in range(2):  # the second run takes the compiled plan
            assert_outputs_close(want, sess.run(None, feeds), case.rtol, case.atol)


WITH_ESTIMATOR = [c for c in CASES if c.converter in ("skl2onnx", "onnxmltools")]
WITH_KERAS = [c for c in CASES if c.converter == "tf2onnx"]


@pytest.mark.parametrize("case", WITH_ESTIMATOR, ids=[c.id for c in WITH_ESTIMATOR])
def test_matches_the_estimator(case, corpus_dir):
    """Labels exactly, probabilities to 1e-5 (relative; 1e-6 absolute for those near 0), regression
    and transformed values to float32 precision."""
    built = built_case(case, corpus_dir)
    sess = pyinfer.InferenceSession(built.path)
    for feeds, expected in zip(built.feeds, built.expected):
        got = sess.run(None, feeds)
        if len(expected) == 2:  # classifier: (labels, probabilities)
            labels, proba = expected
            np.testing.assert_array_equal(np.asarray(got[0]).reshape(-1), np.asarray(labels).reshape(-1))
            if proba is not None:
                np.testing.assert_allclose(probabilities(got[1]), proba, rtol=1e-5, atol=1e-6)
        else:
            (values,) = expected
            got0 = np.asarray(got[0], dtype=np.float64).reshape(np.shape(values))
            scale = max(1.0, float(np.nanmax(np.abs(values))))
            np.testing.assert_allclose(got0, values, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("case", WITH_KERAS, ids=[c.id for c in WITH_KERAS])
def test_matches_keras(case, corpus_dir):
    """tf2onnx's file gives what the Keras model it came from gives (the default tolerance)."""
    built = built_case(case, corpus_dir)
    sess = pyinfer.InferenceSession(built.path)
    for feeds, (values,) in zip(built.feeds, built.expected):
        np.testing.assert_allclose(sess.run(None, feeds)[0], values, rtol=1e-3, atol=1e-4)


def _grown(sess, feeds, extra=3):
    """feeds with every symbolic dimension `extra` larger (the same symbol, the same size), the
    new rows repeating existing ones (so ids and categories stay valid). An unnamed dynamic first
    dimension counts as the batch, shared by every input; None for other unnamed dynamic
    dimensions (their relations unknown), or when there is none to grow."""
    sizes, grown = {}, {}
    for arg in sess.get_inputs():
        v = feeds[arg.name]
        if not isinstance(v, np.ndarray):
            return None
        for axis, d in enumerate(arg.shape):
            if d is None or (isinstance(d, int) and d < 0):
                if axis:
                    return None
                d = "<batch>"
            if isinstance(d, str):
                sizes.setdefault(d, v.shape[axis] + extra)
                v = np.take(v, np.arange(sizes[d]) % v.shape[axis], axis=axis)
        grown[arg.name] = v
    return grown if sizes else None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_other_shapes_run_on_the_dynamic_plan(case, corpus_dir):
    """A second input shape of the same ranks runs on the shape class's dynamic plan and still
    gives onnxruntime's outputs; then the first shape again, on its static plan."""
    built = built_case(case, corpus_dir)
    sess = pyinfer.InferenceSession(built.path)
    feeds = built.feeds[0]
    grown = _grown(sess, feeds)
    if grown is None:
        pytest.skip("no named dynamic dimension to grow")
    ref = ort.InferenceSession(built.path, providers=["CPUExecutionProvider"])
    assert_outputs_close(ref.run(None, feeds), sess.run(None, feeds), case.rtol, case.atol)
    want = ref.run(None, grown)
    for _ in range(2):
        assert_outputs_close(want, sess.run(None, grown), case.rtol, case.atol)
    assert_outputs_close(ref.run(None, feeds), sess.run(None, feeds), case.rtol, case.atol)
