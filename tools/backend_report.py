"""Pass rates of the ONNX backend node suite: over all node cases, and over the cases whose
operators are all in the foundation issue's list (the CNN op set).

    python tools/backend_report.py [--junit results.xml] [--failures]

Without --junit it runs `pytest tests/test_onnx_backend.py` itself (a few minutes).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
import xml.etree.ElementTree as ET

LISTED_OPS = set("""
Conv ConvTranspose MaxPool AveragePool LpPool GlobalAveragePool GlobalMaxPool GlobalLpPool
Gemm MatMul BatchNormalization Relu LeakyRelu PRelu Sigmoid Tanh Clip HardSigmoid HardSwish Elu
Selu Softplus Erf Gelu Softmax LogSoftmax Add Sub Mul Div Pow Sqrt Exp Log Abs Neg Reciprocal Min
Max Sum Mean Concat Reshape Flatten Transpose Squeeze Unsqueeze Gather GatherElements Slice Shape
Size Constant ConstantOfShape Pad Dropout Identity Split ReduceSum ReduceMean ReduceMax ReduceMin
ReduceProd ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare ArgMax ArgMin Cast
Expand Where Equal Less LessOrEqual Greater GreaterOrEqual And Or Xor Not Range Resize Upsample
Tile TopK LRN InstanceNormalization LayerNormalization Einsum
""".split())

# Cases the target leaves out: random numbers and training-mode Dropout.
def _out_of_target(name: str) -> bool:
    return ("dropout" in name and "training" in name) or "random" in name or "bernoulli" in name


def node_case_ops() -> dict[str, set[str]]:
    from onnx.backend.test.loader import load_model_tests

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = load_model_tests(kind="node")
    return {c.name: {n.op_type for n in c.model.graph.node} for c in cases}


def run_suite(junit: str) -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    os.path.join(root, "tests", "test_onnx_backend.py"), f"--junitxml={junit}"],
                   cwd=root, stdout=subprocess.DEVNULL, check=False)


def results(junit: str) -> dict[str, str]:
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        if not name.endswith("_cpu"):
            continue
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                status = "failed"
            elif child.tag == "skipped":
                status = "skipped"
        out[(case.get("classname").rsplit(".", 1)[-1], name[: -len("_cpu")])] = status
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--junit", help="an existing junit XML from pytest; otherwise the suite is run")
    ap.add_argument("--failures", action="store_true", help="list the failing node cases")
    args = ap.parse_args()
    junit = args.junit
    if not junit:
        junit = os.path.join(tempfile.mkdtemp(), "backend.xml")
        run_suite(junit)
    res = results(junit)
    ops = node_case_ops()
    node = {name: st for (cls, name), st in res.items() if cls == "OnnxBackendNodeModelTest"}
    missing = set(ops) - set(node)  # excluded by the exclusion list: count as not passing
    for name in missing:
        node[name] = "excluded"

    def rate(names):
        names = list(names)
        passed = sum(node[n] == "passed" for n in names)
        return passed, len(names)

    listed = [n for n in node if ops.get(n, {"?"}) <= LISTED_OPS]
    target = [n for n in listed if not _out_of_target(n)]
    rows = [("all node cases", rate(node)), ("cases using only listed ops", rate(listed)),
            ("  ... minus random / training Dropout", rate(target))]
    for cls in sorted({c for c, _ in res} - {"OnnxBackendNodeModelTest"}):
        sub = [st for (c, _), st in res.items() if c == cls]
        rows.append((cls.replace("OnnxBackend", "").replace("ModelTest", " models"),
                     (sum(s == "passed" for s in sub), len(sub))))
    for label, (p, n) in rows:
        print(f"{label:45s} {p:5d} / {n:5d}  ({100.0 * p / max(n, 1):5.1f}%)")
    if args.failures:
        for n in sorted(target):
            if node[n] != "passed":
                print("  not passing:", n, node[n], sorted(ops.get(n, ())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
