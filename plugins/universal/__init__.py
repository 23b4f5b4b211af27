"""Universal style transfer: multi-level whitening and colouring (Li et al. 2017).

Coarse to fine through the distilled-16x encoder/decoder pairs (Wang et al. 2020), deepest
level first: encode the current picture, whiten its features with their own covariance, colour
them with the style's covariance and mean, blend with alpha, decode; the decoded picture is what
the next, finer level encodes. No training: the reconstruction decoders are all it needs, which
is why it carries the painting's palette and strokes where AdaIN-through-one-decoder tints.

``depth`` picks the deepest level used: 5 runs 5 -> 4 -> 3 -> 2 -> 1, 3 runs 3 -> 2 -> 1 (a
lighter touch, mostly colour and fine texture, and faster: the deep nets cost most). The last
level is always 1, whose decoder gives back full-resolution detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import nn

from engine import distilled
from engine.colour import preserve
from engine.errors import InputError
from engine.featurecache import ContentFeatureCache
from engine.feedforward import FeedForwardStrategy, decode_picture, never_cancelled
from engine.images import pad_to_multiple, resize, scale_style
from engine.job import StyleJob, StyleSource
from engine.onnxmodels import BACKEND_HELP
from engine.params import param
from engine.precision import INSTANT_PRECISION_HELP, instant_bf16
from engine.regions import RegionMasks, bounding_box, region_masks


from .cache import StyleLevelCache, scaled_styles, style_levels
from .palette import take_palette, wanted
from .wct import Colouring, Moments, apply, blend_colourings, colouring, masked_moments, moments, transform, whitening

#: the deepest encoder pools four times; every level pads to this so all share one pixel grid
MULTIPLE = 16
LEVELS = (5, 4, 3, 2, 1)
#: shortest edge a picture is encoded at: the deepest level's 3x3 reflection-padded convolutions
#: need at least 2x2 features; smaller styles and outputs are enlarged to this (and the output
#: brought back to its size)
MIN_EDGE = 32


def workable(image: torch.Tensor) -> torch.Tensor:
    """``image`` enlarged, keeping its aspect, so its short edge is at least :data:`MIN_EDGE`."""
    h, w = image.shape[-2:]
    if min(h, w) >= MIN_EDGE:
        return image
    k = MIN_EDGE / min(h, w)
    return resize(image, (max(MIN_EDGE, round(h * k)), max(MIN_EDGE, round(w * k))))


@dataclass(frozen=True)
class UniversalParams:
    alpha: float = param(0.6, min=0.0, max=1.0, step=0.05,
                         help="0 keeps the photo, 1 takes the style's statistics fully at every level.")
    palette: float = param(1.0, min=0.0, max=1.0, step=0.05,
                           help="After the last level, how far the pixel colours move onto the painting's palette, "
                                "times alpha (the decoders wash saturated colours out): 0 = as decoded.")
    depth: int = param(5, min=1, max=5, step=1,
                       help="Deepest level used: 5 = all (strokes and palette), 3 = a lighter, faster touch, "
                            "1 = colour only.")
    style_scale: float = param(1.0, min=0.1, max=4.0, step=0.05,
                               help="Style image size relative to the output: larger = bigger strokes.")
    colour: Literal["none", "luminance"] = param("none", help="luminance: keep the photo's colours, take the style's light and texture.")
    preview: bool = param(True, help="Send a quick low-resolution result before the full one.")
    measure: bool = param(False, advanced=True,
                          help="Also report style/content distance figures (a VGG16 pass: about a second on a CPU).")
    # no onnx-int8 here: the whitening amplifies INT8 rounding (0.038-0.05 mean abs difference
    # from torch where AdaIN's is 0.014; quantising level 5 alone still gave 0.034)
    backend: Literal["torch", "onnx"] = param("torch", advanced=True, help=BACKEND_HELP.split("; onnx-int8")[0] + ".")
    precision: Literal["auto", "float32"] = param("auto", advanced=True, help=INSTANT_PRECISION_HELP)


def levels(depth: int) -> tuple[int, ...]:
    """Levels in the order they run, coarse to fine: depth, depth-1, ..., 1."""
    return tuple(l for l in LEVELS if l <= depth)


_nets: dict[tuple[int, str, torch.dtype], tuple[nn.Module, nn.Module]] = {}


def net_dtype(device: torch.device, precision: str = "auto") -> torch.dtype:
    """What the torch encoders and decoders hold their weights in: bfloat16 where
    :func:`engine.precision.instant_bf16` says so (weights, not autocast: per level at 512 px the
    decoders ran 2.3-3.1x and the encoders 1.2-2.2x faster than float32, where autocast over
    float32 weights gained a third of that, casting every weight on every call); float32
    elsewhere, and on a GPU, which autocasts to float16 around them (see :func:`encode`)."""
    return torch.bfloat16 if instant_bf16(device, precision) else torch.float32


def nets(level: int, device: torch.device, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, nn.Module]:
    """Encoder and decoder ``level``, loaded once per device and dtype, channels-last (oneDNN's NHWC
    kernels); without autograd both run with in-place ReLUs (engine.distilled)."""
    key = (level, str(device), dtype)
    if key not in _nets:
        enc = distilled.load_encoder(level).requires_grad_(False)
        dec = distilled.load_decoder(level).requires_grad_(False)
        _nets[key] = (enc.to(device, dtype, memory_format=torch.channels_last),
                      dec.to(device, dtype, memory_format=torch.channels_last))
    return _nets[key]


def backend_nets(level: int, device: torch.device, backend: str = "torch",
                 precision: str = "auto") -> tuple[nn.Module, nn.Module]:
    """Level ``level``'s encoder and decoder as ``backend`` runs them: the torch modules, or their
    ONNX exports through onnxruntime (plugins/universal/onnx.py); the WCT between stays in torch."""
    if backend == "torch":
        return nets(level, device, net_dtype(device, precision))
    from .onnx import onnx_nets

    return onnx_nets(level, backend)


def features_tag(backend: str, device: torch.device, precision: str) -> str:
    """What the cached features and colourings are keyed by besides the image: each backend and
    precision encodes a little differently, and their results are not mixed."""
    if backend != "torch":
        return f"/{backend}"
    if net_dtype(device, precision) != torch.float32:
        return "/bf16"
    return "/f32" if precision == "float32" and device.type == "cuda" else ""


def _weights_dtype(net: nn.Module) -> torch.dtype:
    p = next(iter(net.parameters()), None)
    return p.dtype if p is not None else torch.float32


def _autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda" and precision == "auto")


def encode(encoder: nn.Module, x: torch.Tensor, device: torch.device, precision: str = "auto") -> torch.Tensor:
    """float32 features of a 1x3xHxW picture, padded to :data:`MULTIPLE`."""
    xp, _ = pad_to_multiple(x.to(device), MULTIPLE)
    with _autocast(device, precision):
        return encoder(xp.to(_weights_dtype(encoder)).contiguous(memory_format=torch.channels_last)).float()


def decode(decoder: nn.Module, feat: torch.Tensor, hw: tuple[int, int], device: torch.device,
           precision: str = "auto") -> torch.Tensor:
    with _autocast(device, precision):
        return decode_picture(decoder, feat.to(_weights_dtype(decoder)), hw)


def level_stride(level: int) -> int:
    """Pixels per feature cell at ``level`` (relu1_1 is full resolution, each pool halves it)."""
    return 2 ** (level - 1)


def level_masks(job: StyleJob, hw: tuple[int, int], level: int, finest: RegionMasks | None = None) -> RegionMasks:
    """The regions on level ``level``'s feature grid of an ``hw`` picture padded to MULTIPLE:
    measured over the picture's own cells, the padding cells repeating the edge (a mask resized
    onto the padded grid would be stretched over the padding, off by up to 15 px at the far edge).

    Given ``finest`` (level 1's, from this function), a deeper level's cells are its cells'
    averages: every level then sees the same soft edge, and pooling costs a tenth of resizing each
    region's full-size mask again (five levels of two regions: 8 ms of a 150 ms live draft)."""
    if finest is not None and level == 1:
        return finest
    d = level_stride(level)
    own = (-(-hw[0] // d), -(-hw[1] // d))
    grid = (-(-hw[0] // MULTIPLE) * MULTIPLE // d, -(-hw[1] // MULTIPLE) * MULTIPLE // d)
    if finest is None:
        m = region_masks(job, own)
    else:
        pooled = F.avg_pool2d(torch.cat([finest.weights[:, : hw[0], : hw[1]], finest.gap[None, : hw[0], : hw[1]]]),
                              d, d, ceil_mode=True)  # a part cell at the far edge averages what it holds
        m = RegionMasks(pooled[:-1], pooled[-1], finest.regions)
    pad = (0, grid[1] - own[1], 0, grid[0] - own[0])
    if not any(pad):
        return m
    grow = lambda t: F.pad(t[None], pad, mode="replicate")[0]  # noqa: E731
    return RegionMasks(grow(m.weights), grow(m.gap[None])[0], m.regions)


#: cells a region's (or the gap's) moments are measured over at most, every s-th row and column
#: past it: a 24-128 channel covariance is pinned to ~0.4 % by 65k cells, and measuring 3 masks over
#: 1024 px level-1 features was a seventh of a live render (wct.MAX_CELLS thins the sums further)
MOMENT_CELLS = 1 << 16


def sparse_moments(feat: torch.Tensor, weight: torch.Tensor) -> Moments:
    """Moments of 1xCxHxW ``feat`` weighted by ``weight`` (HxW), on a grid thinned to MOMENT_CELLS;
    the count stays the whole grid's (wct.trusted judges the region, not the sample)."""
    h, w = feat.shape[-2:]
    s = math.isqrt(max(1, h * w // MOMENT_CELLS))
    if s <= 1:
        return masked_moments(feat, [weight])[0]
    m = masked_moments(feat[..., ::s, ::s], [weight[::s, ::s]])[0]
    return Moments(m.mean, m.cov, float(weight.sum()))


def style_image(source: StyleSource) -> torch.Tensor:
    if source.image is None:
        raise InputError(f"Universal style transfer needs style images; '{source.name or source.text}' is a text prompt.")
    return source.image


class UniversalStrategy(FeedForwardStrategy):
    name = "universal"
    title = "Universal (instant, WCT)"
    description = ("Multi-level whitening and colouring through five encoder/decoder pairs: the painting's "
                   "palette and strokes, no training. About half a second at 512 px on a CPU.")
    Params = UniversalParams
    honours_regions = True
    #: prints run level by level over tiles (see tiled.py)
    tileable = True
    instant = True

    #: per-level style colourings (a class attribute so tests and the editor can inspect hits)
    cache: StyleLevelCache = style_levels
    #: the first level's encoded content and its whitening: only that level sees the photo itself,
    #: so a live edit (alpha, a style, a mask) skips its encoder and its eigh
    contents = ContentFeatureCache(8)

    def export_onnx(self, out, int8: bool, p: UniversalParams) -> dict:
        """``brushwork export-model universal``: the five encoder/decoder pairs (the WCT stays the host's)."""
        from .onnx import export

        return export(out, int8)

    def tile_renderer(self, job: StyleJob, ctx):
        """Hooks for print-size export (engine.export): one tile stage per level."""
        from .tiled import UniversalTiles

        return UniversalTiles(self, job, ctx)

    def style_colouring(self, image: torch.Tensor, key: str, level: int, device: torch.device,
                        backend: str = "torch", precision: str = "auto") -> Colouring:
        """The colouring of ``image`` (at the size to encode; ``key`` its hash) at ``level``, cached."""
        def compute() -> Colouring:
            with torch.no_grad():
                encoder = backend_nets(level, device, backend, precision)[0]
                return colouring(moments(encode(encoder, image, device, precision)))

        return self.cache.get(level, key + features_tag(backend, device, precision), device, compute)

    def render(self, job: StyleJob, p: UniversalParams, out_hw: tuple[int, int], device: torch.device,
               check: Callable[[], None] = never_cancelled) -> torch.Tensor:
        """One coarse-to-fine pass at ``out_hw``: 1x3xHxW CPU float in [0, 1]; ``check()`` before each level."""
        # the photo at this size, kept with its encodings: a live edit would resize 1 MP again
        content = self.contents.get(job.content, out_hw, "universal/pixels", torch.device("cpu"),
                                    lambda: workable(resize(job.content, out_hw)))
        styles = job.image_styles()
        for source in job.styles + tuple(r.style for r in job.regions):
            style_image(source)
        if not styles and not job.regions:
            raise InputError("Universal style transfer needs at least one style image (or regions with styles).")
        if styles and sum(s.weight for s in styles) <= 0:
            raise InputError("The style weights add up to 0; give at least one style a positive weight.")
        hw = tuple(content.shape[-2:])
        # each style at its stroke scale, hashed once: the cache keys every level by it
        scaled: dict[int, tuple[torch.Tensor, str]] = {}

        def prepared(source: StyleSource) -> tuple[torch.Tensor, str]:
            if id(source) not in scaled:
                image = style_image(source)
                scaled[id(source)] = scaled_styles.get(
                    image, out_hw, p.style_scale, lambda: workable(scale_style(image, out_hw, p.style_scale)))
            return scaled[id(source)]

        x = content
        # per level, the deeper ones pooled from level 1's; the palette step reuses level 1's
        masks: dict[int, RegionMasks] = {1: level_masks(job, hw, 1)} if job.regions else {}
        tag = features_tag(p.backend, device, p.precision)
        with torch.no_grad():
            for i, level in enumerate(levels(p.depth)):
                check()
                encoder, decoder = backend_nets(level, device, p.backend, p.precision)

                def first(encoder: nn.Module = encoder) -> tuple[torch.Tensor, Moments, torch.Tensor | None]:
                    f0 = encode(encoder, content, device, p.precision)
                    m0 = moments(f0)
                    return f0, m0, whitening(m0)

                if i == 0:
                    f, glob_m, white = self.contents.get(job.content, out_hw, f"universal{level}{tag}", device, first)
                else:
                    f = encode(encoder, x, device, p.precision)
                    # regions measure their own moments (regional); the whole picture's are not needed
                    glob_m, white = (None if job.regions else moments(f)), None
                glob = None
                if styles:
                    glob = blend_colourings([self.style_colouring(*prepared(s), level, device, p.backend, p.precision)
                                             for s in styles],
                                            [s.weight for s in styles])
                if job.regions:
                    masks[level] = level_masks(job, hw, level, masks[1])
                    f = self.regional(job, p, f, masks[level], glob, level, prepared, device)
                else:
                    assert glob is not None and glob_m is not None
                    f = apply(f, *transform(glob_m, glob, p.alpha, white))
                x = decode(decoder, f, hw, device, p.precision)
            if wanted(job):
                check()
                cut = None
                if job.regions:
                    rm = masks[1]
                    cut = [m[: hw[0], : hw[1]] for m in (*rm.weights, rm.gap)]
                x = take_palette(job, x, cut)
        out = preserve(p.colour, x, content.to(device)).cpu()
        return out if tuple(out.shape[-2:]) == tuple(out_hw) else resize(out, out_hw)

    def regional(self, job: StyleJob, p: UniversalParams, f: torch.Tensor, masks: RegionMasks, glob: Colouring | None,
                 level: int, prepared, device: torch.device) -> torch.Tensor:
        """Each region's content covariance (mask-weighted) coloured by its own style, blended by
        the soft masks; gaps keep the features, or take the global styles when ``gaps="global"``."""
        gap = masks.gap.to(device)
        fill_gap = job.gaps == "global" and glob is not None and float(gap.sum()) > 0
        if fill_gap:
            # like each region, the gap is measured and transformed inside its bounding box only
            out = torch.zeros_like(f)
            box = bounding_box(gap)
            assert box is not None and glob is not None
            crop, g = f[(..., *box)], gap[box]
            out[(..., *box)] = apply(crop, *transform(sparse_moments(crop, g), glob, p.alpha)).mul_(g)
        else:
            out = f * gap
        # each region measured and transformed inside its mask's bounding box only (zero weight
        # elsewhere, so the same sums): a region covering a third of the picture costs a third
        for k, region in enumerate(masks.regions):
            box = bounding_box(masks.weights[k])
            if box is None:
                continue
            m = masks.weights[k][box].to(device)
            crop = f[(..., *box)]
            col = self.style_colouring(*prepared(region.style), level, device, p.backend, p.precision)
            mom = sparse_moments(crop, m)
            out[(..., *box)].addcmul_(m, apply(crop, *transform(mom, col, p.alpha)))
        return out
