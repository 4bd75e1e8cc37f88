"""NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (pyinfer/ops/loss.py).

Oracles: torch.nn.functional.nll_loss / cross_entropy / log_softmax, and hand-computed values.
"""
import numpy as np
import pytest

import pyinfer
from support.one_node import reference, run

torch = pytest.importorskip("torch")
F = torch.nn.functional


def torch_loss(fn, x, target, weight=None, reduction="mean", ignore_index=None):
    kw = dict(reduction=reduction)
    if weight is not None:
        kw["weight"] = torch.from_numpy(weight.astype(np.float64))
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    return fn(torch.from_numpy(x.astype(np.float64)), torch.from_numpy(target.astype(np.int64)), **kw).numpy()


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 4, 3, 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_matches_torch(rng, reduction, shape, weighted):
    x = rng.standard_normal(shape).astype(np.float32)
    target = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    weight = rng.random(shape[1]).astype(np.float32) if weighted else None
    y = run("NegativeLogLikelihoodLoss", [x, target, weight], opset=22, reduction=reduction)
    assert y.dtype == np.float32
    want = torch_loss(F.nll_loss, x, target, weight, reduction)
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ignore_index", [1, -1, 7])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_nll_ignore_index(rng, ignore_index, reduction):
    x = rng.standard_normal((3, 4, 5)).astype(np.float64)
    target = rng.integers(0, 4, size=(3, 5))
    target[0, :2] = ignore_index
    weight = rng.random(4)
    y = run("NegativeLogLikelihoodLoss", [x, target.astype(np.int32), weight], opset=13,
            reduction=reduction, ignore_index=ignore_index)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, torch_loss(F.nll_loss, x, target, weight, reduction, ignore_index), rtol=1e-12)


def test_nll_hand_computed():
    x = np.array([[-1.0, -2.0, -3.0], [-0.5, -0.25, -4.0]], np.float32)
    target = np.array([2, 0])
    weight = np.array([2.0, 1.0, 0.5], np.float32)
    # losses: 3 * 0.5 = 1.5 and 0.5 * 2 = 1.0; mean divides by 0.5 + 2
    np.testing.assert_allclose(run("NegativeLogLikelihoodLoss", [x, target, weight], opset=13), 2.5 / 2.5)
    np.testing.assert_allclose(run("NegativeLogLikelihoodLoss", [x, target], opset=13, reduction="none"), [3.0, 0.5])


def test_nll_float16_and_errors(rng):
    x = rng.standard_normal((3, 4)).astype(np.float16)
    y = run("NegativeLogLikelihoodLoss", [x, np.array([0, 1, 3])], opset=13, reduction="sum")
    assert y.dtype == np.float16 and y.shape == ()
    np.testing.assert_allclose(y, -(x[0, 0] + x[1, 1] + x[2, 3]), rtol=2e-3)
    with pytest.raises(pyinfer.Error, match="target"):
        run("NegativeLogLikelihoodLoss", [x, np.array([0, 4, 1])], opset=13)
    with pytest.raises(pyinfer.Error, match="shape"):
        run("NegativeLogLikelihoodLoss", [x, np.array([0, 1])], opset=13)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4, 2)])
def test_softmax_cross_entropy_matches_torch(rng, reduction, shape):
    x = rng.standard_normal(shape).astype(np.float32) * 3
    labels = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    labels.reshape(-1)[0] = -100
    weight = rng.random(shape[1]).astype(np.float32)
    loss, log_prob = run("SoftmaxCrossEntropyLoss", [x, labels, weight], n_outputs=2, opset=13,
                         reduction=reduction, ignore_index=-100)
    want = torch_loss(F.cross_entropy, x, labels, weight, reduction, -100)
    np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_prob, F.log_softmax(torch.from_numpy(x), dim=1).numpy(), rtol=1e-5, atol=1e-6)
    assert loss.dtype == log_prob.dtype == np.float32


def test_softmax_cross_entropy_single_output_and_reference(rng):
    x = rng.standard_normal((4, 3)).astype(np.float64)
    labels = np.array([0, 2, 1, 2], np.int64)
    y = run("SoftmaxCrossEntropyLoss", [x, labels], opset=12)
    np.testing.assert_allclose(y, torch_loss(F.cross_entropy, x, labels), rtol=1e-12)
    np.testing.assert_allclose(y, reference("SoftmaxCrossEntropyLoss", [x, labels], opset=12), rtol=1e-12)
