"""A Ray Serve deployment running a pyinfer session, batching requests with @serve.batch
(docs/SERVING.md, "Ray Serve").

Each replica holds one session and asks Ray for as many CPUs as the session has kernel threads.
@serve.batch gathers concurrent calls into one list; the replica stacks them into one batch and
runs it in a worker thread (run releases the GIL, so the replica keeps accepting calls).

    python ray_serve_deployment.py      # then: curl -d '{"image": [[[...]]]}' localhost:8000/classify
"""
import asyncio
import os

import numpy as np
from ray import serve
from starlette.requests import Request

import pyinfer

DEFAULT_MODEL = os.path.join(os.path.dirname(pyinfer.__file__), "cli", "data", "cifar10_cnn.onnx")


@serve.deployment
class Classifier:
    def __init__(self, session: pyinfer.InferenceSession):
        self.session = session
        self.input_name = session.get_inputs()[0].name

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def predict(self, images: list) -> list:
        """One image [C, H, W] per call; Serve hands over up to 8 calls' images at once."""
        (logits,) = await asyncio.to_thread(self.session.run, None, {self.input_name: np.stack(images)})
        return list(logits)

    async def __call__(self, request: Request) -> dict:
        image = np.asarray((await request.json())["image"], dtype=np.float32)
        logits = await self.predict(image)
        return {"label": int(logits.argmax()), "logits": logits.tolist()}


def deployment(session: pyinfer.InferenceSession, replicas: int = 1):
    """The bound application: `replicas` copies of the session, num_cpus tied to its threads."""
    return Classifier.options(num_replicas=replicas,
                              ray_actor_options={"num_cpus": session.num_threads or 1}).bind(session)


if __name__ == "__main__":
    session = pyinfer.InferenceSession(DEFAULT_MODEL, num_threads=1)
    serve.run(deployment(session), route_prefix="/classify", blocking=True)
