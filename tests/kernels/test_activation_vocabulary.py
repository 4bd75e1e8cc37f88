"""One activation vocabulary (csrc/activation/act.h) and one vector implementation of each
activation: a fused epilogue (gemm, matmul, conv, batch_norm) and the RNN gates compute exactly
what the elementwise activation kernel computes on the same pre-activation values."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels

Act = kernels.Activation
EPILOGUE = [a for a in Act.__members__.values() if a.fuses and a != Act.NONE]
PARAMS = {Act.LEAKY_RELU: dict(activation_alpha=0.3), Act.HARD_SIGMOID: dict(activation_alpha=0.25, activation_beta=0.4),
          Act.CLIP: dict(clip_min=-0.5, clip_max=0.75)}


def unfused(act, y):
    p = PARAMS.get(act, {})
    a = p.get("activation_alpha", p.get("clip_min"))
    b = p.get("activation_beta", p.get("clip_max"))
    return kernels.prepare_activation(act, y.shape, a, b)(y)


def test_the_vocabulary_is_one_enum():
    names = {a.kernel_name for a in Act.__members__.values()}
    assert {"relu", "leaky_relu", "gelu", "gelu_tanh", "silu", "hard_swish", "affine", "scaled_tanh"} <= names
    for a in Act.__members__.values():
        assert Act.from_onnx(a.onnx_name) == a
        assert a.name == a.kernel_name.upper()
    assert Act.from_onnx("LeakyRelu").defaults == pytest.approx((0.01, 0.0))
    assert [a.kernel_name for a in EPILOGUE] == ["relu", "leaky_relu", "sigmoid", "tanh", "clip", "hard_sigmoid",
                                                 "hard_swish", "gelu", "gelu_tanh", "mish", "silu"]


@pytest.mark.parametrize("act", EPILOGUE, ids=lambda a: a.kernel_name)
def test_fused_epilogues_equal_the_activation_kernel(isa, rng, act):
    a = rng.standard_normal((37, 64)).astype(np.float32) * 2
    b = rng.standard_normal((64, 45)).astype(np.float32)
    kw = PARAMS.get(act, {})
    plain = kernels.gemm(a, b)
    np.testing.assert_array_equal(kernels.gemm(a, b, activation=act, **kw), unfused(act, plain))
    np.testing.assert_array_equal(kernels.gemm(a, kernels.PackedMatrix(b), activation=act.kernel_name, **kw),
                                  unfused(act, kernels.gemm(a, kernels.PackedMatrix(b))))
    x = rng.standard_normal((2, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    for algorithm in ("direct_positions", "direct_channels", "im2col"):
        pyinfer._kernels._set_conv_algorithm(algorithm)
        try:
            conv = kernels.conv(x, w, pads=1)
            np.testing.assert_array_equal(kernels.conv(x, w, pads=1, activation=act, **kw), unfused(act, conv),
                                          err_msg=algorithm)
        finally:
            pyinfer._kernels._set_conv_algorithm("auto")
    dw = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(kernels.conv(x, dw, pads=1, group=3, activation=act, **kw),
                                  unfused(act, kernels.conv(x, dw, pads=1, group=3)))
    c = x.shape[1]
    bn = [rng.random(c).astype(np.float32) + 0.5 for _ in range(4)]
    np.testing.assert_array_equal(kernels.batch_norm(x, *bn, activation=act, **kw),
                                  unfused(act, kernels.batch_norm(x, *bn)))


@pytest.mark.parametrize("name, act", [("Sigmoid", Act.SIGMOID), ("Tanh", Act.TANH), ("Relu", Act.RELU),
                                       ("Softsign", Act.SOFTSIGN), ("Softplus", Act.SOFTPLUS), ("Elu", Act.ELU)])
def test_rnn_gates_equal_the_activation_kernel(isa, rng, name, act):
    x = (rng.standard_normal(1000) * 4).astype(np.float32)
    np.testing.assert_array_equal(pyinfer._kernels._rnn_activation(x, name), unfused(act, x))


def test_an_activation_no_epilogue_applies_is_refused():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match="'softplus' cannot be fused"):
        kernels.gemm(a, a, activation=Act.SOFTPLUS)
