"""ImageDecoder for the lossless formats NumPy and the standard library (zlib) can decode exactly:
BMP (uncompressed 24/32-bit), binary/ASCII PNM (PBM/PGM/PPM), PNG (non-interlaced, 8/16-bit, all
colour types) and uncompressed baseline TIFF.

JPEG, JPEG 2000, WebP and compressed TIFF need a codec (libjpeg & co.) that pyinfer's runtime
dependencies do not provide: they raise a clear error instead of decoding approximately. A stream
in a supported format that is corrupt gives the empty (0, 0, C) tensor, as the spec says.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from ..registry import register
from .base import Op


class _Corrupt(Exception):
    pass


def _need(cond: bool):
    if not cond:
        raise _Corrupt()


def _decode_bmp(b: bytes) -> np.ndarray:
    _need(len(b) >= 54)
    offset, = struct.unpack_from("<I", b, 10)
    header_size, width, height, planes, bpp, compression = struct.unpack_from("<IiiHHI", b, 14)
    _need(header_size >= 40 and planes == 1 and width > 0 and height != 0)
    if bpp not in (24, 32) or compression not in (0, 3 if bpp == 32 else 0):
        raise NotImplementedError(f"BMP with {bpp} bits per pixel / compression {compression}")
    bytes_pp = bpp // 8
    stride = (width * bytes_pp + 3) // 4 * 4
    rows = abs(height)
    _need(offset + stride * rows <= len(b))
    data = np.frombuffer(b, np.uint8, stride * rows, offset).reshape(rows, stride)[:, :width * bytes_pp]
    bgr = data.reshape(rows, width, bytes_pp)[..., 2::-1]  # stored B, G, R(, A)
    return bgr[::-1] if height > 0 else bgr  # positive height: bottom-up rows


def _decode_pnm(b: bytes) -> np.ndarray:
    kind = b[:2]
    tokens, pos = [], 2
    n_header = 2 if kind in (b"P1", b"P4") else 3
    while len(tokens) < n_header:  # whitespace-separated header fields, '#' comments
        _need(pos < len(b))
        c = b[pos:pos + 1]
        if c == b"#":
            end = b.find(b"\n", pos)
            pos = len(b) if end < 0 else end + 1
        elif c.isspace():
            pos += 1
        else:
            start = pos
            while pos < len(b) and not b[pos:pos + 1].isspace() and b[pos:pos + 1] != b"#":
                pos += 1
            _need(b[start:pos].isdigit())
            tokens.append(int(b[start:pos]))
    width, height = tokens[0], tokens[1]
    maxval = tokens[2] if n_header == 3 else 1
    _need(width > 0 and height > 0 and 0 < maxval < 65536)
    channels = 3 if kind in (b"P3", b"P6") else 1
    count = width * height * channels
    if kind in (b"P4",):  # packed bits, rows padded to bytes, 1 = black
        pos += 1
        row_bytes = (width + 7) // 8
        _need(pos + row_bytes * height <= len(b))
        bits = np.unpackbits(np.frombuffer(b, np.uint8, row_bytes * height, pos).reshape(height, row_bytes), axis=1)
        return ((1 - bits[:, :width]) * 255).astype(np.uint8)[..., None]
    if kind in (b"P5", b"P6"):
        pos += 1  # exactly one whitespace byte ends the header
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        _need(pos + count * dtype.itemsize <= len(b))
        values = np.frombuffer(b, dtype, count, pos).astype(np.int64)
    elif kind in (b"P1", b"P2", b"P3"):
        body = b[pos:].split() if kind != b"P1" else list(b"".join(b[pos:].split()))
        values = np.array([int(v) if kind != b"P1" else v - 48 for v in body[:count]], np.int64)
        _need(values.size == count)
        if kind == b"P1":
            values = 1 - values
    else:
        raise _Corrupt()
    _need(values.max(initial=0) <= maxval)
    scaled = values if maxval == 255 else (values * 255 + maxval // 2) // maxval
    return scaled.astype(np.uint8).reshape(height, width, channels)


def _png_unfilter(raw: bytes, height: int, row_bytes: int, bpp: int) -> np.ndarray:
    _need(len(raw) >= height * (row_bytes + 1))
    rows = np.frombuffer(raw, np.uint8, height * (row_bytes + 1)).reshape(height, row_bytes + 1)
    out = np.zeros((height, row_bytes), np.uint8)
    prev = np.zeros(row_bytes, np.int32)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind in (1, 3, 4):  # depend on the reconstructed byte to the left: per byte
            cur = np.zeros(row_bytes, np.int32)
            for i in range(row_bytes):
                a = cur[i - bpp] if i >= bpp else 0
                b_, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b_) >> 1
                else:
                    p = a + b_ - c
                    pa, pb, pc = abs(p - a), abs(p - b_), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b_ if pb <= pc else c)
                cur[i] = (line[i] + pred) & 0xFF
        else:
            raise _Corrupt()
        out[y] = cur
        prev = cur
    return out


def _decode_png(b: bytes) -> np.ndarray:
    pos, idat, palette, header = 8, [], None, None
    while pos + 8 <= len(b):
        length, kind = struct.unpack_from(">I4s", b, pos)
        data = b[pos + 8:pos + 8 + length]
        _need(len(data) == length)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"PLTE":
            palette = np.frombuffer(data, np.uint8).reshape(-1, 3)
        elif kind == b"IDAT":
            idat.append(data)
        elif kind == b"IEND":
            break
        pos += 12 + length
    _need(header is not None and idat)
    width, height, depth, color, _, _, interlace = header
    if interlace:
        raise NotImplementedError("interlaced PNG")
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    _need(channels is not None and depth in (1, 2, 4, 8, 16) and width > 0 and height > 0)
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error:
        raise _Corrupt() from None
    bits_pp = channels * depth
    row_bytes = (width * bits_pp + 7) // 8
    rows = _png_unfilter(raw, height, row_bytes, max(1, bits_pp // 8))
    if depth == 16:
        px = rows.view(">u2").reshape(height, width, channels).astype(np.int64)
        px = (px * 255 + 32767) // 65535
    elif depth == 8:
        px = rows.reshape(height, width, channels).astype(np.int64)
    else:  # 1/2/4-bit grey or palette indices
        bits = np.unpackbits(rows, axis=1).reshape(height, -1, depth)[:, :width]
        px = (bits * (1 << np.arange(depth - 1, -1, -1))).sum(axis=2)[..., None]
        if color == 0:
            px = px * 255 // ((1 << depth) - 1)
    if color == 3:
        _need(palette is not None and px.max(initial=0) < len(palette))
        return palette[px[..., 0]]
    px = px.astype(np.uint8)
    if color in (4, 6):  # drop alpha
        px = px[..., :channels - 1]
    return px


def _decode_tiff(b: bytes) -> np.ndarray:
    order = {b"II": "<", b"MM": ">"}[b[:2]]
    _need(struct.unpack_from(order + "H", b, 2)[0] == 42)
    ifd, = struct.unpack_from(order + "I", b, 4)
    _need(ifd + 2 <= len(b))
    n, = struct.unpack_from(order + "H", b, ifd)
    sizes = {1: 1, 3: 2, 4: 4}
    tags = {}
    for k in range(n):
        tag, typ, count, value = struct.unpack_from(order + "HHII", b, ifd + 2 + 12 * k)
        size = sizes.get(typ)
        if size is None:
            continue
        fmt = order + {1: "B", 3: "H", 4: "I"}[typ] * count
        where = ifd + 2 + 12 * k + 8 if size * count <= 4 else value
        _need(where + size * count <= len(b))
        tags[tag] = struct.unpack_from(fmt, b, where)
    width, height = tags[256][0], tags[257][0]
    bits = tags.get(258, (1,))
    compression = tags.get(259, (1,))[0]
    photometric = tags.get(262, (1,))[0]
    spp = tags.get(277, (1,))[0]
    planar = tags.get(284, (1,))[0]
    if compression != 1 or set(bits) != {8} or planar != 1 or photometric not in (0, 1, 2):
        raise NotImplementedError(f"TIFF with compression {compression}, bits {bits}, photometric {photometric}")
    data = b"".join(b[o:o + c] for o, c in zip(tags[273], tags[279]))
    _need(len(data) >= width * height * spp)
    px = np.frombuffer(data, np.uint8, width * height * spp).reshape(height, width, spp)
    if photometric == 2:
        return px[..., :3]
    grey = px[..., :1]
    return 255 - grey if photometric == 0 else grey


_DECODERS = [(b"BM", _decode_bmp), (b"\x89PNG\r\n\x1a\n", _decode_png), (b"II*\x00", _decode_tiff),
             (b"MM\x00*", _decode_tiff)] + [(b"P%d" % k, _decode_pnm) for k in range(1, 7)]
_UNSUPPORTED = [(b"\xff\xd8", "JPEG"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
                (b"RIFF", "WebP")]


@register("ImageDecoder", 20)
class ImageDecoder(Op):
    def setup(self):
        self.pixel_format = self.attr("pixel_format", "RGB")
        if self.pixel_format not in ("RGB", "BGR", "Grayscale"):
            raise self.model_error(f"pixel_format must be RGB, BGR or Grayscale, got {self.pixel_format!r}")

    def run(self, encoded):
        if encoded.dtype != np.uint8 or encoded.ndim != 1:
            raise self.run_error(f"encoded_stream must be a 1-D uint8 tensor, "
                                 f"got {encoded.dtype} {list(encoded.shape)}")
        b = encoded.tobytes()
        channels = 1 if self.pixel_format == "Grayscale" else 3
        for magic, name in _UNSUPPORTED:
            if b.startswith(magic):
                raise self.run_error(f"{name} decoding needs an image codec library; pyinfer decodes only "
                                     f"BMP, PNG, PNM and uncompressed TIFF")
        decoder = next((fn for magic, fn in _DECODERS if b.startswith(magic)), None)
        try:
            if decoder is None:
                raise _Corrupt()
            rgb = decoder(b)
        except NotImplementedError as e:
            raise self.run_error(f"unsupported image variant: {e}") from None
        except (_Corrupt, struct.error, KeyError, ValueError, IndexError):
            return (np.zeros((0, 0, channels), np.uint8),)  # the spec's answer to an undecodable stream
        if rgb.shape[2] == 1 and channels == 3:
            rgb = np.repeat(rgb, 3, axis=2)
        if self.pixel_format == "Grayscale":
            if rgb.shape[2] == 3:  # ITU-R 601 luma in 16-bit fixed point, rounded (as Pillow's "L")
                r, g, b_ = (rgb[..., i].astype(np.int64) for i in range(3))
                rgb = ((r * 19595 + g * 38470 + b_ * 7471 + 0x8000) >> 16).astype(np.uint8)[..., None]
            return (np.ascontiguousarray(rgb),)
        if self.pixel_format == "BGR":
            rgb = rgb[..., ::-1]
        return (np.ascontiguousarray(rgb, dtype=np.uint8),)
