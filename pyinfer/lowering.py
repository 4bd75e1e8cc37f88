"""How an op runs natively in a compiled plan: the contract between `Op.lower()` and plan.py.

When a plan is compiled for one input-shape signature, `lower()` asks each op how it runs,
with the shapes and dtypes of that signature (a `Lowering`). The op answers with one of:

  Native(kernel, inputs, outputs,   a prepared kernel (pyinfer.kernels.prepare_*); per kernel
         reshapable)                input, the node input it reads (an index), an Extra(array)
                                    the op prepared (a fused bias), or None (not read); per
                                    kernel output, the node output it writes (default: in order).
                                    reshapable: nothing lower() passed to prepare was derived
                                    from the input shapes, so kernel.reshape() serves any other
                                    shapes of the same ranks (False: lower() is asked again)
  Alias(input, rule)                metadata only (Reshape, Flatten, Squeeze, Unsqueeze): the
                                    output is node input `input`'s bytes; rule: how the output
                                    shape follows from the input's (dynamic plans), see ViewRule
  Concat(axis)                      byte copies
  Permute(perm)                     a Transpose: byte moves (_bytes.pxd permute_bytes)

or None: it stays a Python step calling op.run. The op's lowering lives beside its run() in
pyinfer/ops/<family>.py; this module only dispatches. A kernel's inputs and outputs are
checked against the plan's shapes and dtypes when the plan is built (plan.py), so a shape
nobody checked never reaches C++.

Two kinds of plan ask (Lowering.dynamic): a static plan (plan.py) serves exactly the shapes in
the metas; a dynamic plan (dynamic_plan.py) serves every shape of the same ranks and dtypes,
the metas being one example. An op whose answer holds only for these very shapes answers
None, or a reshapable=False kernel, when asked for a dynamic plan.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

F32 = np.dtype(np.float32)


@dataclass
class Meta:
    """What the plan knows of a value: shape and dtype (duck-types an array for op helpers)."""
    shape: tuple
    dtype: np.dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize


@dataclass
class Extra:
    """An array the op prepared that the kernel reads as an input (a fused bias)."""
    array: np.ndarray


@dataclass
class Native:
    kernel: object                  # a pyinfer.kernels.PreparedKernel
    inputs: list                    # per kernel input: node input index, Extra, or None
    outputs: list | None = None     # per kernel output: node output index or None; None: in order
    reshapable: bool = False        # prepare's arguments hold for every shape of these ranks


@dataclass
class ViewRule:
    """How a view's output shape follows from its input's, for any input shape:
      ("reshape", dims, allowzero)  dims: the target (0 copies, -1 infers); None: node input 1
                                    holds it (int64, read when the step runs)
      ("flatten", axis)
      ("squeeze", axes)             axes () : every size-1 axis
      ("unsqueeze", axes)           axes of the output
    """
    kind: str
    params: tuple = ()
    allowzero: bool = False


@dataclass
class Alias:
    input: int = 0
    rule: ViewRule | None = None


@dataclass
class Permute:
    perm: list


@dataclass
class Concat:
    axis: int


@dataclass
class Lowering:
    """One node as a plan sees it: the metas of its inputs (None: absent) and outputs, and the
    values of the inputs that are plan-time constants (initializers). dynamic: the plan serves
    every shape of these ranks and dtypes, the metas are one example (see the module doc)."""
    names: list
    inputs: list
    outputs: list
    consts: dict = field(repr=False)
    dynamic: bool = False

    def const(self, i: int):
        """The value of input i if it is a constant, else None."""
        if i >= len(self.names) or not self.names[i]:
            return None
        return self.consts.get(self.names[i])

    def is_const(self, i: int) -> bool:
        return i < len(self.names) and bool(self.names[i]) and self.names[i] in self.consts

    def present(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def float32(self, *inputs: int) -> bool:
        """Whether inputs `inputs` (those present) and every output are float32."""
        metas = [self.inputs[i] for i in inputs if self.present(i)] + self.outputs
        return all(m.dtype == F32 for m in metas)

    def shape(self, i: int) -> list:
        return list(self.inputs[i].shape)


def lower(op, names: list, ins: list, outs: list, consts: dict, dynamic: bool = False):
    """How `op` (inputs `names` with metas `ins`, outputs `outs`) runs natively, or None."""
    if not outs or any(m is None for m in outs):
        return None
    if any(m.size == 0 for m in [m for m in ins if m is not None] + outs):
        return None  # empty tensors: the op's own code handles them
    return op.lower(Lowering(list(names), list(ins), list(outs), consts, dynamic))
