"""Multi-scale (coarse-to-fine) optimisation: Gatys quality in a fraction of the time.

Large structures settle at the small scales where a step is cheap; each finer scale starts
from the upsampled result and only adds detail. The style image is rescaled with the output
at every scale, so stroke size stays consistent with the final picture.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Literal

from engine.job import StyleJob
from engine.metrics import figures
from engine.optimise import coarse_to_fine, scale_schedule
from engine.params import param
from engine.precision import PRECISION_HELP, Precision
from engine.strategy import Event, Result, RunContext, Strategy
from engine.styletargets import whole_picture_terms


@dataclass(frozen=True)
class MultiScaleParams:
    start_size: int = param(256, min=64, max=2048, step=32, help="Long edge of the first (coarsest) scale in pixels.")
    scale_factor: float = param(1.414, min=1.1, max=2.0, step=0.05, help="Growth per scale; sqrt(2) is a good balance.")
    coarse_steps: int = param(80, min=1, max=2000, step=10, help="Steps at the coarsest scale, where the composition forms.")
    fine_steps: int = param(60, min=1, max=2000, step=5, help="Steps at each finer scale (detail only).")
    optimizer: Literal["lbfgs", "adam"] = param("lbfgs", help="L-BFGS converges in fewer steps; Adam is steadier at large sizes.")
    lr: float = param(0.02, min=0.001, max=0.5, step=0.005, help="Adam step size (ignored by L-BFGS).", advanced=True)
    # 1.5, not Gatys's 1: the coarse scales settle the style early, and with 1 the finer scales keep
    # pulling texture in past the point where the photo still reads (bench/gatys.py, 512 px:
    # style 0.119 / content 1.067 with 1, 0.131 / 1.034 with 1.5; plain Gatys 0.137 / 1.072)
    content_weight: float = param(1.5, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content.")
    style_weight: float = param(20.0, min=0.0, max=10000.0, step=1.0, log=True, help="How strongly the texture follows the style.")
    tv_weight: float = param(2.0, min=0.0, max=1000.0, step=0.5, help="Smoothness; raise it to suppress noise.")
    layers: Literal["classic", "fine", "coarse"] = param("classic", help="Which layers carry style: fine = small strokes, coarse = large shapes.")
    init: Literal["content", "noise", "style"] = param("content", help="Starting image at the coarsest scale.")
    style_scale: float = param(1.0, min=0.1, max=4.0, step=0.05, help="Style image size relative to the output: larger = bigger strokes.")
    colour: Literal["none", "luminance", "histogram"] = param("none", help="Keep the photo's colours: luminance only, or recolour the style first.")
    net: Literal["vgg16", "distilled16x", "vgg19"] = param("vgg16", help="Loss network: vgg16 full quality, distilled16x 16x faster drafts.")
    precision: Precision = param("auto", help=PRECISION_HELP, advanced=True)


class MultiScaleStrategy(Strategy):
    name = "multiscale"
    title = "Multi-scale (coarse-to-fine)"
    description = "Optimises small first, then refines at growing sizes: near-Gatys quality, several times faster."
    Params = MultiScaleParams

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: MultiScaleParams = job.params
        start = time.perf_counter()
        sizes = scale_schedule(job.output_hw, p.start_size, p.scale_factor)
        steps = [p.coarse_steps] + [p.fine_steps] * (len(sizes) - 1)
        image = yield from coarse_to_fine(job, ctx, p, sizes, steps, whole_picture_terms(job, p.style_scale, p.colour))
        styles = job.image_styles()
        yield Result(image, figures(image, job.content, [s.image for s in styles], [s.weight for s in styles]),
                     time.perf_counter() - start)
