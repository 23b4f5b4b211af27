"""AdaIN: arbitrary style in one forward pass (Huang & Belongie 2017).

Encode the content and each style to relu4_1, give the content features the style's channel
means and stds, decode. Fast enough to try styles and paint regions interactively; its quality
is set by the decoder, which is why Brushwork trains and ships its own (see training.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
from torch import nn

from engine.colour import match_histogram, preserve
from engine.errors import InputError
from engine.feedforward import FeedForwardStrategy, decode_picture, never_cancelled
from engine.images import resize, scale_style
from engine.job import StyleJob, StyleSource
from engine.onnxmodels import BACKEND_HELP
from engine.params import param
from engine.precision import INSTANT_PRECISION_HELP, instant_bf16
from engine.regions import region_masks
from engine.strategy import RunContext

from .model import (
    StyleFeatureCache,
    StyleStats,
    adain,
    content_cache,
    load_decoder,
    load_encoder,
    mean_std,
    pad_to_multiple,
    style_cache,
)



@dataclass(frozen=True)
class AdaINParams:
    alpha: float = param(1.0, min=0.0, max=1.0, step=0.05, help="0 keeps the photo, 1 takes the style fully.")
    encoder: Literal["fast", "vgg16"] = param(
        "fast", help="fast: distilled encoder, interactive on a CPU; vgg16: full VGG16 (needs its trained decoder).")
    decoder: Literal["trained", "reconstruction"] = param(
        "trained", advanced=True,
        help="trained: Brushwork's AdaIN decoder (strong style); reconstruction: the plain inverting decoder (faint style).")
    style_scale: float = param(1.0, min=0.1, max=4.0, step=0.05,
                               help="Style image size relative to the output: larger = bigger strokes.")
    colour: Literal["none", "luminance", "histogram"] = param(
        "none", help="Keep the photo's colours: luminance only, or recolour the style to the photo first.")
    preview: bool = param(True, help="Send a quick low-resolution result before the full one.")
    measure: bool = param(False, advanced=True,
                          help="Also report style/content distance figures (a VGG16 pass: about a second on a CPU).")
    backend: Literal["torch", "onnx", "onnx-int8"] = param("torch", advanced=True, help=BACKEND_HELP)
    precision: Literal["auto", "float32"] = param("auto", advanced=True, help=INSTANT_PRECISION_HELP)


_nets: dict[tuple[str, str, str], nn.Module] = {}


def nets(encoder: str, decoder: str, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """Encoder and decoder, loaded once per (encoder, decoder kind, device)."""
    key_e, key_d = (encoder, "enc", str(device)), (encoder, decoder, str(device))
    # channels-last lets oneDNN/cuDNN pick their fast NHWC kernels for these narrow convs
    # (about 1.5x on a CPU at 1024 px)
    if key_e not in _nets:
        _nets[key_e] = load_encoder(encoder).to(device, memory_format=torch.channels_last)
    if key_d not in _nets:
        _nets[key_d] = load_decoder(encoder, prefer=decoder).to(  # type: ignore[arg-type]
            device, memory_format=torch.channels_last).requires_grad_(False)
    return _nets[key_e], _nets[key_d]


def backend_nets(p: AdaINParams, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """The encoder and decoder ``p.backend`` runs: the torch modules, or their ONNX exports
    through onnxruntime (plugins/adain/onnx.py), which are called the same way."""
    if p.backend == "torch":
        return nets(p.encoder, p.decoder, device)
    from .onnx import onnx_nets

    return onnx_nets(p.encoder, p.decoder, p.backend)


def cache_name(p: AdaINParams, device: torch.device | None = None) -> str:
    """The encoder's name in the feature caches: another backend's or precision's features are its own."""
    if p.backend != "torch":
        return f"{p.encoder}/{p.backend}"
    return f"{p.encoder}/bf16" if device is not None and bf16(p, device) else p.encoder


def bf16(p: AdaINParams, device: torch.device) -> bool:
    """A single pass's nets under bfloat16 autocast (engine.precision.instant_bf16; bench/instant.py's
    torch-bf16 rows measure exactly this path)."""
    return p.backend == "torch" and instant_bf16(device, p.precision)


def autocast(p: AdaINParams, device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16, enabled=p.precision == "auto")
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16(p, device))


def blend_stats(stats: Sequence[StyleStats], weights: Sequence[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolate styles: AdaIN is linear in (mean, std), so blending statistics equals
    blending the paper's per-style AdaIN outputs, at the cost of one."""
    total = float(sum(weights))
    if total <= 0:
        raise InputError("The style weights add up to 0; give at least one style a positive weight.")
    mean = sum((w / total) * s.mean for s, w in zip(stats, weights))
    std = sum((w / total) * s.std for s, w in zip(stats, weights))
    return mean, std  # type: ignore[return-value]


class AdaINStrategy(FeedForwardStrategy):
    name = "adain"
    title = "AdaIN (instant)"
    description = "Feed-forward arbitrary style: aligns feature statistics and decodes. Well under a second."
    Params = AdaINParams
    honours_regions = True
    tileable = True
    instant = True

    #: the style cache (a class attribute so tests and the editor can inspect hits)
    cache: StyleFeatureCache = style_cache

    def export_onnx(self, out, int8: bool, p: AdaINParams) -> dict:
        """``brushwork export-model adain``: the encoder and decoder ``p`` picks, and AdaIN end to end."""
        from .onnx import export

        return export(out, int8, p.encoder, p.decoder)
    #: encoded contents: a live edit (mask, alpha, style) re-runs only the transform and the decode
    contents = content_cache

    def tile_renderer(self, job: StyleJob, ctx: RunContext):
        """Hooks for print-size export (engine.export): global content statistics, then tiles."""
        from .tiled import AdaINTiles

        return AdaINTiles(self, job, ctx)

    def style_stats(self, source: StyleSource, encoder: nn.Module, p: AdaINParams, out_hw: tuple[int, int],
                    content: torch.Tensor, device: torch.device) -> StyleStats:
        if source.image is None:
            raise InputError(f"AdaIN needs style images; '{source.name or source.text}' is a text prompt.")
        img = scale_style(source.image, out_hw, p.style_scale)
        if p.colour == "histogram":
            img = match_histogram(img, content)
        with autocast(p, device):  # the statistics are float32 either way (model.StyleFeatureCache)
            return self.cache.get(encoder, cache_name(p, device), img, device)

    def render(self, job: StyleJob, p: AdaINParams, out_hw: tuple[int, int], device: torch.device,
               check: Callable[[], None] = never_cancelled) -> torch.Tensor:
        """One AdaIN pass at ``out_hw``: 1x3xHxW CPU float in [0, 1]; ``check()`` before the decode."""
        encoder, decoder = backend_nets(p, device)
        content = resize(job.content, out_hw)
        for source in job.styles + tuple(r.style for r in job.regions):
            if source.image is None:
                raise InputError(f"AdaIN needs style images; '{source.name or source.text}' is a text prompt.")
        styles = job.image_styles()
        regions = job.regions
        if not styles and not regions:
            raise InputError("AdaIN needs at least one style image (or regions with styles).")
        hw = tuple(content.shape[-2:])

        def encode() -> torch.Tensor:
            x, _ = pad_to_multiple(content.to(device))
            with autocast(p, device):
                return encoder(x.contiguous(memory_format=torch.channels_last)).float()

        with torch.no_grad():
            fc = self.contents.get(job.content, out_hw, cache_name(p, device), device, encode)
            glob = None
            if styles:
                glob = blend_stats([self.style_stats(s, encoder, p, out_hw, content, device) for s in styles],
                                   [s.weight for s in styles])
            if regions:
                target = self.regional_target(job, p, fc, glob, encoder, out_hw, content, device)
            else:
                assert glob is not None
                target = adain(fc, *glob)
            target = p.alpha * target + (1 - p.alpha) * fc
            check()
            with autocast(p, device):
                image = decode_picture(decoder, target, hw)
        return preserve("luminance" if p.colour == "luminance" else "none", image, content.to(device)).cpu()

    def regional_target(self, job: StyleJob, p: AdaINParams, fc: torch.Tensor,
                        glob: tuple[torch.Tensor, torch.Tensor] | None, encoder: nn.Module,
                        out_hw: tuple[int, int], content: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Per-region AdaIN: each region's content statistics (mask-weighted) take its style's,
        and the results are blended by the masks; gaps keep the content features, or take the
        global styles when ``job.gaps == "global"``."""
        masks = region_masks(job, tuple(fc.shape[-2:]))
        target = torch.zeros_like(fc)
        for k, region in enumerate(masks.regions):
            m = masks.weights[k].to(device)
            if m.sum() <= 0:
                continue
            s = self.style_stats(region.style, encoder, p, out_hw, content, device)
            target = target + m * adain(fc, s.mean, s.std, content_stats=mean_std(fc, m))
        gap = masks.gap.to(device)
        if job.gaps == "global" and glob is not None:
            gap_fill = adain(fc, *glob, content_stats=mean_std(fc, gap) if gap.sum() > 0 else None)
        else:
            gap_fill = fc
        return target + gap * gap_fill
