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

or None (or KeepPython(reason), which says why for `pyinfer inspect`): it stays a Python step
calling op.run. The op's lowering lives beside its run() in
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

# The element types prepared kernels take (csrc/common/prepared.h DType): kernels that move
# elements take them all; REAL_DTYPES, the ones kernels compute on (no float16, no bool).
KERNEL_DTYPES = frozenset(np.dtype(t) for t in ("float32", "float64", "float16", "int8", "int16", "int32", "int64",
                                                "uint8", "uint16", "bool"))
REAL_DTYPES = frozenset(np.dtype(t) for t in ("float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                                              "uint16"))
INDEX_DTYPES = frozenset(np.dtype(t) for t in ("int32", "int64"))

# The most inputs and outputs one step of the Cython loop takes (_runtime.pyx MAX_IN / MAX_OUT).
MAX_STEP_INPUTS, MAX_STEP_OUTPUTS = 12, 4


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
    # Node inputs computed at run time whose values lower() needs (Lowering.value): a dynamic plan
    # keys the step's kernels by their values as well and asks lower() again, with the values, for
    # new ones (Resize with computed sizes). Without values (the plan's first lowering) the op
    # answers with a kernel of the same form for the example's output shapes.
    value_inputs: tuple = ()


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
class KeepPython:
    """lower()'s answer for a node that stays a Python step, with the reason (reported by
    `pyinfer inspect`); the plan treats it as None."""
    reason: str


# The start of a kernel's error when a control input (a shape, K, sizes, a selected count) gives
# another output shape than the plan compiled: the plan then re-runs the call on the Python path
# (common/check.h kShapeChanged).
SHAPE_CHANGED = "shape changed: "


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
    values: dict = field(default_factory=dict, repr=False)  # node input -> its run-time value (Native.value_inputs)

    def value(self, i: int):
        """Input i's value: a constant's, or the run-time value a dynamic plan lowers for, else None."""
        v = self.const(i)
        return self.values.get(i) if v is None else v

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

    def dtypes_in(self, allowed, *inputs: int) -> bool:
        """Whether inputs `inputs` (those present) and every output have a dtype in `allowed`."""
        metas = [self.inputs[i] for i in inputs if self.present(i)] + self.outputs
        return all(m.dtype in allowed for m in metas)

    def const_ints(self, i: int):
        """Input i's values as a list of ints if it is a constant integer tensor, else None."""
        v = self.const(i)
        if v is None or np.asarray(v).dtype.kind not in "iu":
            return None
        return [int(a) for a in np.asarray(v).reshape(-1)]


def lower(op, names: list, ins: list, outs: list, consts: dict, dynamic: bool = False, values=None):
    """How `op` (inputs `names` with metas `ins`, outputs `outs`) runs natively, or None."""
    how = explain(op, names, ins, outs, consts, dynamic, values)
    return None if isinstance(how, KeepPython) else how


def explain(op, names: list, ins: list, outs: list, consts: dict, dynamic: bool = False, values=None):
    """lower()'s answer, with a KeepPython(reason) wherever the node stays a Python step."""
    if not outs or any(m is None for m in outs):
        return KeepPython("an output is not a tensor")
    if not getattr(op, "empty_tensors_ok", False) and (
            any(m.size == 0 for m in outs) or
            not getattr(op, "empty_inputs_ok", False) and any(m.size == 0 for m in ins if m is not None)):
        return KeepPython("empty tensors")  # the op's own code handles them
    if type(op).lower.__qualname__ == "Op.lower":  # the base class's: never lowers
        return KeepPython("no native kernel")
    how = op.lower(Lowering(list(names), list(ins), list(outs), consts, dynamic, values or {}))
    if how is None:
        dtypes = sorted({str(m.dtype) for m in [m for m in ins if m is not None] + outs})
        return KeepPython(f"not lowered for these inputs ({', '.join(dtypes)})")
    return how

