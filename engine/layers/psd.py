"""Photoshop document (.psd): named layers, a region's mask as a real layer mask, 8 or 16 bits.

Written by hand from Adobe's file-format specification (header, image resources for DPI and the
ICC profile, layer records, per-channel data, the merged picture). psd-tools can create layers
from scratch (``PixelLayer.frompil``), but only from PIL images held whole, and PIL has no
16-bit RGB: no 16-bit layers and the whole stack in memory at print size. Here each channel is
deflated ("ZIP without prediction", which Photoshop, GIMP, Krita and psd-tools read) strip by
strip, and the records' channel lengths are filled in afterwards. The merged picture is raw, the
one form every reader takes for it. psd-tools is used only to read the files back in the tests.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import OutputError
from .stack import LayerStack, Rows

#: rows read and compressed at a time (a 6000 px 16-bit channel strip: 1.5 MB)
STRIP = 128
#: a PSD's sides stop here (PSB, the 'large document' variant, goes further)
MAX_SIDE = 30_000
RAW, ZIP = 0, 2
ALPHA, MASK = -1, -2


def _pascal(name: str) -> bytes:
    """A layer name as the record's Pascal string (Latin-1, '?' past it), padded to 4 bytes with its length byte."""
    raw = name.encode("latin-1", "replace")[:255]
    data = bytes([len(raw)]) + raw
    return data + b"\x00" * (-len(data) % 4)


def _unicode_name(name: str) -> bytes:
    """The 'luni' block: the layer's full name in UTF-16 (Photoshop, GIMP and Krita show this one)."""
    text = name.encode("utf-16-be")
    data = struct.pack(">I", len(text) // 2) + text
    data += b"\x00" * (-len(data) % 4)
    return b"8BIMluni" + struct.pack(">I", len(data)) + data


def _resource(ident: int, data: bytes) -> bytes:
    return b"8BIM" + struct.pack(">H", ident) + b"\x00\x00" + struct.pack(">I", len(data)) + data + b"\x00" * (len(data) % 2)


def _channel(f: BinaryIO, rows: Rows | None, index: int | None, h: int, w: int, dtype: type) -> int:
    """One channel's data (compression word, then deflated big-endian rows); returns its length.

    ``rows`` None: fully opaque (a layer's transparency channel); ``index`` None: the rows are a mask."""
    start = f.tell()
    f.write(struct.pack(">H", ZIP))
    comp = zlib.compressobj(6)
    top = np.iinfo(dtype).max
    for y in range(0, h, STRIP):
        y1 = min(h, y + STRIP)
        if rows is None:
            part = np.full((y1 - y, w), top, dtype)
        else:
            part = rows.rows(y, y1, dtype)
            part = part if index is None else part[..., index]
        f.write(comp.compress(np.ascontiguousarray(part, dtype=np.dtype(dtype).newbyteorder(">")).tobytes()))
    f.write(comp.flush())
    return f.tell() - start


def write_psd(stack: LayerStack, path: Path, bit_depth: int = 8, dpi: float | None = None,
              icc: bytes | None = None) -> None:
    """Write ``stack`` as a PSD to ``path`` (the caller makes it atomic)."""
    h, w = stack.height, stack.width
    if max(h, w) > MAX_SIDE:
        raise OutputError(f"A PSD holds at most {MAX_SIDE} px a side; this picture is {w}x{h}. "
                          "Export layers as .tif or .ora instead.")
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    with open(path, "wb") as f:
        f.write(b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, bit_depth, 3))  # version 1, RGB
        f.write(struct.pack(">I", 0))  # no colour-mode data
        res = dpi or 72.0
        resources = _resource(0x03ED, struct.pack(">IHHIHH", round(res * 65536), 1, 1, round(res * 65536), 1, 1))
        if icc:
            resources += _resource(0x040F, icc)
        f.write(struct.pack(">I", len(resources)) + resources)

        section_at = f.tell()
        f.write(struct.pack(">II", 0, 0))  # layer-and-mask section length, layer-info length: filled in below
        f.write(struct.pack(">h", len(stack.layers)))
        # records, bottom layer first; each channel's length is filled in once its data is written
        length_at: list[list[int]] = []
        for layer in stack.layers:
            masked = layer.kind == "region"
            ids = [ALPHA, 0, 1, 2] + ([MASK] if masked else [])
            f.write(struct.pack(">iiiiH", 0, 0, h, w, len(ids)))
            at = []
            for cid in ids:
                f.write(struct.pack(">h", cid))
                at.append(f.tell())
                f.write(struct.pack(">I", 0))
            length_at.append(at)
            flags = 0x08 | (0x00 if layer.visible else 0x02)  # bit 1 set: hidden
            f.write(b"8BIMnorm" + struct.pack(">BBBB", 255, 0, flags, 0))
            mask = struct.pack(">IiiiiBB2x", 20, 0, 0, h, w, 0, 0) if masked else struct.pack(">I", 0)
            extra = mask + struct.pack(">I", 0) + _pascal(layer.name) + _unicode_name(layer.name)
            f.write(struct.pack(">I", len(extra)) + extra)
        for layer, at in zip(stack.layers, length_at):
            pixels, mask = layer.open()
            lengths = [_channel(f, None, None, h, w, dtype)]
            lengths += [_channel(f, pixels, c, h, w, dtype) for c in range(3)]
            if len(at) == 5:
                lengths.append(_channel(f, mask, None, h, w, dtype))
            del pixels, mask  # a region's own render is dropped before the next layer's runs
            end = f.tell()
            for pos, n in zip(at, lengths):
                f.seek(pos)
                f.write(struct.pack(">I", n))
            f.seek(end)
        if (f.tell() - section_at) % 2:
            f.write(b"\x00")
        layer_info = f.tell() - section_at - 8
        f.write(struct.pack(">I", 0))  # no global layer mask
        section = f.tell() - section_at - 4
        if section > 0xFFFFFFFF:
            raise OutputError(f"The layers of this {w}x{h} picture pass the PSD's 4 GB limit. Export them as .tif "
                              "or .ora, or at 8 bits.")
        end = f.tell()
        f.seek(section_at)
        f.write(struct.pack(">II", section, layer_info))
        f.seek(end)
        # the merged picture: what programs that do not read layers show
        f.write(struct.pack(">H", RAW))
        be = np.dtype(dtype).newbyteorder(">")
        for c in range(3):
            for y in range(0, h, STRIP):
                part = stack.composite.rows(y, min(h, y + STRIP), dtype)[..., c]
                f.write(np.ascontiguousarray(part, dtype=be).tobytes())


__all__ = ["write_psd", "MAX_SIDE"]
