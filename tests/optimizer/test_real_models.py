"""ResNet-style and MobileNetV2-style models exported from PyTorch, optimized end to end.

BatchNorm statistics and affine parameters are randomized (support.torch_models), so folding them
is tested with values far from the identity.
"""
import io
import warnings

import numpy as np
import onnx
import pytest

import pyinfer

torch = pytest.importorskip("torch")
from support.torch_models import SmallResNet, small_mobilenetv2, with_random_weights  # noqa: E402

LEVEL = pyinfer.GraphOptimizationLevel
# name -> (architecture, input shape, seed)
MODELS = {"resnet": (SmallResNet, (2, 3, 16, 16), 0), "mobilenetv2": (small_mobilenetv2, (2, 3, 32, 32), 1)}


def export_keeping_batchnorm(net, shape, dynamic_batch=False) -> onnx.ModelProto:
    """Legacy exporter, opset 17. No constant folding and PRESERVE mode: otherwise the exporter
    folds BatchNorm itself, and the optimizer would have nothing to fold."""
    buf = io.BytesIO()
    axes = {"dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}} if dynamic_batch else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (torch.randn(*shape),), buf, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["input"], output_names=["output"], **axes)
    return onnx.load_from_string(buf.getvalue())


@pytest.fixture(scope="module", params=[(name, dyn) for name in MODELS for dyn in (False, True)],
                ids=lambda p: f"{p[0]}-{'dynamic' if p[1] else 'static'}")
def exported(request):
    """(onnx model, input); the torch module is kept in NETS as the oracle."""
    name, dynamic = request.param
    build, shape, seed = MODELS[name]
    net = with_random_weights(build, seed)
    model = export_keeping_batchnorm(net, shape, dynamic)
    NETS[id(model)] = net
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    return model, x


NETS = {}


def torch_reference(model_proto, x):
    with torch.no_grad():
        return NETS[id(model_proto)](torch.from_numpy(x)).numpy()


def test_optimized_graph_has_no_bn_relu_clip_and_same_outputs(exported):
    model, x = exported
    (plain,) = pyinfer.InferenceSession(model, graph_optimization_level=LEVEL.ORT_DISABLE_ALL).run(None, {"input": x})
    sess = pyinfer.InferenceSession(model)
    (y,) = sess.run(None, {"input": x})
    after = sess.optimization_report.ops_after
    assert sess.optimization_report.ops_before["BatchNormalization"] > 0
    for op in ("BatchNormalization", "Relu", "Clip", "Identity", "Dropout", "Constant"):
        assert after[op] == 0, (op, dict(after))
    assert after["pyinfer::FusedConv"] > 0
    np.testing.assert_allclose(y, plain, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y, torch_reference(model, x), rtol=1e-3, atol=1e-4)


def test_every_level_gives_the_same_outputs(exported):
    model, x = exported
    outs = {lvl: pyinfer.InferenceSession(model, graph_optimization_level=lvl).run(None, {"input": x})[0]
            for lvl in LEVEL}
    for lvl in LEVEL:
        np.testing.assert_allclose(outs[lvl], outs[LEVEL.ORT_DISABLE_ALL], rtol=1e-4, atol=1e-5)


def test_batch_of_another_size_with_a_dynamic_batch(exported):
    model, x = exported
    if model.graph.input[0].type.tensor_type.shape.dim[0].dim_param != "batch":
        pytest.skip("static batch")
    x5 = np.concatenate([x, x, x[:1]])
    (y,) = pyinfer.InferenceSession(model).run(None, {"input": x5})
    np.testing.assert_allclose(y, torch_reference(model, x5), rtol=1e-3, atol=1e-4)


def test_saved_optimized_model_loads_and_gives_the_same_outputs(exported, tmp_path):
    model, x = exported
    path = tmp_path / "opt.onnx"
    opts = pyinfer.SessionOptions()
    opts.optimized_model_filepath = str(path)
    (y,) = pyinfer.InferenceSession(model, sess_options=opts).run(None, {"input": x})
    saved = onnx.load(str(path))
    assert {(i.domain, i.version) for i in saved.opset_import} >= {("pyinfer", 1)}
    assert any(n.domain == "pyinfer" for n in saved.graph.node)
    assert [o.name for o in saved.graph.output] == [o.name for o in model.graph.output]
    # Loading it again: nothing left to optimize, same outputs.
    sess = pyinfer.InferenceSession(str(path))
    assert not any(sess.optimization_report.pass_counts.values())
    np.testing.assert_array_equal(sess.run(None, {"input": x})[0], y)
    (y_plain,) = pyinfer.InferenceSession(str(path), graph_optimization_level=LEVEL.ORT_DISABLE_ALL).run(None, {"input": x})
    np.testing.assert_array_equal(y_plain, y)


def _light_resnet50_random(rng):
    """onnx's light ResNet-50 (weights are ConstantOfShape fills there) with seeded random
    weights: He-scaled convolutions, positive variances."""
    import os

    from onnx import numpy_helper

    src = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")
    if not os.path.exists(src):
        pytest.skip("this onnx package ships no light models")
    m = onnx.load(src)
    inits = {t.name: t for t in m.graph.initializer}
    data_inputs = [vi for vi in m.graph.input if vi.name not in inits]
    keep = []
    for node in m.graph.node:
        if node.op_type != "ConstantOfShape":
            keep.append(node)
            continue
        shape = [int(d) for d in numpy_helper.to_array(inits[node.input[0]]).reshape(-1)]
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        w = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        if len(shape) == 1:  # batch-norm vectors: keep the activations in range
            w = (np.abs(w) * 0.2 + 0.5).astype(np.float32)
        m.graph.initializer.append(numpy_helper.from_array(w, node.output[0]))
    del m.graph.node[:]
    m.graph.node.extend(keep)
    used = {i for n in m.graph.node for i in n.input}
    kept = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    # The file lists its weights as graph inputs too (IR 3): as such they would be defaults a
    # feed may override, not constants to fold.
    del m.graph.input[:]
    m.graph.input.extend(data_inputs)
    m.ir_version = max(m.ir_version, 4)
    return m


def test_light_resnet50_sum_residuals_fuse_and_outputs_stay():
    rng = np.random.default_rng(3)
    model = _light_resnet50_random(rng)
    name = model.graph.input[0].name
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    plain = pyinfer.InferenceSession(model, graph_optimization_level=LEVEL.ORT_DISABLE_ALL, executor="python")
    sess = pyinfer.InferenceSession(model)
    before, after = sess.optimization_report.ops_before, sess.optimization_report.ops_after
    assert before["Sum"] == 16 and before["BatchNormalization"] == 53 and before["Relu"] == 49
    for op in ("BatchNormalization", "Relu", "Clip", "Sum", "Add"):
        assert after[op] == 0, (op, dict(after))
    (want,) = plain.run(None, {name: x})
    for _ in range(3):  # Python path, compile, plan
        np.testing.assert_allclose(sess.run(None, {name: x})[0], want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name, gone", [("resnet50", ("ConstantOfShape", "BatchNormalization", "Relu", "Sum")),
                                        ("shufflenet", ("ConstantOfShape", "BatchNormalization"))])
def test_light_models_as_shipped_fold_every_weight(name, gone):
    """onnx's light models as shipped (IR 3, weights made by ConstantOfShape): every weight folds
    at load, so the BatchNorms fold and the activations fuse as with initializer weights, and the
    outputs are onnxruntime's."""
    import onnxruntime as ort

    from support.light_models import source_path

    path = source_path(name)
    sess = pyinfer.InferenceSession(path)
    report = sess.optimization_report
    assert report.ops_before["ConstantOfShape"] > 200
    for op in gone:
        assert report.ops_after[op] == 0, (op, dict(report.ops_after))
    (inp,) = sess.get_inputs()
    x = np.random.default_rng(0).standard_normal([1, 3, 224, 224]).astype(np.float32)
    (want,) = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {inp.name: x})
    for _ in range(3):  # Python path, compile, plan
        np.testing.assert_allclose(sess.run(None, {inp.name: x})[0], want, rtol=1e-3, atol=1e-5)
