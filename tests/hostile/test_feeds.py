"""Feeds from the network: wrong ones get InvalidFeedError subclasses; odd but legal ones compute right."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import pyinfer
from support.hostile_models import CIFAR, CIFAR_DATA, model, single_op, vi


@pytest.fixture(scope="module")
def cifar():
    return pyinfer.InferenceSession(CIFAR)


@pytest.fixture(scope="module")
def cifar_batch():
    return np.load(CIFAR_DATA)["b4.in.input"]


def fixed_model():
    """Y = Relu(X), X declared float [N, 3]."""
    return model([helper.make_node("Relu", ["X"], ["Y"])], [vi("X", ["N", 3])], [vi("Y", ["N", 3])])


@pytest.mark.parametrize("feeds, error, message", [
    ({}, pyinfer.MissingInputError, "missing input.*'X'"),
    ({"X": np.ones((1, 3), np.float32), "extra": np.ones(1)}, pyinfer.UnknownInputError, "unknown input name 'extra'"),
    ({"X": np.ones((1, 3), np.float64)}, pyinfer.InputTypeError, "'X': expected tensor\\(float\\).*float64"),
    ({"X": np.ones((1, 3), np.int32)}, pyinfer.InputTypeError, "'X'.*int32"),
    ({"X": np.ones(3, np.float32)}, pyinfer.InputShapeError, "'X': expected rank 2"),
    ({"X": np.ones((1, 4), np.float32)}, pyinfer.InputShapeError, "'X': dimension 1 must be 3"),
    ({"X": [[1.0, 2.0, 3.0]]}, pyinfer.InputTypeError, "'X': expected a numpy.ndarray, got list"),
    ({"X": None}, pyinfer.InputTypeError, "'X': expected a numpy.ndarray, got NoneType"),
    ({"X": "bytes from the wire"}, pyinfer.InputTypeError, "'X'.*got str"),
])
def test_bad_feeds(feeds, error, message):
    with pytest.raises(error, match=message):
        pyinfer.InferenceSession(fixed_model()).run(None, feeds)


def test_feeds_not_a_dict():
    with pytest.raises(pyinfer.InputTypeError, match="feeds must be a dict"):
        pyinfer.InferenceSession(fixed_model()).run(None, [np.ones((1, 3), np.float32)])


def layouts(x):
    """The same values as x in unusual memory layouts."""
    f = np.asfortranarray(x)
    ro = x.copy()
    ro.flags.writeable = False
    big = np.zeros((x.shape[0],) + tuple(2 * d for d in x.shape[1:]), x.dtype)
    big[(slice(None),) + tuple(slice(None, None, 2) for _ in x.shape[1:])] = x
    strided = big[(slice(None),) + tuple(slice(None, None, 2) for _ in x.shape[1:])]
    rev = np.ascontiguousarray(x[..., ::-1])[..., ::-1]  # negative last-axis stride
    return {"fortran": f, "readonly": ro, "strided": strided, "negative_stride": rev}


@pytest.mark.parametrize("layout", ["fortran", "readonly", "strided", "negative_stride"])
def test_conv_net_accepts_any_layout(cifar, cifar_batch, layout):
    (want,) = cifar.run(None, {"input": np.ascontiguousarray(cifar_batch)})
    x = layouts(cifar_batch)[layout]
    assert np.array_equal(x, cifar_batch) and not (x.flags.c_contiguous and x.flags.writeable)
    (got,) = cifar.run(None, {"input": x})
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, np.load(CIFAR_DATA)["b4.out.logits"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("layout", ["fortran", "readonly", "strided", "negative_stride"])
@pytest.mark.parametrize("op", ["Gemm", "MaxPool", "AveragePool", "Add", "Relu"])
def test_ops_accept_any_layout(op, layout):
    rng = np.random.default_rng(5)
    if op == "Gemm":
        a = rng.standard_normal((6, 5)).astype(np.float32)
        b = rng.standard_normal((5, 4)).astype(np.float32)
        m = single_op("Gemm", [[6, 5], [5, 4]])
        feeds, want = {"X0": a, "X1": b}, a.astype(np.float64) @ b
        feeds = {"X0": layouts(a)[layout], "X1": layouts(b)[layout]}
    elif op in ("MaxPool", "AveragePool"):
        x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
        m = single_op(op, [[2, 3, 6, 6]], attrs={"kernel_shape": [2, 2], "strides": [2, 2]})
        win = x.reshape(2, 3, 3, 2, 3, 2)
        want = win.max(axis=(3, 5)) if op == "MaxPool" else win.mean(axis=(3, 5))
        feeds = {"X0": layouts(x)[layout]}
    elif op == "Add":
        a = rng.standard_normal((3, 4, 5)).astype(np.float32)
        b = rng.standard_normal((3, 4, 5)).astype(np.float32)
        m = single_op("Add", [[3, 4, 5], [3, 4, 5]])
        want = a + b
        feeds = {"X0": layouts(a)[layout], "X1": layouts(b)[layout]}
    else:
        x = rng.standard_normal((3, 4, 5)).astype(np.float32)
        m = single_op("Relu", [[3, 4, 5]])
        want = np.maximum(x, 0)
        feeds = {"X0": layouts(x)[layout]}
    (got,) = pyinfer.InferenceSession(m).run(None, feeds)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_read_only_feed_is_not_written(cifar, cifar_batch):
    x = cifar_batch.copy()
    x.flags.writeable = False
    cifar.run(None, {"input": x})
    np.testing.assert_array_equal(x, cifar_batch)


def test_zero_size_batch(cifar):
    (y,) = cifar.run(None, {"input": np.zeros((0, 3, 32, 32), np.float32)})
    assert y.shape == (0, 10) and y.dtype == np.float32


def test_nan_and_inf_propagate_through_elementwise():
    a = np.array([np.nan, np.inf, -np.inf, 1.0, np.inf], np.float32)
    b = np.array([1.0, 1.0, 1.0, np.nan, -np.inf], np.float32)
    (got,) = pyinfer.InferenceSession(single_op("Add", [[5], [5]])).run(None, {"X0": a, "X1": b})
    with np.errstate(invalid="ignore"):
        want = a + b
    np.testing.assert_array_equal(got, want)  # nan, inf, -inf, nan, nan


def test_nan_propagates_through_conv_only_where_the_window_sees_it():
    x = np.ones((1, 1, 6, 6), np.float32)
    x[0, 0, 0, 0] = np.nan
    w = np.ones((1, 1, 3, 3), np.float32)
    (y,) = pyinfer.InferenceSession(single_op("Conv", [[1, 1, 6, 6]], consts=[w])).run(None, {"X0": x})
    expect_nan = np.zeros((4, 4), bool)
    expect_nan[0, 0] = True
    np.testing.assert_array_equal(np.isnan(y[0, 0]), expect_nan)
    np.testing.assert_array_equal(y[0, 0][~expect_nan], 9.0)


def test_nan_and_inf_through_gemm():
    a = np.ones((3, 2), np.float32)
    a[1, 0] = np.nan
    a[2, 1] = np.inf
    b = np.ones((2, 2), np.float32)
    (y,) = pyinfer.InferenceSession(single_op("Gemm", [[3, 2], [2, 2]])).run(None, {"X0": a, "X1": b})
    np.testing.assert_array_equal(y[0], [2, 2])
    assert np.isnan(y[1]).all() and np.isposinf(y[2]).all()


def test_nan_in_the_cifar_net_gives_nan_not_a_crash(cifar, cifar_batch):
    x = cifar_batch.copy()
    x[1] = np.nan
    (y,) = cifar.run(None, {"input": x})
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2, 3]]).all()
