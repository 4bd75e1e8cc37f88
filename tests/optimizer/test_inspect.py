"""`pyinfer inspect`: the report's numbers on a hand-built model, and the CLI entry."""
import json

import numpy as np

import onnx
from onnx import TensorProto, helper, numpy_helper

from pyinfer.cli.inspect_model import inspect_model, main
from support.opt_helpers import const, make_model, random, vi


def mixed_model(rng):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),                   # [B, 4, 8, 8]
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ConvTranspose", ["r", "wt"], ["t"], strides=[2, 2]),           # [B, 2, 17, 17]
        helper.make_node("Identity", ["t"], ["y"]),
        helper.make_node("MatMul", ["a", "m"], ["mm"]),                                   # [2, 3, 6]
        helper.make_node("Gemm", ["g", "gw", "gb"], ["gy"], transB=1),                    # [2, 3]
    ]
    inits = [const("w", random(rng, (4, 3, 3, 3))), const("wt", random(rng, (4, 2, 3, 3))),
             const("m", random(rng, (4, 6))), const("gw", random(rng, (3, 5))), const("gb", random(rng, (3,)))]
    return make_model(nodes, [vi("x", ["B", 3, 8, 8]), vi("a", [2, 3, 4]), vi("g", [2, 5])],
                      [vi("y", None), vi("mm", None), vi("gy", None)], inits)


def test_report_counts(rng):
    info = inspect_model(mixed_model(rng), dims={"B": 2})
    assert [(a["name"], a["shape"]) for a in info["inputs"]] == [("x", ["B", 3, 8, 8]), ("a", [2, 3, 4]), ("g", [2, 5])]
    assert [a["name"] for a in info["outputs"]] == ["y", "mm", "gy"]
    assert info["parameters"]["before"] == 4 * 3 * 9 + 4 * 2 * 9 + 4 * 6 + 3 * 5 + 3
    assert info["ops_before"] == {"Conv": 1, "Relu": 1, "ConvTranspose": 1, "Identity": 1, "MatMul": 1, "Gemm": 1}
    assert info["ops_after"] == {"pyinfer::FusedConv": 1, "ConvTranspose": 1, "MatMul": 1, "Gemm": 1}
    # MACs = output elements x products per output (conv: C/group x kernel; transpose: per input element).
    conv = (2 * 4 * 8 * 8) * (3 * 3 * 3)
    convt = (2 * 4 * 8 * 8) * (2 * 3 * 3)
    assert info["macs_before"] == {"Conv": conv, "ConvTranspose": convt, "MatMul": 2 * 3 * 6 * 4, "Gemm": 2 * 3 * 5}
    assert info["macs_after"]["pyinfer::FusedConv"] == conv
    assert info["passes"]["remove_identity"] == 1  # the ConvTranspose now writes y itself
    assert info["passes"]["fuse_activation"] == 1
    assert info["symbolic_dims_as_1"] == []


def test_symbolic_dims_default_to_1_and_are_named(rng):
    info = inspect_model(mixed_model(rng), level="ORT_DISABLE_ALL")
    assert info["macs_before"]["Conv"] == 4 * 8 * 8 * 27
    assert info["symbolic_dims_as_1"] == ["B"]
    assert info["ops_after"] == info["ops_before"] and not any(info["passes"].values())


def test_cli_entry(rng, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(mixed_model(rng), str(path))
    assert main([str(path), "--dim", "B=3"]) == 0
    text = capsys.readouterr().out
    assert "pyinfer::FusedConv" in text and "fuse_activation" in text and "x: tensor(float) ['B', 3, 8, 8]" in text
    assert "compiled plan: " in text and "Python steps" in text  # the plan compiled on random inputs (B=3)
    assert main([str(path), "--json", "--level", "basic"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["level"] == "ORT_ENABLE_BASIC" and "Relu" in info["ops_after"]
    assert info["plan"]["compiled"] and info["plan"]["native"] + len(info["plan"]["python"]) == info["plan"]["nodes"]
    assert main([str(path), "--json", "--no-plan"]) == 0
    assert "plan" not in json.loads(capsys.readouterr().out)
    assert main([str(path), "--dim", "B"]) == 2
    assert main([str(tmp_path / "missing.onnx")]) == 1
    assert "error" in capsys.readouterr().err


def test_python_steps_feeds_token_ids_within_the_embedding_table(rng):
    """pyinfer inspect's plan listing runs the model on random feeds: integer inputs that a Gather
    reads as indices into a constant table are drawn within it (a 30-row table: ids below 30),
    so a small-vocabulary model compiles instead of failing on an out-of-range id."""
    from pyinfer.cli.python_steps import python_steps

    table = numpy_helper.from_array(rng.standard_normal((30, 8)).astype(np.float32), "table")
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["e"]), helper.make_node("Relu", ["e"], ["y"])], "embed",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, "S"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [table])
    info = python_steps(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), dims={"S": 64})
    assert info["compiled"] and info["python"] == [] and info["native"] == 2
