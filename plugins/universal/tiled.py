"""Universal style transfer tile by tile, for print-size export (``engine.export``).

Each level encodes the picture the level before it decoded, so a print runs level by level:
for level 5, every tile of the photo is encoded and its feature sums (Σf, Σffᵀ, per region too)
are added up over its interior, where no other tile counts them; one whitening and colouring
is made from those whole-picture moments, exactly as a single pass makes it; every tile is
then encoded again with context, transformed and decoded, and the blended full-size picture is
what level 4's tiles read. Only one full-size picture (16-bit) is held between levels.

A style scaled for a print can be larger than one pass: its moments are streamed the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine import palette
from engine.colour import preserve
from engine.errors import InputError
from engine.images import scale_style, size_for_long_edge
from engine.job import StyleJob
from engine.regions import RegionMasks
from engine.strategy import RunContext
from engine.tiling import Box, TileSource, cell_slice, choose_tile_size, plan_tiles

from . import level_stride
from .wct import Colouring, Moments, apply, blend_colourings, colouring, feature_sums, moments_from_sums, transform, whitening

if TYPE_CHECKING:
    from . import UniversalParams, UniversalStrategy

#: context px around each tile. Level 5's encoder and decoder see ~200 px each way, but most of
#: that weight is near the centre. Measured at 384 px in 128 px tiles, tiled against a single
#: pass (mean abs of 255): margin 16: 5.0, 32: 2.3, 48: 0.9, 64: 0.2, 96: 0.01
#: (tests/test_universal.py holds it, with the seam figure AdaIN's tiles use)
MARGIN = 64
#: tiles always run the nets in float32: bfloat16's rounding depends on the convolution's blocking,
#: which changes with the tile's size, so bfloat16 tiles disagreed with a single pass by 2.6 of 255
#: (float32: 0.3), more than bfloat16 moves a single pass (2.9) and enough to show as seams
PRECISION = "float32"
#: measured peak bytes per context pixel of the level-1..5 encode + decode, no gradients, CPU float32
BYTES_PER_PIXEL = 1200


def _cells(interior: Box, hw: tuple[int, int], level: int, cells: tuple[int, ...]) -> tuple[slice, slice]:
    """Feature cells (a ``cells`` grid, padding included) of an ``hw`` context whose centres lie in
    ``interior`` (see engine.tiling.cell_slice)."""
    d = level_stride(level)
    return (cell_slice(interior.y0, interior.y1, hw[0], d, cells[0]),
            cell_slice(interior.x0, interior.x1, hw[1], d, cells[1]))


def _add(totals: dict[str, torch.Tensor], sums: dict[str, torch.Tensor], prefix: str) -> None:
    for k, v in sums.items():
        key = f"{prefix}.{k}"
        totals[key] = totals[key] + v if key in totals else v


class LevelTiles:
    """The :class:`engine.tiling.TileRenderer` of one level: measure the moments, then transform."""

    def __init__(self, owner: "UniversalTiles", level: int, last: bool) -> None:
        self.owner = owner
        self.level = level
        self.last = last
        self.margin = MARGIN
        self.multiple = owner.multiple
        self.bytes_per_pixel = BYTES_PER_PIXEL
        self.stage = f"level {level}"
        #: (A, b) per mask, None where the features are kept
        self._maps: list[tuple[torch.Tensor, torch.Tensor] | None] | None = None

    def _nets(self):
        from . import backend_nets

        return backend_nets(self.level, self.owner.device, "torch", PRECISION)

    def _encode(self, pixels: torch.Tensor) -> torch.Tensor:
        from . import encode

        return encode(self._nets()[0], pixels, self.owner.device, PRECISION)

    def _masks(self, context: Box, fh: int, fw: int) -> list[torch.Tensor]:
        """Region weights and the gap on this level's whole-picture grid, cut to the context's cells."""
        d = level_stride(self.level)
        y0, x0 = context.y0 // d, context.x0 // d
        out = []
        for m in self.owner.masks(self.level):
            cut = m.new_zeros((fh, fw))
            part = m[y0:y0 + fh, x0:x0 + fw]
            cut[: part.shape[0], : part.shape[1]] = part
            out.append(cut.to(self.owner.device))
        return out

    def measure(self, pixels: torch.Tensor, interior: Box, context: Box) -> dict[str, torch.Tensor]:
        f = self._encode(pixels)
        ys, xs = _cells(interior, tuple(pixels.shape[-2:]), self.level, tuple(f.shape[-2:]))
        cells = f[..., ys, xs]
        sums: dict[str, torch.Tensor] = {}
        if not self.owner.job.regions:
            _add(sums, feature_sums(cells), "all")
        for k, m in enumerate(self._masks(context, *f.shape[-2:]) if self.owner.job.regions else ()):
            _add(sums, feature_sums(cells, m[ys, xs]), f"m{k}")
        return sums

    def _transforms(self, totals: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """(A, b) per mask (or the one global map), from the whole picture's moments: made once per level."""
        if self._maps is not None:
            return self._maps
        o, alpha = self.owner, self.owner.p.alpha

        def moments(prefix: str) -> Moments:
            return moments_from_sums(totals[f"{prefix}.s1"], totals[f"{prefix}.s2"], totals[f"{prefix}.n"])

        glob = o.global_colouring(self.level)
        maps: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        if not o.job.regions:
            m = moments("all")
            maps.append(transform(m, glob, alpha, whitening(m)))  # type: ignore[arg-type]
        else:
            n = len(o.job.regions)
            for k in range(n):
                m = moments(f"m{k}")
                maps.append(transform(m, o.region_colouring(k, self.level), alpha) if m.count > 0 else None)
            gap = moments(f"m{n}")
            if o.job.gaps == "global" and glob is not None and gap.count > 0:
                maps.append(transform(gap, glob, alpha))
            else:
                maps.append(None)  # the gap keeps its features
        self._maps = maps
        return maps

    def render(self, pixels: torch.Tensor, totals: dict[str, torch.Tensor], context: Box) -> torch.Tensor:
        from . import decode

        device = self.owner.device
        f = self._encode(pixels)
        maps = self._transforms(totals)
        if not self.owner.job.regions:
            out = apply(f, *maps[0])
        else:
            out = torch.zeros_like(f)
            for m, ab in zip(self._masks(context, *f.shape[-2:]), maps):
                out += m * (f if ab is None else apply(f, *ab))
        image = decode(self._nets()[1], out, tuple(pixels.shape[-2:]), device, PRECISION)
        if self.last and self.owner.p.colour != "none":
            image = preserve(self.owner.p.colour, image, self.owner.photo_crop(context).to(device))
        return image


class PaletteTiles(LevelTiles):
    """The palette step as a last stage: colour histograms per tile interior (per region too),
    one fit from their sums, the same lookup table on every tile (plugins/universal/palette.py)."""

    def __init__(self, owner: "UniversalTiles") -> None:
        super().__init__(owner, 1, True)
        self.stage = "palette"
        self._fitted: list | None = None

    def measure(self, pixels: torch.Tensor, interior: Box, context: Box) -> dict[str, torch.Tensor]:
        ys = slice(interior.y0, interior.y1)
        xs = slice(interior.x0, interior.x1)
        inner = pixels[..., ys, xs]
        sums: dict[str, torch.Tensor] = {}
        weights = [None] if not self.owner.job.regions else [m[ys, xs] for m in self._pixel_masks(pixels, context)]
        for k, w in enumerate(weights):
            h = palette.histogram(inner, w)
            sums[f"m{k}.count"], sums[f"m{k}.total"] = h.count, h.total
        return sums

    def _pixel_masks(self, pixels: torch.Tensor, context: Box) -> list[torch.Tensor]:
        h, w = pixels.shape[-2:]
        return [m[:h, :w] for m in self._masks(context, -(-h // self.multiple) * self.multiple,
                                                -(-w // self.multiple) * self.multiple)]

    def render(self, pixels: torch.Tensor, totals: dict[str, torch.Tensor], context: Box) -> torch.Tensor:
        from .palette import apply_maps, fit_maps, strength

        job = self.owner.job
        if self._fitted is None:
            n = len(job.regions) + 1 if job.regions else 1
            measured = [palette.ColourHistogram(totals[f"m{k}.count"], totals[f"m{k}.total"]) for k in range(n)]
            self._fitted = fit_maps(job, measured)
        masks = self._pixel_masks(pixels, context) if job.regions else None
        return apply_maps(pixels.to(self.owner.device), self._fitted, masks, strength(job))


class UniversalTiles:
    """A universal job as a sequence of tile stages, one per level, coarse to fine."""

    def __init__(self, strategy: "UniversalStrategy", job: StyleJob, ctx: RunContext) -> None:
        from . import MULTIPLE, levels, style_image

        self.strategy = strategy
        self.job = job
        self.p: UniversalParams = job.params
        self.ctx = ctx
        self.device = ctx.device
        self.out_hw = job.output_hw
        self.multiple = MULTIPLE
        self.margin = MARGIN
        self.bytes_per_pixel = BYTES_PER_PIXEL
        for source in job.styles + tuple(r.style for r in job.regions):
            style_image(source)
        if not job.image_styles() and not job.regions:
            raise InputError("Universal style transfer needs at least one style image (or regions with styles).")
        from .palette import wanted

        lv = levels(self.p.depth)
        tail = [PaletteTiles(self)] if wanted(job) else []
        self.stages = [LevelTiles(self, level, level == lv[-1] and not tail) for level in lv] + tail
        self._masks: dict[int, list[torch.Tensor]] = {}
        self._finest: RegionMasks | None = None
        self._photo = TileSource(job.content, self.out_hw)

    def photo_crop(self, box: Box) -> torch.Tensor:
        return self._photo.crop(box)

    def masks(self, level: int) -> list[torch.Tensor]:
        """Region weights then the gap, on the level's grid over the whole padded picture."""
        from . import level_masks

        if self._finest is None:  # the deeper levels are pooled from level 1's, as in the single pass
            self._finest = level_masks(self.job, self.out_hw, 1)
        if level not in self._masks:
            rm = level_masks(self.job, self.out_hw, level, self._finest)
            self._masks[level] = [*rm.weights, rm.gap]
        return self._masks[level]

    # --- style colourings ------------------------------------------------------------------------

    def _colouring(self, image: torch.Tensor, level: int) -> Colouring:
        """The style's colouring at the size a single pass would encode it; streamed when that is
        larger than one pass can hold (a print-size style)."""
        from engine.featurecache import image_key

        from . import features_tag, workable

        h, w = image.shape[-2:]
        hw = size_for_long_edge(h, w, max(16, round(max(self.out_hw) * self.p.style_scale)))
        side = choose_tile_size(self.device, BYTES_PER_PIXEL, None, self.multiple)
        if hw[0] <= side and hw[1] <= side:
            small = workable(scale_style(image, self.out_hw, self.p.style_scale))
            return self.strategy.style_colouring(small, image_key(small), level, self.device, "torch", PRECISION)

        def stream() -> Colouring:
            layout = plan_tiles(hw[0], hw[1], side - 2 * MARGIN, 64, MARGIN, self.multiple)
            source = TileSource(image, hw)
            stage = LevelTiles(self, level, False)
            totals: dict[str, torch.Tensor] = {}
            with torch.no_grad():
                for t in layout.tiles:
                    self.ctx.check()
                    px = source.crop(t.context)
                    f = stage._encode(px)
                    ys, xs = _cells(t.interior.within(t.context), tuple(px.shape[-2:]), level, tuple(f.shape[-2:]))
                    _add(totals, feature_sums(f[..., ys, xs]), "all")
            return colouring(moments_from_sums(totals["all.s1"], totals["all.s2"], totals["all.n"]))

        tag = features_tag("torch", self.device, PRECISION)
        return self.strategy.cache.get(level, f"{image_key(image)}@{hw}{tag}", self.device, stream)

    def global_colouring(self, level: int) -> Colouring | None:
        styles = self.job.image_styles()
        if not styles:
            return None
        return blend_colourings([self._colouring(s.image, level) for s in styles], [s.weight for s in styles])

    def region_colouring(self, k: int, level: int) -> Colouring:
        return self._colouring(self.job.regions[k].style.image, level)  # type: ignore[arg-type]
