"""The two app icons Teams requires, drawn in code so no binary file lives in the repository.

- ``color.png``: 192x192, full colour, opaque: a calendar page with a clock badge on the accent colour.
- ``outline.png``: 32x32, white on a fully transparent background, as Teams requires (it draws the
  outline icon on its own background in the app bar and message extension menus).

Standard library only: shapes are signed-distance functions, anti-aliased by pixel coverage, and the
PNG is written with ``zlib`` + ``struct``. The output is byte-for-byte deterministic (no timestamps,
fixed compression level), so the app package only changes when the drawing does; each icon is drawn
once per process and cached.

``python -m manifest.icons DIR`` writes both files into DIR to look at them.
"""

from __future__ import annotations

import functools
import math
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

COLOR_SIZE = 192
OUTLINE_SIZE = 32

Rgb = tuple[int, int, int]
Sdf = Callable[[float, float], float]  # signed distance in pixels: < 0 inside, > 0 outside

ACCENT: Rgb = (0x3B, 0x5B, 0xDB)  # background of the colour icon; also the manifest's accentColor
_PAGE: Rgb = (0xFF, 0xFF, 0xFF)
_HEADER: Rgb = (0xF0, 0x5A, 0x5A)
_INK: Rgb = (0x1F, 0x2A, 0x44)
_CELL: Rgb = (0xC9, 0xD3, 0xF2)
_CLOCK_FACE: Rgb = (0xFF, 0xD4, 0x3B)
_WHITE: Rgb = (0xFF, 0xFF, 0xFF)


def accent_hex() -> str:
    """The accent colour as the manifest wants it (``#rrggbb``)."""
    return "#{:02x}{:02x}{:02x}".format(*ACCENT)


# --- shapes -----------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]  # x0, y0, x1, y1: the area a shape can touch


def rounded_box(x0: float, y0: float, x1: float, y1: float, r: float) -> Sdf:
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2

    def sdf(x: float, y: float) -> float:
        qx, qy = abs(x - cx) - (hx - r), abs(y - cy) - (hy - r)
        return math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - r

    return sdf


def circle(cx: float, cy: float, r: float) -> Sdf:
    return lambda x, y: math.hypot(x - cx, y - cy) - r


def capsule(ax: float, ay: float, bx: float, by: float, width: float) -> Sdf:
    """A line segment with round caps."""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy

    def sdf(x: float, y: float) -> float:
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / length2))
        return math.hypot(x - (ax + t * dx), y - (ay + t * dy)) - width / 2

    return sdf


def stroke(shape: Sdf, width: float) -> Sdf:
    """The outline of a shape, ``width`` pixels wide, centred on its edge."""
    return lambda x, y: abs(shape(x, y)) - width / 2


def clip_above(shape: Sdf, y_limit: float) -> Sdf:
    """The part of a shape above the horizontal line ``y = y_limit``."""
    return lambda x, y: max(shape(x, y), y - y_limit)


# --- canvas -----------------------------------------------------------------------------------------


class Canvas:
    """Straight-alpha RGBA floats; shapes are composited with source-over."""

    def __init__(self, size: int, background: Rgb, alpha: float) -> None:
        self.size = size
        r, g, b = (c / 255 for c in background)
        self._px = [[r, g, b, alpha] for _ in range(size * size)]

    def fill(self, shape: Sdf, color: Rgb, box: Box | None = None) -> None:
        x0, y0, x1, y1 = box or (0, 0, self.size, self.size)
        sr, sg, sb = (c / 255 for c in color)
        for y in range(max(0, math.floor(y0) - 1), min(self.size, math.ceil(y1) + 1)):
            for x in range(max(0, math.floor(x0) - 1), min(self.size, math.ceil(x1) + 1)):
                coverage = max(0.0, min(1.0, 0.5 - shape(x + 0.5, y + 0.5)))
                if coverage == 0.0:
                    continue
                px = self._px[y * self.size + x]
                dr, dg, db, da = px
                out_a = coverage + da * (1 - coverage)
                keep = da * (1 - coverage)
                px[0] = (sr * coverage + dr * keep) / out_a
                px[1] = (sg * coverage + dg * keep) / out_a
                px[2] = (sb * coverage + db * keep) / out_a
                px[3] = out_a

    def png(self, *, alpha: bool) -> bytes:
        channels = 4 if alpha else 3
        rows = bytearray()
        for y in range(self.size):
            rows.append(0)  # filter type 0 (None) for every scanline
            for x in range(self.size):
                px = self._px[y * self.size + x]
                rows.extend(round(v * 255) for v in px[:channels])
        return encode_png(self.size, self.size, bytes(rows), alpha=alpha)


def encode_png(width: int, height: int, filtered_rows: bytes, *, alpha: bool) -> bytes:
    """PNG bytes for 8-bit RGB(A) scanlines that already carry their filter-type byte."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    color_type = 6 if alpha else 2  # 6 = RGBA, 2 = RGB
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(filtered_rows, 9))
        + chunk(b"IEND", b"")
    )


# --- the two icons ----------------------------------------------------------------------------------


@functools.cache
def color_icon() -> bytes:
    """192x192 opaque PNG: calendar page (red header, binding rings, date grid) and a clock badge."""
    c = Canvas(COLOR_SIZE, ACCENT, alpha=1.0)
    page: Box = (34, 44, 146, 150)
    page_shape = rounded_box(*page, r=14)
    c.fill(page_shape, _PAGE, page)
    c.fill(clip_above(page_shape, 74), _HEADER, (34, 44, 146, 74))
    for x in (64, 116):
        c.fill(capsule(x, 32, x, 56, 11), _INK, (x - 6, 26, x + 6, 62))
    for row in range(3):
        for col in range(4):
            x0, y0 = 46 + col * 24, 86 + row * 20
            cell: Box = (x0, y0, x0 + 16, y0 + 12)
            c.fill(rounded_box(*cell, r=3), ACCENT if (row, col) == (1, 1) else _CELL, cell)
    cx, cy = 140.0, 140.0
    c.fill(circle(cx, cy, 38), ACCENT, (cx - 39, cy - 39, cx + 39, cy + 39))  # gap between page and badge
    c.fill(circle(cx, cy, 31), _CLOCK_FACE, (cx - 32, cy - 32, cx + 32, cy + 32))
    c.fill(stroke(circle(cx, cy, 29), 5), _INK, (cx - 33, cy - 33, cx + 33, cy + 33))
    c.fill(capsule(cx, cy, cx, cy - 18, 5), _INK, (cx - 4, cy - 22, cx + 4, cy + 4))
    c.fill(capsule(cx, cy, cx + 13, cy + 7, 5), _INK, (cx - 4, cy - 4, cx + 17, cy + 11))
    return c.png(alpha=False)


@functools.cache
def outline_icon() -> bytes:
    """32x32 RGBA PNG: the same calendar-and-clock, white strokes on a fully transparent background."""
    c = Canvas(OUTLINE_SIZE, _WHITE, alpha=0.0)
    page: Box = (4, 7, 28, 28)  # edges on pixel boundaries so the 2px strokes stay crisp
    page_shape = rounded_box(*page, r=4)
    c.fill(stroke(page_shape, 2), _WHITE, (2, 5, 30, 30))
    c.fill(clip_above(page_shape, 12), _WHITE, (2, 5, 30, 13))
    for x in (11.0, 21.0):
        c.fill(capsule(x, 3.5, x, 8, 2), _WHITE, (x - 2, 1, x + 2, 10))
    cx, cy = 16.0, 20.0
    c.fill(stroke(circle(cx, cy, 5.5), 1.8), _WHITE, (cx - 7, cy - 7, cx + 7, cy + 7))
    c.fill(capsule(cx, cy, cx, cy - 3.2, 1.6), _WHITE, (cx - 2, cy - 5, cx + 2, cy + 2))
    c.fill(capsule(cx, cy, cx + 2.6, cy + 1.4, 1.6), _WHITE, (cx - 2, cy - 2, cx + 4, cy + 3))
    return c.png(alpha=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m manifest.icons DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, data in (("color.png", color_icon()), ("outline.png", outline_icon())):
        (out / name).write_bytes(data)
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
