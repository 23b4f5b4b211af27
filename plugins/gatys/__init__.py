"""Gatys optimisation: the reference method. Slow, but the quality bar for everything else."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from engine.job import StyleJob
from engine.metrics import figures
from engine.optimise import OptimisationParams, coarse_to_fine
from engine.params import param
from engine.strategy import Event, Result, RunContext, Strategy
from engine.styletargets import whole_picture_terms


@dataclass(frozen=True)
class _GatysSchedule:
    # 40 from the stylised start (was 200 from the photo): the start already carries the palette and
    # strokes, the steps only pull the photo's structure back (see multiscale for the figures)
    steps: int = param(40, min=1, max=5000, step=10, help="Optimisation steps; more refines texture further.")


@dataclass(frozen=True)
class GatysParams(OptimisationParams, _GatysSchedule):
    """steps, then the shared optimisation parameters (engine.optimise.OptimisationParams)."""

    # 5 (was 1 from the photo): the stylised start is far from the photo's structure, the content
    # term is what brings it back (beagle / Starry Night at 256 px, 40 steps: content 1.056 with 4)
    content_weight: float = param(5.0, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content.")


class GatysStrategy(Strategy):
    name = "gatys"
    title = "Gatys (optimisation)"
    description = "Optimises the picture itself against the style's Gram statistics. Best quality, slowest."
    Params = GatysParams
    #: video: each frame from the previous output (engine.optimise.coarse_to_fine)
    links_frames = True

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: GatysParams = job.params
        start = time.perf_counter()
        image = yield from coarse_to_fine(job, ctx, p, [job.output_hw], [p.steps],
                                          whole_picture_terms(job, p.style_scale, p.colour))
        styles = job.image_styles()
        yield Result(image, figures(image, job.content, [s.image for s in styles], [s.weight for s in styles]),
                     time.perf_counter() - start)
