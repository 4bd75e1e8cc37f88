#!/usr/bin/env python3
"""Fuzz pyinfer with mutated models and feeds: every outcome must be a result or a pyinfer.Error.

    tools/fuzz.py --seconds 600            # a long run (random seed unless --seed)
    tools/fuzz.py --cases 2000 --seed 1    # a fixed, deterministic run
    tools/fuzz.py --seed 1 --replay 1234   # rerun one case in this process, with a traceback
    tools/fuzz.py ... --save-dir crashers  # write the failing models / feeds there

Exit status 1 when any case crashed, hung, or raised something other than pyinfer.Error.
The fuzzer itself (seed models, mutations, the worker process): tests/support/fuzz.py.
"""
from __future__ import annotations

import argparse
import json
import random
import sys

from _checkout import use_checkout_if_built, use_test_support

use_checkout_if_built()
use_test_support()
from support.fuzz import fuzz, replay  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--cases", type=int, default=None)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--timeout", type=float, default=20.0, help="per-case limit in seconds (a hang beyond it fails)")
    p.add_argument("--save-dir", default=None)
    p.add_argument("--replay", type=int, default=None)
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if args.replay is not None:
        replay(seed, args.replay)
        return 0
    if args.cases is None and args.seconds is None:
        args.seconds = 60
    result = fuzz(seed, args.cases, args.seconds, args.timeout, args.save_dir)
    print(json.dumps({k: v for k, v in result.items() if k != "failures"}))
    print(f"{len(result['failures'])} failing cases")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
