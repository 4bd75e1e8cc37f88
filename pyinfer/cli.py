"""The `pyinfer` command line: run a model, demo, bench."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pyinfer", description="CPU inference for ONNX models")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a model on .npy inputs and print or save the outputs")
    p.add_argument("model")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=FILE.npy")
    p.add_argument("--output-dir", "-o", help="save each output as NAME.npy here instead of printing")
    p.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "run":
        return _cmd_run(args)
    return 2


def _cmd_run(args) -> int:
    import os

    import numpy as np

    from . import Error, InferenceSession

    try:
        sess = InferenceSession(args.model, num_threads=args.threads)
        feeds = {}
        for item in args.input:
            name, sep, path = item.partition("=")
            if not sep:
                print(f"pyinfer: --input expects NAME=FILE.npy, got {item!r}", file=sys.stderr)
                return 2
            feeds[name] = np.load(path)
        outputs = sess.run(None, feeds)
    except Error as e:
        print(f"pyinfer: error: {e}", file=sys.stderr)
        return 1
    for arg, value in zip(sess.get_outputs(), outputs):
        if args.output_dir:
            os.makedirs(args.output_dir, exist_ok=True)
            np.save(os.path.join(args.output_dir, f"{arg.name}.npy"), value)
        else:
            print(f"{arg.name}: shape={list(np.shape(value))} dtype={np.asarray(value).dtype}")
            print(np.asarray(value))
    return 0
