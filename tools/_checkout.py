"""What the tools import: the checkout's pyinfer when it holds a dev build (tools/dev_build.sh),
else the installed package (a checkout without the compiled extension must not shadow an
installed pyinfer); and the shared test machinery, tests/support, as `support`."""
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
DEV_BUILD = bool(glob.glob(os.path.join(ROOT, "pyinfer", "_kernels*")))


def use_checkout_if_built() -> None:
    if DEV_BUILD and ROOT not in sys.path:
        sys.path.insert(0, ROOT)


def use_test_support() -> None:
    """Make `import support` find tests/support (models, oracles and the fuzzer the tests share)."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
