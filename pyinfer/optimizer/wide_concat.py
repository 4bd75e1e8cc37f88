"""A Concat of more inputs than one plan step takes (lowering.MAX_STEP_INPUTS) -> a tree of
Concats that each take at most that many, in the same order along the same axis: the same bytes,
every level a native copy step (a static plan writes the inner Concats' outputs straight into
their place in the outer one's, as for any nested Concats). SSDlite's post-processing joins its
90 classes' boxes, scores and labels with one Concat each, which otherwise stayed Python steps."""
from __future__ import annotations

from onnx import helper

from ..lowering import MAX_STEP_INPUTS
from .workgraph import WorkGraph

NAME = "split_wide_concat"


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if node.op_type != "Concat" or node.domain not in ("", "ai.onnx") or len(node.input) <= MAX_STEP_INPUTS:
            continue
        if any(not name for name in node.input):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        names, new = list(node.input), []
        while len(names) > MAX_STEP_INPUTS:
            groups = [names[i:i + MAX_STEP_INPUTS] for i in range(0, len(names), MAX_STEP_INPUTS)]
            names = []
            for group in groups:
                if len(group) == 1:
                    names.append(group[0])
                    continue
                out = g.fresh_name(node.output[0] + "_part")
                new.append(helper.make_node("Concat", group, [out], name=f"{node.name}_part{len(new)}", **attrs))
                names.append(out)
        new.append(helper.make_node("Concat", names, list(node.output), name=node.name, **attrs))
        g.replace([node], new)
        count += 1
    return count
