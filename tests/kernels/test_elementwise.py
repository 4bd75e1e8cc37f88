"""pyinfer.kernels elementwise kernels vs plain NumPy, under every SIMD tier."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

BINARY = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
}

# (a shape, b shape): same shape, scalars, per-channel, outer products, size-1 and 0-size dims,
# rank 8, and odd lengths so every vector tail is exercised.
SHAPES = [
    ((37,), (37,)),
    ((), ()),
    ((5, 7), ()),
    ((), (3, 19)),
    ((2, 3, 4, 5), (3, 1, 1)),  # per-channel NCHW
    ((2, 3, 4, 5), (5,)),  # bias on the last axis
    ((1, 33), (17, 1)),  # outer product
    ((4, 1, 6), (1, 5, 1)),
    ((3, 1), (3, 0)),  # zero-size output
    ((0,), (1,)),
    ((1, 1, 1), (1,)),
    ((2, 1, 3, 1, 2, 1, 3, 2), (1, 2, 1, 3, 1, 2, 1, 1)),  # rank 8
    ((7, 1, 21), (7, 9, 21)),
]


def _inputs(rng, sa, sb, op):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    if op == "pow":
        a = np.abs(a) + np.float32(0.1)
    if op == "div":
        b = np.where(np.abs(b) < 0.1, np.float32(0.5), b).astype(np.float32)
    return np.asarray(a, np.float32), np.asarray(b, np.float32)


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("sa,sb", SHAPES)
def test_binary_broadcast(isa, rng, op, sa, sb):
    a, b = _inputs(rng, sa, sb, op)
    y = getattr(kernels, op)(a, b)
    ref = BINARY[op](a.astype(np.float64), b.astype(np.float64))
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_large_threaded(isa, rng, op):
    # big enough for several threads and for inner runs cut into pieces
    a, b = _inputs(rng, (3, 64, 1000), (64, 1), op)
    ref = BINARY[op](a.astype(np.float64), b.astype(np.float64))
    for threads in (1, 2, 3):
        np.testing.assert_allclose(getattr(kernels, op)(a, b, num_threads=threads), ref, rtol=1e-6, atol=1e-6)
    a2, b2 = _inputs(rng, (70001,), (70001,), op)
    np.testing.assert_allclose(getattr(kernels, op)(a2, b2, num_threads=2),
                               BINARY[op](a2.astype(np.float64), b2.astype(np.float64)), rtol=1e-6, atol=1e-6)


def test_binary_nan_inf(isa):
    vals = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.5], np.float32)
    a = np.repeat(vals, len(vals))
    b = np.tile(vals, len(vals))
    with np.errstate(all="ignore"):
        for op, fn in BINARY.items():
            y = getattr(kernels, op)(a, b)
            ref = fn(a, b)
            np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=op)
            ok = ~np.isnan(ref)
            np.testing.assert_array_equal(y[ok], ref[ok], err_msg=op)


def test_max_min_propagate_nan_from_either_side(isa):
    a = np.array([np.nan, 1.0] * 20, np.float32)
    b = np.array([1.0, np.nan] * 20, np.float32)
    assert np.isnan(kernels.maximum(a, b)).all()
    assert np.isnan(kernels.minimum(a, b)).all()
    assert np.isnan(kernels.maximum(b, a)).all()


def test_pow_special_values(isa):
    a = np.array([-2.0, -2.0, 0.0, 0.0, np.nan, 4.0, -8.0], np.float32)
    b = np.array([2.0, 3.0, -1.0, 0.0, 0.0, 0.5, 1.0 / 3.0], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(kernels.pow(a, b), np.power(a, b))
    x = np.linspace(-3, 3, 41, dtype=np.float32)  # vector path of x ** 2
    np.testing.assert_array_equal(kernels.pow(x, np.array(2.0, np.float32)), x * x)


def test_out_argument(isa, rng):
    a = rng.standard_normal((4, 9)).astype(np.float32)
    b = rng.standard_normal((9,)).astype(np.float32)
    ref = a + b
    out = np.empty((4, 9), np.float32)
    y = kernels.add(a, b, out=out)
    assert y is out or np.shares_memory(y, out)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    kernels.add(a, b, out=a)  # in place
    np.testing.assert_allclose(a, ref, rtol=1e-6)
    x = rng.standard_normal(50).astype(np.float32)
    ref = np.exp(x)
    kernels.exp(x, out=x)
    np.testing.assert_allclose(x, ref, rtol=1e-6)


def test_out_argument_errors():
    a = np.ones((4, 9), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match="shape"):
        kernels.add(a, a, out=np.empty((4, 8), np.float32))
    with pytest.raises(pyinfer.KernelArgumentError, match="float32"):
        kernels.add(a, a, out=np.empty((4, 9), np.float64))
    with pytest.raises(pyinfer.KernelArgumentError, match="contiguous"):
        kernels.add(a, a, out=np.empty((9, 4), np.float32).T)
    buf = np.ones(40, np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match="overlap"):
        kernels.add(buf[:36].reshape(4, 9), a, out=buf[4:].reshape(4, 9))


def test_non_contiguous_inputs(isa, rng):
    a = rng.standard_normal((6, 10)).astype(np.float32)[:, ::2]
    b = rng.standard_normal((5, 6)).astype(np.float32).T
    np.testing.assert_allclose(kernels.mul(a, b), a * b, rtol=1e-6)


@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 3), (3, 2)), ((5, 0), (5, 2))])
def test_bad_shapes_raise(sa, sb):
    with pytest.raises(pyinfer.KernelArgumentError, match="broadcast"):
        kernels.add(np.zeros(sa, np.float32), np.zeros(sb, np.float32))


def test_bad_arguments_raise():
    with pytest.raises(pyinfer.KernelArgumentError, match="float32"):
        kernels.add(np.zeros(3, np.float64), np.zeros(3, np.float32))
    with pytest.raises(pyinfer.KernelArgumentError, match="ndarray"):
        kernels.mul([1.0, 2.0], np.zeros(2, np.float32))
    with pytest.raises(pyinfer.KernelArgumentError, match="rank"):
        kernels.sub(np.zeros((1,) * 9, np.float32), np.zeros(1, np.float32))
    with pytest.raises(pyinfer.KernelArgumentError, match="float32"):
        kernels.exp(np.zeros(3, np.int32))


UNARY = {
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "abs": np.abs,
    "neg": np.negative,
    "reciprocal": np.reciprocal,
}


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("shape", [(), (1,), (15,), (16,), (17,), (3, 0), (4, 5, 67), (40000,)])
def test_unary(isa, rng, op, shape):
    x = rng.standard_normal(shape).astype(np.float32) * 10
    if op in ("sqrt", "log"):
        x = np.abs(x) + np.float32(1e-3)
    x = np.asarray(x, np.float32)
    y = getattr(kernels, op)(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    ref = UNARY[op](x.astype(np.float64))
    np.testing.assert_allclose(y, ref, rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_special_values(isa, op):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 1e-40, -1e-40, 1e-45, 3e38, 89.0, -88.0,
                  -104.0, 0.5], np.float32)
    with np.errstate(all="ignore"):
        ref = UNARY[op](x.astype(np.float64)).astype(np.float32)
        y = getattr(kernels, op)(x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    ok = ~np.isnan(ref)
    if op == "exp":  # the vector exp flushes results below float32's normal range to 0
        ok &= ~((ref > 0) & (ref < np.finfo(np.float32).tiny))
    np.testing.assert_allclose(y[ok], ref[ok], rtol=2e-6, atol=0)
    if op == "neg":
        assert np.signbit(kernels.neg(np.zeros(3, np.float32))).all()


def test_log_accuracy_wide_range(isa, rng):
    x = np.exp(rng.uniform(-100, 88, 20000)).astype(np.float32)  # subnormals to ~1e38
    np.testing.assert_allclose(kernels.log(x), np.log(x.astype(np.float64)), rtol=1e-6, atol=2e-7)


def test_exp_accuracy(isa):
    x = np.linspace(-87, 88, 100003, dtype=np.float32)
    np.testing.assert_allclose(kernels.exp(x), np.exp(x.astype(np.float64)), rtol=3e-7 * 4)
