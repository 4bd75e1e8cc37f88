#!/usr/bin/env python
"""Write onnx's light_*.onnx CNNs with random real weights into the cache and print the paths.

    python tools/light_models.py [NAME ...]     # NAME: one of LIGHT_MODELS (default: all)

The models and the cache: tests/support/light_models.py.
"""
from __future__ import annotations

import os
import sys

from _checkout import use_test_support

use_test_support()
from support.light_models import LIGHT_MODELS, cached_light  # noqa: E402


def main(argv=None) -> int:
    names = (sys.argv[1:] if argv is None else argv) or list(LIGHT_MODELS)
    for name in names:
        path = cached_light(name)
        print(f"{name:14s} -> {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
