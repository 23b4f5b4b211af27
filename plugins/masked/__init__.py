"""Segmentation-masked optimisation: each region gets its own style, and no style spills over.

Every region is a style term whose Gram matrices are taken only under the region's mask
(downsampled to each layer), matched to that region's own style; one content loss and TV
act on the whole picture, so regions stay one photo. It runs coarse-to-fine like the
multi-scale strategy, with the masks resized per scale, and feathers every region edge a
little so neighbouring styles meet in a soft band rather than a seam.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Iterator, Literal

import torch

from engine.errors import InputError
from engine.job import StyleJob, StyleSource
from engine.losses import style_grams
from engine.metrics import figures, style_distance
from engine.optimise import OptimisationParams, ScheduleParams, StyleTerm, coarse_to_fine, scale_schedule
from engine.params import param
from engine.regions import RegionMasks, region_masks
from engine.strategy import Event, Result, RunContext, Strategy
from engine.styletargets import blended_targets, prepare_style

#: a region or gap smaller than this fraction of the picture gets no style term (nothing to style)
MIN_AREA = 1e-4


@dataclass(frozen=True)
class _MaskedOwn:
    blend: float = param(4.0, min=0.0, max=64.0, step=1.0, help="Feather (px at the output size) added to every region edge, so styles meet in a soft band, not a seam.")


@dataclass(frozen=True)
class MaskedParams(_MaskedOwn, OptimisationParams, ScheduleParams):
    """The schedule, the shared optimisation parameters (engine.optimise), then blend."""

    # The shared defaults (engine.optimise; they were 256 px, 20/15, weight 5 on relu4_2, style
    # 20). bench/gatys.py's two-half job at 512 px, 1 thread (left: the pair's style, right: Great
    # Wave), per half against its own style, gram / colour / content / seconds, before -> now:
    # beagle 0.763 / 0.878 / 1.111 / 38 -> 0.881 / 0.912 / 1.044 / 83; palm beach 0.783 / 0.912 /
    # 0.983 / 37 -> 0.892 / 0.935 / 0.972 / 80. The halves stay apart: each half's gram closed toward
    # the *other* half's style 0.366 -> 0.337 and 0.316 -> 0.270 (own minus other: 0.40 -> 0.54,
    # 0.47 -> 0.62). Only the help differs here:
    coarse_steps: int = param(40, min=1, max=2000, step=10, help="Steps at the coarsest scale, where the regions take their styles.")
    style_weight: float = param(40.0, min=0.0, max=10000.0, step=1.0, log=True, help="How strongly each region follows its style.")
    colour: Literal["none", "luminance", "histogram"] = param("none", help="Keep the photo's colours: luminance only, or recolour each style first.")
    # Its own balance (issue 27): each region's Gram, matched on its own, pulls harder than one
    # whole-picture Gram, and two style terms cost more steps' time. bench/sweep.py --strategy
    # masked on the 30 broad-sample pairs (a two-half job, the pair's style on both halves),
    # 512 px, one thread, pass all four targets / content over the textbook's median (worst tenth) /
    # CPU time over the textbook's median: the shared defaults (50 fine steps) 72-82 s against
    # limits of 60-64 s on the first four pairs; 30 fine steps at content 2.5 21/30, 1.005 (1.107),
    # 0.076; content 3.5 22/30, 0.952 (1.069); content 5 24/30, 0.895 (1.021), three pairs' colour
    # 0.78-0.80; and palette weight 20 on top 26/30, 0.899 (1.021), colour closed median 0.907
    # (worst tenth 0.828), Gram minus the textbook's +0.026 (+0.005), time 0.076 (worst 0.082).
    fine_steps: int = param(30, min=1, max=2000, step=5, help="Steps at each finer scale (detail only).")
    content_weight: float = param(5.0, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content.")
    palette_weight: float = param(20.0, min=0.0, max=1000.0, step=1.0, log=True, advanced=True,
                                  help="Strength of palette=hold's colour term.")


def blended_job(job: StyleJob, blend: float) -> StyleJob:
    """The job with every region feathered by at least ``blend`` px (the user's feather wins if larger)."""
    if blend <= 0 or not job.regions:
        return job
    return job.with_(regions=tuple(replace(r, feather=max(r.feather, blend)) for r in job.regions))


def check_styles(job: StyleJob, masks: RegionMasks) -> None:
    """Refuse a job whose gaps ask for a global style it does not have."""
    if job.gaps == "global" and float(masks.gap.mean()) > MIN_AREA and not job.image_styles():
        raise InputError("gaps='global' fills the pixels outside every region with the job's global style, "
                         "but the job has no global style image: add one, or use gaps='content'.")
    if not job.regions and not job.image_styles():
        raise InputError("The masked strategy needs regions with style images, or a global style image.")


class MaskedStrategy(Strategy):
    name = "masked"
    title = "Regions (masked optimisation)"
    description = ("Each painted region takes its own style, matched only under its mask: no style pollution "
                   "across objects. Coarse-to-fine, with soft region edges.")
    Params = MaskedParams
    #: video: each frame from the previous output (engine.optimise.coarse_to_fine)
    links_frames = True
    honours_regions = True

    def terms(self, job: StyleJob, p: MaskedParams, net, hw: tuple[int, int], content: torch.Tensor,
              layers: tuple[str, ...], cache: dict) -> list[StyleTerm]:
        """One masked style term per region (weighted by its area) plus the gap's, at size ``hw``."""
        dev = content.device
        masks = region_masks(job, hw)

        def grams(style: StyleSource) -> dict[str, torch.Tensor]:
            key = (style.key(), hw)
            if key not in cache:
                cache[key] = style_grams(net, prepare_style(style.image, hw, p.style_scale, p.colour, content, dev), layers)
            return cache[key]

        if not job.regions:
            return [StyleTerm(blended_targets(net, job.image_styles(), layers, hw, p.style_scale, p.colour, content, dev))]
        out = []
        # Weight = area: the masked Gram is a per-area mean, so this gives every pixel the same pull.
        for k, region in enumerate(job.regions):
            w = masks.weights[k]
            area = float(w.mean())
            if area > MIN_AREA:
                out.append(StyleTerm(grams(region.style), mask=w.to(dev), weight=area))
        gap_area = float(masks.gap.mean())
        if job.gaps == "global" and gap_area > MIN_AREA:
            key = ("global", hw)
            if key not in cache:
                cache[key] = blended_targets(net, job.image_styles(), layers, hw, p.style_scale, p.colour, content, dev)
            out.append(StyleTerm(cache[key], mask=masks.gap.to(dev), weight=gap_area))
        return out

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: MaskedParams = job.params
        start = time.perf_counter()
        job = blended_job(job, p.blend)
        final = region_masks(job)  # checks every mask before any work starts
        check_styles(job, final)
        sizes = scale_schedule(job.output_hw, p.start_size, p.scale_factor)
        steps = [p.coarse_steps] + [p.fine_steps] * (len(sizes) - 1)
        cache: dict = {}

        def terms_at(net, layers, hw, content):
            return self.terms(job, p, net, hw, content, tuple(layers), cache)

        image = yield from coarse_to_fine(job, ctx, p, sizes, steps, terms_at)
        yield Result(image, self.figures(job, image, final), time.perf_counter() - start)

    @staticmethod
    def figures(job: StyleJob, image: torch.Tensor, masks: RegionMasks) -> dict[str, float]:
        """The usual figures, plus each region's style distance measured only under its own mask."""
        styles = job.image_styles()
        out = figures(image, job.content, [s.image for s in styles], [s.weight for s in styles])
        for k, region in enumerate(job.regions):
            if float(masks.weights[k].mean()) > MIN_AREA:
                label = region.name or str(k + 1)
                out[f"style_distance[{label}]"] = style_distance(image, [region.style.image], mask=masks.weights[k])
        return out
