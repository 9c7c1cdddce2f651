"""A small, strict PNG reader for the icon tests: checks the signature and every chunk CRC, reads IHDR,
and decodes 8-bit RGB/RGBA pixels (all five scanline filters), so the tests look at the real pixels
rather than trusting the writer."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}  # colour type -> channels (RGB, RGBA)


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    bit_depth: int
    color_type: int
    chunks: tuple[bytes, ...]
    pixels: tuple[tuple[int, ...], ...]  # row-major, one tuple of channel values per pixel

    @property
    def has_alpha(self) -> bool:
        return self.color_type in (4, 6)

    def at(self, x: int, y: int) -> tuple[int, ...]:
        return self.pixels[y * self.width + x]


def read_ihdr(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) straight from the IHDR chunk."""
    assert data[:8] == SIGNATURE, "not a PNG (bad signature)"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, "IHDR must be the first chunk"
    width, height, depth, color_type = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, color_type


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(data: bytes) -> Png:
    width, height, depth, color_type = read_ihdr(data)
    pos, kinds, idat = 8, [], b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r} chunk"
        kinds.append(kind)
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kinds[-1] == b"IEND", "IEND must be the last chunk"
    assert depth == 8 and color_type in _CHANNELS, f"reader handles 8-bit RGB/RGBA, got {depth=} {color_type=}"
    bpp = _CHANNELS[color_type]
    stride = width * bpp
    raw = zlib.decompress(idat)
    assert len(raw) == height * (stride + 1), "pixel data has the wrong length"
    prev = bytearray(stride)
    pixels: list[tuple[int, ...]] = []
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        assert ftype <= 4, f"unknown filter type {ftype} in row {y}"
        for i in range(stride if ftype else 0):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            else:
                line[i] = (line[i] + _paeth(a, b, prev[i - bpp] if i >= bpp else 0)) & 0xFF
        pixels.extend(tuple(line[x * bpp : (x + 1) * bpp]) for x in range(width))
        prev = line
    return Png(width, height, depth, color_type, tuple(kinds), tuple(pixels))
