"""Scaled dot-product attention as exporters write it becomes one pyinfer::MultiHeadAttention node.

    q4 = Transpose(Reshape(q, [.., .., H, D]), [0, 2, 1, 3])      (and k4, v4 alike)
    scores = MatMul(q4 * c1, K^T * c2) [* c3 | / c3] [+ mask]...
    p = Softmax(scores, axis=-1) [-> Where(IsNaN(p), 0, p)]
    o = MatMul(p, v4) [-> Reshape to its own shape] -> Transpose([0, 2, 1, 3]) [-> Reshape to [B, S, H * D]]

K^T is Transpose(Reshape(k), [0, 2, 3, 1]), Transpose(k4, [0, 1, 3, 2]), or the dynamo exporter's
Reshape(Transpose(Reshape(k4, [B*H, S, D]), [0, 2, 1]), [B, H, D, S]). An operand's base may be a
column range of one tensor (Split of GPT-2's packed projection), and k4 / v4 may be
Concat(past, new, axis=2) whose output (the present keys / values) the fused node then writes.
The node reads q, k and v where they lie: the head Reshape / Transpose nodes, the scale Muls, the
Softmax and both MatMuls disappear, and so do the shape computations that only fed them.

Q, K and V projections of one input (MatMul by a constant weight, plus a constant bias) become one
projection with the three weights side by side (pyinfer::FusedMatMul with the bias), whose packed
output the attention reads: one GEMM instead of three.

Fully masked rows: the kernel gives zeros, which is what the exporters' IsNaN / Where guard makes of
softmax's NaN; a graph without the guard (no row can be fully masked by a finite mask) is unaffected.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from onnx import helper

from .patterns import dead_after, depends_on, is_op, perm, producer_op, scalar_operand
from .reshape_shapes import trace_entries
from .workgraph import FUSED_DOMAIN, WorkGraph, attrs_of

NAME = "fuse_attention"


@dataclass
class Operand:
    """Where the kernel reads q, k or v: `value` in tokens layout ([B, S, width]: `heads` heads of
    `size` floats from `column` on in each row) or heads layout ([B, H, S, D], column 0)."""
    value: str
    tokens: bool
    heads: int | None = None
    size: int | None = None
    column: int = 0
    scale: float = 1.0
    past: str | None = None      # heads-layout past keys / values in front of the new ones
    present: str | None = None   # a [B, H, T, D] value (past ++ new) the fused node writes too
    packed: bool = False         # `value` holds more columns than this operand's heads
    dims: dict = field(default_factory=dict)  # (value, axis) -> "B" / "H" / "S" / "D": sizes known equal


def _static(g: WorkGraph, name: str, axis: int):
    dims = g.shape(name)
    return dims[axis] if dims is not None and len(dims) > axis and isinstance(dims[axis], int) else None


def _split_column(g: WorkGraph, name: str):
    """(packed value, first column, width) if `name` is an output of a Split along the last axis
    with known sizes, else (name, 0, its last dimension if known)."""
    dims = g.shape(name)
    own = (name, 0, dims[-1] if dims and isinstance(dims[-1], int) else None)
    split = producer_op(g, name, "Split")
    if split is None:
        return own
    dims = g.shape(split.input[0])
    axis = int(attrs_of(split).get("axis", 0))
    if dims is None or axis not in (-1, len(dims) - 1):
        return own
    if len(split.input) > 1 and split.input[1]:
        sizes = g.const(split.input[1])
        sizes = None if sizes is None else [int(s) for s in np.asarray(sizes).reshape(-1)]
    elif "split" in attrs_of(split):
        sizes = [int(s) for s in attrs_of(split)["split"]]
    else:
        n = len(split.output)
        sizes = [dims[-1] // n] * n if isinstance(dims[-1], int) and dims[-1] % n == 0 else None
    if sizes is None or (isinstance(dims[-1], int) and sum(sizes) != dims[-1]):
        return own
    i = list(split.output).index(name)
    return split.input[0], sum(sizes[:i]), sizes[i]


def _head_split(g: WorkGraph, reshape, width):
    """(heads, size) of a Reshape of a rank-3 value of `width` columns (None: unknown) to
    [.., .., H, D], else None."""
    target = g.const(reshape.input[1])
    src = g.shape(reshape.input[0])
    if target is None or src is None or len(src) != 3 or np.asarray(target).size != 4:
        return None
    t = [int(v) for v in np.asarray(target).reshape(-1)]
    h, d = t[2], t[3]
    if h <= 0 and d > 0 and width and width % d == 0:
        h = width // d
    if d <= 0 and h > 0 and width and width % h == 0:
        d = width // h
    if h <= 0 or d <= 0 or (width is not None and width != h * d):
        return None
    return h, d


def _tokens_operand(g: WorkGraph, four: str, transpose_perm: list, allow_scale: bool, seq: str):
    """The tokens-layout operand behind Transpose(Reshape(base, [.., .., H, D]), transpose_perm);
    seq names its sequence dimension ("S" for queries, "T" for keys and values)."""
    tr = producer_op(g, four, "Transpose")
    if tr is None or perm(tr) != transpose_perm:
        return None
    rs = producer_op(g, tr.input[0], "Reshape")
    if rs is None:
        return None
    base, scale = rs.input[0], 1.0
    mul = producer_op(g, base, "Mul")
    if allow_scale and mul is not None and scalar_operand(g, mul) is not None:
        base, scale, _ = scalar_operand(g, mul)
    value, column, width = _split_column(g, base)
    split = _head_split(g, rs, width)
    if split is None:
        return None
    op = Operand(value, True, split[0], split[1], column, scale, packed=value != base)
    op.dims = {(base, 0): "B", (base, 1): seq, (rs.output[0], 0): "B", (rs.output[0], 1): seq,
               (four, 0): "B", (four, 1): "H", (four, transpose_perm.index(1)): seq,
               (four, transpose_perm.index(3)): split[1]}
    projection = _projection(g, base)
    if projection is not None:  # the projection's input has the same batch and sequence
        op.dims.update({(projection[0], 0): "B", (projection[0], 1): seq})
    return op


def _heads_operand(g: WorkGraph, name: str, allow_scale: bool, seq: str):
    """The operand behind a [B, H, S, D] value (scale Muls peeled off when allowed)."""
    scale = 1.0
    while allow_scale:
        mul = producer_op(g, name, "Mul")
        found = scalar_operand(g, mul) if mul is not None else None
        if found is None:
            break
        name, c, _ = found
        scale *= c
    op = _tokens_operand(g, name, [0, 2, 1, 3], allow_scale, seq)
    if op is not None and g.is_pinned(name):
        op.present = name  # a prompt's present keys / values: the kernel writes them
    cat = producer_op(g, name, "Concat")
    if op is None and cat is not None and len(cat.input) in (1, 2) and int(attrs_of(cat).get("axis", 0)) in (2, -2):
        op = _tokens_operand(g, cat.input[-1], [0, 2, 1, 3], False, seq)
        if op is not None:  # the new keys / values after the past ones (a one-input Concat: no past)
            op.past, op.present = (cat.input[0] if len(cat.input) == 2 else None), name
    if op is None:
        dims = g.shape(name)
        if dims is None or len(dims) != 4 or not isinstance(dims[1], int) or not isinstance(dims[3], int):
            return None
        op = Operand(name, False, dims[1], dims[3])
    op.scale *= scale
    op.dims.update({(name, 0): "B", (name, 1): "H", (name, 2): seq})
    return op


def _transposed_heads(g: WorkGraph, kt: str):
    """For K^T = [B, H, D, T], the [B, H, T, D] value it transposes, else None."""
    tr = producer_op(g, kt, "Transpose")
    if tr is not None and perm(tr) == [0, 1, 3, 2]:
        return tr.input[0]
    # dynamo: Reshape(Transpose(Reshape(k4, [B*H, T, D]), [0, 2, 1]), [B, H, D, T])
    outer = producer_op(g, kt, "Reshape")
    tr = producer_op(g, outer.input[0], "Transpose") if outer is not None else None
    inner = producer_op(g, tr.input[0], "Reshape") if tr is not None and perm(tr) == [0, 2, 1] else None
    if inner is None:
        return None
    k4, merged, out = g.static_shape(inner.input[0]), g.static_shape(inner.output[0]), g.static_shape(kt)
    if k4 is None or merged is None or out is None or len(k4) != 4:
        return None
    b, h, t, d = k4
    return inner.input[0] if merged == (b * h, t, d) and out == (b, h, d, t) else None


def _key_operand(g: WorkGraph, kt: str):
    """The key operand behind K^T ([B, H, D, T]), scale Muls peeled off."""
    scale = 1.0
    while True:
        mul = producer_op(g, kt, "Mul")
        found = scalar_operand(g, mul) if mul is not None else None
        if found is None:
            break
        kt, c, _ = found
        scale *= c
    op = _tokens_operand(g, kt, [0, 2, 3, 1], True, "T")
    if op is None:
        k4 = _transposed_heads(g, kt)
        op = None if k4 is None else _heads_operand(g, k4, True, "T")
    if op is not None:
        op.scale *= scale
    return op


def _causal_mask(g: WorkGraph, name: str, known: dict) -> bool:
    """Whether `name` is torch's is_causal mask as the legacy exporter writes it:
    Where(Equal(Trilu(Expand(1, [S, T]), upper=0), 0), -inf, 0), with S and T the query and key
    lengths of this attention (keys visible up to the query's own index, counted from the start)."""
    where = producer_op(g, name, "Where")
    equal = producer_op(g, where.input[0], "Equal") if where is not None else None
    if equal is None or g.const(where.input[2]) is None or g.const(where.input[1]) is None:
        return False
    masked, kept = np.asarray(g.const(where.input[1])), np.asarray(g.const(where.input[2]))
    if masked.size != 1 or kept.size != 1 or float(kept.reshape(-1)[0]) != 0 or float(masked.reshape(-1)[0]) > -1e30:
        return False
    found = scalar_operand(g, equal)
    trilu = producer_op(g, found[0], "Trilu") if found is not None and found[1] == 0 else None
    if trilu is None or int(attrs_of(trilu).get("upper", 1)) or (len(trilu.input) > 1 and trilu.input[1]):
        return False
    expand = producer_op(g, trilu.input[0], "Expand")
    one = g.const(expand.input[0]) if expand is not None else None
    if one is None or np.asarray(one).size != 1 or float(np.asarray(one).reshape(-1)[0]) == 0:
        return False
    entries = trace_entries(g, expand.input[1])
    return entries is not None and [known.get(e) for e in entries] == ["S", "T"]


@dataclass
class Match:
    q: Operand
    k: Operand
    v: Operand
    scale: float
    masks: list
    causal_from_start: bool  # a torch is_causal mask was among the masks (now the kernel's rule)
    core: list          # nodes from the first MatMul to the last node replaced
    output: str         # the value the fused node produces
    heads_output: bool  # output [B, H, S, Dv] (no Transpose after the attention)
    view_of: str | None = None  # a value to re-create as Reshape(output, [0, 0, H, Dv])


def _reaches_matmul(g: WorkGraph, name: str, depth: int = 0) -> bool:
    """Whether `name` is a MatMul's output behind scalar Mul / Div and Adds: the scores' side of
    an Add (the other side is the mask)."""
    node = g.producer(name)
    if node is None or depth > 8:
        return False
    if is_op(node, "MatMul"):
        return True
    found = scalar_operand(g, node)
    if (is_op(node, "Mul") or is_op(node, "Div")) and found is not None:
        return _reaches_matmul(g, found[0], depth + 1)
    return is_op(node, "Add") and any(_reaches_matmul(g, i, depth + 1) for i in node.input)


def _scores(g: WorkGraph, softmax):
    """(MatMul, scale, masks, nodes) for the scores feeding the Softmax, else None."""
    name, scale, masks, nodes = softmax.input[0], 1.0, [], []
    while True:
        node = g.producer(name)
        if node is None or not g.single_use(name):
            return None
        if is_op(node, "MatMul"):
            return node, scale, masks, nodes
        nodes.append(node)
        found = scalar_operand(g, node)
        if is_op(node, "Add") and found is None:
            side = 0 if _reaches_matmul(g, node.input[0]) else 1
            masks.append(node.input[1 - side])
            name = node.input[side]
        elif is_op(node, "Mul") and found is not None:
            name, c, _ = found
            scale *= c
        elif is_op(node, "Div") and found is not None and found[2] == 0 and found[1] != 0:
            name, c, _ = found
            scale /= c
        else:
            return None


def _probabilities(g: WorkGraph, softmax):
    """(probabilities value, guard nodes) after the Softmax (the IsNaN / Where guard skipped)."""
    p = softmax.output[0]
    users = g.consumers(p)
    if len(users) == 2 and not g.is_pinned(p):
        isnan = next((u for u in users if is_op(u, "IsNaN")), None)
        where = next((u for u in users if is_op(u, "Where")), None)
        if isnan is not None and where is not None and list(where.input)[0] == isnan.output[0] \
                and where.input[2] == p and g.single_use(isnan.output[0]):
            zero = g.const(where.input[1])
            if zero is not None and np.all(np.asarray(zero) == 0):
                return where.output[0], [isnan, where]
    return p, []


def _same_dims(g: WorkGraph, reshape, wanted: list, known: dict) -> bool:
    """Whether the Reshape's target is the dims `wanted` ("B", "H", "S" or ints), its entries being
    numbers, a -1 (once), 0 (copy: wanted[i] is the input's dim i), or dims of values the match
    knows (`known`: (value, axis) -> name)."""
    entries = trace_entries(g, reshape.input[1])
    if entries is None or len(entries) != len(wanted):
        return False
    copy_allowed = not int(attrs_of(reshape).get("allowzero", 0))
    free = 0
    for i, (e, w) in enumerate(zip(entries, wanted)):
        if isinstance(e, int):
            copied = known.get((reshape.input[0], i)) == w or \
                (isinstance(w, int) and _static(g, reshape.input[0], i) == w)
            if e == -1:
                free += 1
            elif not (e == w or (e == 0 and copy_allowed and copied)):
                return False
        elif isinstance(e, tuple):
            if known.get(e) != w and not (isinstance(w, int) and _static(g, *e) == w):
                return False
        else:
            return False
    return free <= 1


def _output(g: WorkGraph, mm2, m: dict, heads: int, dv: int):
    """(output value, heads_output, nodes replaced after the second MatMul, view_of)."""
    o, nodes = mm2.output[0], []
    known = dict(m)
    for axis, name in enumerate(("B", "H", "S")):
        known[(o, axis)] = name
    users = [u for u in g.consumers(o) if not is_op(u, "Shape")]
    if len(users) == 1 and is_op(users[0], "Reshape") and not g.is_pinned(o) and \
            _same_dims(g, users[0], ["B", heads, "S", dv], known):
        nodes.append(users[0])
        o = users[0].output[0]
        for axis, name in enumerate(("B", "H", "S")):
            known[(o, axis)] = name
        users = [u for u in g.consumers(o) if not is_op(u, "Shape")]
    if len(users) != 1 or not is_op(users[0], "Transpose") or perm(users[0]) != [0, 2, 1, 3] or g.is_pinned(o):
        return o, True, nodes, None
    tr = users[0]
    nodes.append(tr)
    t = tr.output[0]
    known.update({(t, 0): "B", (t, 1): "S", (t, 2): heads})
    users = [u for u in g.consumers(t) if not is_op(u, "Shape")]
    if len(users) == 1 and is_op(users[0], "Reshape") and not g.is_pinned(t) and \
            _same_dims(g, users[0], ["B", "S", heads * dv], known):
        nodes.append(users[0])
        return users[0].output[0], False, nodes, None
    return None, False, nodes, t  # the Transpose's output stays, as a view of the fused output


def _match(g: WorkGraph, softmax) -> Match | None:
    axis = int(attrs_of(softmax).get("axis", -1 if g.opset.get("", 1) >= 13 else 1))
    if axis not in (-1, 3) or not g.is_float32(softmax.output[0]):
        return None
    found = _scores(g, softmax)
    if found is None:
        return None
    mm, scale, masks, score_nodes = found
    q, k = _heads_operand(g, mm.input[0], True, "S"), _key_operand(g, mm.input[1])
    if q is None or k is None or not g.single_use(mm.output[0]):
        return None
    p, guard = _probabilities(g, softmax)
    users = g.consumers(p)
    if len(users) != 1 or not is_op(users[0], "MatMul") or users[0].input[0] != p or g.is_pinned(p):
        return None
    mm2 = users[0]
    v = _heads_operand(g, mm2.input[1], False, "T")
    if v is None or v.scale != 1.0 or (k.past is None) != (v.past is None) or \
            (k.present is None) != (v.present is None) or q.present is not None:
        return None
    if q.size != k.size or k.heads != v.heads or q.heads % k.heads:
        return None
    known = {**q.dims, **k.dims, **v.dims}
    out = _output(g, mm2, known, q.heads, v.size)
    if out is None:
        return None
    output, heads_output, tail, view_of = out
    causal = [mk for mk in masks if _causal_mask(g, mk, known)][:1]
    masks = [mk for mk in masks if mk not in causal]
    core = [mm] + score_nodes + [softmax] + guard + [mm2] + tail
    return Match(q, k, v, scale * q.scale * k.scale, masks, bool(causal), core, output, heads_output, view_of)


def _projection(g: WorkGraph, base: str):
    """(input, weight [K, N] constant, bias [N] or None, nodes) of a linear projection producing
    `base` (MatMul by a constant, then Add of a constant; or a FusedMatMul with a bias only)."""
    node = g.producer(base)
    bias, nodes = None, []
    if is_op(node, "Add"):
        found = [i for i in (0, 1) if g.is_const(node.input[i])]
        if len(found) != 1:
            return None
        bias = np.asarray(g.const(node.input[found[0]]))
        mm = producer_op(g, node.input[1 - found[0]], "MatMul")
        if mm is None or not g.single_use(mm.output[0]):
            return None
        nodes, node = [node, mm], mm
    elif node is not None and node.op_type == "FusedMatMul" and node.domain == FUSED_DOMAIN:
        if attrs_of(node).get("activation", "") or len(node.input) > 3 or len(node.input) < 2:
            return None
        bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if len(node.input) > 2 and node.input[2] and bias is None:
            return None
        nodes = [node]
    elif is_op(node, "MatMul"):
        nodes = [node]
    else:
        return None
    w = g.const(node.input[1])
    if w is None or w.ndim != 2 or w.dtype != np.float32:
        return None
    if bias is not None and (bias.dtype != np.float32 or bias.size != w.shape[1] or
                             (bias.ndim > 1 and bias.shape[-1] != bias.size)):
        return None
    return node.input[0], w, None if bias is None else bias.reshape(-1), nodes


def _pack_projections(g: WorkGraph, m: Match):
    """Q, K and V projected from one input by three constant weights: (packed projection node,
    replaced nodes), the three operands moved onto its output. None when they are not."""
    ops = (m.q, m.k, m.v)
    if not all(o.tokens and o.column == 0 for o in ops) or len({o.value for o in ops}) != 3:
        return None
    projs = [_projection(g, o.value) for o in ops]
    if any(p is None for p in projs) or len({p[0] for p in projs}) != 1:
        return None
    if any(p[1].shape[0] != projs[0][1].shape[0] or p[1].shape[1] != o.heads * o.size for p, o in zip(projs, ops)):
        return None
    if not all(g.single_use(o.value) for o in ops):
        return None
    weight = np.concatenate([p[1] for p in projs], axis=1)
    bias = np.concatenate([p[2] if p[2] is not None else np.zeros(p[1].shape[1], np.float32) for p in projs])
    x = projs[0][0]
    packed = g.fresh_name("qkv")
    node = helper.make_node("FusedMatMul", [x, g.add_constant("qkv_weight", weight), g.add_constant("qkv_bias", bias)],
                            [packed], domain=FUSED_DOMAIN, name=packed)
    dims = g.shape(x)
    g.set_float_shape(packed, None if dims is None else list(dims[:-1]) + [weight.shape[1]])
    columns = [0, weight.shape[1] - projs[1][1].shape[1] - projs[2][1].shape[1], weight.shape[1] - projs[2][1].shape[1]]
    for o, c in zip(ops, columns):
        o.value, o.column = packed, c
    return node, [n for p in projs for n in p[3]]


def _packed(m: Match) -> bool:
    """q, k and v are consecutive column ranges of one tensor, in that order."""
    q, k, v = m.q, m.k, m.v
    return (q.tokens and k.tokens and v.tokens and q.value == k.value == v.value and q.column == 0
            and k.column == q.heads * q.size and v.column == k.column + k.heads * k.size)


def _fuse(g: WorkGraph, softmax) -> bool:
    m = _match(g, softmax)
    if m is None:
        return False
    before = []
    projection = None
    if not _packed(m):
        projection = _pack_projections(g, m)
    if projection is None and not _packed(m) and any(o.packed for o in (m.q, m.k, m.v)):
        return False  # a column range the kernel cannot read on its own
    if projection is not None:
        before = [projection[0]]
    mask = m.masks[0] if m.masks else ""
    if len(m.masks) > 1:
        mask = g.fresh_name("attention_mask")
        before.append(helper.make_node("Add", m.masks[:2], [mask], name=mask))
        for extra in m.masks[2:]:
            summed = g.fresh_name("attention_mask")
            before.append(helper.make_node("Add", [mask, extra], [summed], name=summed))
            mask = summed
    if m.k.present and depends_on(g, m.masks, [m.k.present, m.v.present]):
        # The mask is computed from the presents (their length): their nodes stay, and with a past
        # the kernel reads them as they are.
        if m.k.past:
            m.k = Operand(m.k.present, False, m.k.heads, m.k.size, scale=m.k.scale)
            m.v = Operand(m.v.present, False, m.v.heads, m.v.size)
        m.k.present = m.v.present = None
    output = m.output or g.fresh_name("attention")
    packed = _packed(m)
    inputs = [m.q.value, "" if packed else m.k.value, "" if packed else m.v.value, mask,
              m.k.past or "", m.v.past or ""]
    outputs = [output] + ([m.k.present, m.v.present] if m.k.present else [])
    while inputs[-1] == "":
        inputs.pop()
    attrs = dict(num_heads=m.q.heads, kv_num_heads=m.k.heads, scale=float(m.scale), heads_output=int(m.heads_output))
    if m.causal_from_start:
        attrs.update(causal=1, causal_from_start=1)
    if packed and m.v.size != m.q.size:
        attrs["v_head_size"] = m.v.size
    node = helper.make_node("MultiHeadAttention", inputs, outputs, domain=FUSED_DOMAIN,
                            name=output, **attrs)
    after = []
    if m.view_of:
        after.append(helper.make_node("Reshape", [output, g.add_constant("heads_view", np.array(
            [0, 0, m.q.heads, m.v.size], np.int64))], [m.view_of], name=m.view_of))
    taken = set(outputs) | ({m.view_of} if m.view_of else set())
    needed = {n for b in before for n in b.input} | set(inputs)
    removed = dead_after(g, m.core + (projection[1] if projection else []), taken, needed)
    if removed is None:
        return False
    g.replace(removed, before + [node] + after)
    q_dims = g.shape(m.q.value)
    if q_dims is not None and not m.heads_output and m.q.tokens:
        g.set_float_shape(output, list(q_dims[:2]) + [m.q.heads * m.v.size])
    return True


def run(g: WorkGraph) -> int:
    count = 0
    for node in list(g.nodes):
        if is_op(node, "Softmax") and any(n is node for n in g.nodes) and _fuse(g, node):
            count += 1
    return count
