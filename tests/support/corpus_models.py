"""The corpus: small ONNX files made by real converters at test time (fixed seeds), with the feeds
to run them on. Each Case names the converter, the model, the packages its making needs and the
tolerance its comparison with onnxruntime uses (tolerances other than the default say why).

    build(case, directory) -> Built(path, feeds, expected)

expected: the framework's own answers per feed, where the converter starts from one: a scikit-learn
estimator's (labels, probabilities or None) for classifiers, (values,) for regressors and
transformers; a Keras model's (values,).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RTOL, ATOL = 1e-3, 1e-4


@dataclass
class Built:
    path: str
    feeds: list  # one dict per run
    expected: list | None = None  # the framework's answers, one tuple per run


@dataclass
class Case:
    converter: str
    name: str
    make: Callable[[str], Built]  # output path -> Built
    requires: tuple = ()
    rtol: float = RTOL
    atol: float = ATOL
    why: str = ""  # why the tolerance differs from the default
    ops: list = field(default_factory=list)  # filled by build(): the model's operators

    @property
    def id(self) -> str:
        return f"{self.converter}-{self.name}"


def missing(case: Case) -> list[str]:
    return [m for m in case.requires if importlib.util.find_spec(m) is None]


def build(case: Case, directory: str) -> Built:
    path = os.path.join(directory, f"{case.id}.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = case.make(path)
    model = onnx.load(built.path, load_external_data=False)
    case.ops = sorted({f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in model.graph.node})
    return built


# --- data ------------------------------------------------------------------------------------

def _classification(n_classes=3, n_features=6, n=120, seed=0):
    from sklearn.datasets import make_classification
    x, y = make_classification(n, n_features, n_informative=4, n_redundant=0, n_classes=n_classes,
                               n_clusters_per_class=1, random_state=seed)
    return x.astype(np.float32), y


def _regression(n_features=5, n=120, seed=0):
    from sklearn.datasets import make_regression
    x, y = make_regression(n, n_features, noise=0.5, random_state=seed)
    return x.astype(np.float32), y


# --- skl2onnx --------------------------------------------------------------------------------

def _save(model: onnx.ModelProto, path: str) -> str:
    onnx.save(model, path)
    return path


def _skl2onnx(estimator, x_sample, path, options=None, **kw) -> str:
    from skl2onnx import to_onnx
    return _save(to_onnx(estimator, x_sample, options=options, target_opset={"": 17, "ai.onnx.ml": 3}, **kw), path)


def _classifier_case(make_estimator, n_classes=3, string_labels=False):
    def make(path):
        x, y = _classification(n_classes)
        if string_labels:
            y = np.array(["ant", "bee", "cat", "dog"])[y]
        est = make_estimator().fit(x, y)
        _skl2onnx(est, x[:1], path)
        proba = est.predict_proba(x) if hasattr(est, "predict_proba") else None
        return Built(path, [{"X": x}], [(est.predict(x), proba)])
    return make


def _regressor_case(make_estimator):
    def make(path):
        x, y = _regression()
        est = make_estimator().fit(x, y)
        _skl2onnx(est, x[:1], path)
        return Built(path, [{"X": x}], [(est.predict(x),)])
    return make


def _transformer_case(make_estimator, data=None):
    def make(path):
        x = _classification()[0] if data is None else data()
        est = make_estimator().fit(x)
        _skl2onnx(est, x[:1], path)
        return Built(path, [{"X": x}], [(est.transform(x),)])
    return make


def _with_missing():
    x = _classification()[0]
    x[::7, 1] = np.nan
    x[3::11, 4] = np.nan
    return x


def _one_hot_pipeline(path):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    rng = np.random.default_rng(0)
    colors = rng.choice(["red", "green", "blue"], 90)
    sizes = rng.normal(size=90).astype(np.float32)
    y = (colors == "red") ^ (sizes > 0.3)
    pipe = make_pipeline(ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"), [0]),
                                            ("pass", "passthrough", [1])]), LogisticRegression())
    table = np.array([[c, s] for c, s in zip(colors, sizes)], dtype=object)
    pipe.fit(table, y)
    model = to_onnx(pipe, initial_types=[("color", StringTensorType([None, 1])), ("size", FloatTensorType([None, 1]))],
                    target_opset={"": 17, "ai.onnx.ml": 3})
    feeds = {"color": colors.reshape(-1, 1).astype(object), "size": sizes.reshape(-1, 1)}
    return Built(_save(model, path), [feeds], [(pipe.predict(table), pipe.predict_proba(table))])


def _dict_vectorizer_pipeline(path):
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DictionaryType, FloatTensorType, StringTensorType
    rng = np.random.default_rng(1)
    rows = [{k: float(v) for k, v in zip("abcd", rng.normal(size=4)) if rng.random() > 0.3} for _ in range(60)]
    y = np.array([r.get("a", 0.0) + r.get("c", 0.0) > 0 for r in rows])
    pipe = make_pipeline(DictVectorizer(sparse=False), LogisticRegression()).fit(rows, y)
    model = to_onnx(pipe, initial_types=[("features", DictionaryType(StringTensorType([]), FloatTensorType([])))],
                    target_opset={"": 17, "ai.onnx.ml": 3})
    # onnxruntime's DictVectorizer reads one map per run
    feeds = [{"features": r} for r in rows[:8]]
    expected = [(pipe.predict([r]), pipe.predict_proba([r])) for r in rows[:8]]
    return Built(_save(model, path), feeds, expected)


def _sklearn_cases() -> list[Case]:
    from_skl = ("sklearn", "skl2onnx")

    def est(name, **kw):
        def make():
            import sklearn.ensemble as ens
            import sklearn.impute as imp
            import sklearn.linear_model as lin
            import sklearn.pipeline as pip
            import sklearn.preprocessing as pre
            import sklearn.svm as svm
            import sklearn.tree as tree
            if name == "scaler_logreg":
                return pip.make_pipeline(pre.StandardScaler(), lin.LogisticRegression(max_iter=500))
            table = {"RandomForestClassifier": ens.RandomForestClassifier, "RandomForestRegressor":
                     ens.RandomForestRegressor, "GradientBoostingClassifier": ens.GradientBoostingClassifier,
                     "GradientBoostingRegressor": ens.GradientBoostingRegressor, "SVC": svm.SVC, "SVR": svm.SVR,
                     "LinearRegression": lin.LinearRegression, "LogisticRegression": lin.LogisticRegression,
                     "DecisionTreeClassifier": tree.DecisionTreeClassifier, "Normalizer": pre.Normalizer,
                     "SimpleImputer": imp.SimpleImputer, "Binarizer": pre.Binarizer, "StandardScaler":
                     pre.StandardScaler, "LinearSVC": svm.LinearSVC}
            return table[name](**kw)
        return make

    return [
        Case("skl2onnx", "StandardScaler+LogisticRegression", _classifier_case(est("scaler_logreg")), from_skl),
        Case("skl2onnx", "LogisticRegression (binary)", _classifier_case(est("LogisticRegression"), 2), from_skl),
        Case("skl2onnx", "LinearSVC", _classifier_case(est("LinearSVC")), from_skl),
        Case("skl2onnx", "RandomForestClassifier",
             _classifier_case(est("RandomForestClassifier", n_estimators=12, max_depth=5, random_state=0)), from_skl),
        Case("skl2onnx", "RandomForestClassifier (binary)",
             _classifier_case(est("RandomForestClassifier", n_estimators=12, max_depth=5, random_state=0), 2),
             from_skl),
        Case("skl2onnx", "DecisionTreeClassifier (string labels)",
             _classifier_case(est("DecisionTreeClassifier", max_depth=4, random_state=0), 4, string_labels=True),
             from_skl),
        Case("skl2onnx", "RandomForestRegressor",
             _regressor_case(est("RandomForestRegressor", n_estimators=12, max_depth=5, random_state=0)), from_skl,
             rtol=1e-5, atol=1e-3, why="targets of order 100 summed in float32 by onnxruntime"),
        Case("skl2onnx", "GradientBoostingClassifier",
             _classifier_case(est("GradientBoostingClassifier", n_estimators=15, random_state=0)), from_skl),
        Case("skl2onnx", "GradientBoostingClassifier (binary)",
             _classifier_case(est("GradientBoostingClassifier", n_estimators=15, random_state=0), 2), from_skl),
        Case("skl2onnx", "GradientBoostingRegressor",
             _regressor_case(est("GradientBoostingRegressor", n_estimators=15, random_state=0)), from_skl,
             rtol=1e-5, atol=1e-3, why="targets of order 100 summed in float32 by onnxruntime"),
        Case("skl2onnx", "SVC (probabilities)", _classifier_case(est("SVC", probability=True, random_state=0)),
             from_skl),
        Case("skl2onnx", "SVC (binary)", _classifier_case(est("SVC"), 2), from_skl),
        Case("skl2onnx", "SVR", _regressor_case(est("SVR", C=10.0)), from_skl),
        Case("skl2onnx", "LinearRegression", _regressor_case(est("LinearRegression")), from_skl,
             rtol=1e-5, atol=1e-3, why="targets of order 100 in float32"),
        Case("skl2onnx", "OneHotEncoder+LogisticRegression", _one_hot_pipeline, from_skl),
        Case("skl2onnx", "DictVectorizer+LogisticRegression", _dict_vectorizer_pipeline, from_skl),
        Case("skl2onnx", "Normalizer", _transformer_case(est("Normalizer")), from_skl),
        Case("skl2onnx", "SimpleImputer", _transformer_case(est("SimpleImputer"), _with_missing), from_skl),
        Case("skl2onnx", "Binarizer", _transformer_case(est("Binarizer", threshold=0.2)), from_skl),
        Case("skl2onnx", "StandardScaler", _transformer_case(est("StandardScaler")), from_skl),
    ]


# --- onnxmltools: LightGBM, XGBoost (its converters go up to opset 15) ----------------------------

def _lightgbm_classifier(path):
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    x, y = _classification()
    model = lightgbm.LGBMClassifier(n_estimators=20, num_leaves=8, random_state=0, verbose=-1).fit(x, y)
    onx = convert_lightgbm(model, initial_types=[("X", FloatTensorType([None, x.shape[1]]))], target_opset=15,
                           zipmap=False)
    return Built(_save(onx, path), [{"X": x}], [(model.predict(x), model.predict_proba(x))])


def _lightgbm_regressor(path):
    import lightgbm
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    x, y = _regression()
    model = lightgbm.LGBMRegressor(n_estimators=20, num_leaves=8, random_state=0, verbose=-1).fit(x, y)
    onx = convert_lightgbm(model, initial_types=[("X", FloatTensorType([None, x.shape[1]]))], target_opset=15)
    return Built(_save(onx, path), [{"X": x}], [(model.predict(x),)])


def _xgboost_classifier(path):
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    x, y = _classification()
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, random_state=0).fit(x, y)
    onx = convert_xgboost(model, initial_types=[("X", FloatTensorType([None, x.shape[1]]))], target_opset=15)
    return Built(_save(onx, path), [{"X": x}], [(model.predict(x), model.predict_proba(x))])


def _xgboost_regressor(path):
    import xgboost
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    x, y = _regression()
    model = xgboost.XGBRegressor(n_estimators=15, max_depth=3, random_state=0).fit(x, y)
    onx = convert_xgboost(model, initial_types=[("X", FloatTensorType([None, x.shape[1]]))], target_opset=15)
    return Built(_save(onx, path), [{"X": x}], [(model.predict(x),)])


_BOOST_WHY = "targets of order 100 summed over the trees in float32 (onnxruntime) vs float64"


def _boosting_cases() -> list[Case]:
    return [
        Case("onnxmltools", "LightGBM classifier", _lightgbm_classifier, ("lightgbm", "onnxmltools")),
        Case("onnxmltools", "LightGBM regressor", _lightgbm_regressor, ("lightgbm", "onnxmltools"),
             rtol=1e-5, atol=1e-3, why=_BOOST_WHY),
        Case("onnxmltools", "XGBoost classifier", _xgboost_classifier, ("xgboost", "onnxmltools")),
        Case("onnxmltools", "XGBoost regressor", _xgboost_regressor, ("xgboost", "onnxmltools"),
             rtol=1e-5, atol=1e-3, why=_BOOST_WHY),
    ]


# --- paddle-style -1 dims (hand-made: paddle2onnx is not on PyPI for this Python) ------------

def _paddle_style(path):
    """A PaddleOCR-like direction classifier head: Conv, pooling, Flatten, MatMul, Softmax, with every
    dynamic dim written as -1 in graph inputs, outputs and value_info (as paddle2onnx does)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32) * 0.3, "conv_w"),
             numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "conv_b"),
             numpy_helper.from_array(rng.normal(size=(4, 2)).astype(np.float32), "fc_w")]
    nodes = [helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
             helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "fc_w"], ["logits"], name="fc"),
             helper.make_node("Softmax", ["logits"], ["softmax_0.tmp_0"], axis=1, name="softmax")]
    vi = helper.make_tensor_value_info
    graph = helper.make_graph(nodes, "paddle_cls", [vi("x", TensorProto.FLOAT, [-1, 3, -1, -1])],
                              [vi("softmax_0.tmp_0", TensorProto.FLOAT, [-1, 2])], inits,
                              value_info=[vi("c", TensorProto.FLOAT, [-1, 4, -1, -1]),
                                          vi("f", TensorProto.FLOAT, [-1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)], ir_version=6,
                              producer_name="PaddlePaddle")
    feeds = [{"x": rng.normal(size=(2, 3, 8, 12)).astype(np.float32)},
             {"x": rng.normal(size=(1, 3, 6, 5)).astype(np.float32)}]
    return Built(_save(model, path), feeds)


# --- torch exports -----------------------------------------------------------------------------

def _torch_modules():
    import torch
    import torch.nn as nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
            self.c2 = nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = torch.nn.functional.gelu(self.c2(y) + y)
            y = torch.nn.functional.max_pool2d(y, 2)
            return self.fc(y.mean((2, 3)))

    class SmallMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2, self.l3 = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 4)

        def forward(self, x):
            return self.l3(torch.nn.functional.gelu(self.l2(torch.relu(self.l1(x)))))

    class SmallLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.fc(y[:, -1])

    class TransformerBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True)

        def forward(self, x):
            return self.layer(x)

    return {"cnn": (SmallCNN, (2, 3, 16, 16)), "mlp": (SmallMLP, (4, 16)), "lstm": (SmallLSTM, (2, 5, 8)),
            "transformer": (TransformerBlock, (2, 6, 32))}


def _torch_export(kind: str, dynamo: bool, path: str) -> Built:
    import torch
    cls, shape = _torch_modules()[kind]
    torch.manual_seed(0)
    model = cls().eval()
    x = torch.randn(*shape)
    kwargs = dict(input_names=["x"], output_names=["y"])
    if dynamo:
        torch.onnx.export(model, (x,), path, dynamo=True, external_data=False, **kwargs)
    else:
        torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, **kwargs)
    return Built(path, [{"x": x.numpy()}])


def _torch_cases() -> list[Case]:
    legacy = [Case("torch.onnx (legacy)", kind, lambda p, k=kind: _torch_export(k, False, p), ("torch",))
              for kind in ("cnn", "transformer")]
    dynamo = [Case("torch.onnx (dynamo)", kind, lambda p, k=kind: _torch_export(k, True, p), ("torch", "onnxscript"))
              for kind in ("cnn", "transformer")]
    return legacy + dynamo


# --- onnxruntime's own outputs -----------------------------------------------------------------

def _ort_extended(kind: str, path: str) -> Built:
    import onnxruntime as ort
    built = _torch_export(kind, False, path + ".src.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = path
    ort.InferenceSession(built.path, options, providers=["CPUExecutionProvider"])
    return Built(path, built.feeds)


def _ort_quantized(kind: str, path: str, then_extended: bool) -> Built:
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    built = _torch_export(kind, False, path + ".src.onnx")
    target = path + ".q.onnx" if then_extended else path
    quantize_dynamic(built.path, target, weight_type=QuantType.QInt8)
    if then_extended:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = path
        ort.InferenceSession(target, options, providers=["CPUExecutionProvider"])
    return Built(path, built.feeds)


def _transformers_model(kind: str, path: str) -> Built:
    """A tiny random BERT or GPT-2 (eager attention: the pattern onnxruntime's fusions match),
    exported by torch.onnx, then onnxruntime.transformers.optimizer.optimize_model."""
    import torch
    import transformers
    from onnxruntime.transformers.optimizer import optimize_model
    torch.manual_seed(0)
    batch, seq = 2, 8
    ids = torch.randint(0, 100, (batch, seq))
    mask = torch.ones(batch, seq, dtype=torch.int64)
    mask[1, 6:] = 0
    if kind == "bert":
        config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, max_position_embeddings=64,
                                         attn_implementation="eager")
        inner = transformers.BertModel(config).eval()

        def forward(i, m, t):
            return inner(input_ids=i, attention_mask=m, token_type_ids=t).last_hidden_state
        args, names = (ids, mask, torch.zeros_like(ids)), ["input_ids", "attention_mask", "token_type_ids"]
    else:
        config = transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                         attn_implementation="eager")
        inner = transformers.GPT2Model(config).eval()

        def forward(i, m):
            return inner(input_ids=i, attention_mask=m, use_cache=False).last_hidden_state
        args, names = (ids, mask), ["input_ids", "attention_mask"]

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, *a):
            return forward(*a)

    source = path + ".src.onnx"
    torch.onnx.export(Wrapper(), args, source, dynamo=False, opset_version=17, input_names=names,
                      output_names=["hidden"], dynamic_axes={n: {0: "batch", 1: "seq"} for n in names})
    optimized = optimize_model(source, model_type="bert" if kind == "bert" else "gpt2", num_heads=4, hidden_size=32,
                               opt_level=0)
    optimized.save_model_to_file(path)
    feeds = {n: a.numpy() for n, a in zip(names, args)}
    return Built(path, [feeds])


_QUANT_WHY = ("onnxruntime also quantizes the LSTM's inputs and hidden state to uint8 (steps of range / 255, "
              "about 0.02 here); pyinfer dequantizes the int8 weights and keeps activations in float")


def _ort_cases() -> list[Case]:
    need = ("torch", "onnxruntime")
    return [
        Case("onnxruntime (optimized, EXTENDED)", "cnn", lambda p: _ort_extended("cnn", p), need),
        Case("onnxruntime (optimized, EXTENDED)", "mlp", lambda p: _ort_extended("mlp", p), need),
        Case("onnxruntime.quantization", "mlp quantize_dynamic", lambda p: _ort_quantized("mlp", p, False), need),
        Case("onnxruntime.quantization", "mlp quantize_dynamic + EXTENDED", lambda p: _ort_quantized("mlp", p, True),
             need),
        Case("onnxruntime.quantization", "lstm quantize_dynamic", lambda p: _ort_quantized("lstm", p, False), need,
             rtol=0, atol=5e-3, why=_QUANT_WHY),
        Case("onnxruntime.quantization", "lstm quantize_dynamic + EXTENDED",
             lambda p: _ort_quantized("lstm", p, True), need, rtol=0, atol=5e-3, why=_QUANT_WHY),
        Case("onnxruntime.transformers", "bert optimize_model", lambda p: _transformers_model("bert", p),
             need + ("transformers",)),
        Case("onnxruntime.transformers", "gpt2 optimize_model", lambda p: _transformers_model("gpt2", p),
             need + ("transformers",)),
    ]


# --- tf2onnx -----------------------------------------------------------------------------------

def _keras(kind: str, path: str) -> Built:
    """tests/support/keras_export.py in a child Python; expected: Keras's own output."""
    import subprocess
    import sys

    from support.child_python import NEUTRAL_CWD, child_env
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_export.py")
    npz = path + ".keras.npz"
    done = subprocess.run([sys.executable, script, kind, path, npz], cwd=NEUTRAL_CWD, env=child_env(),
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise RuntimeError(f"keras_export.py {kind} failed:\n{done.stderr[-3000:]}")
    with np.load(npz) as saved:
        return Built(path, [{"x": saved["x"]}], [(saved["y"],)])


def _tf_cases() -> list[Case]:
    need = ("tensorflow", "tf_keras", "tf2onnx")
    names = {"cnn": "Keras CNN", "lstm": "Keras LSTM", "bigru": "Keras bidirectional GRU"}
    return [Case("tf2onnx", names[kind], lambda p, k=kind: _keras(k, p), need) for kind in names]


CASES = (_sklearn_cases() + _boosting_cases() + [Case("hand-made (paddle2onnx style)", "-1 dims classifier",
                                                        _paddle_style)]
         + _torch_cases() + _ort_cases() + _tf_cases())
