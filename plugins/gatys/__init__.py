"""Gatys optimisation: the reference method. Slow, but the quality bar for everything else."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Literal

from engine.job import StyleJob
from engine.metrics import figures
from engine.optimise import coarse_to_fine
from engine.params import param
from engine.precision import PRECISION_HELP, Precision
from engine.strategy import Event, Result, RunContext, Strategy
from engine.styletargets import whole_picture_terms


@dataclass(frozen=True)
class GatysParams:
    steps: int = param(200, min=1, max=5000, step=10, help="Optimisation steps; more refines texture further.")
    optimizer: Literal["lbfgs", "adam"] = param("lbfgs", help="L-BFGS converges in fewer steps; Adam is steadier at large sizes.")
    lr: float = param(0.02, min=0.001, max=0.5, step=0.005, help="Adam step size (ignored by L-BFGS).", advanced=True)
    content_weight: float = param(1.0, min=0.0, max=100.0, step=0.1, help="How strongly the picture keeps its content.")
    style_weight: float = param(20.0, min=0.0, max=10000.0, step=1.0, log=True, help="How strongly the texture follows the style.")
    tv_weight: float = param(2.0, min=0.0, max=1000.0, step=0.5, help="Smoothness; raise it to suppress noise.")
    layers: Literal["classic", "fine", "coarse"] = param("classic", help="Which layers carry style: fine = small strokes, coarse = large shapes.")
    init: Literal["content", "noise", "style"] = param("content", help="Starting image.")
    style_scale: float = param(1.0, min=0.1, max=4.0, step=0.05, help="Style image size relative to the output: larger = bigger strokes.")
    colour: Literal["none", "luminance", "histogram"] = param("none", help="Keep the photo's colours: luminance only, or recolour the style first.")
    net: Literal["vgg16", "distilled16x", "vgg19"] = param("vgg16", help="Loss network: vgg16 full quality, distilled16x 16x faster drafts.")
    precision: Precision = param("auto", help=PRECISION_HELP, advanced=True)


class GatysStrategy(Strategy):
    name = "gatys"
    title = "Gatys (optimisation)"
    description = "Optimises the picture itself against the style's Gram statistics. Best quality, slowest."
    Params = GatysParams

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: GatysParams = job.params
        start = time.perf_counter()
        image = yield from coarse_to_fine(job, ctx, p, [job.output_hw], [p.steps],
                                          whole_picture_terms(job, p.style_scale, p.colour))
        styles = job.image_styles()
        yield Result(image, figures(image, job.content, [s.image for s in styles], [s.weight for s in styles]),
                     time.perf_counter() - start)
