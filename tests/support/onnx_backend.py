"""The exclusions of ONNX's backend suite (tests/onnx_backend_exclusions.txt), shared by
tests/test_onnx_backend.py and tests/runtime/test_plan_backend.py."""
import os

EXCLUSIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "onnx_backend_exclusions.txt")


def load_exclusions(path=EXCLUSIONS):
    """[(pattern, reason)] from lines 'PATTERN  # reason'; '##' lines are group headers."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            pattern, _, reason = line.partition("#")
            out.append((pattern.strip(), reason.strip()))
    return out
