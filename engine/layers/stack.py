"""The layer stack a layered file holds, and where each layer's pixels come from.

Bottom to top: the photo; one layer per region (its stylised picture, its mask as the layer's
alpha or layer mask, named after the region); the full render; kept results, hidden. The render
sits above the regions and is opaque, so the file opens looking exactly like Brushwork's flat
render (every program flattens it to that); hide it, or paint a mask on it, to mix the regions
beneath. Each layer is read a strip of rows at a time, and a region's own render runs only when
its layer is written, so a print's stack is never whole in memory: one full-size picture at a
time (the render's, held anyway) and a band of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

import numpy as np
import torch

from ..job import Region, StyleJob
from ..regions import shaped_mask
from ..tiling import Box, TileSource

#: long edge a mask is measured (resized, feathered) at for a print, then enlarged strip by strip
#: bicubically: a feathered mask is smooth, and a 6000 px one is 96 MB of floats (as export.SHAPE_MASK_EDGE)
MASK_EDGE = 2048


class Rows(Protocol):
    """Rows y0..y1 of a full-size layer as (y1-y0) x W x C uint8/uint16 (C = 3 pixels, 1 a mask)."""

    def rows(self, y0: int, y1: int, dtype: type) -> np.ndarray: ...


def _quantise(values: np.ndarray, dtype: type) -> np.ndarray:
    top = float(np.iinfo(dtype).max)
    return (np.clip(values, 0, 1) * top + 0.5).astype(dtype)


@dataclass(frozen=True, eq=False)
class PictureRows:
    """A full-size HxWx3 (or HxW) picture already in memory: uint8/uint16 (a render) or float in [0, 1] (a mask)."""

    pixels: np.ndarray

    def rows(self, y0: int, y1: int, dtype: type) -> np.ndarray:
        part = self.pixels[y0:y1]
        if part.dtype == dtype:
            return part
        if np.issubdtype(part.dtype, np.floating):
            return _quantise(part, dtype)
        return _quantise(part.astype(np.float32) / float(np.iinfo(part.dtype).max), dtype)


@dataclass(frozen=True, eq=False)
class ResizedRows:
    """A small 1xCxhxw float picture read as if resized to ``out_hw`` (TileSource's bicubic: the
    same pixels a print's tiles read), one strip at a time; C = 1 gives HxW rows (a mask)."""

    source: TileSource

    @classmethod
    def of(cls, image: torch.Tensor, out_hw: tuple[int, int]) -> "ResizedRows":
        return cls(TileSource(image.float(), out_hw))

    def rows(self, y0: int, y1: int, dtype: type) -> np.ndarray:
        w = self.source.out_hw[1]
        part = self.source.crop(Box(y0, y1, 0, w))[0].permute(1, 2, 0).numpy()
        return _quantise(part[..., 0] if part.shape[-1] == 1 else part, dtype)


@dataclass(frozen=True)
class Layer:
    """One layer: its name, what it is, whether it shows, and how to open its pixels and mask.

    ``open`` is called when the layer is written (a region's own render runs then) and returns
    (pixels, mask or None); the writer drops both before opening the next layer."""

    name: str
    kind: Literal["photo", "region", "render", "kept"]
    open: Callable[[], tuple[Rows, Rows | None]]
    visible: bool = True


@dataclass(frozen=True)
class LayerStack:
    """Layers bottom to top over a ``height`` x ``width`` canvas; ``composite`` is what the
    visible stack flattens to (the render: the top visible layer, opaque)."""

    height: int
    width: int
    layers: tuple[Layer, ...]
    composite: Rows


def region_mask_rows(region: Region, out_hw: tuple[int, int], render_hw: tuple[int, int]) -> Rows:
    """The region's mask as the render used it (resized, feathered at the output's scale), full size.

    ``render_hw`` is the job's output size: feather radii are in its pixels (as engine.regions)."""
    h, w = out_hw
    if max(h, w) <= MASK_EDGE:
        return PictureRows(shaped_mask(region.mask, out_hw, region.feather * max(out_hw) / max(render_hw)).numpy())
    from ..images import size_for_long_edge

    mhw = size_for_long_edge(h, w, MASK_EDGE)
    small = shaped_mask(region.mask, mhw, region.feather * MASK_EDGE / max(render_hw))
    return ResizedRows.of(small[None, None], out_hw)


def region_name(region: Region, index: int) -> str:
    """The region's own name (the mask file's stem on the command line, a semantic group's name), else 'Region N'."""
    return region.name.strip() or f"Region {index + 1}"


def own_render_job(job: StyleJob, region: Region) -> StyleJob | None:
    """A job that paints ``region``'s style over the whole picture, or None where the strategy
    cannot (optimisation strategies, whose regions are one optimisation: their layer is the
    region's part of the render; text styles; a region that keeps the photo)."""
    from ..registry import strategies

    cls = strategies.get(job.strategy)
    if not getattr(cls, "tileable", False) or region.strength == 0 or region.style.kind not in cls.style_sources:
        return None
    everywhere = torch.ones(job.content.shape[-2:])
    whole = Region(mask=everywhere, style=region.style, strength=region.strength, name=region.name,
                   keep_shape=region.keep_shape)
    params = job.params
    if getattr(params, "preview", False):  # a quick low-resolution picture nobody sees: only time
        import dataclasses

        params = dataclasses.replace(params, preview=False)
    return job.with_(styles=(), regions=(whole,), gaps="content", params=params)


__all__ = ["Rows", "PictureRows", "ResizedRows", "Layer", "LayerStack", "region_mask_rows", "region_name",
           "own_render_job", "MASK_EDGE"]
