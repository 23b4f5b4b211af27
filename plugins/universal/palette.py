"""The last step of a universal render: the decoded picture's colours onto the painting's palette.

The five decoders wash saturated colours out (a Kandinsky through the chain keeps 0.43 of its
palette's distance from a photo; see engine.palette), so after level 1 the picture's pixel-colour
distribution is moved ``alpha x palette`` of the way onto the style's (engine.palette: Pitié's transfer
baked into a lookup table). Regions each take their own style's palette, measured over their
own (soft-weighted) pixels; gaps keep their colours or take the global styles', as the levels do.
Shared by the single pass and the tiled print (which measures the histograms tile by tile).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from engine import palette
from engine.featurecache import LruCache
from engine.images import resize_long_edge
from engine.job import StyleJob

#: long edge a style is measured at: a palette does not depend on the size, and one size makes
#: the single pass and every print agree
STYLE_EDGE = 512


class StylePalettes(LruCache[palette.ColourHistogram]):
    """Colour histograms of style images, by content hash (a style switch in live mode is free)."""

    def get(self, image: torch.Tensor) -> palette.ColourHistogram:
        from engine.featurecache import image_key

        return self.lookup(image_key(image), lambda: palette.histogram(resize_long_edge(image, STYLE_EDGE)))


style_palettes = StylePalettes(64)


_mixtures: LruCache[palette.ColourHistogram] = LruCache(16)


def _mixture(images: Sequence[torch.Tensor], weights: Sequence[float]) -> palette.ColourHistogram:
    """Several styles' palettes in proportion to their weights (each normalised to its pixel count),
    kept per set of styles and weights, so the fit's per-style sorting is kept with it."""
    from engine.featurecache import image_key

    def compute() -> palette.ColourHistogram:
        total = float(sum(weights))
        out = None
        for img, w in zip(images, weights):
            h = style_palettes.get(img)
            k = (w / total) / h.weight
            part = palette.ColourHistogram(h.count * k, h.total * k)
            out = part if out is None else out + part
        assert out is not None
        return out

    return _mixtures.lookup(tuple((image_key(i), float(w)) for i, w in zip(images, weights)), compute)


def strength(job: StyleJob) -> float:
    """How far the colours move: alpha scales it, so alpha 0 still gives back the reconstruction."""
    p = job.params
    return p.alpha * p.palette if p.colour == "none" else 0.0


def wanted(job: StyleJob) -> bool:
    return strength(job) > 0


#: regions' fits run side by side: numpy's sorts release the GIL, and the networks are idle
#: meanwhile (a 3-region live render's palette step took 0.06 s one by one, 0.04 s on two)
_fitting = ThreadPoolExecutor(2, thread_name_prefix="palette-fit")


def fit_maps(job: StyleJob, measured: Sequence[palette.ColourHistogram]) -> list[palette.PaletteMap | None]:
    """One map per measured histogram: [the picture] without regions; [region 0..n-1, gap] with.
    None where the pixels keep their colours (an empty region, a gap that keeps the content)."""
    styles = job.image_styles()
    glob = _mixture([s.image for s in styles], [s.weight for s in styles]) if styles else None
    if not job.regions:
        assert glob is not None
        return [palette.fit(measured[0], glob)]
    targets: list[palette.ColourHistogram | None] = [
        style_palettes.get(region.style.image) if h.weight > 0 else None for region, h in zip(job.regions, measured)]
    gap = measured[len(job.regions)]
    targets.append(glob if job.gaps == "global" and glob is not None and gap.weight > 0 else None)
    return list(_fitting.map(lambda pair: None if pair[1] is None else palette.fit(*pair), zip(measured, targets)))


def apply_maps(x: torch.Tensor, maps: Sequence[palette.PaletteMap | None], masks: Sequence[torch.Tensor] | None,
               strength: float) -> torch.Tensor:
    """``x`` through its maps, blended by the masks (HxW each, summing to one) when there are regions."""
    if masks is None:
        assert maps[0] is not None
        return maps[0].apply(x, strength)
    luts = list(_fitting.map(lambda pm: None if pm is None or strength <= 0 or not pm.rotations else pm.lut(strength), maps))
    c = x.shape[1]
    pixels = x[0].reshape(c, -1)
    out = torch.zeros_like(pixels)
    for m, lut in zip(masks, luts):
        w = m.to(x).reshape(-1)
        if lut is None:
            out.addcmul_(w, pixels)
            continue
        # only the pixels this mask touches go through its table (regions cover a part each)
        idx = w.nonzero().squeeze(1)
        picked = palette.apply_lut(pixels[:, idx].view(1, c, 1, -1), lut).view(c, -1)
        out.index_add_(1, idx, picked * w[idx])
    return out.view_as(x)


#: pixels the palette is measured over at most: a colour distribution binned 32^3 is pinned long
#: before this (every s-th row and column counts past it); at 1024 px the measurement was 0.17 s
#: of a 2.8 s live render on a busy machine (the map is still applied to every pixel)
MEASURE_PIXELS = 1 << 18


def measured_grid(x: torch.Tensor, masks: Sequence[torch.Tensor] | None
                  ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
    """``x`` and its masks on the grid the palette is measured over (see MEASURE_PIXELS)."""
    h, w = x.shape[-2:]
    s = math.ceil(math.sqrt(h * w / MEASURE_PIXELS))
    weights: list[torch.Tensor | None] = [None] if masks is None else list(masks)
    if s <= 1:
        return x, weights
    return x[..., ::s, ::s], [None if m is None else m[::s, ::s] for m in weights]


def take_palette(job: StyleJob, x: torch.Tensor, masks: Sequence[torch.Tensor] | None) -> torch.Tensor:
    """The single pass's step: measure ``x`` (per region when ``masks``), fit, apply."""
    if not wanted(job):
        return x
    measured = palette.histograms(*measured_grid(x, masks))
    return apply_maps(x, fit_maps(job, measured), masks, strength(job))
