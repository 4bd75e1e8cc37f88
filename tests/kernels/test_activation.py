"""Activation and softmax kernels against plain NumPy references computed in float64.

Accuracy targets (measured on random + swept inputs; see csrc/activation/vec_math.h):
exp-based functions (sigmoid, tanh, elu, selu, celu, softplus, mish, gelu 'tanh' for
x > -5) and erf stay within rtol 1e-6 of the float64 reference. Exact gelu reaches 1e-6
for x > -2 and 1e-4 relative in its far negative tail, where the value is < 1e-4 (and
tested with an absolute tolerance).
"""
import math

import numpy as np
import pytest

import pyinfer
from pyinfer import kernels as K

ERF = np.vectorize(math.erf, otypes=[np.float64])
ERFC = np.vectorize(math.erfc, otypes=[np.float64])
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
F32 = lambda v: float(np.float32(v))  # parameters reach the kernels as float32
SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875

# Sizes that are not multiples of any vector width (and one big enough to be split over threads).
SIZES = [1, 7, 17, 100, 1031, 70001]
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 0.5, -0.5, 3.0, -3.0,
                     50.0, -50.0, 88.0, -88.0, 89.0, -89.0, 100.0, -100.0, 1e30, -1e30, 3.4e38, -3.4e38],
                    dtype=np.float32)


def _softplus(v):
    with np.errstate(over="ignore"):
        return np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v)))


def _sigmoid(v):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-v))


def _gelu_erf(v):
    # x * Phi(x) with Phi from erfc: 1 + erf(z) would cancel for x << 0 even in float64.
    with np.errstate(invalid="ignore"):
        return np.where(v == -np.inf, 0.0, 0.5 * v * ERFC(-v / math.sqrt(2.0)))


def _gelu_tanh(v):
    with np.errstate(over="ignore", invalid="ignore"):
        u = SQRT_2_OVER_PI * (v + 0.044715 * v ** 3)
        out = 0.5 * v * (1.0 + np.tanh(u))
        # the same value without cancellation where tanh(u) ~ -1
        out = np.where(u < -1, v / (1.0 + np.exp(-2.0 * u)), out)
    return np.where(v == -np.inf, 0.0, out)


def _mish(v):
    with np.errstate(invalid="ignore"):
        out = v * np.tanh(_softplus(v))
    return np.where(v == -np.inf, 0.0, out)


def _hard_swish(v):
    with np.errstate(invalid="ignore"):
        out = v * np.clip(v / 6.0 + 0.5, 0.0, 1.0)
    return np.where(v <= -3.0, 0.0, out)  # the limit, also at -inf (not -inf * 0)


def _softsign(v):
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(v), np.sign(v), v / (1.0 + np.abs(v)))


def _elu(v, alpha):
    return np.where(v > 0, v, alpha * np.expm1(np.minimum(v, 0)))


def _keep_nan(v, out):
    return np.where(np.isnan(v), v, out)


# name -> (kernel call, float64 reference, rtol)
CASES = {
    "relu": (lambda x, **kw: K.relu(x, **kw), lambda v: _keep_nan(v, np.maximum(v, 0)), 0),
    "leaky_relu": (lambda x, **kw: K.leaky_relu(x, 0.1, **kw), lambda v: np.where(v < 0, F32(0.1) * v, v), 1e-7),
    "sigmoid": (lambda x, **kw: K.sigmoid(x, **kw), _sigmoid, 1e-6),
    "tanh": (lambda x, **kw: K.tanh(x, **kw), np.tanh, 1e-6),
    "clip": (lambda x, **kw: K.clip(x, -1.5, 2.0, **kw), lambda v: np.clip(v, -1.5, 2.0), 0),
    "clip_open": (lambda x, **kw: K.clip(x, min=0.0, **kw), lambda v: _keep_nan(v, np.maximum(v, 0)), 0),
    "hard_sigmoid": (lambda x, **kw: K.hard_sigmoid(x, 0.3, 0.4, **kw),
                     lambda v: _keep_nan(v, np.clip(F32(0.3) * v + F32(0.4), 0, 1)), 1e-6),
    "hard_swish": (lambda x, **kw: K.hard_swish(x, **kw), _hard_swish, 1e-6),
    "elu": (lambda x, **kw: K.elu(x, 0.7, **kw), lambda v: _elu(v, F32(0.7)), 1e-6),
    "selu": (lambda x, **kw: K.selu(x, **kw), lambda v: SELU_GAMMA * _elu(v, SELU_ALPHA), 1e-6),
    "celu": (lambda x, **kw: K.celu(x, 2.0, **kw), lambda v: 2.0 * _elu(v / 2.0, 1.0), 1e-6),
    "softplus": (lambda x, **kw: K.softplus(x, **kw), _softplus, 1e-6),
    "softsign": (lambda x, **kw: K.softsign(x, **kw), _softsign, 1e-6),
    "thresholded_relu": (lambda x, **kw: K.thresholded_relu(x, 0.5, **kw),
                         lambda v: _keep_nan(v, np.where(v > 0.5, v, 0)), 0),
    "erf": (lambda x, **kw: K.erf(x, **kw), ERF, 1e-6),
    "gelu": (lambda x, **kw: K.gelu(x, **kw), _gelu_erf, 1e-4),
    "gelu_tanh": (lambda x, **kw: K.gelu(x, "tanh", **kw), _gelu_tanh, 2e-5),
    "mish": (lambda x, **kw: K.mish(x, **kw), _mish, 1e-6),
}
# Absolute tolerance: denormal results and far tails (e.g. sigmoid(-95) ~ 5e-42 may flush to 0).
# hard_sigmoid / hard_swish: alpha*x + beta cancels near the kink (absolute error ~1 ulp of beta).
ATOL = {"gelu": 1e-9, "gelu_tanh": 1e-9, "hard_sigmoid": 1e-7, "hard_swish": 1e-7}
DEFAULT_ATOL = 1e-37


def check(name, x, y):
    _, ref, rtol = CASES[name]
    with np.errstate(over="ignore"):  # e.g. selu(3.4e38) overflows float32 like the kernel
        expected = ref(x.astype(np.float64)).astype(np.float32).astype(np.float64)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=max(rtol, 1e-7),
                               atol=ATOL.get(name, DEFAULT_ATOL), equal_nan=True, err_msg=name)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("size", SIZES)
def test_random_values(isa, rng, name, size):
    x = (rng.standard_normal(size) * 4).astype(np.float32)
    check(name, x, CASES[name][0](x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_special_values(isa, name):
    x = SPECIALS
    y = CASES[name][0](x)
    check(name, x, y)
    assert np.isnan(y[0]), f"{name} must propagate NaN"


@pytest.mark.parametrize("name", sorted(CASES))
def test_sweep(isa, name):
    # dense sweep over the range where the polynomial pieces meet
    x = np.linspace(-12, 12, 48001, dtype=np.float32)
    check(name, x, CASES[name][0](x))


@pytest.mark.parametrize("name", sorted(CASES))
def test_threads_give_identical_results(isa, rng, name):
    x = (rng.standard_normal((3, 50001)) * 4).astype(np.float32)
    one = CASES[name][0](x, num_threads=1)
    two = CASES[name][0](x, num_threads=2)
    np.testing.assert_array_equal(one, two)
    check(name, x, two)


def test_exact_limits(isa):
    big = np.array([-np.inf, -1e30, -100.0, 100.0, 1e30, np.inf], dtype=np.float32)
    assert K.sigmoid(big).tolist() == [0, 0, 0, 1, 1, 1]
    assert K.tanh(np.array([-np.inf, -50, 50, np.inf], np.float32)).tolist() == [-1, -1, 1, 1]
    assert K.erf(np.array([-np.inf, -5, 5, np.inf], np.float32)).tolist() == [-1, -1, 1, 1]
    assert K.softplus(np.array([np.inf, 1e30, -np.inf], np.float32)).tolist() == [np.inf, float(np.float32(1e30)), 0]
    assert K.elu(np.array([-np.inf, np.inf], np.float32)).tolist() == [-1, np.inf]


def test_shapes_layouts_and_empty(isa, rng):
    x = (rng.standard_normal((4, 6, 9)) * 3).astype(np.float32)
    strided = x[:, ::2, 1:]  # not contiguous: the kernel copies, the result is C-ordered
    np.testing.assert_allclose(K.sigmoid(strided), _sigmoid(strided.astype(np.float64)), rtol=1e-6)
    scalar = np.array(-2.0, dtype=np.float32)
    assert K.relu(scalar).shape == () and K.relu(scalar) == 0
    empty = np.zeros((3, 0), np.float32)
    assert K.tanh(empty).shape == (3, 0)
    y = K.relu(x)
    assert y is not x and not np.shares_memory(y, x)


@pytest.mark.parametrize("call", [
    lambda: K.relu(np.zeros(4, np.float64)),
    lambda: K.sigmoid([1.0, 2.0]),
    lambda: K.clip(np.zeros(4, np.float32), float("nan"), 1.0),
    lambda: K.celu(np.zeros(4, np.float32), 0.0),
    lambda: K.elu(np.zeros(4, np.float32), float("inf")),
    lambda: K.leaky_relu(np.zeros(4, np.float32), float("nan")),
    lambda: K.gelu(np.zeros(4, np.float32), "fast"),
    lambda: K.softmax(np.zeros((2, 3), np.float32), 2),
    lambda: K.softmax(np.zeros((2, 3), np.float32), -3),
    lambda: K.log_softmax(np.array(1.0, np.float32), 0),
    lambda: K.softmax(np.zeros((2, 3), np.int32), 1),
    lambda: K.prelu(np.zeros((2, 3, 4), np.float32), np.zeros(3, np.float32)),
    lambda: K.prelu(np.zeros((2, 3), np.float32), np.zeros((1, 2, 3), np.float32)),
    lambda: K.prelu(np.zeros((2, 3), np.float32), np.zeros(3, np.float64)),
])
def test_argument_errors(call):
    with pytest.raises(pyinfer.KernelArgumentError):
        call()


# --- PRelu ------------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape, slope_shape", [
    ((2, 3, 5, 7), (3, 1, 1)),       # per channel
    ((2, 3, 5, 7), (1, 3, 1, 1)),
    ((2, 3, 5, 7), (2, 3, 5, 7)),    # full
    ((2, 3, 5, 7), (7,)),            # last axis
    ((2, 3, 5, 7), (5, 1)),
    ((2, 3, 5, 7), (1,)),            # one slope
    ((2, 3, 5, 7), ()),
    ((3, 1, 1, 33), (3, 1, 1, 1)),   # size-1 axes in the input
    ((4, 17), (17,)),
    ((4, 17), (4, 1)),
    ((2, 5, 1001), (5, 1)),          # long rows split over threads
    ((1,), (1,)),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_prelu(isa, rng, x_shape, slope_shape, threads):
    x = rng.standard_normal(x_shape).astype(np.float32)
    slope = rng.standard_normal(slope_shape).astype(np.float32)
    y = K.prelu(x, slope, num_threads=threads)
    xd = x.astype(np.float64)
    expected = np.where(xd < 0, xd * slope.astype(np.float64), xd)
    np.testing.assert_allclose(y, expected, rtol=1e-7, atol=0)


def test_prelu_nan_and_big(isa):
    x = np.array([np.nan, -np.inf, np.inf, -2.0, 2.0], np.float32)
    y = K.prelu(x, np.array([0.5], np.float32))
    np.testing.assert_array_equal(y, [np.nan, -np.inf, np.inf, -1.0, 2.0])
    big = np.arange(-50000, 50003, dtype=np.float32).reshape(1, -1)
    np.testing.assert_array_equal(K.prelu(big, np.float32(0.25) * np.ones(1, np.float32), num_threads=2),
                                  np.where(big < 0, big * 0.25, big))


# --- Softmax / LogSoftmax -----------------------------------------------------------------

def softmax_ref(x, axis, log):
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = x - np.max(x, axis=axis, keepdims=True)
        s = np.sum(np.exp(shifted), axis=axis, keepdims=True)
        return shifted - np.log(s) if log else np.exp(shifted) / s


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape, axis", [
    ((1, 1), 1), ((3, 17), 1), ((3, 17), -1), ((5, 1000), 1), ((2, 3, 33), 1), ((2, 33, 3), 1),
    ((4, 5, 6, 7), 0), ((4, 5, 6, 7), 2), ((4, 5, 6, 7), 3), ((3, 9, 700), 1), ((2, 1, 13), 1),
    ((1, 4, 1029), 1), ((64,), 0), ((7, 3, 2), 2),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_softmax(isa, rng, shape, axis, log, threads):
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    fn = K.log_softmax if log else K.softmax
    y = fn(x, axis, num_threads=threads)
    # log-softmax: (x - max) - log(sum) cancels for the largest entries; the absolute error
    # (~2e-7, from exp and the sum) is the meaningful measure there.
    np.testing.assert_allclose(y, softmax_ref(x, axis, log), rtol=1e-6, atol=5e-7 if log else 1e-7)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("axis", [0, 1])
def test_softmax_special_values(isa, log, axis):
    rows = np.array([
        [1e30, 1e30, -1e30, 0.0, 5.0],         # large: no overflow
        [np.nan, 1.0, 2.0, 3.0, 4.0],          # NaN poisons its slice
        [-np.inf, 0.0, 1.0, 2.0, 3.0],         # -inf -> probability 0 / log -inf
        [np.inf, 0.0, 1.0, 2.0, 3.0],          # inf - inf: NaN like the textbook formula
        [-100.0, -100.0, -100.0, -100.0, -100.0],
        [-np.inf] * 5,                          # NaN like the textbook formula
    ], dtype=np.float32)
    x = rows if axis == 1 else np.ascontiguousarray(rows.T)
    fn = K.log_softmax if log else K.softmax
    y = fn(x, axis)
    np.testing.assert_allclose(y, softmax_ref(x, axis, log), rtol=1e-6, atol=5e-7 if log else 1e-7, equal_nan=True)
    if not log:
        # exact structure of the first slice: two halves, the rest ~0
        first = y[0] if axis == 1 else y[:, 0]
        np.testing.assert_allclose(first, [0.5, 0.5, 0, 0, 0], atol=1e-7)


def test_softmax_long_rows_threads(isa, rng):
    x = (rng.standard_normal((5, 40003)) * 10).astype(np.float32)
    one = K.softmax(x, 1, num_threads=1)
    two = K.softmax(x, 1, num_threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(two.sum(axis=1), 1.0, rtol=1e-5)


# --- ONNX ops (pyinfer.ops.activation) ----------------------------------------------------

def run_node(op_type, inputs, attrs=None, opset=17, oracle="reference"):
    """Run a one-node model on pyinfer and, where it can, on an oracle: onnx.reference or
    onnxruntime ("ort"); the oracle's result is None when it cannot run the model."""
    import onnx
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = [f"in{i}" if v is not None else "" for i, v in enumerate(inputs)]
    node = helper.make_node(op_type, names, ["y"], **(attrs or {}))
    feeds = {n: v for n, v in zip(names, inputs) if v is not None}
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for n, v in feeds.items()],
        [helper.make_tensor_value_info("y", TensorProto.UNDEFINED, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    (got,) = pyinfer.InferenceSession(model.SerializeToString()).run(None, feeds)
    try:
        if oracle == "ort":
            import onnxruntime

            sess = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            (expected,) = sess.run(None, feeds)
        else:
            with np.errstate(all="ignore"):
                (expected,) = ReferenceEvaluator(model).run(None, feeds)
    except Exception:
        expected = None
    return got, expected


# op type, attributes, opset, CASES entry giving the float64 reference
OP_CASES = [
    ("Relu", {}, 14, "relu"),
    ("LeakyRelu", {"alpha": 0.1}, 16, "leaky_relu"),
    ("Sigmoid", {}, 13, "sigmoid"),
    ("Tanh", {}, 13, "tanh"),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 22, "hard_sigmoid"),
    ("HardSwish", {}, 22, "hard_swish"),
    ("Elu", {"alpha": 0.7}, 22, "elu"),
    ("Selu", {}, 22, "selu"),
    ("Celu", {"alpha": 2.0}, 12, "celu"),
    ("Softplus", {}, 22, "softplus"),
    ("Softsign", {}, 22, "softsign"),
    ("ThresholdedRelu", {"alpha": 0.5}, 22, "thresholded_relu"),
    ("Erf", {}, 13, "erf"),
    ("Gelu", {}, 20, "gelu"),
    ("Gelu", {"approximate": "tanh"}, 20, "gelu_tanh"),
    ("Mish", {}, 22, "mish"),
]


@pytest.mark.parametrize("op_type, attrs, opset, case", OP_CASES, ids=[c[3] for c in OP_CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_unary_ops(rng, op_type, attrs, opset, case, dtype):
    if op_type == "Celu" and dtype != np.float32:
        opset = 28  # Celu-12 is float32 only
    x = np.concatenate([(rng.standard_normal(37) * 4), [0.0, -0.5, 2.5, -7.0]]).astype(dtype)
    y, expected = run_node(op_type, [x], attrs, opset)
    assert y.dtype == dtype and y.shape == x.shape
    ref = CASES[case][1](x.astype(np.float64))
    tol = {np.float16: 2e-3, np.float32: 2e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(y.astype(np.float64), ref, rtol=tol, atol=tol)
    if expected is not None:
        np.testing.assert_allclose(y.astype(np.float64), expected.astype(np.float64), rtol=1e-3, atol=1e-3)


def test_integer_ops():
    x = np.array([-3, -1, 0, 2, 7], np.int32)
    y, _ = run_node("Relu", [x], opset=14)
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 0, 2, 7]
    y, _ = run_node("Erf", [x], opset=9)  # Erf-13 is float-only (refused at load); Erf-9 takes integers
    assert y.dtype == np.int32 and y.tolist() == [0, 0, 0, 0, 1]  # erf(7) == 1.0 exactly
    y, _ = run_node("PRelu", [x, np.array([2], np.int32)], opset=16)
    assert y.dtype == np.int32 and y.tolist() == [-6, -2, 0, 2, 7]
    with pytest.raises(pyinfer.Error):
        run_node("Sigmoid", [x], opset=13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int8, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("bounds", [(2, 5), (None, 4), (3, None), (None, None), (6, 2)])
def test_clip_input_form(dtype, bounds):
    x = np.array([0, 1, 2, 3, 4, 5, 6, 7, 100], dtype=dtype)
    lo, hi = (None if b is None else np.array(b, dtype=dtype) for b in bounds)
    inputs = [x, lo, hi] if hi is not None else ([x, lo] if lo is not None else [x])
    y, expected = run_node("Clip", inputs, opset=13)
    ref = x.astype(np.float64)
    if lo is not None:
        ref = np.maximum(ref, bounds[0])
    if hi is not None:
        ref = np.minimum(ref, bounds[1])  # min > max: everything becomes max
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, ref.astype(dtype))
    np.testing.assert_array_equal(y, expected)


def test_clip_attribute_form_and_nan():
    x = np.array([-5.0, -0.5, 0.5, 5.0, np.nan], np.float32)
    y, _ = run_node("Clip", [x], {"min": -1.0, "max": 1.0}, opset=6)
    np.testing.assert_array_equal(y, [-1.0, -0.5, 0.5, 1.0, np.nan])
    y, _ = run_node("Clip", [x.astype(np.float64), np.array(-1.0), np.array(1.0)], opset=12)
    np.testing.assert_array_equal(y, [-1.0, -0.5, 0.5, 1.0, np.nan])


def test_prelu_versions(rng):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    expected = np.where(x < 0, x * slope.reshape(3, 1, 1), x)
    y, _ = run_node("PRelu", [x, slope], opset=6)  # per-channel 1-D slope, pre-broadcast semantics
    np.testing.assert_allclose(y, expected, rtol=1e-7)
    y, _ = run_node("PRelu", [x, slope.reshape(3, 1, 1)], opset=16)
    np.testing.assert_allclose(y, expected, rtol=1e-7)
    with pytest.raises(pyinfer.Error):
        run_node("PRelu", [x, slope], opset=16)  # (3,) does not broadcast to (..., 5)
    y, _ = run_node("PRelu", [x.astype(np.float64), slope.reshape(3, 1, 1).astype(np.float64)], opset=16)
    np.testing.assert_allclose(y, expected, rtol=1e-7)


@pytest.mark.parametrize("op_type, log", [("Softmax", False), ("LogSoftmax", True)])
@pytest.mark.parametrize("opset", [1, 11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_softmax_ops(rng, op_type, log, opset, axis, dtype):
    if opset == 1 and axis is not None and axis < 0:
        axis += 3  # negative axes exist from opset 11
    x = (rng.standard_normal((2, 3, 4)) * 3).astype(dtype)
    # onnx.reference runs opset < 13 with the single-axis semantics; onnxruntime follows the spec
    y, expected = run_node(op_type, [x], {} if axis is None else {"axis": axis}, opset,
                           oracle="ort" if opset < 13 else "reference")
    xd = x.astype(np.float64)
    if opset < 13:  # coerced to 2-D at axis (default 1): softmax over the flattened tail
        a = (1 if axis is None else axis) % 3
        ref = softmax_ref(xd.reshape(int(np.prod(x.shape[:a])), -1), 1, log).reshape(x.shape)
    else:
        ref = softmax_ref(xd, -1 if axis is None else axis, log)
    assert y.dtype == dtype and y.shape == x.shape
    tol = 2e-3 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(y.astype(np.float64), ref, rtol=tol, atol=tol)
    if expected is not None:
        np.testing.assert_allclose(y.astype(np.float64), expected.astype(np.float64), rtol=tol, atol=tol)


@pytest.mark.parametrize("opset", [11, 13])
def test_hardmax(opset):
    x = np.array([[[1, 3, 3, 0], [2, 2, 1, 0], [0, 0, 0, 0]],
                  [[5, 1, 1, 1], [1, 1, 1, 1], [4, 9, 9, 1]]], np.float32)
    y, expected = run_node("Hardmax", [x], {"axis": 1}, opset, oracle="ort" if opset < 13 else "reference")
    if opset == 13:  # along axis 1, the first maximum wins
        ref = np.zeros_like(x)
        np.put_along_axis(ref, np.argmax(x, axis=1)[:, None], 1, axis=1)
    else:  # over the flattened (3*4) tail
        flat = x.reshape(2, 12)
        ref = np.zeros_like(flat)
        ref[np.arange(2), np.argmax(flat, axis=1)] = 1
        ref = ref.reshape(x.shape)
    np.testing.assert_array_equal(y, ref)
    if expected is not None:
        np.testing.assert_array_equal(y, expected)
