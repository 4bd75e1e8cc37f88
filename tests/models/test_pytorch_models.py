"""PyTorch-exported models run in pyinfer and match PyTorch's own outputs.

The models and their reference outputs come from support/model_export.py (see conftest.py): random
weights, randomized BatchNorm statistics, exported by the legacy (TorchScript) and the dynamo
exporter, and for BatchNorm models also with BatchNormalization nodes kept (legacy_bn).
"""
import numpy as np
import pytest

import pyinfer

RTOL, ATOL = 1e-3, 1e-4

IMAGE_IN = ("input", ["batch", 3, 224, 224], "tensor(float)")
LOGITS_1000 = ("logits", ["batch", 1000], "tensor(float)")
# name -> (expected inputs, expected outputs) as (name, shape, type), written out independently
# of the export script so a change there that alters the interface is noticed.
INTERFACES = {
    "cifar10": ([("input", ["batch", 3, 32, 32], "tensor(float)")], [("logits", ["batch", 10], "tensor(float)")]),
    "textcnn": ([("tokens", ["batch", "seq_len"], "tensor(int64)")], [("logits", ["batch", 2], "tensor(float)")]),
    "resnet18": ([IMAGE_IN], [LOGITS_1000]),
    "mobilenetv2": ([IMAGE_IN], [LOGITS_1000]),
    "squeezenet11": ([IMAGE_IN], [LOGITS_1000]),
}

CASES = [
    ("cifar10", "legacy"), ("cifar10", "dynamo"),
    ("textcnn", "legacy"), ("textcnn", "dynamo"),
    ("resnet18", "legacy"), ("resnet18", "dynamo"), ("resnet18", "legacy_bn"),
    ("mobilenetv2", "legacy"), ("mobilenetv2", "dynamo"), ("mobilenetv2", "legacy_bn"),
    ("squeezenet11", "legacy"), ("squeezenet11", "dynamo"),
]


def _id(case):
    return f"{case[0]}-{case[1]}"


@pytest.fixture(scope="module", params=CASES, ids=_id)
def loaded(request, exported):
    name, exporter = request.param
    path, cases = exported(name, exporter)
    return name, pyinfer.InferenceSession(path), cases


def test_interface(loaded):
    name, sess, _ = loaded
    want_in, want_out = INTERFACES[name]
    assert [(a.name, a.shape, a.type) for a in sess.get_inputs()] == want_in
    assert [(a.name, a.shape, a.type) for a in sess.get_outputs()] == want_out


def test_matches_pytorch(loaded):
    name, sess, cases = loaded
    assert cases, "the reference file holds no cases"
    for case, (inputs, expected) in cases.items():
        got = sess.run(None, inputs)
        assert len(got) == len(expected)
        for (out_name, want), value in zip(expected.items(), got):
            assert value.dtype == want.dtype and value.shape == want.shape, (case, out_name)
            np.testing.assert_allclose(value, want, rtol=RTOL, atol=ATOL, err_msg=f"{name} case {case} output {out_name}")


def test_cifar10_batches_agree(exported):
    """Each image of a batch gets the same logits as when it is run alone (batch 1 vs 4)."""
    path, cases = exported("cifar10", "legacy")
    sess = pyinfer.InferenceSession(path)
    batch = cases["b4"][0]["input"]
    assert batch.shape[0] > 1
    together = sess.run(["logits"], {"input": batch})[0]
    for i in range(batch.shape[0]):
        alone = sess.run(["logits"], {"input": batch[i:i + 1]})[0]
        np.testing.assert_allclose(alone[0], together[i], rtol=RTOL, atol=ATOL)


def test_textcnn_rejects_float_tokens(exported):
    path, cases = exported("textcnn", "legacy")
    sess = pyinfer.InferenceSession(path)
    tokens = next(iter(cases.values()))[0]["tokens"]
    with pytest.raises(pyinfer.InputTypeError):
        sess.run(None, {"tokens": tokens.astype(np.float32)})


@pytest.mark.parametrize("name", ["cifar10", "textcnn"])
def test_small_models_under_every_isa_and_thread_count(name, isa, exported):
    """The committed small models match PyTorch under each SIMD tier, single- and multi-threaded."""
    path, cases = exported(name, "legacy")
    for threads in (1, 2):
        sess = pyinfer.InferenceSession(path, num_threads=threads)
        for case, (inputs, expected) in cases.items():
            got = sess.run(None, inputs)
            for (out_name, want), value in zip(expected.items(), got):
                np.testing.assert_allclose(value, want, rtol=RTOL, atol=ATOL,
                                           err_msg=f"{name} {case} {out_name} isa={isa} threads={threads}")
