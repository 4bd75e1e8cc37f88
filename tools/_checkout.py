"""Which pyinfer the tools import: the checkout's, when it holds a dev build
(tools/dev_build.sh), else the installed package. A checkout without the compiled extension
must not shadow an installed pyinfer."""
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV_BUILD = bool(glob.glob(os.path.join(ROOT, "pyinfer", "_kernels*")))


def use_checkout_if_built() -> None:
    if DEV_BUILD and ROOT not in sys.path:
        sys.path.insert(0, ROOT)
