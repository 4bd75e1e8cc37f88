"""A model repository: a folder per model, each with the model file and an optional config.

    DIR/
      resnet18/
        model.onnx          served as version "1"
        config.json         optional: {"instances": 2, "threads": 1, "max_batch_size": 8, ...}
      textcnn/
        1/model.onnx        numbered folders are versions: the highest one is served
        2/model.onnx
        config.json

The folder's name is the model's name. config.json holds ModelConfig fields (threads, instances,
max_batch_size, max_queue_delay_ms, max_queue_size, timeout_s); what it leaves out comes from the
command line's defaults. Hidden entries (".name") and plain files at the top are ignored.
"""
from __future__ import annotations

import json
import os

from .config import ModelConfig
from .errors import ConfigError

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.json"
MAX_CONFIG_BYTES = 64 * 1024


def load_repository(root: str, defaults: dict | None = None) -> list[ModelConfig]:
    """The models of repository `root`, sorted by name; defaults: settings for what configs leave out."""
    if not os.path.isdir(root):
        raise ConfigError(f"model repository {root!r} is not a directory")
    models = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue
        path, version = _model_file(folder)
        settings = {**(defaults or {}), **_read_config(os.path.join(folder, CONFIG_FILE))}
        models.append(ModelConfig.from_dict(name, path, {"version": version, **settings}, where=folder))
    if not models:
        raise ConfigError(f"model repository {root!r} has no model folders (expected {root}/NAME/{MODEL_FILE})")
    return models


def _model_file(folder: str) -> tuple[str, str]:
    flat = os.path.join(folder, MODEL_FILE)
    versions = sorted((int(v) for v in os.listdir(folder) if v.isdigit() and os.path.isdir(os.path.join(folder, v))),
                      reverse=True)
    if versions:
        if os.path.exists(flat):
            raise ConfigError(f"{folder}: has both {MODEL_FILE} and version folders; keep one layout")
        path = os.path.join(folder, str(versions[0]), MODEL_FILE)
        if not os.path.isfile(path):
            raise ConfigError(f"{folder}: the highest version folder has no {MODEL_FILE} ({path!r})")
        return path, str(versions[0])
    if not os.path.isfile(flat):
        raise ConfigError(f"{folder}: no {MODEL_FILE} (nor numbered version folders holding one)")
    return flat, "1"


def _read_config(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; a model config is a few settings")
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read it as JSON: {e}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"{path}: must be a JSON object of settings")
    return settings
