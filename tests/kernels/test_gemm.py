"""pyinfer.kernels.gemm / matmul against a float64 NumPy reference, under every SIMD tier."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyinfer
from pyinfer import kernels

RTOL, ATOL = 1e-4, 1e-4


def ref_gemm(a, b, c, alpha, beta, trans_a, trans_b):
    a64 = a.astype(np.float64).T if trans_a else a.astype(np.float64)
    b64 = b.astype(np.float64).T if trans_b else b.astype(np.float64)
    m, k = a64.shape
    n = b64.shape[1]
    y = np.zeros((m, n))
    for p in range(k):  # written plainly: a sum of outer products
        y += np.outer(a64[:, p], b64[p, :])
    y *= alpha
    if c is not None and beta != 0:
        y += beta * np.broadcast_to(c.astype(np.float64), (m, n))
    return y


def operands(rng, m, n, k, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return a, b


def check(y, ref, k=1):
    # float32 sums of k terms: allow the error to grow with sqrt(k)
    tol = ATOL * max(1.0, np.sqrt(k))
    np.testing.assert_allclose(y, ref, rtol=RTOL, atol=tol)


SIZES = [1, 3, 17, 31, 65]


@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
def test_gemm_odd_sizes_all_trans(isa, rng, trans_a, trans_b):
    for m, n, k in itertools.product(SIZES, SIZES, [1, 17, 65]):
        a, b = operands(rng, m, n, k, trans_a, trans_b)
        y = kernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
        check(y, ref_gemm(a, b, None, 1.0, 0.0, trans_a, trans_b), k)


@pytest.mark.parametrize("m,n,k", [(257, 129, 300), (16, 257, 513), (200, 1, 257), (1, 300, 600),
                                   (33, 500, 31), (513, 70, 260)])
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
def test_gemm_large_blocked_and_skinny(isa, rng, m, n, k, trans_a, trans_b):
    a, b = operands(rng, m, n, k, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(np.float32)
    y = kernels.gemm(a, b, c, alpha=0.75, beta=-1.5, trans_a=trans_a, trans_b=trans_b, num_threads=2)
    check(y, ref_gemm(a, b, c, 0.75, -1.5, trans_a, trans_b), k)


@pytest.mark.parametrize("packed", [False, True])
def test_gemm_every_row_tail_of_the_blocked_path(isa, rng, packed):
    # M = 64 .. 72: every count of rows left for the last panel of 4 (scalar), 6 (AVX2) and
    # 8 (AVX-512) rows, which computes only those rows; with C, alpha / beta and a bias epilogue.
    k, n = 70, 100
    b = rng.standard_normal((k, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    weights = kernels.PackedMatrix(b) if packed else b
    for m in range(64, 73):
        a = rng.standard_normal((m, k)).astype(np.float32)
        c = rng.standard_normal((m, n)).astype(np.float32)
        y = kernels.gemm(a, weights, c, alpha=0.5, beta=2.0)
        check(y, ref_gemm(a, b, c, 0.5, 2.0, False, False), k)
        z = kernels.gemm(a, weights, bias=bias, activation="relu", num_threads=2)
        check(z, np.maximum(ref_gemm(a, b, None, 1.0, 0.0, False, False) + bias, 0), k)


@pytest.mark.parametrize("c_shape", [(), (1,), (9,), (1, 9), (7, 1), (7, 9), (1, 1)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (2.5, 0.5), (-1.0, 0.0), (0.0, 3.0)])
def test_gemm_alpha_beta_and_c_broadcast(isa, rng, c_shape, alpha, beta):
    a, b = operands(rng, 7, 9, 5, False, False)
    c = rng.standard_normal(c_shape).astype(np.float32)
    y = kernels.gemm(a, b, c, alpha=alpha, beta=beta)
    check(y, ref_gemm(a, b, c, alpha, beta, False, False))


def test_gemm_without_c_and_nan_in_c_ignored_when_beta_zero(isa, rng):
    a, b = operands(rng, 40, 50, 300, False, False)
    ref = ref_gemm(a, b, None, 1.0, 0.0, False, False)
    check(kernels.gemm(a, b), ref, 300)
    c = np.full((40, 50), np.nan, np.float32)
    check(kernels.gemm(a, b, c, beta=0.0), ref, 300)


@pytest.mark.parametrize("m,n,k", [(5, 7, 9), (40, 60, 300), (3, 100, 50), (100, 1, 64)])
@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
def test_gemm_row_strided_views(isa, rng, m, n, k, trans_a, trans_b):
    # views with a row stride larger than their width are read in place (lda > cols)
    a_full, b_full = operands(rng, m + 3, n + 5, k + 4, trans_a, trans_b)
    a = a_full[: (k if trans_a else m), : (m if trans_a else k)]
    b = b_full[: (n if trans_b else k), : (k if trans_b else n)]
    assert a.strides[0] > a.shape[1] * 4 or a.shape[0] == 1
    y = kernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    check(y, ref_gemm(np.ascontiguousarray(a), np.ascontiguousarray(b), None, 1.0, 0.0, trans_a, trans_b), k)
    # column-strided (transposed / stepped) views are copied, same answer
    y2 = kernels.gemm(a[:, ::1], np.asfortranarray(b), trans_a=trans_a, trans_b=trans_b)
    check(y2, y, k)


@pytest.mark.parametrize("m,n,k", [(300, 260, 520), (12, 1000, 200), (1000, 1, 300), (64, 3136, 27), (32, 128, 600)])
def test_gemm_threads_bit_identical(isa, rng, m, n, k):
    a, b = operands(rng, m, n, k, False, True)
    c = rng.standard_normal((1, n)).astype(np.float32)
    ys = [kernels.gemm(a, b, c, alpha=1.25, beta=0.5, trans_b=True, num_threads=t) for t in (1, 2, 3, 0)]
    for y in ys[1:]:
        np.testing.assert_array_equal(y, ys[0])
    check(ys[0], ref_gemm(a, b, c, 1.25, 0.5, False, True), k)


def test_gemm_empty_dims(isa):
    z = np.zeros((0, 4), np.float32)
    assert kernels.gemm(z, np.ones((4, 3), np.float32)).shape == (0, 3)
    # K == 0: the product is zero, Y = beta * C
    y = kernels.gemm(np.zeros((2, 0), np.float32), np.zeros((0, 3), np.float32),
                     np.ones((2, 3), np.float32), beta=2.0)
    np.testing.assert_array_equal(y, np.full((2, 3), 2.0, np.float32))


def test_gemm_bad_arguments():
    f = np.ones((3, 4), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match="inner dimensions"):
        kernels.gemm(f, f)
    with pytest.raises(pyinfer.KernelArgumentError, match="does not broadcast"):
        kernels.gemm(f, f, np.ones((2, 3), np.float32), trans_b=True)
    with pytest.raises(pyinfer.KernelArgumentError, match="rank"):
        kernels.gemm(np.ones((3, 4, 1), np.float32), f)
    with pytest.raises(pyinfer.KernelArgumentError, match="float32"):
        kernels.gemm(f.astype(np.float64), f, trans_b=True)
    with pytest.raises(pyinfer.KernelArgumentError, match="ndarray"):
        kernels.gemm([[1.0]], f)
    with pytest.raises(pyinfer.Error):
        kernels.gemm(f, f, np.ones((2, 2, 2), np.float32), trans_b=True)


# --- matmul -------------------------------------------------------------------------------

def ref_matmul(a, b):
    return np.matmul(a.astype(np.float64), b.astype(np.float64))


MATMUL_SHAPES = [
    ((5,), (5,)),
    ((5,), (5, 3)),
    ((4, 5), (5,)),
    ((2, 3, 4, 5), (5,)),
    ((5,), (2, 5, 3)),
    ((3, 17), (17, 31)),
    ((2, 3, 4), (4, 6)),            # b shared by every batch item
    ((4, 6), (2, 6, 3)),            # a shared
    ((2, 1, 3, 4), (1, 5, 4, 2)),   # both broadcast
    ((3, 1, 7, 8), (4, 8, 9)),
    ((1, 1, 20, 65), (3, 65, 1)),
    ((6, 40, 70), (6, 70, 33)),
    ((0, 3, 4), (4, 2)),
    ((2, 3, 0), (2, 0, 4)),
    ((3, 0), (0,)),
]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_numpy_semantics(isa, rng, sa, sb):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    ref = ref_matmul(a, b)
    for threads in (1, 2):
        y = kernels.matmul(a, b, num_threads=threads)
        assert y.dtype == np.float32 and y.shape == ref.shape
        check(y, ref, sa[-1])


def test_matmul_non_contiguous_inputs(isa, rng):
    a = rng.standard_normal((3, 8, 6)).astype(np.float32).transpose(0, 2, 1)
    b = rng.standard_normal((8, 5)).astype(np.float32)[:, ::-1]
    check(kernels.matmul(a, b), ref_matmul(a, b), 8)


@pytest.mark.parametrize("sa,sb,match", [
    ((3, 4), (5, 6), "do not match"),
    ((4,), (5,), "do not match"),
    ((2, 3, 4), (3, 4, 5), "broadcast"),
    ((), (3,), "rank"),
    ((3,), (), "rank"),
])
def test_matmul_bad_shapes(sa, sb, match):
    with pytest.raises(pyinfer.KernelArgumentError, match=match):
        kernels.matmul(np.ones(sa, np.float32), np.ones(sb, np.float32))


def test_matmul_wrong_dtype():
    with pytest.raises(pyinfer.KernelArgumentError, match="float32"):
        kernels.matmul(np.ones((2, 2), np.int32), np.ones((2, 2), np.float32))


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 300),
       trans_a=st.booleans(), trans_b=st.booleans(), threads=st.sampled_from([1, 2]),
       isa_name=st.sampled_from(pyinfer.cpu_info()["supported_isas"]), seed=st.integers(0, 2**31))
def test_gemm_hypothesis(m, n, k, trans_a, trans_b, threads, isa_name, seed):
    rng = np.random.default_rng(seed)
    a, b = operands(rng, m, n, k, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(np.float32)
    previous = pyinfer._kernels.active_isa()
    pyinfer._kernels.set_isa(isa_name)
    try:
        y = kernels.gemm(a, b, c, alpha=0.5, beta=2.0, trans_a=trans_a, trans_b=trans_b, num_threads=threads)
    finally:
        pyinfer._kernels.set_isa(previous)
    check(y, ref_gemm(a, b, c, 0.5, 2.0, trans_a, trans_b), k)


# --- the ONNX ops (dtypes, attributes), onnx.reference as the oracle -----------------------

def _run_node(op_type, inputs, opset, **attrs):
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    names = [f"x{i}" for i in range(len(inputs))]
    elem = helper.np_dtype_to_tensor_dtype(inputs[0].dtype)
    node = helper.make_node(op_type, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, elem, x.shape) for n, x in zip(names, inputs)],
        [helper.make_tensor_value_info("y", elem, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    feeds = dict(zip(names, inputs))
    got = pyinfer.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    assert TensorProto  # keep the import for readers: elem is a TensorProto enum
    return got, want


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint32, np.uint64])
def test_gemm_op_dtypes(rng, dtype):
    # unsigned: non-negative values (the reference casts through float64)
    f = np.abs if np.issubdtype(dtype, np.unsignedinteger) else (lambda x: x)
    a = f(rng.standard_normal((4, 6)) * 3).astype(dtype)
    b = f(rng.standard_normal((5, 6)) * 3).astype(dtype)
    c = f(rng.standard_normal((5,)) * 3).astype(dtype)
    got, want = _run_node("Gemm", [a, b, c], 13, transB=1)
    assert got.dtype == np.dtype(dtype) and got.shape == (4, 5)
    tol = 1e-2 if dtype == np.float16 else 1e-4
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int32, np.int64])
def test_matmul_op_dtypes(rng, dtype):
    a = (rng.standard_normal((2, 3, 4)) * 3).astype(dtype)
    b = (rng.standard_normal((4, 5)) * 3).astype(dtype)
    got, want = _run_node("MatMul", [a, b], 13)
    assert got.dtype == np.dtype(dtype) and got.shape == (2, 3, 5)
    tol = 1e-2 if dtype == np.float16 else 1e-4
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol)


def test_gemm_op_v6_broadcast_attribute(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 5)).astype(np.float32)
    c = rng.standard_normal((1, 5)).astype(np.float32)
    got, want = _run_node("Gemm", [a, b, c], 6, broadcast=1, alpha=0.5, beta=2.0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    with pytest.raises(pyinfer.Error, match="without broadcast"):
        _run_node("Gemm", [a, b, c], 6, broadcast=0)


def test_gemm_op_bad_shapes(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(pyinfer.Error, match="inner dimensions|Dimension mismatch"):  # at load, declared shapes
        _run_node("Gemm", [a, a], 13)


def test_gemm_concurrent_calls_from_python_threads(rng):
    # per-thread packing buffers: simultaneous calls (GIL released) must not interfere
    from concurrent.futures import ThreadPoolExecutor

    cases = [operands(rng, m, n, k, False, tb) + (tb,)
             for m, n, k, tb in [(300, 200, 700, False), (5, 900, 400, True), (129, 257, 300, True),
                                 (600, 1, 500, False)]] * 3
    want = [kernels.gemm(a, b, trans_b=tb, num_threads=1) for a, b, tb in cases]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda x: kernels.gemm(x[0], x[1], trans_b=x[2], num_threads=2), cases))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


# --- PackedMatrix and the fused epilogue --------------------------------------------------

def _erf(x):
    import math
    return np.vectorize(math.erf)(x)


# name, kernel kwargs, plain NumPy reference (float64)
ACTIVATIONS = [
    ("none", {}, lambda x: x),
    ("relu", {}, lambda x: np.maximum(x, 0)),
    ("relu6", {}, lambda x: np.clip(x, 0, 6)),
    ("clip", dict(clip_min=-0.5, clip_max=1.25), lambda x: np.clip(x, -0.5, 1.25)),
    ("leaky_relu", dict(activation_alpha=0.1), lambda x: np.where(x >= 0, x, 0.1 * x)),
    ("sigmoid", {}, lambda x: 1 / (1 + np.exp(-x))),
    ("tanh", {}, np.tanh),
    ("hard_sigmoid", dict(activation_alpha=0.25, activation_beta=0.4), lambda x: np.clip(0.25 * x + 0.4, 0, 1)),
    ("hard_swish", {}, lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
    ("gelu", {}, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2)))),
    ("gelu_tanh", {}, lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))),
]


@pytest.mark.parametrize("m,n,k", [(1, 49, 300), (3, 100, 77), (16, 1000, 33), (17, 96, 5), (40, 49, 600),
                                   (300, 130, 700), (64, 3136, 27), (7, 1, 9)])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (False, True), (True, False)])
def test_packed_matrix_matches_reference(isa, rng, m, n, k, trans_a, trans_b):
    a, b = operands(rng, m, n, k, trans_a, trans_b)
    c = rng.standard_normal((m, n)).astype(np.float32)
    packed = kernels.PackedMatrix(b, trans=trans_b)
    assert packed.shape == (k, n) and packed.trans == trans_b and packed.isa == isa
    for threads in (1, 2):
        y = kernels.gemm(a, packed, c, alpha=0.5, beta=-1.0, trans_a=trans_a, num_threads=threads)
        check(y, ref_gemm(a, b, c, 0.5, -1.0, trans_a, trans_b), k)


def test_packed_matrix_owns_its_data_and_keeps_its_tier(rng):
    a, b = operands(rng, 5, 70, 40, False, False)
    want = ref_gemm(a, b, None, 1.0, 0.0, False, False)
    previous = pyinfer._kernels.active_isa()
    packed = kernels.PackedMatrix(b.copy())  # the source array is dropped at once
    try:
        for name in pyinfer.cpu_info()["supported_isas"]:
            pyinfer._kernels.set_isa(name)  # products keep the packing tier's kernels
            check(kernels.gemm(a, packed), want, 40)
    finally:
        pyinfer._kernels.set_isa(previous)
    assert packed.nbytes >= 70 * 40 * 4


@pytest.mark.parametrize("act,params,fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_gemm_fused_epilogue(isa, rng, act, params, fn):
    # shapes reach the skinny, blocked (two K blocks) and dot-product paths
    for m, n, k, tb in [(3, 70, 50, False), (5, 33, 40, True), (70, 100, 300, False), (40, 1, 20, False)]:
        a, b = operands(rng, m, n, k, False, tb)
        bias = rng.standard_normal(n).astype(np.float32)
        res = rng.standard_normal((m, n)).astype(np.float32)
        want = fn(ref_gemm(a, b, None, 1.0, 0.0, False, tb) + bias + res)
        y = kernels.gemm(a, b, trans_b=tb, bias=bias, residual=res, activation=act, **params)
        check(y, want, k)
        if n >= 8:
            yp = kernels.gemm(a, kernels.PackedMatrix(b, trans=tb), bias=bias, residual=res, activation=act,
                              num_threads=2, **params)
            check(yp, want, k)


def test_gemm_epilogue_with_c_and_nan(isa, rng):
    a, b = operands(rng, 6, 20, 10, False, False)
    c = rng.standard_normal((1, 20)).astype(np.float32)
    y = kernels.gemm(a, b, c, alpha=2.0, beta=0.5, activation="relu")
    check(y, np.maximum(ref_gemm(a, b, c, 2.0, 0.5, False, False), 0), 10)
    a[0, 0] = np.nan
    y = kernels.gemm(a, b, activation="relu")
    assert np.isnan(y[0]).all() and not np.isnan(y[1:]).any()  # NaN is not clamped away


def test_matmul_packed_and_epilogue(isa, rng):
    a = rng.standard_normal((2, 3, 7, 40)).astype(np.float32)
    b = rng.standard_normal((40, 50)).astype(np.float32)
    res = rng.standard_normal((2, 3, 7, 50)).astype(np.float32)
    bias = rng.standard_normal(50).astype(np.float32)
    want = np.maximum(ref_matmul(a, b) + bias + res, 0)
    check(kernels.matmul(a, kernels.PackedMatrix(b), bias=bias, residual=res, activation="relu"), want, 40)
    check(kernels.matmul(a, b, bias=bias, residual=res, activation="relu"), want, 40)
    v = rng.standard_normal(40).astype(np.float32)
    check(kernels.matmul(v, kernels.PackedMatrix(b)), ref_matmul(v, b), 40)
    # batched b (not shared): the epilogue follows each item's slice of the residual
    bb = rng.standard_normal((2, 3, 40, 50)).astype(np.float32)
    check(kernels.matmul(a, bb, residual=res, activation="sigmoid"), 1 / (1 + np.exp(-(ref_matmul(a, bb) + res))), 40)


@pytest.mark.parametrize("call,match", [
    (lambda a, b: kernels.gemm(a, b, activation="swish"), "unknown activation"),
    (lambda a, b: kernels.gemm(a, b, activation="relu", activation_alpha=0.1), "not a parameter"),
    (lambda a, b: kernels.gemm(a, b, clip_min=0.0), "clip"),
    (lambda a, b: kernels.gemm(a, b, activation="clip", clip_min=2.0, clip_max=1.0), "must not exceed"),
    (lambda a, b: kernels.gemm(a, b, bias=np.ones(3, np.float32)), r"bias must have shape \(5,\)"),
    (lambda a, b: kernels.gemm(a, b, bias=np.ones(5)), "float32"),
    (lambda a, b: kernels.gemm(a, b, residual=np.ones((4, 1), np.float32)), "residual must have"),
    (lambda a, b: kernels.gemm(a, kernels.PackedMatrix(b), trans_b=True), "PackedMatrix"),
    (lambda a, b: kernels.gemm(a.T, kernels.PackedMatrix(b)), "inner dimensions"),
    (lambda a, b: kernels.matmul(np.ones((2, 7), np.float32), kernels.PackedMatrix(b)), "do not match"),
    (lambda a, b: kernels.PackedMatrix(np.ones((2, 3, 4), np.float32)), "rank"),
    (lambda a, b: kernels.PackedMatrix(b.astype(np.float64)), "float32"),
])
def test_epilogue_and_packed_argument_errors(call, match):
    a, b = np.ones((4, 6), np.float32), np.ones((6, 5), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match=match):
        call(a, b)


def test_gemm_and_matmul_ops_pack_constant_weights(rng):
    """Constant B initializers run through the packed path; a fed B and the results agree."""
    from onnx import TensorProto, helper, numpy_helper

    a = rng.standard_normal((3, 40)).astype(np.float32)
    w = rng.standard_normal((50, 40)).astype(np.float32)
    c = rng.standard_normal(50).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["a", "w", "c"], ["g"], transB=1, alpha=0.5, beta=2.0),
             helper.make_node("MatMul", ["g", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [3, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    sess = pyinfer.InferenceSession(model.SerializeToString())
    ops = [step[0] for step in sess._executor.steps]
    assert [op.op_type for op in ops] == ["Gemm", "MatMul"]
    got = sess.run(None, {"a": a})[0]
    g = 0.5 * a.astype(np.float64) @ w.T.astype(np.float64) + 2.0 * c
    check(got, g @ w.astype(np.float64), 40 * 40)
    for op in ops:
        assert op._packed is not None
    assert ops[0]._bias is not None  # the constant C row became the fused bias


# op(A) of 1..4 rows times an in-place row-major B (the RNN step, a batch-1 MatMul): B is
# streamed row by row into C segments of 1024 columns (gemm_kernels_isa.cpp skinny_rows).
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("n,k", [(1, 9), (37, 3), (1024, 20), (2100, 13)])
def test_gemm_skinny_rows(isa, rng, m, n, k):
    a, b = operands(rng, m, n, k, False, False)
    c = rng.standard_normal((m, n)).astype(np.float32)
    for alpha, beta in [(1.0, 0.0), (-0.5, 2.0)]:
        want = ref_gemm(a, b, c, alpha, beta, False, False)
        ys = [kernels.gemm(a, b, c, alpha=alpha, beta=beta, num_threads=t) for t in (1, 2, 3)]
        check(ys[0], want, k)
        assert all(np.array_equal(ys[0], y) for y in ys[1:])  # any column split, same bits
    # transposed A, B a row-strided view, a fused epilogue, NaN in C ignored with beta 0
    wide = rng.standard_normal((k, n + 5)).astype(np.float32)
    at = np.ascontiguousarray(a.T)
    bias = rng.standard_normal(n).astype(np.float32)
    got = kernels.gemm(at, wide[:, :n], np.full((m, n), np.nan, np.float32), beta=0.0, trans_a=True,
                       bias=bias, activation="relu")
    check(got, np.maximum(ref_gemm(a, wide[:, :n], None, 1.0, 0.0, False, False) + bias, 0.0), k)


@pytest.mark.parametrize("offset", [0, 1, 4, 7, 15])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_gemm_skinny_nt_any_alignment_of_b(isa, rng, m, offset):
    # B stored N x K at every float offset within a 64-byte line: the dot products peel a head
    # so their loads of B fall on vector boundaries, and must not miss or repeat an element.
    n, k = 20, 96
    buf = rng.standard_normal(n * k + 16).astype(np.float32)
    b = buf[offset:offset + n * k].reshape(n, k)
    a = rng.standard_normal((m, k)).astype(np.float32)
    y = kernels.gemm(a, b, trans_b=True)
    np.testing.assert_allclose(y, a.astype(np.float64) @ b.astype(np.float64).T, rtol=1e-5, atol=1e-5)
