"""Reading a request body under a size limit, compressed or not (gzip / deflate, as Triton's client sends)."""
from __future__ import annotations

import zlib

from .errors import BadRequestError, PayloadTooLargeError, UnsupportedEncodingError

# zlib window bits: gzip framing, and "deflate" which HTTP means as the zlib format.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


async def read_body(request, limit: int) -> bytes:
    """The body of a Starlette request, decompressed; PayloadTooLargeError past limit bytes (either way)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in _WBITS:
        raise UnsupportedEncodingError(f"Content-Encoding {encoding!r} is not supported (use gzip, deflate or none)")
    return _decompress(body, encoding, limit)


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    inflater = zlib.decompressobj(_WBITS[encoding])
    try:
        data = inflater.decompress(body, limit + 1)  # stops early: a small bomb never inflates fully
    except zlib.error as e:
        raise BadRequestError(f"the body is not valid {encoding} data: {e}") from None
    if len(data) > limit:
        raise _too_large(limit, ", decompressed,")
    if not inflater.eof:
        raise BadRequestError(f"the {encoding} body is truncated")
    return data


def _too_large(limit: int, when: str = "") -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body{when} is larger than the server's limit of {limit} bytes")
