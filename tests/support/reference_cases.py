"""Read the reference cases support/model_export.py writes beside each exported model (no torch needed).

An .npz holds one array per key "<case>.in.<input name>" / "<case>.out.<output name>".
"""
from __future__ import annotations

import numpy as np


def load_cases(npz_path: str) -> dict[str, tuple[dict, dict]]:
    """case -> (inputs by name, PyTorch's outputs by name)."""
    cases: dict[str, tuple[dict, dict]] = {}
    with np.load(npz_path) as data:
        for key in data.files:
            case, kind, name = key.split(".", 2)
            ins, outs = cases.setdefault(case, ({}, {}))
            (ins if kind == "in" else outs)[name] = data[key]
    return cases
