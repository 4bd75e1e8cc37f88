"""Which ops run as native steps of a compiled plan, and their prepared kernels.

lower(op, ins, outs, is_const) looks at one op with the shapes of this plan's signature and
returns how it runs natively, or None (it then stays a Python step calling op.run):

  Native(kernel, inputs)   a prepared C++ kernel; inputs are value names in the kernel's order
                           (see csrc/capi/pyinfer_capi.h), None for absent, or Extra(array)
                           for an array the op prepared (a fused bias)
  Alias(input)             metadata only (Reshape, Flatten, Squeeze, Unsqueeze): same bytes
  Concat(axis)             byte copies
  SwapBlocks(...)          a Transpose as block copies (two axis groups swapped)

Every tensor of a native step is float32 and non-empty; the kernels' own checks run again in
the prepare_* calls, so a shape nobody checked never reaches C++.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _runtime as rt

F32 = np.dtype(np.float32)

# pyinfer::Unary values (csrc/activation/activation.h)
_UNARY = {"Relu": 0, "LeakyRelu": 1, "Sigmoid": 2, "Tanh": 3, "HardSigmoid": 5, "HardSwish": 6,
          "Elu": 7, "Selu": 8, "Softplus": 10, "Softsign": 11, "Erf": 13}
_CLIP = 4
_BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3}
# pyinfer::Act values (csrc/gemm/epilogue.h)
_ACT = {"none": 0, "relu": 1, "relu6": 2, "clip": 2, "leaky_relu": 3, "sigmoid": 4, "tanh": 5,
        "hard_sigmoid": 6, "hard_swish": 7, "gelu": 8, "gelu_tanh": 9}


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
    array: np.ndarray


@dataclass
class Native:
    kernel: object
    inputs: list


@dataclass
class Alias:
    input: str


@dataclass
class Concat:
    axis: int


@dataclass
class SwapBlocks:
    """y[o, b, a, :] = x[o, a, b, :]: a Transpose that swaps two groups of axes between an outer
    group and a kept trailing block of `chunk` bytes (ShuffleNet's channel shuffle)."""
    outer: int
    a: int
    b: int
    chunk: int


def _epilogue(kw: dict):
    """(act id, alpha, beta, lo, hi) of an op's kernel epilogue keyword arguments."""
    name = kw.get("activation", "none")
    lo, hi = -math.inf, math.inf
    if name == "relu6":
        lo, hi = 0.0, 6.0
    elif name == "clip":
        lo, hi = kw.get("clip_min", -math.inf), kw.get("clip_max", math.inf)
    alpha = kw.get("activation_alpha", 0.2 if name == "hard_sigmoid" else 0.01)
    beta = kw.get("activation_beta", 0.5)
    return _ACT[name], alpha, beta, lo, hi


def lower(op, names: list, ins: list, outs: list, consts: dict):
    """How `op` (inputs `names` with metas `ins`, outputs `outs`) runs natively, or None."""
    tensors = [m for m in ins if m is not None] + outs
    if not outs or any(m is None for m in outs):
        return None
    t = op.op_type
    domain = op.node.domain
    if t in ("Reshape", "Flatten", "Squeeze", "Unsqueeze") and domain in ("", "ai.onnx"):
        # Shapes are fixed per signature; a computed shape input could still change with data.
        if all(n in consts for n in names[1:] if n) and outs[0].size == ins[0].size:
            return Alias(names[0])
        return None
    if t in _PARAMETER_INPUTS:  # only the data input and the outputs are float32 tensors
        tensors = [m for m in ins[:1] if m is not None] + outs
    if any(m.dtype != F32 or m.size == 0 for m in tensors):
        return None
    fn = _LOWER.get((domain or "", t))
    return fn(op, names, ins, outs, consts) if fn else None


def _binary(op, names, ins, outs, consts):
    if op.version < 7 or len(ins) != 2 or max(ins[0].ndim, ins[1].ndim) > 8:
        return None
    return Native(rt.prepare_binary(_BINARY[op.op_type], list(ins[0].shape), list(ins[1].shape)), names[:2])


def _unary(op, names, ins, outs, consts):
    t = op.op_type
    a = float(getattr(op, "alpha", 0.0)) if t in ("LeakyRelu", "HardSigmoid", "Elu", "Selu") else 0.0
    b = float(op.beta) if t == "HardSigmoid" else float(op.gamma) if t == "Selu" else 0.0
    return Native(rt.prepare_unary(_UNARY[t], ins[0].size, a, b), names[:1])


def _clip(op, names, ins, outs, consts):
    if op.version < 11:
        lo, hi = op.lo, op.hi
    else:
        bounds = []
        for i in (1, 2):
            n = names[i] if i < len(names) else ""
            if not n:
                bounds.append(None)
            elif n in consts and np.asarray(consts[n]).size == 1:
                bounds.append(float(np.asarray(consts[n]).reshape(())))
            else:
                return None
        lo = -math.inf if bounds[0] is None else bounds[0]
        hi = math.inf if bounds[1] is None else bounds[1]
    if math.isnan(lo) or math.isnan(hi):
        return None
    return Native(rt.prepare_unary(_CLIP, ins[0].size, lo, hi), names[:1])


def _conv(op, names, ins, outs, consts):
    x, w = ins[0], ins[1]
    if w is None or x.ndim < 3 or w.ndim != x.ndim:
        return None
    b = ins[2] if len(ins) > 2 else None
    res = ins[3] if len(ins) > 3 else None
    if b is not None and b.ndim != 1:
        return None
    strides, dilations, kernel = op._common_attrs(x, w)
    pads = op.pads_for(x, strides, dilations, kernel)
    packed = op._packed if (op._packed is not None and consts.get(names[1]) is op._packed_source) else None
    act, alpha, beta, lo, hi = _epilogue(op.epilogue)
    k = rt.prepare_conv(list(x.shape), list(w.shape), -1 if b is None else b.shape[0], strides, pads, dilations,
                        op.group, packed, res is not None, act, alpha, beta, lo, hi)
    inputs = [names[0], None if packed is not None else names[1], names[2] if b is not None else None,
              names[3] if res is not None else None]
    return Native(k, inputs)


def _gemm(op, names, ins, outs, consts):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    res = ins[3] if len(ins) > 3 else None
    # Gemm before version 7 broadcasts C only with its `broadcast` attribute; pyinfer's own
    # FusedGemm (version 1 of its domain) has the current semantics.
    old_gemm = op.op_type == "Gemm" and op.version < 7
    if old_gemm or a.ndim != 2 or b is None or b.ndim != 2 or (c is not None and c.ndim > 2):
        return None
    m, k = a.shape[::-1] if op.trans_a else a.shape
    n = b.shape[0] if op.trans_b else b.shape[1]
    packed = op._packed if (op._packed is not None and consts.get(names[1]) is op._packed_source) else None
    bias = None
    if packed is not None and op._bias is not None and c is not None and consts.get(names[2]) is op._bias_source:
        bias, c = op._bias, None
    c_rows = c_cols = 0
    if c is not None and op.beta != 0.0:
        c_rows, c_cols = (1, 1) if c.ndim == 0 else (1, c.shape[0]) if c.ndim == 1 else c.shape
    act, alpha, beta, lo, hi = _epilogue(op.epilogue)
    kern = rt.prepare_gemm(m, n, k, op.trans_a, op.trans_b and packed is None, op.alpha, op.beta, packed,
                           c_rows, c_cols, bias is not None, res is not None, act, alpha, beta, lo, hi)
    inputs = [names[0], None if packed is not None else names[1], names[2] if c_rows else None,
              Extra(bias) if bias is not None else None, names[3] if res is not None else None]
    return Native(kern, inputs)


def _matmul(op, names, ins, outs, consts):
    a, b = ins[0], ins[1]
    res = ins[2] if len(ins) > 2 else None
    if b is None or a.ndim < 1:
        return None
    packed = op._packed if (op._packed is not None and consts.get(names[1]) is op._packed_source) else None
    if packed is not None:
        k, n = packed.shape
        if a.shape[-1] != k:
            return None
        m = math.prod(a.shape[:-1])
    elif a.ndim == 2 and b.ndim == 2:
        (m, k), n = a.shape, b.shape[1]
        if b.shape[0] != k:
            return None
    else:
        return None  # batched / vector products stay with the op
    act, alpha, beta, lo, hi = _epilogue(op.epilogue)
    kern = rt.prepare_gemm(m, n, k, False, False, 1.0, 0.0, packed, 0, 0, False, res is not None,
                           act, alpha, beta, lo, hi)
    return Native(kern, [names[0], None if packed is not None else names[1], None, None,
                         names[2] if res is not None else None])


def _window_pool(op, names, ins, outs, consts):
    x = ins[0]
    if len(outs) != 1 or x.ndim < 3:
        return None
    kernel, strides, pads, dilations, ceil_mode = op.window(x)
    kind = 0 if op.op_type == "MaxPool" else (2 if op.count_include_pad else 3)
    return Native(rt.prepare_pool(kind, list(x.shape), list(kernel), list(strides), list(pads), list(dilations),
                                  ceil_mode), names[:1])


def _sum_pool(op, names, ins, outs, consts):
    x = ins[0]
    if x.ndim != len(op.kernel) + 2:
        return None
    return Native(rt.prepare_pool(1, list(x.shape), op.kernel, op.strides, op.pads, op.dilations, False), names[:1])


def _global_pool(op, names, ins, outs, consts):
    x = ins[0]
    if x.ndim < 3:
        return None
    kind = {"GlobalAveragePool": 0, "GlobalMaxPool": 1}[op.op_type]
    return Native(rt.prepare_global_pool(kind, x.shape[0] * x.shape[1], math.prod(x.shape[2:])), names[:1])


def _reduce_trailing(op, names, ins, outs, consts):
    """ReduceMean / ReduceMax over the trailing axes, axes fixed when the plan is built: a global
    average / max pool over the flattened trailing axes (PyTorch exports x.mean([2, 3]) and a
    text CNN's max over time so; the max propagates NaN as ReduceMax does)."""
    x = ins[0]
    axes = op.fixed_axes
    if not axes or not all(-x.ndim <= a < x.ndim for a in axes):
        return None
    axes = sorted({a + x.ndim if a < 0 else a for a in axes})
    if axes != list(range(axes[0], x.ndim)):
        return None
    kind = {"ReduceMean": 0, "ReduceMax": 1}[op.op_type]
    return Native(rt.prepare_global_pool(kind, math.prod(x.shape[:axes[0]]), math.prod(x.shape[axes[0]:])), names[:1])


def _softmax(op, names, ins, outs, consts):
    x = ins[0]
    rank = x.ndim
    if rank == 0 or not -rank <= op.axis < rank:
        return None
    axis = op.axis + rank if op.axis < 0 else op.axis
    if op.version < 13:
        outer, length, inner = math.prod(x.shape[:axis]), math.prod(x.shape[axis:]), 1
    else:
        outer, length, inner = math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1:])
    return Native(rt.prepare_softmax(outer, length, inner, op.op_type == "LogSoftmax"), names[:1])


def _batch_norm(op, names, ins, outs, consts):
    x = ins[0]
    if op.training or not op.spatial or len(outs) != 1 or x.ndim < 2 or len(ins) != 5:
        return None
    c = x.shape[1]
    if any(p is None or p.shape != (c,) for p in ins[1:]):
        return None
    n, spatial = x.shape[0], math.prod(x.shape[2:])
    if op.epilogue:  # FusedBatchNormalization: the activation in the same pass
        act, alpha, beta, lo, hi = _epilogue(op.epilogue)
        return Native(rt.prepare_batch_norm_act(n, c, spatial, op.epsilon, act, alpha, beta, lo, hi), names[:5])
    return Native(rt.prepare_batch_norm(n, c, spatial, op.epsilon), names[:5])


def _lrn(op, names, ins, outs, consts):
    x = ins[0]
    if x.ndim < 3:
        return None
    return Native(rt.prepare_lrn(x.shape[0], x.shape[1], math.prod(x.shape[2:]), op.size, op.alpha, op.beta,
                                 op.bias), names[:1])


def _concat(op, names, ins, outs, consts):
    if not 1 <= len(ins) <= 8 or any(m is None for m in ins):
        return None
    rank = outs[0].ndim
    axis = int(op.axis)
    if not -rank <= axis < rank:
        return None
    return Concat(axis + rank if axis < 0 else axis)


# Below this many bytes per block a Transpose stays with NumPy (one memcpy per block).
_MIN_SWAP_CHUNK = 64


def swap_blocks(shape, perm):
    """(outer, a, b, chunk elements) when transposing `shape` by `perm` only swaps two groups
    of axes (after dropping size-1 axes and merging axes that stay together), else None."""
    keep = [i for i, d in enumerate(shape) if d != 1]
    order = [i for i in perm if shape[i] != 1]
    if len(keep) < 2:
        return None
    # Runs of output axes that are consecutive input axes move together: one group each.
    groups = [[order[0]]]
    for i in order[1:]:
        if keep.index(i) == keep.index(groups[-1][-1]) + 1:
            groups[-1].append(i)
        else:
            groups.append([i])
    by_input = sorted(groups, key=lambda g: g[0])
    size = [math.prod(shape[i] for i in g) for g in groups]
    n = len(groups)
    if n == 1:
        return None  # nothing moves: a copy (left to NumPy's reshape / copy)
    # Output order must be: [outer] B A [trailing] with A, B adjacent and swapped in input order.
    lo = 1 if groups[0] is by_input[0] and n > 2 else 0
    hi = n - 1 if groups[-1] is by_input[-1] and n - lo > 2 else n
    if hi - lo != 2 or groups[lo] is not by_input[lo + 1] or groups[lo + 1] is not by_input[lo]:
        return None
    outer = size[0] if lo else 1
    chunk = size[-1] if hi < n else 1
    return outer, size[lo + 1], size[lo], chunk


def _transpose(op, names, ins, outs, consts):
    x = ins[0]
    perm = list(range(x.ndim))[::-1] if op.perm is None else [int(i) for i in op.perm]
    if sorted(perm) != list(range(x.ndim)):
        return None  # the op reports it
    swap = swap_blocks(x.shape, perm)
    if swap is None or swap[3] * 4 < _MIN_SWAP_CHUNK:
        return None
    outer, a, b, chunk = swap
    return SwapBlocks(outer, a, b, chunk * 4)


# Ops whose inputs after the first are parameters (integer axes), used by the lowering rule
# only as plan-time constants.
_PARAMETER_INPUTS = {"ReduceMean", "ReduceMax"}

_LOWER = {("", t): _binary for t in _BINARY}
_LOWER.update({("", t): _unary for t in _UNARY})
_LOWER.update({
    ("", "Clip"): _clip,
    ("", "Conv"): _conv, ("pyinfer", "FusedConv"): _conv,
    ("", "Gemm"): _gemm, ("pyinfer", "FusedGemm"): _gemm,
    ("", "MatMul"): _matmul, ("pyinfer", "FusedMatMul"): _matmul,
    ("", "MaxPool"): _window_pool, ("", "AveragePool"): _window_pool, ("pyinfer", "SumPool"): _sum_pool,
    ("", "GlobalAveragePool"): _global_pool, ("", "GlobalMaxPool"): _global_pool,
    ("", "ReduceMean"): _reduce_trailing, ("", "ReduceMax"): _reduce_trailing,
    ("", "Softmax"): _softmax, ("", "LogSoftmax"): _softmax,
    ("", "BatchNormalization"): _batch_norm, ("pyinfer", "FusedBatchNormalization"): _batch_norm,
    ("", "LRN"): _lrn,
    ("", "Concat"): _concat,
    ("", "Transpose"): _transpose,
})
