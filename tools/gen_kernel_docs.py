"""Write docs/KERNELS.md from the docstrings of pyinfer.kernels (the one place they live).

    python tools/gen_kernel_docs.py          # rewrite docs/KERNELS.md
"""
from __future__ import annotations

import inspect
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from _checkout import use_checkout_if_built
use_checkout_if_built()

import pyinfer  # noqa: E402
from pyinfer import kernels  # noqa: E402

INTRO = """# pyinfer.kernels

The C++ kernels on NumPy arrays, for use without a graph. The compute kernels take float32 arrays,
the indexing, logic and shape kernels the dtypes their docstrings name (other layouts than C order
are copied, other dtypes are rejected). Every kernel checks its arguments and
raises `pyinfer.KernelArgumentError` (a `pyinfer.Error`) with a message naming the culprit,
releases the GIL while it computes, and takes `num_threads` (0 = one thread per physical core,
1 = the calling thread only). Outputs are new arrays unless an `out=` argument says otherwise.
The `prepare_*` functions return a `PreparedKernel`: the same kernel checked, its algorithm chosen
and its weights packed once for fixed shapes, callable on arrays of exactly those shapes (compiled
plans run these objects).

The SIMD tier (AVX-512, AVX2+FMA or scalar) is picked at import from cpuid;
`pyinfer.cpu_info()` reports it and `PYINFER_ISA=scalar|avx2` forces a lower one.

This file is generated from the docstrings by `python tools/gen_kernel_docs.py`.

```python
import numpy as np
import pyinfer

x = np.random.rand(1, 3, 32, 32).astype(np.float32)
w = np.random.rand(8, 3, 3, 3).astype(np.float32)
y = pyinfer.kernels.conv2d(x, w, padding=1)              # (1, 8, 32, 32)
p = pyinfer.kernels.max_pool2d(y, kernel_size=2)         # (1, 8, 16, 16)
s = pyinfer.kernels.sum_pool2d(y, kernel_size=2)         # window sums
```
"""


def render() -> str:
    parts = [INTRO]
    names = sorted(kernels.__all__)
    parts.append("## Index\n\n" + ", ".join(f"[`{n}`](#{n.lower()})" for n in names) + "\n")
    for name in names:
        obj = getattr(kernels, name)
        doc = inspect.getdoc(obj) or "(no docstring)"
        parts.append(f"## {name}\n\n```\n{doc}\n```\n")
    return "\n".join(parts)


def main() -> int:
    path = os.path.join(ROOT, "docs", "KERNELS.md")
    with open(path, "w") as f:
        f.write(render())
    print(f"wrote {path} ({len(kernels.__all__)} kernels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
