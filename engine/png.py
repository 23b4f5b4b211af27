"""PNG written strip by strip: RGB or RGBA, 8 or 16 bits, with DPI and an ICC profile.

Hand-written (a few chunks and zlib) because Pillow can neither write 48/64-bit PNG nor take a
picture a strip at a time, and pypng (which can) filters row by row in pure Python: tens of
seconds for one 6000 px layer. A print's layers are written from strips so no full float
picture, and no second copy of one, ever exists.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO, Iterable

import numpy as np

#: PNG colour types by channel count
_COLOUR_TYPE = {3: 2, 4: 6}


def _chunk(f: BinaryIO, kind: bytes, data: bytes) -> None:
    f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png_strips(f: BinaryIO, strips: Iterable[np.ndarray], width: int, height: int, channels: int,
                     bit_depth: int, dpi: float | None = None, icc: bytes | None = None, level: int = 6) -> None:
    """Write a PNG to the open file ``f`` from ``strips`` (n x width x channels, uint8 or uint16,
    top to bottom, ``height`` rows in all); only ``f.write`` is used, so ``f`` may be a zip entry."""
    if channels not in _COLOUR_TYPE or bit_depth not in (8, 16):
        raise ValueError(f"PNG strips must be RGB or RGBA at 8 or 16 bits, got {channels} channels at {bit_depth}")
    f.write(b"\x89PNG\r\n\x1a\n")
    _chunk(f, b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, _COLOUR_TYPE[channels], 0, 0, 0))
    if icc:
        _chunk(f, b"iCCP", b"sRGB\x00\x00" + zlib.compress(icc))
    if dpi:
        ppm = round(dpi / 0.0254)
        _chunk(f, b"pHYs", struct.pack(">IIB", ppm, ppm, 1))
    step = channels * bit_depth // 8  # bytes per pixel: the 'Sub' filter subtracts the pixel to the left
    comp = zlib.compressobj(level)
    rows_done = 0
    for strip in strips:
        raw = np.ascontiguousarray(strip.astype(">u2" if bit_depth == 16 else np.uint8)).view(np.uint8)
        raw = raw.reshape(-1, width * step)
        filtered = raw.copy()
        filtered[:, step:] -= raw[:, :-step]  # PNG 'Sub' filter (bytes wrap mod 256)
        rows = np.concatenate([np.ones((raw.shape[0], 1), np.uint8), filtered], axis=1)
        rows_done += raw.shape[0]
        data = comp.compress(rows.tobytes())
        if data:
            _chunk(f, b"IDAT", data)
    if rows_done != height:
        raise ValueError(f"PNG strips gave {rows_done} rows, the header says {height}")
    _chunk(f, b"IDAT", comp.flush())
    _chunk(f, b"IEND", b"")


def strips_of(pixels: np.ndarray, rows: int = 64) -> Iterable[np.ndarray]:
    """A whole picture's rows, ``rows`` at a time."""
    for y in range(0, pixels.shape[0], rows):
        yield pixels[y:y + rows]


__all__ = ["write_png_strips", "strips_of"]
