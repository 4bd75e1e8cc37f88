"""ImageDecoder on images encoded by hand here (BMP, PNM, PNG with every filter type)."""
import struct
import zlib

import numpy as np
import pytest

import pyinfer
from support.one_node import assert_same, run


def decode(data: bytes, **attrs):
    return run("ImageDecoder", [np.frombuffer(data, np.uint8)], **attrs)


@pytest.fixture
def image(rng):
    return rng.integers(0, 256, (5, 3, 3)).astype(np.uint8)  # odd width: BMP rows need padding


def test_bmp_bottom_up_padded_rows(image):
    h, w, _ = image.shape
    stride = (w * 3 + 3) // 4 * 4
    rows = b"".join(image[y, :, ::-1].tobytes().ljust(stride, b"\0") for y in range(h - 1, -1, -1))
    header = b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 0, 0, 0, 0)
    assert_same(decode(header + info + rows), image)
    assert_same(decode(header + info + rows, pixel_format="BGR"), image[..., ::-1])


def test_pnm_binary_ascii_and_maxval(image):
    h, w, _ = image.shape
    assert_same(decode(b"P6\n# comment\n%d %d\n255\n" % (w, h) + image.tobytes()), image)
    grey = image[..., 0]
    ascii_pgm = b"P2 %d %d 255\n" % (w, h) + b" ".join(b"%d" % v for v in grey.reshape(-1))
    assert_same(decode(ascii_pgm), np.repeat(grey[..., None], 3, axis=2))
    # maxval 15 scales to 0..255 with rounding: v * 255 / 15 = 17 v
    assert_same(decode(b"P5 2 1 15\n\x00\x0f", pixel_format="Grayscale"), np.array([[[0], [255]]], np.uint8))


def _png(image: np.ndarray, filters) -> bytes:
    h, w, c = image.shape
    bpp = c
    raw = b""
    prev = np.zeros(w * c, np.int64)
    for y in range(h):
        line = image[y].reshape(-1).astype(np.int64)
        f = filters[y % len(filters)]
        left = np.concatenate([np.zeros(bpp, np.int64), line[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int64), prev[:-bpp]])
        if f == 0:
            pred = np.zeros_like(line)
        elif f == 1:
            pred = left
        elif f == 2:
            pred = prev
        elif f == 3:
            pred = (left + prev) // 2
        else:
            p = left + prev - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prev), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, upleft))
        raw += bytes([f]) + ((line - pred) & 0xFF).astype(np.uint8).tobytes()
        prev = line

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_png_every_filter_and_alpha_dropped(image):
    assert_same(decode(_png(image, [0, 1, 2, 3, 4])), image)
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 9, np.uint8)], axis=2)
    assert_same(decode(_png(rgba, [4, 3])), image)


def test_grayscale_uses_rounded_601_luma(image):
    r, g, b = (image[..., i].astype(np.int64) for i in range(3))
    want = np.rint(0.299 * r + 0.587 * g + 0.114 * b)
    got = decode(_png(image, [0]), pixel_format="Grayscale")
    assert got.shape == image.shape[:2] + (1,)
    assert np.abs(got[..., 0].astype(np.int64) - want).max() <= 1


def test_corrupt_stream_is_empty_and_jpeg_is_an_error():
    assert_same(decode(b"P6\n4 4\n255\n\x00\x01"), np.zeros((0, 0, 3), np.uint8))
    assert_same(decode(b"not an image", pixel_format="Grayscale"), np.zeros((0, 0, 1), np.uint8))
    with pytest.raises(pyinfer.Error, match="JPEG"):
        decode(b"\xff\xd8\xff\xe0" + b"\0" * 20)
