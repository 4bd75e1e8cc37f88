"""batch_norm kernel against a float64 NumPy reference, and the normalization ops
(BatchNormalization, Instance/Layer/Group normalization, LRN, MVN, LpNormalization) against
NumPy formulas and onnx.reference.ReferenceEvaluator."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

import pyinfer
from pyinfer import kernels as K


def bn_ref(x, scale, bias, mean, var, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xd = x.astype(np.float64)
    f = lambda v: v.astype(np.float64).reshape(shape)  # noqa: E731
    return (xd - f(mean)) / np.sqrt(f(var) + eps) * f(scale) + f(bias)


def bn_params(rng, c):
    return (rng.standard_normal(c).astype(np.float32), rng.standard_normal(c).astype(np.float32),
            rng.standard_normal(c).astype(np.float32), rng.uniform(0.1, 3.0, c).astype(np.float32))


# --- kernel -----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (2, 3, 17), (2, 4, 5, 7), (1, 3, 2, 3, 33), (2, 16, 1031),
                                   (2, 3, 0, 4), (0, 3, 4)])
@pytest.mark.parametrize("threads", [1, 2])
def test_batch_norm_kernel(isa, rng, shape, threads):
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    params = bn_params(rng, shape[1])
    y = K.batch_norm(x, *params, epsilon=1e-3, num_threads=threads)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, bn_ref(x, *params, 1e-3), rtol=1e-6, atol=1e-6)


def test_batch_norm_kernel_large_threads_identical(isa, rng):
    x = rng.standard_normal((3, 7, 101, 103)).astype(np.float32)
    params = bn_params(rng, 7)
    one = K.batch_norm(x, *params, num_threads=1)
    two = K.batch_norm(x, *params, num_threads=2)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(two, bn_ref(x, *params, 1e-5), rtol=1e-6, atol=1e-6)


def test_batch_norm_kernel_special_values(isa):
    x = np.array([[np.nan, np.inf, -np.inf, 1000.5, 1e30]], np.float32).reshape(1, 1, 5)
    y = K.batch_norm(x, np.ones(1, np.float32), np.zeros(1, np.float32), np.array([1000.0], np.float32),
                     np.ones(1, np.float32), epsilon=0.0)
    np.testing.assert_array_equal(y[0, 0, :3], [np.nan, np.inf, -np.inf])
    assert y[0, 0, 3] == 0.5  # the mean is subtracted first: no cancellation against a folded bias
    np.testing.assert_allclose(y[0, 0, 4], 1e30, rtol=1e-6)


@pytest.mark.parametrize("call", [
    lambda p: K.batch_norm(np.zeros(4, np.float32), *p),                          # rank 1
    lambda p: K.batch_norm(np.zeros((2, 4), np.float64), *p),                    # dtype
    lambda p: K.batch_norm(np.zeros((2, 5), np.float32), *p),                    # C mismatch
    lambda p: K.batch_norm(np.zeros((2, 4), np.float32), p[0][:3], *p[1:]),       # short scale
    lambda p: K.batch_norm(np.zeros((2, 4), np.float32), p[0].reshape(2, 2), *p[1:]),
    lambda p: K.batch_norm(np.zeros((2, 4), np.float32), *p, epsilon=-1.0),
    lambda p: K.batch_norm(np.zeros((2, 4), np.float32), *p, epsilon=float("nan")),
])
def test_batch_norm_kernel_errors(rng, call):
    with pytest.raises(pyinfer.KernelArgumentError):
        call(bn_params(rng, 4))


# --- ops --------------------------------------------------------------------------------

def run_node(op_type, inputs, attrs=None, opset=17, n_outputs=1, consts=()):
    """Run a one-node model on pyinfer and on ONNX's reference evaluator."""
    names = [f"in{i}" if v is not None else "" for i, v in enumerate(inputs)]
    outs = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outs, **(attrs or {}))
    graph_inputs, inits, feeds = [], [], {}
    for name, v in zip(names, inputs):
        if v is None:
            continue
        if name in [names[i] for i in consts]:
            inits.append(onnx.numpy_helper.from_array(v, name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape))
            feeds[name] = v
    graph = helper.make_graph([node], "g", graph_inputs,
                              [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None) for o in outs],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    got = pyinfer.InferenceSession(model.SerializeToString()).run(None, feeds)
    try:
        with np.errstate(all="ignore"):
            expected = ReferenceEvaluator(model).run(None, feeds)
    except Exception:  # the oracle lacks a few variants (e.g. old attributes)
        expected = None
    return got, expected


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 5), (2, 3, 4, 5), (1, 3, 2, 2, 2)])
def test_batchnormalization_op(rng, opset, shape):
    x = rng.standard_normal(shape).astype(np.float32)
    params = bn_params(rng, shape[1])
    (y,), expected = run_node("BatchNormalization", [x, *params], {"epsilon": 1e-4}, opset=opset)
    np.testing.assert_allclose(y, bn_ref(x, *params, 1e-4), rtol=1e-5, atol=1e-6)
    if opset >= 14:  # onnx.reference's BatchNormalization-9 runs training mode when momentum is set
        np.testing.assert_allclose(y, expected[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_batchnormalization_other_dtypes(rng, dtype):
    x = rng.standard_normal((2, 3, 4)).astype(dtype)
    params = [p.astype(dtype) for p in bn_params(rng, 3)]
    (y,), _ = run_node("BatchNormalization", [x, *params], opset=15)
    assert y.dtype == dtype
    np.testing.assert_allclose(y.astype(np.float64), bn_ref(x, *params, 1e-5),
                               rtol=1e-3 if dtype == np.float16 else 1e-12, atol=1e-3 if dtype == np.float16 else 0)


def test_batchnormalization_mixed_param_dtype_v15(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    s, b, m, v = bn_params(rng, 3)
    (y,), _ = run_node("BatchNormalization", [x, s, b, m.astype(np.float64), v.astype(np.float64)], opset=15)
    np.testing.assert_allclose(y, bn_ref(x, s, b, m, v, 1e-5), rtol=1e-5, atol=1e-6)


def test_batchnormalization_rank1_and_non_spatial(rng):
    x = rng.standard_normal(7).astype(np.float32)
    params = bn_params(rng, 1)
    (y,), _ = run_node("BatchNormalization", [x, *params], opset=9)
    np.testing.assert_allclose(y, bn_ref(x.reshape(7, 1), *params, 1e-5).reshape(7), rtol=1e-5, atol=1e-6)
    # spatial=0 (opset 7): statistics per (C, H, W) activation
    x = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    params = [p.reshape(3, 2, 2) for p in bn_params(rng, 12)]
    (y,), _ = run_node("BatchNormalization", [x, *params], {"spatial": 0}, opset=7)
    f = lambda p: p.astype(np.float64)[None]  # noqa: E731
    expected = (x - f(params[2])) / np.sqrt(f(params[3]) + 1e-5) * f(params[0]) + f(params[1])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_batchnormalization_old_is_test(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    params = bn_params(rng, 3)
    (y,), _ = run_node("BatchNormalization", [x, *params], {"is_test": 1}, opset=6)
    np.testing.assert_allclose(y, bn_ref(x, *params, 1e-5), rtol=1e-5, atol=1e-6)
    with pytest.raises(pyinfer.UnsupportedOpError, match="training"):
        run_node("BatchNormalization", [x, *params], opset=6)


def test_batchnormalization_training_mode_uses_batch_statistics(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    scale, bias, mean, var = bn_params(rng, 3)
    (y, run_mean, run_var), _ = run_node("BatchNormalization", [x, scale, bias, mean, var],
                                         {"training_mode": 1, "momentum": 0.8}, opset=15, n_outputs=3)
    xd = x.astype(np.float64)
    bm = xd.mean(axis=(0, 2))
    bv = ((xd - bm[None, :, None]) ** 2).mean(axis=(0, 2))
    expected = (xd - bm[None, :, None]) / np.sqrt(bv[None, :, None] + 1e-5) * scale[None, :, None] + bias[None, :, None]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run_mean, 0.8 * mean + 0.2 * bm, rtol=1e-6)
    np.testing.assert_allclose(run_var, 0.8 * var + 0.2 * bv, rtol=1e-6)


def test_batchnormalization_bad_param_shape(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    with pytest.raises(pyinfer.Error):
        run_node("BatchNormalization", [x, *bn_params(rng, 4)], opset=15)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_instancenormalization(rng, shape, dtype):
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    scale = rng.standard_normal(shape[1]).astype(dtype)
    bias = rng.standard_normal(shape[1]).astype(dtype)
    (y,), _ = run_node("InstanceNormalization", [x, scale, bias], {"epsilon": 1e-3})
    xd = x.astype(np.float64)
    axes = tuple(range(2, x.ndim))
    b = (1, -1) + (1,) * (x.ndim - 2)
    expected = (xd - xd.mean(axis=axes, keepdims=True)) / np.sqrt(xd.var(axis=axes, keepdims=True) + 1e-3) \
        * scale.astype(np.float64).reshape(b) + bias.astype(np.float64).reshape(b)
    assert y.dtype == dtype
    tol = 3e-3 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(y.astype(np.float64), expected, rtol=tol, atol=tol)


def layer_norm_ref(x, scale, bias, axis, eps):
    xd = x.astype(np.float64)
    axes = tuple(range(axis, x.ndim))
    mean = xd.mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(((xd - mean) ** 2).mean(axis=axes, keepdims=True) + eps)
    y = (xd - mean) * inv * scale
    return (y + bias if bias is not None else y), mean, inv


@pytest.mark.parametrize("axis", [-1, -2, 1, 0])
@pytest.mark.parametrize("with_bias", [True, False])
def test_layernormalization(rng, axis, with_bias):
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    a = axis % 4
    scale = rng.standard_normal(x.shape[a:]).astype(np.float32)
    bias = rng.standard_normal(x.shape[a:]).astype(np.float32) if with_bias else None
    (y, mean, inv), expected = run_node("LayerNormalization", [x, scale, bias], {"axis": axis, "epsilon": 1e-3},
                                        n_outputs=3)
    ry, rmean, rinv = layer_norm_ref(x, scale, bias, a, 1e-3)
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, rmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inv, rinv, rtol=1e-5)
    assert mean.shape == x.shape[:a] + (1,) * (4 - a) and mean.dtype == np.float32
    for got, exp in zip((y, mean, inv), expected):
        np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("shape, groups", [((2, 4, 3, 3), 2), ((3, 6, 5), 3), ((2, 4, 2, 2, 2), 4), ((1, 4, 7), 1)])
def test_groupnormalization(rng, opset, shape, groups):
    x = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    per = groups if opset == 18 else c
    scale = rng.standard_normal(per).astype(np.float32)
    bias = rng.standard_normal(per).astype(np.float32)
    (y,), _ = run_node("GroupNormalization", [x, scale, bias], {"num_groups": groups, "epsilon": 1e-3}, opset=opset)
    xg = x.astype(np.float64).reshape(shape[0], groups, -1)
    normed = ((xg - xg.mean(axis=2, keepdims=True)) / np.sqrt(xg.var(axis=2, keepdims=True) + 1e-3)).reshape(shape)
    s = np.repeat(scale, c // groups) if opset == 18 else scale
    b = np.repeat(bias, c // groups) if opset == 18 else bias
    bshape = (1, c) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(y, normed * s.reshape(bshape) + b.reshape(bshape), rtol=1e-5, atol=1e-5)


def test_groupnormalization_bad_groups(rng):
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    with pytest.raises(pyinfer.Error):
        run_node("GroupNormalization", [x, np.ones(6, np.float32), np.zeros(6, np.float32)], {"num_groups": 4},
                 opset=21)


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_lrn(rng, size):
    x = rng.standard_normal((2, 7, 3, 4)).astype(np.float32)
    attrs = {"size": size, "alpha": 1e-2, "beta": 0.6, "bias": 2.0}
    (y,), _ = run_node("LRN", [x], attrs, opset=13)
    xd = x.astype(np.float64)
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    sq = np.zeros_like(xd)
    for c in range(7):
        sq[:, c] = (xd[:, max(0, c - lo):min(7, c + hi + 1)] ** 2).sum(axis=1)
    np.testing.assert_allclose(y, xd / (2.0 + 1e-2 / size * sq) ** 0.6, rtol=1e-6)
    # (onnx.reference's LRN loops over x.shape[0] instead of the channels: not an oracle here)


@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [-1, -2]])
def test_mvn(rng, axes):
    x = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)
    (y,), _ = run_node("MeanVarianceNormalization", [x], {"axes": axes} if axes else {}, opset=13)
    ax = tuple(a % 4 for a in (axes or [0, 2, 3]))
    xd = x.astype(np.float64)
    expected = (xd - xd.mean(axis=ax, keepdims=True)) / (xd.std(axis=ax, keepdims=True) + 1e-9)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_lpnormalization(rng, p, axis):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    x[0, 0, :] = 0  # a zero slice along the last axis
    (y,), _ = run_node("LpNormalization", [x], {"p": p, "axis": axis}, opset=22)
    xd = x.astype(np.float64)
    norm = np.sum(np.abs(xd) ** p, axis=axis, keepdims=True) ** (1 / p)
    with np.errstate(invalid="ignore"):
        expected = np.where(norm == 0, 0.0, xd / norm)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
