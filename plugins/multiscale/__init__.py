"""Multi-scale (coarse-to-fine) optimisation: Gatys quality in a fraction of the time.

Large structures settle at the small scales where a step is cheap; each finer scale starts
from the upsampled result and only adds detail. The style image is rescaled with the output
at every scale, so stroke size stays consistent with the final picture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from engine.job import StyleJob
from engine.metrics import figures
from engine.optimise import OptimisationParams, ScheduleParams, coarse_to_fine, scale_schedule
from engine.params import param
from engine.strategy import Event, Result, RunContext, Strategy
from engine.styletargets import whole_picture_terms


@dataclass(frozen=True)
class MultiScaleParams(OptimisationParams, ScheduleParams):
    """The schedule, then the shared optimisation parameters (engine.optimise)."""

    # From the stylised start (issue 14) the composition, palette and strokes are there at once: the
    # scales only bring the photo's structure back and sharpen, so a fifth of the steps (was 80/60)
    # and a content weight of 5 (was 1.5 from the photo). Beagle / Starry Night at 256 px (scales
    # 128/181/256, the 512 px schedule halved), gram closed / colour closed / content: textbook
    # (float32, 300 steps from the photo) 0.838 / 0.428 / 0.985; 30/20, weight 1.5: 0.831 / 0.79 /
    # 1.13; weight 4: 0.836 / 0.891 / 1.020; weight 8: 0.828 / 0.872 / 0.929; 20/15, weight 5:
    # 0.836 / 0.895 / 1.021.
    coarse_steps: int = param(20, min=1, max=2000, step=10, help="Steps at the coarsest scale, where the composition forms.")
    fine_steps: int = param(15, min=1, max=2000, step=5, help="Steps at each finer scale (detail only).")
    content_weight: float = param(5.0, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content.")


class MultiScaleStrategy(Strategy):
    name = "multiscale"
    title = "Multi-scale (coarse-to-fine)"
    description = "Optimises small first, then refines at growing sizes: near-Gatys quality, several times faster."
    Params = MultiScaleParams
    #: video: each frame from the previous output (engine.optimise.coarse_to_fine)
    links_frames = True

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: MultiScaleParams = job.params
        start = time.perf_counter()
        sizes = scale_schedule(job.output_hw, p.start_size, p.scale_factor)
        steps = [p.coarse_steps] + [p.fine_steps] * (len(sizes) - 1)
        image = yield from coarse_to_fine(job, ctx, p, sizes, steps, whole_picture_terms(job, p.style_scale, p.colour))
        styles = job.image_styles()
        yield Result(image, figures(image, job.content, [s.image for s in styles], [s.weight for s in styles]),
                     time.perf_counter() - start)
