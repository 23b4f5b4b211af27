"""Tiles for rendering pictures larger than one pass fits: layout, feathering, blending, sources.

A tile is a box of the output plus a context margin around it. A renderer sees the context
(so its convolutions near the box edge see real pixels, not padding) and hands back the box;
neighbouring boxes overlap and are cross-faded with weights that sum to one, so no single
pixel row marks where one tile ended. Floats are held only for the band of rows that later
tiles can still change; finished rows are quantised into the (8- or 16-bit) output at once,
which is what keeps memory flat as the print size grows.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError


@dataclass(frozen=True)
class Box:
    """Rows y0..y1 and columns x0..x1 (ends exclusive) of an image."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    def within(self, outer: "Box") -> "Box":
        """This box in the coordinates of ``outer`` (which contains it)."""
        return Box(self.y0 - outer.y0, self.y1 - outer.y0, self.x0 - outer.x0, self.x1 - outer.x0)


@dataclass(frozen=True)
class Tile:
    """One tile: ``box`` is what it contributes to the output, ``context`` what its renderer sees.

    ``interior`` is the part of the picture this tile owns: interiors partition the picture
    (global statistics count each pixel once), and the cross-fade with each neighbour is centred
    on the interior's edge, ``feather`` px to either side (top, bottom, left, right; 0 at the
    picture's edge).
    """

    index: int
    row: int
    col: int
    box: Box
    context: Box
    interior: Box
    feather: tuple[int, int, int, int]


@dataclass(frozen=True)
class TileLayout:
    """Every tile of an ``height`` x ``width`` picture, in raster order (row by row)."""

    height: int
    width: int
    tile: int
    overlap: int
    margin: int
    tiles: tuple[Tile, ...]

    @property
    def rows(self) -> int:
        return self.tiles[-1].row + 1

    @property
    def cols(self) -> int:
        return self.tiles[-1].col + 1

    def seam_positions(self) -> tuple[list[int], list[int]]:
        """Where neighbouring tiles meet (rows, columns): where a seam would show if blending failed."""
        ys = sorted({t.interior.y0 for t in self.tiles if t.interior.y0 > 0})
        xs = sorted({t.interior.x0 for t in self.tiles if t.interior.x0 > 0})
        return ys, xs


def _starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Evenly spread starts of tiles of ``tile`` px covering ``length`` with at least ``overlap``.

    Starts are rounded down to ``multiple``, which can widen a gap by up to ``multiple`` - 1 px,
    so the even spacing is planned that much tighter.
    """
    if length <= tile:
        return [0]
    span = length - tile
    stride = max(1, tile - overlap - (multiple - 1))
    n = math.ceil(span / stride) + 1
    starts = [(i * span // (n - 1)) // multiple * multiple for i in range(n)]
    starts[-1] = span
    return starts


def _owned(starts: list[int], size: int, length: int) -> tuple[list[int], list[int]]:
    """Boundaries between consecutive tiles (mid-overlap) and the half-width of each cross-fade.

    A fade never reaches past either tile nor into the next boundary's fade, so the weights of
    all tiles sum to exactly one even where three tiles overlap."""
    bounds = [0] + [(starts[i] + starts[i - 1] + size) // 2 for i in range(1, len(starts))] + [length]
    half = [0] * len(bounds)
    for i in range(1, len(starts)):
        overlap = starts[i - 1] + size - starts[i]
        half[i] = max(0, min(bounds[i] - starts[i], starts[i - 1] + size - bounds[i], overlap // 2,
                             (bounds[i] - bounds[i - 1]) // 2, (bounds[i + 1] - bounds[i]) // 2))
    return bounds, half


def plan_tiles(height: int, width: int, tile: int, overlap: int = 64, margin: int = 32,
               multiple: int = 1) -> TileLayout:
    """Lay tiles of at most ``tile`` px over the picture, overlapping by >= ``overlap`` px.

    ``margin`` px of context surround each tile (clipped at the picture's edge); tile starts and
    context boxes are aligned to ``multiple`` so every tile shares the whole picture's pooling grid.
    """
    if tile <= 2 * overlap:
        raise InputError(f"Tile size {tile} px must exceed twice the overlap ({overlap} px).")
    if height < 1 or width < 1:
        raise InputError(f"Cannot tile an empty picture ({width}x{height}).")
    ys = _starts(height, tile, overlap, multiple)
    xs = _starts(width, tile, overlap, multiple)
    th, tw = min(tile, height), min(tile, width)
    by, hy = _owned(ys, th, height)
    bx, hx = _owned(xs, tw, width)
    tiles = []
    for r, y in enumerate(ys):
        for c, x in enumerate(xs):
            box = Box(y, y + th, x, x + tw)
            ctx = Box(max(0, (y - margin) // multiple * multiple), min(height, y + th + margin),
                      max(0, (x - margin) // multiple * multiple), min(width, x + tw + margin))
            tiles.append(Tile(index=len(tiles), row=r, col=c, box=box, context=ctx,
                              interior=Box(by[r], by[r + 1], bx[c], bx[c + 1]),
                              feather=(hy[r], hy[r + 1], hx[c], hx[c + 1])))
    return TileLayout(height, width, tile, overlap, margin, tuple(tiles))


def cell_slice(a: int, b: int, length: int, stride: int, cells: int) -> slice:
    """Feature cells (``stride`` px each, ``cells`` of them) of a ``length`` px context whose centre lies in [a, b).

    Tile interiors partition the picture, so every cell is counted by exactly one tile. An interior
    that reaches the context's end (the picture's edge) takes every cell up to the last, including
    one over padding that a whole pass would count too.
    """
    # cell i covers pixels [i*stride, (i+1)*stride) of the context; its centre in [a, b)
    lo = max(0, -(-(2 * a - stride) // (2 * stride)))
    hi = cells if b >= length else min(cells, -(-(2 * b - stride) // (2 * stride)))
    return slice(lo, max(lo, hi))


def _ramp(lo: int, hi: int, start: int, n: int, fade_lo: int, fade_hi: int) -> np.ndarray:
    """1-D weights over box pixels start..start+n: 1 on [lo, hi), cross-fading linearly over
    ``fade`` px either side of each edge (the neighbour's weight is one minus this)."""
    p = np.arange(start, start + n, dtype=np.float64) + 0.5
    up = np.clip((p - lo + fade_lo) / (2 * fade_lo), 0, 1) if fade_lo else (p >= lo).astype(np.float64)
    down = np.clip((hi + fade_hi - p) / (2 * fade_hi), 0, 1) if fade_hi else (p < hi).astype(np.float64)
    return np.minimum(up, down).astype(np.float32)


def feather_weights(tile: Tile) -> np.ndarray:
    """HxW blending weights of a tile's box; over all tiles they sum to one at every pixel."""
    b, i, (ft, fb, fl, fr) = tile.box, tile.interior, tile.feather
    wy = _ramp(i.y0, i.y1, b.y0, b.h, ft, fb)
    wx = _ramp(i.x0, i.x1, b.x0, b.w, fl, fr)
    return wy[:, None] * wx[None, :]


class StripBlender:
    """Feather-blends tiles (added in raster order) into a uint8/uint16 HxWx3 buffer.

    Only ``band`` rows of float accumulators exist at a time: rows above the current tile row's
    top can no longer change, so they are normalised, quantised and written out.
    """

    def __init__(self, out: np.ndarray, band: int) -> None:
        if out.dtype not in (np.uint8, np.uint16) or out.ndim != 3 or out.shape[2] != 3:
            raise InputError(f"The output buffer must be HxWx3 uint8 or uint16, got {out.shape} {out.dtype}.")
        self.out = out
        self.scale = float(np.iinfo(out.dtype).max)
        self.band = band
        self.top = 0
        self.acc = np.zeros((band, out.shape[1], 3), np.float32)
        self.wsum = np.zeros((band, out.shape[1]), np.float32)

    def flush_above(self, y: int) -> None:
        """Rows above ``y`` are final: write them out and slide the band down."""
        k = min(y, self.out.shape[0]) - self.top
        if k <= 0:
            return
        acc, wsum = self.acc[:k], self.wsum[:k]
        rows = acc / np.maximum(wsum, 1e-12)[..., None]
        np.clip(rows * self.scale + 0.5, 0, self.scale, out=rows)
        self.out[self.top:self.top + k] = rows.astype(self.out.dtype)
        self.acc[: self.band - k] = self.acc[k:].copy()
        self.wsum[: self.band - k] = self.wsum[k:].copy()
        self.acc[self.band - k:] = 0
        self.wsum[self.band - k:] = 0
        self.top += k

    def add(self, tile: Tile, pixels: np.ndarray) -> None:
        """Add a tile's box pixels (HxWx3 float in [0, 1]) with its feather weights."""
        b = tile.box
        if pixels.shape != (b.h, b.w, 3):
            raise ValueError(f"tile {tile.index}: expected {(b.h, b.w, 3)} pixels, got {pixels.shape}")
        self.flush_above(b.y0)
        if b.y1 - self.top > self.band:
            raise ValueError(f"tile {tile.index} reaches past the blending band; add tiles in raster order")
        w = feather_weights(tile)
        r0, r1 = b.y0 - self.top, b.y1 - self.top
        self.acc[r0:r1, b.x0:b.x1] += pixels * w[..., None]
        self.wsum[r0:r1, b.x0:b.x1] += w

    def peek(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """What earlier tiles already made of ``box``: HxWx3 float pixels and an HxW 'known' mask.

        Rows already written out are read back from the output; rows in the band are the
        blend so far. A tile optimised from these pixels agrees with its neighbours in the overlap.
        """
        pixels = np.zeros((box.h, box.w, 3), np.float32)
        known = np.zeros((box.h, box.w), bool)
        done = min(box.y1, self.top)
        if done > box.y0:
            pixels[: done - box.y0] = self.out[box.y0:done, box.x0:box.x1] / self.scale
            known[: done - box.y0] = True
        lo = max(box.y0, self.top)
        hi = min(box.y1, self.top + self.band)
        if hi > lo:
            acc = self.acc[lo - self.top:hi - self.top, box.x0:box.x1]
            wsum = self.wsum[lo - self.top:hi - self.top, box.x0:box.x1]
            has = wsum > 1e-6
            pixels[lo - box.y0:hi - box.y0][has] = acc[has] / wsum[has][:, None]
            known[lo - box.y0:hi - box.y0] = has
        return pixels, known

    def close(self) -> np.ndarray:
        self.flush_above(self.out.shape[0])
        return self.out


class TileSource:
    """Pixels of a small image as if resized to ``out_hw``, produced one box at a time.

    Every box is sampled with the same coordinate mapping as a whole-image bicubic resize, so
    neighbouring tiles agree exactly, and the full-size float image never exists.
    """

    def __init__(self, image: torch.Tensor, out_hw: tuple[int, int]) -> None:
        h, w = image.shape[-2:]
        self.out_hw = out_hw
        if out_hw[0] <= h and out_hw[1] <= w:
            # Shrinking: one antialiased resize, no larger than the source we already hold.
            from .images import resize

            self.image, self.direct = resize(image, out_hw), True
        else:
            self.image, self.direct = image, False

    def crop(self, box: Box) -> torch.Tensor:
        if self.direct:
            return self.image[..., box.y0:box.y1, box.x0:box.x1]
        src = self.image
        hs, ws = src.shape[-2:]
        ho, wo = self.out_hw
        sy, sx = hs / ho, ws / wo
        # Source rows this box reads (bicubic reaches 2 px each side), then sample them exactly.
        r0 = max(0, math.floor((box.y0 + 0.5) * sy - 0.5) - 2)
        r1 = min(hs, math.ceil((box.y1 - 0.5) * sy - 0.5) + 3)
        c0 = max(0, math.floor((box.x0 + 0.5) * sx - 0.5) - 2)
        c1 = min(ws, math.ceil((box.x1 - 0.5) * sx - 0.5) + 3)
        patch = src[..., r0:r1, c0:c1]
        ys = (torch.arange(box.y0, box.y1, dtype=torch.float64) + 0.5) * sy - 0.5
        xs = (torch.arange(box.x0, box.x1, dtype=torch.float64) + 0.5) * sx - 0.5
        # grid_sample's border padding equals replicate-at-edge, as F.interpolate does.
        gy = ((ys - r0 + 0.5) / (r1 - r0) * 2 - 1).float()
        gx = ((xs - c0 + 0.5) / (c1 - c0) * 2 - 1).float()
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None].to(patch)
        out = F.grid_sample(patch, grid, mode="bicubic", padding_mode="border", align_corners=False)
        return out.clamp(0, 1)


class PixelSource:
    """Boxes of a full-size HxWx3 uint8/uint16 picture (a stage's blended output) as 1x3xhxw floats."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.scale = float(np.iinfo(pixels.dtype).max)

    def crop(self, box: Box) -> torch.Tensor:
        px = self.pixels[box.y0:box.y1, box.x0:box.x1].astype(np.float32) / self.scale
        return torch.from_numpy(px).permute(2, 0, 1)[None].contiguous()


class TileRenderer(Protocol):
    """What a tileable (feed-forward) strategy hands the exporter.

    ``measure`` runs over every tile first and its sums are added up over the picture (global
    statistics, e.g. AdaIN's content mean/std); ``render`` then gets those totals with each tile.
    A renderer may instead list ``stages`` (renderers run in turn, each reading the picture the
    one before it made: universal's levels), each with a ``stage`` name for the progress text.
    """

    #: context pixels a tile needs on each side so its box matches a whole-picture pass
    margin: int
    #: tile starts/sizes align to this (the net's downsampling factor)
    multiple: int
    #: rough peak bytes per context pixel, to size tiles from the free memory
    bytes_per_pixel: int

    def measure(self, pixels: torch.Tensor, interior: Box, context: Box) -> dict[str, torch.Tensor]:
        """Sums over ``interior`` (in ``pixels``' coordinates) of a tile whose context box is ``context``."""
        ...

    def render(self, pixels: torch.Tensor, totals: dict[str, torch.Tensor], context: Box) -> torch.Tensor:
        """The stylised context (1x3xHxW, same size as ``pixels``); the exporter keeps the box."""
        ...


def free_memory(device: torch.device) -> int:
    """Bytes the device can still give us (the GPU's free memory; on the CPU, MemAvailable)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 << 30


#: the share of the free memory one render may take (a pass's or a tile's measured peak: each
#: renderer's ``bytes_per_pixel``): half leaves the other half to the rest of the machine (the
#: editor, a browser) while a 1024 px universal picture (0.8 GB at 1,200 bytes a pixel, measured
#: peak 0.4-0.45 GB) runs in one pass on any machine with 1.6 GB free. It replaced a fixed 1 GB
#: cap per tile that tiled a 1024x666 picture into 2 tiles x 5 levels (7.9-8.8 s, one pass 1.5 s)
#: with 20 GB free.
BUDGET_SHARE = {"cpu": 0.5, "cuda": 0.8}


def memory_budget(device: torch.device) -> int:
    """Bytes one render (a whole pass, or one tile of a larger one) may use on ``device``: a share
    of what is free now, measured, not a fixed figure."""
    return int(free_memory(device) * BUDGET_SHARE.get(device.type, 0.5))


def fits_one_pass(out_hw: tuple[int, int], bytes_per_pixel: int, device: torch.device) -> bool:
    """Whether a picture of ``out_hw`` renders in one pass within :func:`memory_budget` (a renderer's
    measured peak per pixel); only past that does an export tile."""
    return out_hw[0] * out_hw[1] * max(bytes_per_pixel, 1) <= memory_budget(device)


def choose_tile_size(device: torch.device, bytes_per_pixel: int, override: int | None = None,
                     multiple: int = 8, lo: int = 256, hi: int = 4096) -> int:
    """Tile side in px: what the memory budget holds (:func:`memory_budget`), or the user's choice."""
    if override is not None:
        if override < 64:
            raise InputError(f"Tile size must be at least 64 px, got {override}.")
        return override
    budget = memory_budget(device)
    side = int(math.sqrt(max(budget, 1) / max(bytes_per_pixel, 1)))
    return max(lo, min(hi, side // multiple * multiple))


def to_hwc(t: torch.Tensor) -> np.ndarray:
    """1x3xHxW tensor -> HxWx3 float32 numpy (CPU)."""
    return t[0].detach().float().permute(1, 2, 0).cpu().numpy()


__all__: Sequence[str] = (
    "Box", "Tile", "TileLayout", "plan_tiles", "feather_weights", "StripBlender", "TileSource", "PixelSource",
    "TileRenderer", "free_memory", "memory_budget", "fits_one_pass", "choose_tile_size", "to_hwc",
)
