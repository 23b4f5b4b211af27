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
    # 70 from the stylised start (was 200 from the photo, then 40 with content weight 5): the start
    # carries the palette and strokes, the steps pull the photo's structure back and the Gram
    # statistics up (figures below; see multiscale for the targets)
    steps: int = param(70, min=1, max=5000, step=10, help="Optimisation steps; more refines texture further.")


@dataclass(frozen=True)
class GatysParams(OptimisationParams, _GatysSchedule):
    """steps, then the shared optimisation parameters (engine.optimise.OptimisationParams)."""

    # The shared weights (engine.optimise). 512 px, 1 thread, gram / colour / content / seconds,
    # beagle x Starry Night then palm beach x Water Lilies (textbook: 0.888 / - / 1.088 / 539 and
    # 0.921 / - / 0.849 / 652): the defaults before (40 steps, weight 5 on relu4_2, style 20) 0.839 /
    # 0.934 / 1.163 / 42 and 0.868 / 0.958 / 0.980 / 37; these weights, 40 steps: 0.897 / 0.939 /
    # 1.061 / 44 and 0.918 / 0.962 / 0.975 / 38; 70 steps: 0.911 / 0.933 / 0.961 / 52 and 0.929 /
    # 0.961 / 0.881 / 49 (every issue-14 target met). With the depth-3 start and style 40 (2
    # threads): 0.911 / 0.947 / 0.956 / 23.5 and 0.928 / 0.956 / 0.802 / 24.4.


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
