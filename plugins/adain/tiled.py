"""AdaIN tile by tile, for print-size export (``engine.export``).

AdaIN normalises the content's relu4_1 features with their channel mean and std. Each tile's
own statistics would differ from the picture's, and every tile would come out a different
shade: a seam at every tile edge. So the exporter first streams every tile through the encoder
and this module sums the features (and their squares) over each tile's interior, where no
other tile counts them; every tile is then normalised with the whole picture's mean and std.
The style's statistics are streamed the same way when the scaled style is too large for one
pass, so strokes keep the size a single pass would give them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from engine.colour import match_histogram, preserve
from engine.errors import InputError
from engine.feedforward import decode_picture
from engine.images import scale_style, size_for_long_edge
from engine.job import StyleJob
from engine.regions import region_masks
from engine.strategy import RunContext
from engine.tiling import Box, TileSource, cell_slice, choose_tile_size, plan_tiles

from .model import DOWNSAMPLE, EPS, StyleStats, adain, pad_to_multiple

if TYPE_CHECKING:
    from . import AdaINParams, AdaINStrategy

#: context px around each tile: about the encoder+decoder receptive radius, so boxes match a whole pass
MARGIN = 64
#: measured peak bytes per context pixel of encode + decode without gradients (fast encoder, CPU, float32)
BYTES_PER_PIXEL = {"fast": 700, "vgg16": 2600}


def _cells(interior: Box, hw: tuple[int, int]) -> tuple[slice, slice]:
    """Feature cells of an ``hw`` context (aligned to DOWNSAMPLE) whose centre pixel lies in ``interior``.

    Interiors partition the picture, so every cell is counted by exactly one tile. An interior
    that reaches the picture's edge also takes the cells over the reflect padding, as a whole
    pass counts them.
    """
    d = DOWNSAMPLE
    return (cell_slice(interior.y0, interior.y1, hw[0], d, -(-hw[0] // d)),
            cell_slice(interior.x0, interior.x1, hw[1], d, -(-hw[1] // d)))


def _sums(feat: torch.Tensor, weight: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Σw·f, Σw·f², Σw per channel (float64: millions of cells are added up)."""
    f = feat[0].double()
    if weight is None:
        return {"s1": f.sum((1, 2)), "s2": f.pow(2).sum((1, 2)), "n": f.new_tensor(float(f.shape[1] * f.shape[2]))}
    w = weight.double()
    return {"s1": (f * w).sum((1, 2)), "s2": (f.pow(2) * w).sum((1, 2)), "n": w.sum()}


def _stats(s1: torch.Tensor, s2: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (1xCx1x1 float32) from streamed sums, as model.mean_std computes them in one go."""
    n = n.clamp_min(EPS)
    mean = s1 / n
    var = (s2 / n - mean.pow(2)).clamp_min(0)
    return mean.float().view(1, -1, 1, 1), (var + EPS).sqrt().float().view(1, -1, 1, 1)


class AdaINTiles:
    """The :class:`engine.tiling.TileRenderer` for an AdaIN job (global styles and regions)."""

    margin = MARGIN
    multiple = DOWNSAMPLE

    def __init__(self, strategy: "AdaINStrategy", job: StyleJob, ctx: RunContext) -> None:
        from . import nets

        self.p: AdaINParams = job.params
        self.job = job
        self.ctx = ctx
        self.device = ctx.device
        self.bytes_per_pixel = BYTES_PER_PIXEL.get(self.p.encoder, 2600)
        self.encoder, self.decoder = nets(self.p.encoder, self.p.decoder, self.device)
        self.strategy = strategy
        self.out_hw = job.output_hw
        self.autocast = self.device.type == "cuda"
        styles = job.image_styles()
        if not styles and not job.regions:
            raise InputError("AdaIN needs at least one style image (or regions with styles).")
        from . import blend_stats

        self.glob = (blend_stats([self._style(s.image) for s in styles], [s.weight for s in styles])
                     if styles else None)
        self.regions: list[tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = []
        self.gap: torch.Tensor | None = None
        if job.regions:
            # Masks on the whole picture's feature grid (small: 1/64 of the pixels).
            fh, fw = (-(-self.out_hw[0] // DOWNSAMPLE), -(-self.out_hw[1] // DOWNSAMPLE))
            masks = region_masks(job, (fh, fw))
            for k, region in enumerate(masks.regions):
                if region.style.image is None:
                    raise InputError(f"AdaIN needs style images; region '{region.name}' has a text prompt.")
                s = self._style(region.style.image)
                self.regions.append((masks.weights[k], (s.mean, s.std)))
            self.gap = masks.gap

    # --- style statistics --------------------------------------------------------------------

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = pad_to_multiple(x.to(self.device))
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast):
            return self.encoder(x).float()

    def _style(self, image: torch.Tensor) -> StyleStats:
        """The style's relu4_1 mean/std at the size a single pass would encode it."""
        img = image
        if self.p.colour == "histogram":
            from engine.images import resize

            img = match_histogram(img, resize(self.job.content, size_for_long_edge(*self.job.content.shape[-2:], 512)))
        h, w = image.shape[-2:]
        hw = size_for_long_edge(h, w, max(16, round(max(self.out_hw) * self.p.style_scale)))
        side = choose_tile_size(self.device, self.bytes_per_pixel, None, DOWNSAMPLE)
        if hw[0] <= side and hw[1] <= side:
            small = scale_style(img, self.out_hw, self.p.style_scale)
            return self.strategy.cache.get(self.encoder, self.p.encoder, small, self.device)
        layout = plan_tiles(hw[0], hw[1], side - 2 * MARGIN, 64, MARGIN, DOWNSAMPLE)
        source = TileSource(img, hw)
        totals: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for t in layout.tiles:
                self.ctx.check()
                f = self._encode(source.crop(t.context))
                ys, xs = _cells(t.interior.within(t.context), (t.context.h, t.context.w))
                for k, v in _sums(f[..., ys, xs]).items():
                    totals[k] = totals[k] + v if k in totals else v
        return StyleStats(*_stats(totals["s1"], totals["s2"], totals["n"]))

    # --- the renderer protocol ---------------------------------------------------------------

    def _mask_cells(self, m: torch.Tensor, context: Box, fh: int, fw: int) -> torch.Tensor:
        """A whole-picture feature-grid mask, cut to this context's cells (zero past the edge)."""
        y0, x0 = context.y0 // DOWNSAMPLE, context.x0 // DOWNSAMPLE
        out = m.new_zeros((fh, fw))
        part = m[y0:y0 + fh, x0:x0 + fw]
        out[: part.shape[0], : part.shape[1]] = part
        return out.to(self.device)

    def measure(self, context_pixels: torch.Tensor, interior: Box, context: Box) -> dict[str, torch.Tensor]:
        f = self._encode(context_pixels)
        ys, xs = _cells(interior, tuple(context_pixels.shape[-2:]))
        cells = f[..., ys, xs]
        sums = {f"all.{k}": v for k, v in _sums(cells).items()}
        if self.regions:
            fh, fw = f.shape[-2:]
            for k, (m, _) in enumerate(self.regions):
                mk = self._mask_cells(m, context, fh, fw)[ys, xs]
                sums.update({f"r{k}.{n}": v for n, v in _sums(cells, mk).items()})
            if self.job.gaps == "global" and self.gap is not None:
                mg = self._mask_cells(self.gap, context, fh, fw)[ys, xs]
                sums.update({f"gap.{n}": v for n, v in _sums(cells, mg).items()})
        return sums

    def render(self, context_pixels: torch.Tensor, totals: dict[str, torch.Tensor], context: Box) -> torch.Tensor:
        def stats(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
            return tuple(t.to(self.device) for t in _stats(totals[f"{prefix}.s1"], totals[f"{prefix}.s2"],
                                                           totals[f"{prefix}.n"]))  # type: ignore[return-value]

        x, hw = pad_to_multiple(context_pixels.to(self.device))
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast):
            fc = self.encoder(x).float()
        if self.regions:
            fh, fw = fc.shape[-2:]
            target = torch.zeros_like(fc)
            for k, (m, (s_mean, s_std)) in enumerate(self.regions):
                if float(totals[f"r{k}.n"]) <= 0:
                    continue
                target = target + self._mask_cells(m, context, fh, fw) * adain(fc, s_mean, s_std, stats(f"r{k}"))
            assert self.gap is not None
            gap = self._mask_cells(self.gap, context, fh, fw)
            if self.job.gaps == "global" and self.glob is not None and float(totals["gap.n"]) > 0:
                fill = adain(fc, *self.glob, content_stats=stats("gap"))
            else:
                fill = fc
            target = target + gap * fill
        else:
            assert self.glob is not None
            target = adain(fc, *self.glob, content_stats=stats("all"))
        target = self.p.alpha * target + (1 - self.p.alpha) * fc
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.autocast):
            image = decode_picture(self.decoder, target, hw)
        if self.p.colour == "luminance":
            image = preserve("luminance", image, context_pixels.to(self.device))
        return image
