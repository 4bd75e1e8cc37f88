"""The onnx package's "light" ImageNet models with random real weights, for timing.

onnx ships nine classic CNNs (onnx/backend/test/data/light/light_*.onnx) whose weights are
ConstantOfShape nodes filled with one constant: every channel computes the same thing, which
makes the outputs useless as a check and lets a runtime fold or skip work a real model would need.
This module replaces each such weight with an initializer of the same shape holding seeded random
values chosen by the role of the input that consumes it:

    Conv / Gemm weights   He-normal (std = sqrt(2 / fan_in)): activations keep their scale through
                          ReLU stacks as deep as VGG-19 or DenseNet-121, so outputs stay finite
    biases                N(0, 0.01)
    BatchNormalization    scale U(0.7, 1.3), bias N(0, 0.1); mean and var are then measured
                          layer by layer on a random image (calibrate_batchnorm), as training
                          would leave them; with random ones ResNet-50's residual sums grow
                          geometrically and its softmax saturates
    Mul / Add through     the same scale / bias draws (DenseNet-121 and Inception v2 carry part of
    Unsqueeze             their batch norms as Unsqueeze + Mul + Add)

The graphs are otherwise untouched. Results are cached under $PYINFER_TEST_CACHE or
<repo>/cache/light/<key>/ (git-ignored), keyed by this module and the onnx version.
tools/light_models.py fills the cache ahead of time.
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# short name -> file stem in onnx/backend/test/data/light
LIGHT_MODELS = {
    "alexnet": "light_bvlc_alexnet",
    "densenet121": "light_densenet121",
    "inception_v1": "light_inception_v1",
    "inception_v2": "light_inception_v2",
    "resnet50": "light_resnet50",
    "shufflenet": "light_shufflenet",
    "squeezenet": "light_squeezenet",
    "vgg19": "light_vgg19",
    "zfnet512": "light_zfnet512",
}


def source_path(name: str) -> str:
    """The constant-weight model as onnx ships it."""
    if name not in LIGHT_MODELS:
        raise ValueError(f"unknown light model {name!r}; choose from {', '.join(LIGHT_MODELS)}")
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light",
                        LIGHT_MODELS[name] + ".onnx")


def _consumers(graph) -> dict[str, list]:
    """tensor name -> [(node, input index)] of the nodes reading it."""
    users: dict[str, list] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            users.setdefault(name, []).append((node, i))
    return users


def _role(name: str, users: dict) -> tuple[str, int | None]:
    """How the first real consumer uses tensor `name`: ("conv_w", fan_in_axis) etc.

    Unsqueeze only reshapes a per-channel vector for broadcasting: look through it.
    """
    for node, i in users.get(name, []):
        if node.op_type == "Unsqueeze" and i == 0:
            return _role(node.output[0], users)
        if node.op_type == "Conv":
            return ("weight", None) if i == 1 else ("bias", None)
        if node.op_type == "Gemm":
            if i == 1:
                trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
                return ("gemm_b", 1 if trans_b else 0)
            return ("bias", None)
        if node.op_type == "BatchNormalization":
            return (("bn_scale", "bn_bias", "bn_mean", "bn_var")[i - 1], None)
        if node.op_type == "Mul":
            return ("bn_scale", None)
        if node.op_type == "Add":
            return ("bn_bias", None)
    return ("other", None)


def random_weight(role: str, shape: tuple[int, ...], rng: np.random.Generator, fan_in_axis=None) -> np.ndarray:
    """Seeded values for one weight tensor by its role (see the module docstring)."""
    if role == "weight":  # Conv (M, C/group, kH, kW): fan-in is everything but the output channel
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        values = rng.standard_normal(shape) * np.sqrt(2.0 / max(fan_in, 1))
    elif role == "gemm_b":
        values = rng.standard_normal(shape) * np.sqrt(2.0 / max(shape[fan_in_axis], 1))
    elif role == "bias":
        values = rng.standard_normal(shape) * 0.01
    elif role == "bn_scale":
        values = rng.uniform(0.7, 1.3, shape)
    elif role == "bn_bias":
        values = rng.standard_normal(shape) * 0.1
    elif role == "bn_mean":
        values = rng.standard_normal(shape) * 0.2
    elif role == "bn_var":
        values = rng.uniform(0.5, 2.0, shape)
    else:
        values = rng.standard_normal(shape) * 0.1
    return values.astype(np.float32)


def randomize(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """A copy of `model` whose weights are seeded random initializers (same shapes, same graph).

    ConstantOfShape nodes with a constant shape and a float fill become initializers; the float
    initializers read as weights, biases or batch-norm vectors are redrawn alike.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    users = _consumers(graph)
    rng = np.random.default_rng(seed)
    keep, shape_tensors, replaced = [], set(), set()
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        if (node.op_type != "ConstantOfShape" or node.input[0] not in inits
                or (value is not None and value.data_type != onnx.TensorProto.FLOAT)):
            keep.append(node)
            continue
        shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]))
        role, axis = _role(node.output[0], users)
        graph.initializer.append(numpy_helper.from_array(random_weight(role, shape, rng, axis), node.output[0]))
        shape_tensors.add(node.input[0])
        replaced.add(node.output[0])
    del graph.node[:]
    graph.node.extend(keep)
    # The few small float initializers the files keep (some biases and batch-norm vectors) hold
    # trained values that do not fit random weights (e.g. variances of 1e-14): redraw them too.
    for t in graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT and t.name not in replaced:
            role, axis = _role(t.name, users)
            if role != "other":
                t.CopyFrom(numpy_helper.from_array(random_weight(role, tuple(t.dims), rng, axis), t.name))
    # Drop the initializers nothing reads, and declare no initializer as a graph input
    # (IR 3 did; runtimes then treat them as overridable and skip constant folding).
    still_read = {name for node in graph.node for name in node.input}
    dead = {t.name for t in graph.initializer} - still_read  # the shapes, and a few the files never read
    kept_inits = [t for t in graph.initializer if t.name not in dead]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    init_names = {t.name for t in kept_inits} | dead
    kept_inputs = [i for i in graph.input if i.name not in init_names]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    # IR 3 wants every initializer declared as a graph input; IR 4 (onnx 1.4, opset 9) does not.
    out.ir_version = max(out.ir_version, 4)
    return out


def calibrate_batchnorm(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Set every BatchNormalization's mean / var to the statistics of its input on a random image.

    Random mean / var leave each layer's output scale proportional to its input's, so residual
    sums (ResNet-50, ShuffleNet) grow geometrically with depth and the softmax saturates to one
    hot class: useless for comparing runtimes' outputs. Statistics measured layer by layer, in graph
    order, are what training would have left: every batch norm's output is then ~N(bias, scale^2).
    Needs onnxruntime (the reference runtime of the benchmarks); without it the model is returned
    as it is.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return model
    graph = model.graph
    bns = [n for n in graph.node if n.op_type == "BatchNormalization"]
    if not bns:
        return model
    inits = {t.name: t for t in graph.initializer}
    stats = {n.input[i]: numpy_helper.to_array(inits[n.input[i]]) for n in bns for i in (3, 4)}
    # One session where the statistics are inputs and every batch norm's input is an output.
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name, value in stats.items():
        probe.graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, value.shape))
    # (IR >= 4: an initializer also listed as a graph input is a default a feed may override)
    known_outputs = {o.name for o in graph.output}
    for n in bns:
        if n.input[0] not in known_outputs:
            probe.graph.output.append(onnx.helper.make_tensor_value_info(n.input[0], onnx.TensorProto.FLOAT, None))
            known_outputs.add(n.input[0])
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep stats overridable
    sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    (data,) = [i for i in sess.get_inputs() if i.name not in stats]
    # onnxruntime drops batch norms whose output nothing reads (DenseNet-121 has one), inputs and all
    live = {i.name for i in sess.get_overridable_initializers()}
    if not live:
        raise RuntimeError("onnxruntime made no batch-norm statistic overridable; cannot calibrate")
    rng = np.random.default_rng(seed + 1)
    image = rng.standard_normal([d if isinstance(d, int) and d > 0 else 1 for d in data.shape]).astype(np.float32)
    for n in bns:
        if n.input[3] not in live or n.input[4] not in live:
            continue
        (x,) = sess.run([n.input[0]], {data.name: image, **{k: v for k, v in stats.items() if k in live}})
        axes = (0,) + tuple(range(2, x.ndim))
        stats[n.input[3]] = x.mean(axis=axes).astype(np.float32)
        # a floor keeps channels that are constant on this one image from dividing by ~0 elsewhere
        stats[n.input[4]] = np.maximum(x.var(axis=axes), 1e-3).astype(np.float32)
    for name, value in stats.items():
        inits[name].CopyFrom(numpy_helper.from_array(value, name))
    return model


def cache_dir(base: str | None = None) -> str:
    with open(os.path.abspath(__file__), "rb") as f:
        key = hashlib.sha256(f.read() + onnx.__version__.encode()).hexdigest()[:12]
    base = base or os.environ.get("PYINFER_TEST_CACHE") or os.path.join(ROOT, "cache")
    return os.path.join(base, "light", key)


def cached_light(name: str, base: str | None = None, seed: int = 0) -> str:
    """The path of light model `name` with random weights, written on first use."""
    src = source_path(name)
    path = os.path.join(cache_dir(base), f"{name}.seed{seed}.onnx")
    if not os.path.exists(path):
        model = calibrate_batchnorm(randomize(onnx.load(src), seed), seed)
        onnx.checker.check_model(model)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        onnx.save(model, tmp)
        os.replace(tmp, path)  # atomic: a half-written file never looks cached
    return path
