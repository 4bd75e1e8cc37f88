"""Prints the corpus table (markdown): converter, model, loads, matches onnxruntime, max difference.

    python tools/corpus_table.py [DIRECTORY]

Builds every case whose converter is installed (into DIRECTORY, default a temporary one) and runs
it in pyinfer and onnxruntime on the case's feeds, as tests/corpus/test_corpus.py does.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import warnings

from _checkout import use_checkout_if_built, use_test_support

use_checkout_if_built()
use_test_support()
import onnxruntime as ort  # noqa: E402
from support.corpus_compare import assert_outputs_close  # noqa: E402
from support.corpus_models import CASES, build, missing  # noqa: E402

import pyinfer  # noqa: E402


def row(case, directory: str) -> list[str]:
    absent = missing(case)
    if absent:
        return [case.converter, case.name, "skipped", f"needs {', '.join(absent)}", "", ""]
    try:
        with contextlib.redirect_stdout(sys.stderr):  # converters' progress lines stay out of the table
            built = build(case, directory)
    except Exception as e:  # noqa: BLE001  the converter itself failed
        return [case.converter, case.name, "not built", f"{type(e).__name__}: {e}"[:80], "", ""]
    ops = ", ".join(o for o in case.ops if "::" in o) or "-"
    try:
        sess = pyinfer.InferenceSession(built.path)
    except pyinfer.Error as e:
        return [case.converter, case.name, ops, f"no: {e}"[:120], "", ""]
    ref = ort.InferenceSession(built.path, providers=["CPUExecutionProvider"])
    worst, verdict = 0.0, "yes"
    for feeds in built.feeds:
        try:
            worst = max(worst, assert_outputs_close(ref.run(None, feeds), sess.run(None, feeds), case.rtol,
                                                    case.atol))
        except AssertionError as e:
            verdict = f"no: {str(e).strip().splitlines()[0][:80]}"
    tolerance = f"rtol {case.rtol:g}, atol {case.atol:g}" + (f" ({case.why})" if case.why else "")
    return [case.converter, case.name, ops, "yes", f"{verdict} ({tolerance})" if verdict == "yes" else verdict,
            f"{worst:.1e}"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", help="where the files are built (default: a new temporary directory)")
    directory = ap.parse_args(argv).directory or tempfile.mkdtemp(prefix="pyinfer-corpus-")
    print("| converter | model | non-default-domain ops | loads | matches onnxruntime | max difference |")
    print("|---|---|---|---|---|---|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in CASES:
            print("| " + " | ".join(cell.replace("|", "/") for cell in row(case, directory)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
