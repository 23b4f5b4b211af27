"""Layered TIFF: one page per layer, named by its PageName tag, a mask as the page's alpha.

Pages named with PageName are what GIMP's TIFF loader opens as layers (each page a layer,
named from the tag). TIFF has no 'hidden' flag, so hidden layers (kept results) go to the
bottom, under the opaque photo, where they show nowhere until moved up; the stack then
flattens to the render in any program that shows every page. tifffile writes the pages: it
takes each strip already deflated from an iterator, so a page never exists whole in memory.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from .stack import Layer, LayerStack

#: rows per TIFF strip (a 6000 px RGBA 16-bit strip: 3 MB before deflate)
STRIP = 64
PAGE_NAME = 285


def page_order(stack: LayerStack) -> list[Layer]:
    """The layers in page order, bottom first: hidden ones below everything (see the module's docstring)."""
    return [l for l in stack.layers if not l.visible] + [l for l in stack.layers if l.visible]


def write_tiff(stack: LayerStack, path: Path, bit_depth: int = 8, dpi: float | None = None,
               icc: bytes | None = None) -> None:
    """Write ``stack`` as a multi-page TIFF to ``path`` (the caller makes it atomic)."""
    import tifffile

    h, w = stack.height, stack.width
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    with tifffile.TiffWriter(path, bigtiff=h * w * 8 * len(stack.layers) > 3_500_000_000) as tif:
        for layer in page_order(stack):
            pixels, mask = layer.open()
            channels = 3 if mask is None else 4

            def strips(pixels=pixels, mask=mask):
                for y in range(0, h, STRIP):
                    y1 = min(h, y + STRIP)
                    px = pixels.rows(y, y1, dtype)
                    if mask is not None:
                        px = np.concatenate([px, mask.rows(y, y1, dtype)[..., None]], axis=2)
                    yield zlib.compress(np.ascontiguousarray(px, px.dtype.newbyteorder("<")).tobytes(), 6)

            name = layer.name.encode("ascii", "replace").decode("ascii")  # TIFF text is 7-bit ASCII
            tif.write(strips(), shape=(h, w, channels), dtype=dtype, photometric="rgb", planarconfig="contig",
                      extrasamples=("unassalpha",) if mask is not None else None, compression="zlib",
                      rowsperstrip=STRIP, resolution=(dpi or 72.0, dpi or 72.0), resolutionunit="INCH",
                      iccprofile=icc, metadata=None, subfiletype=0, extratags=[(PAGE_NAME, "s", 0, name, True)])
            del pixels, mask


__all__ = ["write_tiff", "page_order"]
