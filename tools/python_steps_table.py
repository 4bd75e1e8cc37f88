"""Python steps per model across the repo's corpus (markdown): for each model, the nodes a
compiled plan runs natively and the ones it keeps as Python steps, with lower()'s reasons
(pyinfer inspect's list, cli/python_steps.py).

    python tools/python_steps_table.py [--skip-torch] [--skip-corpus] [MODEL.onnx ...]

Models: onnx's light_* CNNs, the PyTorch architectures of tests/support (legacy and dynamo
exports, cached), the converter corpus (tests/support/corpus_models.py, on its own feeds), the
detection post-processing graph, and any files given.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections import Counter

from _checkout import use_checkout_if_built, use_test_support

use_checkout_if_built()
use_test_support()
from pyinfer.cli.python_steps import python_steps  # noqa: E402
from support.detection_graphs import postprocess_model  # noqa: E402
from support.light_models import LIGHT_MODELS, source_path  # noqa: E402


def models(args, tmp: str):
    """(group, name, model, feeds or None)."""
    for name in LIGHT_MODELS:
        yield "onnx light", name, source_path(name), None
    yield "hand-made", "detection post-processing", postprocess_model(3234, 91, 1000), None
    if not args.skip_torch:
        from support.model_export import SPECS, cached_export
        for name, spec in SPECS.items():
            for exporter in ("legacy", "dynamo"):
                try:
                    path, _ = cached_export(name, exporter)
                except Exception as e:  # noqa: BLE001  an exporter that cannot take the model
                    print(f"skipped {name} ({exporter}): {type(e).__name__}", file=sys.stderr)
                    continue
                feeds = dict(zip(spec.input_names, [v.numpy() for v in next(iter(spec.cases().values()))]))
                yield f"torch {exporter}", name, path, feeds
    if not args.skip_corpus:
        from support.corpus_models import CASES, build, missing
        for case in CASES:
            if missing(case):
                continue
            try:
                built = build(case, tmp)
            except Exception as e:  # noqa: BLE001
                print(f"skipped {case.name}: {type(e).__name__}", file=sys.stderr)
                continue
            yield case.converter, case.name, built.path, built.feeds[0]
    for path in args.files:
        yield "file", os.path.basename(path), path, None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--skip-torch", action="store_true")
    ap.add_argument("--skip-corpus", action="store_true")
    args = ap.parse_args(argv)
    print("| source | model | nodes | native | Python steps (op: reason) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for group, name, model, feeds in models(args, tmp):
            try:
                info = python_steps(model, feeds=feeds)
            except Exception as e:  # noqa: BLE001  a model pyinfer refuses: say so, go on
                print(f"| {group} | {name} | - | - | not loaded: {type(e).__name__}: {str(e)[:80]} |")
                continue
            steps = Counter((s["op"], s["reason"]) for s in info["python"])
            text = "; ".join(f"{op} x{n}: {reason}" for (op, reason), n in steps.most_common()) or "none"
            if not info["compiled"]:
                text = f"no plan ({info['reason']}); in one: {text}" if info["native"] else f"no plan: {info['reason']}"
            print(f"| {group} | {name} | {info['nodes']} | {info['native']} | {text} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
