"""Identity and inference-mode Dropout removal: readers of the output read the input instead."""
from __future__ import annotations

import numpy as np

from .workgraph import WorkGraph

NAME = "remove_identity"


def _is_passthrough(g: WorkGraph, node) -> bool:
    if node.domain not in ("", "ai.onnx"):
        return False
    if node.op_type == "Identity":
        return len(node.input) == 1 and len(node.output) == 1
    if node.op_type != "Dropout":
        return False
    # The mask output must be unused, and training_mode (Dropout-12+) absent or a constant False.
    if any(out and (g.consumers(out) or g.is_pinned(out)) for out in node.output[1:]):
        return False
    if len(node.input) >= 3 and node.input[2]:
        mode = g.const(node.input[2])
        if mode is None or bool(np.asarray(mode).reshape(-1)[0]):
            return False
    return True


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if not _is_passthrough(g, node) or not node.input[0] or not node.output[0]:
            continue
        if g.bypass(node, node.output[0], node.input[0]):
            count += 1
    return count
