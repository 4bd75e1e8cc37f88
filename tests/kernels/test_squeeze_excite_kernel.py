"""The squeeze_excite kernel against NumPy, under every ISA tier."""
import numpy as np
import pytest

import pyinfer
from pyinfer import kernels


def reference(x, w1, b1, w2, b2, z=None, act=lambda v: np.maximum(v, 0), gate=lambda v: 1 / (1 + np.exp(-v))):
    s = x.astype(np.float64).reshape(x.shape[0], x.shape[1], -1).mean(axis=2)
    h = s @ w1.reshape(w1.shape[0], -1).T + (0 if b1 is None else b1)
    if w2 is None:
        g = gate(h)
    else:
        g = gate(act(h) @ w2.reshape(w2.shape[0], -1).T + (0 if b2 is None else b2))
    z = x if z is None else z
    return z * g.reshape(g.shape + (1,) * (z.ndim - 2))


@pytest.mark.parametrize("shape, squeeze", [((1, 16, 7, 7), 4), ((2, 40, 14, 14), 10), ((1, 1152, 7, 7), 48),
                                            ((1, 3, 1, 1), 1), ((1, 96, 112, 112), 8),
                                            # planes shorter than a vector; outputs in whole blocks and a
                                            # part vector; inputs not a multiple of four chains
                                            ((1, 70, 3, 5), 13), ((2, 133, 5, 7), 35)])
@pytest.mark.parametrize("threads", [1, 2])
def test_squeeze_excite_matches_numpy(isa, rng, shape, squeeze, threads):
    c = shape[1]
    x = rng.standard_normal(shape).astype(np.float32)
    w1, b1 = rng.standard_normal((squeeze, c, 1, 1)).astype(np.float32) * 0.3, rng.standard_normal(squeeze).astype(np.float32)
    w2, b2 = rng.standard_normal((c, squeeze)).astype(np.float32) * 0.3, rng.standard_normal(c).astype(np.float32)
    y = kernels.squeeze_excite(x, w1, b1, w2, b2, activation="relu", gate="sigmoid", num_threads=threads)
    np.testing.assert_allclose(y, reference(x, w1, b1, w2, b2), rtol=1e-4, atol=1e-5)


def test_squeeze_excite_one_layer_other_map_hard_sigmoid(isa, rng):
    x = rng.standard_normal((2, 12, 5, 5)).astype(np.float32)
    z = rng.standard_normal((2, 6, 9, 4)).astype(np.float32)
    w = rng.standard_normal((6, 12)).astype(np.float32)
    y = kernels.squeeze_excite(x, w, z=z, gate="hard_sigmoid", gate_alpha=1 / 6, gate_beta=0.5)
    want = reference(x, w, None, None, None, z, gate=lambda v: np.clip(v / 6 + 0.5, 0, 1))
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"w1": np.ones((4, 5), np.float32)}, "takes 5 channels, x has 8"),
    ({"w2": np.ones((7, 4), np.float32)}, "gates are 7 channels"),
    ({"b1": np.ones(3, np.float32)}, "bias has 3 values"),
    ({"w1": np.ones((4, 8), np.float64)}, "float32"),
    ({"activation": "softplus"}, "cannot be fused"),
    ({"gate": "nonsense"}, "nonsense"),
])
def test_squeeze_excite_bad_arguments_raise(kwargs, message):
    args = {"w1": np.ones((4, 8), np.float32), "b1": np.ones(4, np.float32), "w2": np.ones((8, 4), np.float32),
            "b2": None, "activation": "relu"}
    args.update(kwargs)
    x = np.ones((1, 8, 3, 3), np.float32)
    with pytest.raises(pyinfer.KernelArgumentError, match=message):
        kernels.squeeze_excite(x, args.pop("w1"), args.pop("b1"), args.pop("w2"), args.pop("b2"), **args)


def test_prepared_kernel_reshapes(rng):
    w1, w2 = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((8, 4)).astype(np.float32)
    k = kernels.prepare_squeeze_excite([1, 8, 5, 5], None, w1, None, w2, None, activation="relu")
    x = rng.standard_normal((3, 8, 9, 2)).astype(np.float32)
    k2 = k.reshape([list(x.shape)])
    np.testing.assert_allclose(k2(x), reference(x, w1, None, w2, None), rtol=1e-4, atol=1e-5)
