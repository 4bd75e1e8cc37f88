import os
import sys

import numpy as np
import pytest

# Run from a checkout (tools/dev_build.sh) as well as from an installed package.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isdir(os.path.join(ROOT, "pyinfer")) and ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import pyinfer  # noqa: E402


@pytest.fixture(params=pyinfer.cpu_info()["supported_isas"])
def isa(request):
    """Run a kernel test under every SIMD tier this machine supports, then restore the tier."""
    previous = pyinfer._kernels.active_isa()
    pyinfer._kernels.set_isa(request.param)
    yield request.param
    pyinfer._kernels.set_isa(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
