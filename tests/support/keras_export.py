"""Small Keras models converted by tf2onnx, run as a script in a child Python (tensorflow stays out
of the test process: its threads, its memory and its bundled libraries beside torch's):

    python keras_export.py KIND OUT.onnx OUT.npz

KIND: cnn (Conv2D + BatchNormalization + DepthwiseConv2D + pooling + Dense), lstm (LSTM + Dense),
bigru (a bidirectional GRU returning sequences + Dense): the test corpus's; bigru-tagger and
lstm-stack: larger ones that tools/bench_dynamic.py times. OUT.npz holds the feed `x` and Keras's
own output `y` for it. Keras 2 (tf_keras, TF_USE_LEGACY_KERAS=1): tf2onnx's from_keras does not
read Keras 3 models.
"""
from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

KINDS = ("cnn", "lstm", "bigru", "bigru-tagger", "lstm-stack")


def _model(kind: str):
    import numpy as np
    import tensorflow as tf

    layers = tf.keras.layers
    rng = np.random.default_rng(0)
    if kind == "cnn":
        model = tf.keras.Sequential([tf.keras.Input((16, 16, 3)), layers.Conv2D(8, 3, padding="same"),
                                     layers.BatchNormalization(), layers.ReLU(6.0),
                                     layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
                                     layers.MaxPooling2D(), layers.Flatten(), layers.Dense(4, activation="softmax")])
        # Keras initialises BatchNormalization to the identity: statistics of its own, so the fold shows.
        bn = model.layers[1]
        bn.set_weights([rng.uniform(0.5, 1.5, 8), rng.normal(size=8), rng.normal(size=8) * 0.1,
                        rng.uniform(0.5, 2.0, 8)])
        x = rng.normal(size=(2, 16, 16, 3))
    elif kind == "lstm":
        model = tf.keras.Sequential([tf.keras.Input((5, 8)), layers.LSTM(16), layers.Dense(3)])
        x = rng.normal(size=(2, 5, 8))
    elif kind == "bigru":
        model = tf.keras.Sequential([tf.keras.Input((12, 10)),
                                     layers.Bidirectional(layers.GRU(16, return_sequences=True)), layers.Dense(5)])
        x = rng.normal(size=(2, 12, 10))
    elif kind == "bigru-tagger":  # tools/bench_dynamic.py's size: 100 frames of 40 features
        model = tf.keras.Sequential([tf.keras.Input((100, 40)),
                                     layers.Bidirectional(layers.GRU(64, return_sequences=True)), layers.Dense(10)])
        x = rng.normal(size=(1, 100, 40))
    elif kind == "lstm-stack":  # tools/bench_dynamic.py's size: two LSTM(128) layers over 50 steps
        model = tf.keras.Sequential([tf.keras.Input((50, 64)), layers.LSTM(128, return_sequences=True),
                                     layers.LSTM(128), layers.Dense(10)])
        x = rng.normal(size=(1, 50, 64))
    else:
        raise SystemExit(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    return model, x.astype(np.float32)


def export(kind: str, onnx_path: str, npz_path: str) -> None:
    import numpy as np
    import tensorflow as tf
    import tf2onnx

    tf.random.set_seed(0)
    model, x = _model(kind)
    spec = (tf.TensorSpec((None,) + x.shape[1:], tf.float32, name="x"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=onnx_path)
    np.savez(npz_path, x=x, y=model(x, training=False).numpy())


if __name__ == "__main__":
    export(*sys.argv[1:4])
