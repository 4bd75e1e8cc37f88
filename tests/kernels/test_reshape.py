"""PreparedKernel.reshape: the same kernel prepared for other input shapes.

A kernel reshaped from one shape to another must compute exactly what a kernel prepared for
the new shape computes (same parameters, same packed weights), and check the new shapes as
prepare does. This is what dynamic-shape plans rely on.
"""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

RNG = np.random.default_rng(7)
W_CONV = RNG.standard_normal((8, 4, 3, 3)).astype(np.float32)
W_DW = RNG.standard_normal((4, 1, 3, 3)).astype(np.float32)
B_MAT = RNG.standard_normal((16, 12)).astype(np.float32)


PACKED_CONV = kernels.ConvWeights(W_CONV)
PACKED_DW = kernels.ConvWeights(W_DW, group=4)
PACKED_B = kernels.PackedMatrix(B_MAT)


def _conv(shape):
    return kernels.prepare_conv(shape, PACKED_CONV, 8, pads=[1, 1, 1, 1], activation="relu")


def _matmul(shape):
    return kernels.prepare_matmul(shape, PACKED_B, bias=True)


# (name, prepare(shapes) -> kernel, shapes before, shapes after, input dtypes)
CASES = [
    ("conv", lambda s: _conv(s[0]), [(1, 4, 9, 9)], [(2, 4, 13, 7)]),
    ("conv_depthwise", lambda s: kernels.prepare_conv(s[0], PACKED_DW, -1, group=4, strides=[2, 2]),
     [(1, 4, 10, 10)], [(3, 4, 17, 9)]),
    ("matmul", lambda s: _matmul(s[0]), [(2, 5, 16)], [(3, 17, 16)]),
    ("matmul_batched", lambda s: kernels.prepare_matmul(s[0], s[1]), [(2, 5, 16), (2, 16, 3)],
     [(4, 9, 16), (4, 16, 3)]),
    ("softmax", lambda s: kernels.prepare_softmax(s[0], axis=-1), [(2, 3, 8)], [(5, 4, 33)]),
    ("activation", lambda s: kernels.prepare_activation("gelu", s[0]), [(3, 7)], [(11, 70)]),
    ("binary_broadcast", lambda s: kernels.prepare_binary("add", s[0], s[1]), [(2, 3, 4), (4,)],
     [(5, 6, 4), (4,)]),
    ("math", lambda s: kernels.prepare_math("sqrt", s[0]), [(4, 4)], [(9, 2)]),
    ("reduce", lambda s: kernels.prepare_reduce("mean", s[0], [2], True), [(2, 3, 4)], [(3, 2, 17)]),
    ("max_pool", lambda s: kernels.prepare_pool("max", s[0], [3, 3], strides=[2, 2]), [(1, 2, 9, 9)],
     [(2, 2, 15, 12)]),
    ("global_pool", lambda s: kernels.prepare_global_pool("avg", s[0]), [(1, 3, 5, 5)],
     [(2, 3, 7, 4)]),
    ("gather", lambda s: kernels.prepare_gather(s[0], "float32", s[1], "int64", 0), [(10, 4), (2, 3)],
     [(10, 4), (5, 7)]),
    # the transformer kernels, at a new sequence length (what a varying-length encoder's plan does)
    ("layer_norm_skip", lambda s: kernels.prepare_layer_norm(s[0], s[1], s[2], skip_shape=s[3], bias=True),
     [(1, 5, 16), (16,), (16,), (1, 5, 16)], [(2, 9, 16), (16,), (16,), (2, 9, 16)]),
    ("attention_masked", lambda s: kernels.prepare_attention(s[0], s[1], s[2], q_heads=4, mask_shape=s[3],
                                                             key_padding=True),
     [(1, 6, 32), (1, 6, 32), (1, 6, 32), (1, 1, 6, 6)], [(2, 11, 32), (2, 11, 32), (2, 11, 32), (2, 1, 11, 11)]),
    ("attention_packed_past", lambda s: kernels.prepare_attention(
        s[0], q_heads=2, causal=True, past_len=s[5][2] if len(s) > 5 else 3, present=True),
     [(1, 1, 48)], [(1, 4, 48), (), (), (), (), (1, 2, 9, 8), (1, 2, 9, 8)]),
    ("shape_of", lambda s: kernels.prepare_shape_of(s[0], "float32", 1, -1), [(2, 3, 4, 5)], [(6, 7, 8, 9)]),
    ("size", lambda s: kernels.prepare_shape_of(s[0], "int64", size=True), [(2, 3)], [(4, 5)]),
    ("rotary_positions", lambda s: kernels.prepare_rotary_embedding(s[0], s[1], True, num_heads=2),
     [(1, 3, 16), (12, 4)], [(2, 7, 16), (12, 4)]),
]


def _inputs(kernel):
    arrays = []
    for _name, shape, dtype, required in kernel.inputs:
        if not required:
            arrays.append(None)
        elif np.dtype(dtype).kind == "i":
            arrays.append(RNG.integers(0, 10, size=shape).astype(dtype))
        else:
            arrays.append(np.abs(RNG.standard_normal(shape)).astype(dtype))  # Sqrt-safe
    return arrays


@pytest.mark.parametrize("name,prepare,before,after", CASES, ids=[c[0] for c in CASES])
def test_reshaped_kernel_equals_one_prepared_for_the_new_shapes(name, prepare, before, after):
    original = prepare(before)
    assert original.can_reshape
    fresh = prepare(after)
    shapes = [s for s in after] + [spec[1] for spec in fresh.inputs[len(after):]]
    reshaped = original.reshape(shapes)
    assert [s[1] for s in reshaped.outputs] == [s[1] for s in fresh.outputs]
    assert reshaped.algorithm == fresh.algorithm
    inputs = _inputs(fresh)
    got, want = reshaped(*inputs), fresh(*inputs)
    got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
    written = [spec[3] for spec in fresh.outputs]  # outputs the kernel does not write hold nothing to compare
    for g, w, required in zip(got, want, written):
        if required:
            np.testing.assert_array_equal(g, w)
    # the original still runs at its own shapes
    again = original(*_inputs(original))
    assert np.all(np.isfinite(again if not isinstance(again, tuple) else again[0]))


def test_reshape_checks_shapes_as_prepare_does():
    k = _conv((1, 4, 9, 9))
    with pytest.raises(pyinfer.KernelArgumentError, match="channel"):
        k.reshape([(1, 5, 9, 9), (8, 4, 3, 3), (8,), (1, 8, 9, 9)])
    with pytest.raises(pyinfer.KernelArgumentError):
        _matmul((2, 16)).reshape([(2, 15), (16, 12), (12,), (2, 12)])


def test_shape_of_writes_the_new_dims_when_reshaped():
    shape = kernels.prepare_shape_of([2, 3, 4, 5], "float32", 1, -1).reshape([(6, 7, 8, 9)])
    np.testing.assert_array_equal(shape(np.zeros((6, 7, 8, 9), np.float32)), [7, 8])
    size = kernels.prepare_shape_of([2, 3], "float32", size=True).reshape([(4, 5)])
    assert size(np.zeros((4, 5), np.float32)) == 20
