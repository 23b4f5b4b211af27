"""CLIP text-guided styling (after CLIPstyler, Kwon & Ye 2022), with per-region prompts.

The picture is optimised directly: a global directional CLIP loss, a patch-wise directional
loss over random augmented crops (easy patches dropped by a threshold), a VGG content loss and
TV. Text regions sample their crops inside their own mask and score them against their own
prompt; image regions in the same job take their style through the masked Gram loss; pixels
no style covers are composited back from the content, so they stay the photo exactly.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
import torch.nn.functional as F

from engine import features
from engine.errors import InputError
from engine.images import resize
from engine.job import StyleJob, StyleSource
from engine.metrics import figures
from engine.optimise import StyleObjective, StyleTerm, layers_for
from engine.params import param
from engine.regions import region_masks
from engine.strategy import Event, Progress, Result, RunContext, Strategy
from engine.styletargets import blended_targets

from . import model as clip_model
from .canvas import make_canvas
from .losses import bounding_box, directional_loss, sample_crops, text_direction, thresholded_mean

#: below this much total mask a target is skipped (e.g. the gap when regions cover everything)
_MIN_COVER = 1e-3


@dataclass(frozen=True)
class ClipParams:
    model: str = param("ViT-B-32", help="open_clip model name, or local-dir:FOLDER holding open_clip_config.json and weights.")
    pretrained: str = param("laion2b_s34b_b79k", help="open_clip pretrained tag; weights come from open_clip's cache (fetched once when online).")
    checkpoint: str = param("", help="A local CLIP weights file (.safetensors, .bin, .pt) for the model; used instead of the tag.")
    cache_dir: str = param("", help="Where open_clip caches downloaded weights (default: the Hugging Face cache).", advanced=True)
    source_prompt: str = param("a photo", help="What the content is now; the style moves from this towards the prompt.")
    steps: int = param(200, min=1, max=5000, step=10, help="Optimisation steps.")
    canvas: Literal["network", "pyramid", "pixels"] = param("network", help="What is optimised: CLIPstyler's light network over the content (smooth, the default), a pyramid of offsets, or raw pixels (fastest, speckled).", advanced=True)
    lr: float = param(0.02, min=0.001, max=0.5, step=0.005, help="Adam step size on the pixels.", advanced=True)
    global_weight: float = param(1.0, min=0.0, max=100.0, step=0.1, help="Whole-picture (or whole-region) directional CLIP loss.")
    patch_weight: float = param(4.0, min=0.0, max=100.0, step=0.1, help="Patch-wise directional CLIP loss: local texture of the prompt.")
    content_weight: float = param(1.0, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content (VGG features).")
    tv_weight: float = param(2.0, min=0.0, max=1000.0, step=0.5, help="Smoothness; raise it to suppress CLIP's high-frequency noise.")
    style_weight: float = param(20.0, min=0.0, max=10000.0, step=1.0, log=True, help="Gram loss weight for image styles and image regions.")
    crops: int = param(32, min=1, max=256, step=1, help="Random crops per step for the patch loss (CLIPstyler uses 64).")
    crop_size: float = param(0.25, min=0.05, max=1.0, step=0.05, help="Crop side as a fraction of the long edge: larger = bigger motifs.")
    threshold: float = param(0.7, min=0.0, max=2.0, step=0.05, help="Patches whose loss is below this already read as the prompt and are dropped.")
    net: Literal["vgg16", "distilled16x", "vgg19"] = param("vgg16", help="Content (and Gram) loss network.")


@dataclass(frozen=True, eq=False)
class TextTarget:
    """One prompt and where it applies: mask HxW (None = everywhere), its text direction and crop box."""

    name: str
    direction: torch.Tensor
    mask: torch.Tensor | None
    box: tuple[int, int, int, int]
    weight: float


def _blend_directions(clip, styles: list[StyleSource], source: str) -> torch.Tensor:
    total = sum(s.weight for s in styles) or 1.0
    d = sum((s.weight / total) * text_direction(clip, s.text, source) for s in styles)
    return F.normalize(d, dim=-1)


class ClipStrategy(Strategy):
    name = "clip"
    title = "CLIP prompt (optimisation)"
    description = ("Styles the picture from a text prompt with CLIP (CLIPstyler's directional losses); "
                   "per-region prompts can mix with image styles in other regions.")
    Params = ClipParams
    style_sources = frozenset({"text", "image"})
    honours_regions = True

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: ClipParams = job.params
        start = time.perf_counter()
        dev = ctx.device
        clip = clip_model.get(p.model, p.pretrained, p.checkpoint, p.cache_dir, dev)
        ctx.check()
        source = (job.metadata.get("source_prompt") or p.source_prompt).strip()
        if not source:
            raise InputError("The source prompt is empty; describe the content, e.g. 'a photo'.")
        out_hw = job.output_hw
        content = resize(job.content, out_hw).to(dev)
        rm = region_masks(job, out_hw)
        full = torch.ones(out_hw)
        has_regions = bool(job.regions)
        # Global styles cover the whole picture, or only the gap when regions exist and gaps="global".
        global_mask = None if not has_regions else (rm.gap if job.gaps == "global" else None)
        global_applies = not has_regions or job.gaps == "global"
        if job.styles and not global_applies:
            warnings.warn("The job's whole-picture styles are ignored: it has regions and gaps='content' "
                          "(use gaps='global' to style the rest of the picture with them).", stacklevel=2)

        net = features.get(p.net, dev)
        style_layers, content_layer = layers_for(p.net, "classic")
        texts: list[TextTarget] = []
        terms: list[StyleTerm] = []
        editable = torch.zeros(out_hw) if has_regions else full.clone()

        def add_text(name: str, styles: list[StyleSource], mask: torch.Tensor | None, weight: float) -> None:
            m = mask if mask is not None else full
            texts.append(TextTarget(name, _blend_directions(clip, styles, source).to(dev), mask,
                                    bounding_box(m), weight))

        g_text = [s for s in job.styles if s.kind == "text"]
        g_image = [s for s in job.styles if s.kind == "image"]
        gm = global_mask if global_mask is not None else full
        if global_applies and float(gm.sum()) > _MIN_COVER * gm.numel():
            if g_text:
                add_text("prompt", g_text, global_mask, 1.0)
            if g_image:
                grams = blended_targets(net, g_image, style_layers, out_hw, 1.0, "none", content, dev)
                terms.append(StyleTerm(grams, None if global_mask is None else global_mask.to(dev)))
            if has_regions and (g_text or g_image):
                editable = editable + rm.gap
        for k, region in enumerate(job.regions):
            w = rm.weights[k]
            if float(w.sum()) <= _MIN_COVER * w.numel():
                continue
            editable = editable + w
            if region.style.kind == "text":
                add_text(region.name or f"region {k + 1}", [region.style], w, region.style.weight)
            else:
                grams = blended_targets(net, [region.style], style_layers, out_hw, 1.0, "none", content, dev)
                terms.append(StyleTerm(grams, w.to(dev), region.style.weight))
        if not texts and not terms:
            raise InputError("Nothing to style: every region is empty, and gaps keep the content.")
        editable = editable.clamp(0, 1).to(dev)[None, None]
        objective = StyleObjective(net, content, terms, style_layers, content_layer, p.content_weight,
                                   p.style_weight if terms else 0.0, p.tv_weight)

        gen = torch.Generator().manual_seed(job.seed)
        crop_px = max(8, round(p.crop_size * max(out_hw)))
        with torch.no_grad():
            ref_global = [clip.encode_images(self._box(content, t.box)) for t in texts]
        # Start a little off the content: at the content itself every image direction is zero
        # and the directional losses have no defined gradient.
        noise = (torch.rand(content.shape, generator=gen) - 0.5).to(dev) * 0.04
        canvas = make_canvas(p.canvas, content, noise, gen)
        opt = torch.optim.Adam(canvas.parameters(), lr=p.lr * canvas.lr_scale)
        text_total = sum(t.weight for t in texts) or 1.0
        y = content
        for step in range(1, p.steps + 1):
            ctx.check()
            opt.zero_grad(set_to_none=True)
            y = editable * canvas.image() + (1 - editable) * content
            loss, figs = objective(y)
            g_sum = p_sum = 0.0
            for t, ref in zip(texts, ref_global):
                g = directional_loss(clip.encode_images(self._box(y, t.box)), ref, t.direction).mean()
                crops = sample_crops(t.mask, out_hw, p.crops, crop_px, clip.image_size, gen, device=dev)
                # Each patch's direction starts from the same crop of the content (CLIPstyler uses the
                # whole content): a region's patches then measure their own change, not the region's
                # difference from the rest of the photo.
                with torch.no_grad():
                    ref_crops = clip.encode_images(crops.apply(content))
                pl = thresholded_mean(directional_loss(clip.encode_images(crops.apply(y)), ref_crops, t.direction),
                                      crops.coverage, p.threshold)
                share = t.weight / text_total
                loss = loss + share * (p.global_weight * g + p.patch_weight * pl)
                g_sum += share * g.item()
                p_sum += share * pl.item()
            loss.backward()
            opt.step()
            canvas.after_step()
            figs = {"loss": loss.item(), "global": g_sum, "patch": p_sum, **{k: v for k, v in figs.items() if k != "loss"}}
            preview = y.detach().clamp(0, 1).cpu() if ctx.wants_preview(step, p.steps) else None
            yield Progress(step=step, total=p.steps, stage=f"{out_hw[1]}x{out_hw[0]}", preview=preview, losses=figs)
        with torch.no_grad():
            image = (editable * canvas.image() + (1 - editable) * content).clamp(0, 1)
            final = {"clip_global": sum((t.weight / text_total) * directional_loss(
                clip.encode_images(self._box(image, t.box)), ref, t.direction).mean().item()
                for t, ref in zip(texts, ref_global))} if texts else {}
        image = image.cpu()
        figs_out = figures(image, job.content, [s.image for s in g_image] if global_applies and not has_regions else [],
                           [s.weight for s in g_image])
        yield Result(image, {**figs_out, **final}, time.perf_counter() - start)

    @staticmethod
    def _box(image: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
        top, bottom, left, right = box
        return image[..., top:bottom, left:right]
