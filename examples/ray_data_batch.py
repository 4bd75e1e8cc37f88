"""Batch inference over a Ray Data dataset with pyinfer (docs/SERVING.md, "Ray Data").

map_batches runs a callable class: Ray builds `concurrency` actors, each holding one session, and
feeds them batches. Each actor asks Ray for as many CPUs as its session has kernel threads
(num_cpus=session.num_threads), so Ray never packs more threads on a machine than it has cores.
The session travels to the actors pickled (its model bytes and options; each actor packs the
weights again).

    python ray_data_batch.py
"""
import os

import numpy as np
import ray

import pyinfer

DEFAULT_MODEL = os.path.join(os.path.dirname(pyinfer.__file__), "cli", "data", "cifar10_cnn.onnx")


class Classify:
    """Built once per actor, then called on batches of {"id": ..., "image": ...} rows."""

    def __init__(self, session: pyinfer.InferenceSession):
        self.session = session
        self.input_name = session.get_inputs()[0].name

    def __call__(self, batch: dict) -> dict:
        (logits,) = self.session.run(None, {self.input_name: batch["image"]})
        return {"id": batch["id"], "label": logits.argmax(axis=1), "logits": logits}


def classify(dataset: ray.data.Dataset, session: pyinfer.InferenceSession, concurrency: int = 2,
             batch_size: int = 64) -> ray.data.Dataset:
    return dataset.map_batches(Classify, fn_constructor_args=(session,), concurrency=concurrency,
                               num_cpus=session.num_threads or 1, batch_size=batch_size, batch_format="numpy")


def classify_images(images: np.ndarray, session: pyinfer.InferenceSession, concurrency: int = 2,
                    batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) for images [N, C, H, W] float32, in the images' order."""
    ids = np.arange(len(images))
    dataset = ray.data.from_items([{"id": i, "image": image} for i, image in zip(ids, images)])
    parts = list(classify(dataset, session, concurrency, batch_size).iter_batches(batch_format="numpy",
                                                                                 batch_size=None))
    order = np.argsort(np.concatenate([p["id"] for p in parts]))  # Ray Data may reorder blocks
    labels = np.concatenate([p["label"] for p in parts])[order]
    logits = np.concatenate([p["logits"] for p in parts])[order]
    return labels, logits


if __name__ == "__main__":
    ray.init(num_cpus=2)
    session = pyinfer.InferenceSession(DEFAULT_MODEL, num_threads=1)
    images = np.random.default_rng(0).standard_normal((1000, 3, 32, 32)).astype(np.float32)
    labels, _ = classify_images(images, session)
    print(f"{len(labels)} images classified; label counts {np.bincount(labels, minlength=10).tolist()}")
