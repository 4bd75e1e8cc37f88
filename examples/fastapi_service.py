"""A pyinfer session inside your own FastAPI service (docs/SERVING.md, "Embedding in your service").

The session is created once, in the app's lifespan: loading and packing the weights takes a while
and no request should pay for it. Requests run it in a worker thread: InferenceSession.run
releases the GIL, so the event loop keeps accepting requests while the kernels compute.

    uvicorn fastapi_service:app --port 8080     # MODEL=path/to/model.onnx to serve another model
"""
import contextlib
import os

import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

import pyinfer

DEFAULT_MODEL = os.path.join(os.path.dirname(pyinfer.__file__), "cli", "data", "cifar10_cnn.onnx")


class Images(BaseModel):
    images: list  # nested lists: [N, 3, 32, 32] floats for the default model


def create_app(model_path: str, num_threads: int = 1) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        session = pyinfer.InferenceSession(model_path, num_threads=num_threads)
        app.state.session = session
        app.state.input_name = session.get_inputs()[0].name
        yield

    app = FastAPI(lifespan=lifespan)

    @app.post("/classify")
    async def classify(body: Images) -> dict:
        session = app.state.session
        try:
            x = np.asarray(body.images, dtype=np.float32)
            (logits,) = await run_in_threadpool(session.run, None, {app.state.input_name: x})
        except (ValueError, pyinfer.InvalidFeedError) as e:  # ragged lists, wrong shape: the client's fault
            raise HTTPException(status_code=400, detail=str(e)) from None
        except pyinfer.Error as e:  # a failure inside the model
            raise HTTPException(status_code=500, detail=str(e)) from None
        return {"labels": logits.argmax(axis=1).tolist(), "logits": logits.tolist()}

    return app


app = create_app(os.environ.get("MODEL", DEFAULT_MODEL))
