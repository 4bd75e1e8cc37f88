"""Python in a child process that imports the pyinfer this test process imported: the checkout's
developer build or the installed package, as tests/conftest.py chose. Never the source tree of a
checkout without a built extension (CI installs the package): `python -m` and `-c` put their
working directory first on sys.path, so children start in NEUTRAL_CWD, with this sys.path."""
from __future__ import annotations

import os
import sys

NEUTRAL_CWD = "/"  # shadows no package


def child_env(**extra: str) -> dict:
    """os.environ with PYTHONPATH = this process's sys.path, and `extra`."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), **extra}
