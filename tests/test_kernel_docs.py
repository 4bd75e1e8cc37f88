"""docs/KERNELS.md documents every public kernel, and its example runs."""
import os
import re

import numpy as np

import pyinfer
from pyinfer import kernels

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "KERNELS.md")


def test_every_kernel_has_a_docstring_and_a_section():
    with open(DOC) as f:
        sections = set(re.findall(r"^## (\w+)$", f.read(), flags=re.M))
    missing = [n for n in kernels.__all__ if n not in sections]
    assert not missing, f"regenerate docs/KERNELS.md (python tools/gen_kernel_docs.py): {missing}"
    undocumented = [n for n in kernels.__all__ if not (getattr(kernels, n).__doc__ or "").strip()]
    assert not undocumented


def test_the_documented_example():
    with open(DOC) as f:
        text = f.read()
    code = re.search(r"```python\n(.*?)```", text, flags=re.S).group(1)
    scope = {}
    exec(code, scope)
    y, p, s = scope["y"], scope["p"], scope["s"]
    assert y.shape == (1, 8, 32, 32) and p.shape == (1, 8, 16, 16) and s.shape == (1, 8, 16, 16)
    np.testing.assert_allclose(s, y.reshape(1, 8, 16, 2, 16, 2).sum(axis=(3, 5)), rtol=1e-5)
    np.testing.assert_allclose(p, y.reshape(1, 8, 16, 2, 16, 2).max(axis=(3, 5)), rtol=0)
