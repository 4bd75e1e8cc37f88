"""The op registry: (domain, op_type, since_version) -> implementation class.

An implementation declares the ONNX since_versions it implements:

    @register("Relu", 6, 13, 14)
    class Relu(Op): ...

For a node in a model importing opset N, the applicable ONNX schema is the one with the
highest since_version <= N (onnx.defs knows it). That exact version must be registered;
otherwise the op is unsupported and the error lists what is. This way a newer opset whose
semantics changed is never run with an older implementation by mistake. Domains without
ONNX schemas (our own fused ops, "pyinfer") pick the highest registered version <= N.
"""
from __future__ import annotations

import functools

from collections import defaultdict

import onnx.defs

from .errors import UnsupportedOpError

ONNX_DOMAINS = ("", "ai.onnx")
# Domains whose operator versions onnx.defs knows: the applicable schema version must be
# implemented exactly. Other domains (ours: "pyinfer") take the highest version <= the opset.
SCHEMA_DOMAINS = ("", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview")

_TABLE: dict[tuple[str, str], dict[int, type]] = defaultdict(dict)
# onnxruntime's own ops in the default domain (SimplifiedLayerNormalization, LayerNormalization
# before opset 17), which its optimizer writes: used only where onnx has no schema for the node.
_OUTSIDE_ONNX: dict[tuple[str, str], dict[int, type]] = defaultdict(dict)


def register(op_type: str, *since_versions: int, domain: str = "", outside_onnx: bool = False):
    """outside_onnx: an op of a schema domain that onnx does not define at that opset (onnxruntime's
    extensions of the default domain); the highest such version <= the opset is used."""
    if not since_versions:
        raise ValueError(f"register({op_type!r}): give at least one since_version")
    domain = "" if domain == "ai.onnx" else domain
    table = _OUTSIDE_ONNX if outside_onnx else _TABLE

    def deco(cls):
        for v in since_versions:
            if v in table[(domain, op_type)]:
                raise ValueError(f"{domain}::{op_type} version {v} registered twice")
            table[(domain, op_type)][v] = cls
        return cls

    return deco


def supported_versions(op_type: str, domain: str = "") -> list[int]:
    return sorted(_TABLE.get(("" if domain == "ai.onnx" else domain, op_type), {}))


def all_ops() -> dict[tuple[str, str], list[int]]:
    return {k: sorted(v) for k, v in _TABLE.items() if v}


@functools.lru_cache(maxsize=None)
def schema_version(op_type: str, opset: int, domain: str = "") -> int | None:
    """since_version of the ONNX schema a node of this opset uses, or None if ONNX has none
    (cached: a model asks for the same few ops again and again)."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except onnx.defs.SchemaError:
        return None


def lookup(op_type: str, domain: str, opset: int, node_name: str = "") -> tuple[type, int]:
    """Implementation class and the since_version it is used for; or UnsupportedOpError."""
    domain = "" if domain == "ai.onnx" else domain
    impls = _TABLE.get((domain, op_type), {})
    where = f"node {node_name!r}" if node_name else "an unnamed node"
    label = f"{domain}::{op_type}" if domain else op_type
    outside = _OUTSIDE_ONNX.get((domain, op_type), {})
    if outside and domain in SCHEMA_DOMAINS and schema_version(op_type, opset, domain) is None:
        candidates = [v for v in outside if v <= opset]
        if candidates:
            return outside[max(candidates)], max(candidates)
    if not impls:
        raise UnsupportedOpError(
            f"unsupported operator {label} (in {where}, opset {opset}): pyinfer does not implement it"
        )
    if domain in SCHEMA_DOMAINS:
        version = schema_version(op_type, opset, domain)
        if version is None:
            raise UnsupportedOpError(
                f"operator {label} (in {where}) does not exist in opset {opset} of ONNX"
            )
    else:
        candidates = [v for v in impls if v <= opset]
        version = max(candidates) if candidates else None
    if version not in impls:
        raise UnsupportedOpError(
            f"unsupported version of {label} (in {where}): opset {opset} uses {label}-{version}; "
            f"pyinfer implements versions {sorted(impls)}"
        )
    return impls[version], version
