"""OpenRaster (.ora): Krita, GIMP 3 and MyPaint open it as layers.

A zip: ``mimetype`` first and stored (so ``file`` and the programs recognise it), ``stack.xml``
(top layer first), one PNG per layer under ``data/`` (its mask as the PNG's alpha), the
flattened picture as ``mergedimage.png`` and a 256 px ``Thumbnails/thumbnail.png``
(OpenRaster 0.0.6). No maintained Python library writes OpenRaster (pyora holds every layer as a
PIL image), and the format is this small; each PNG streams into its zip entry strip by strip.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from ..png import write_png_strips
from .stack import LayerStack, PictureRows, Rows

#: rows per strip read from a layer and compressed (a 6000 px RGBA 16-bit strip: 6 MB)
STRIP = 128
THUMBNAIL = 256


def _png_entry(zf: zipfile.ZipFile, name: str, height: int, width: int, pixels: Rows, mask: Rows | None,
               bit_depth: int, dpi: float | None, icc: bytes | None) -> None:
    dtype = np.uint16 if bit_depth == 16 else np.uint8

    def strips():
        for y in range(0, height, STRIP):
            y1 = min(height, y + STRIP)
            px = pixels.rows(y, y1, dtype)
            yield px if mask is None else np.concatenate([px, mask.rows(y, y1, dtype)[..., None]], axis=2)

    # the PNG is compressed already: stored, and zip64 so a print's layer may pass 4 GB
    with zf.open(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), "w", force_zip64=True) as f:
        write_png_strips(f, strips(), width, height, 3 if mask is None else 4, bit_depth, dpi, icc)


def _thumbnail(composite: Rows, height: int, width: int) -> np.ndarray:
    """The flattened picture at most THUMBNAIL px long, from every k-th row (area-averaged by Pillow after)."""
    from PIL import Image

    k = max(1, max(height, width) // (THUMBNAIL * 4))
    rows = [composite.rows(y, y + 1, np.uint8)[:, ::k] for y in range(0, height, k)]
    im = Image.fromarray(np.concatenate(rows, axis=0), "RGB")
    im.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    return np.asarray(im)


def write_ora(stack: LayerStack, path: Path, bit_depth: int = 8, dpi: float | None = None,
              icc: bytes | None = None) -> None:
    """Write ``stack`` as OpenRaster to ``path`` (the caller makes it atomic)."""
    h, w = stack.height, stack.width
    entries = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", date_time=(2026, 1, 1, 0, 0, 0)), "image/openraster")
        for i, layer in enumerate(stack.layers):
            src = f"data/layer{i:03d}.png"
            pixels, mask = layer.open()
            _png_entry(zf, src, h, w, pixels, mask, bit_depth, dpi, icc)
            del pixels, mask  # a region's own render is dropped before the next layer's runs
            entries.append((layer, src))
        res = f' xres="{dpi:g}" yres="{dpi:g}"' if dpi else ""
        lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                 f'<image version="0.0.6" w="{w}" h="{h}"{res}>', "<stack>"]
        for layer, src in reversed(entries):  # stack.xml lists the top layer first
            lines.append(f"<layer name={quoteattr(layer.name)} src={quoteattr(src)} x=\"0\" y=\"0\" opacity=\"1.0\" "
                         f"visibility=\"{'visible' if layer.visible else 'hidden'}\" composite-op=\"svg:src-over\"/>")
        lines += ["</stack>", "</image>", ""]
        zf.writestr("stack.xml", "\n".join(lines).encode("utf-8"), zipfile.ZIP_DEFLATED)
        _png_entry(zf, "mergedimage.png", h, w, stack.composite, None, bit_depth, dpi, icc)
        thumb = _thumbnail(stack.composite, h, w)
        _png_entry(zf, "Thumbnails/thumbnail.png", thumb.shape[0], thumb.shape[1], PictureRows(thumb), None, 8, None, icc)


__all__ = ["write_ora"]
