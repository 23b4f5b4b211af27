"""Gatys optimisation: the reference method. Slow, but the quality bar for everything else."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Literal

import torch

from engine import features
from engine.colour import preserve
from engine.images import resize
from engine.job import StyleJob
from engine.metrics import figures
from engine.optimise import StyleObjective, StyleTerm, layers_for, optimise
from engine.params import param
from engine.strategy import Event, Result, RunContext, Strategy
from engine.styletargets import blended_targets, prepare_style


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


def initial_image(init: str, content: torch.Tensor, style: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    if init == "noise":
        noise = torch.rand(content.shape, generator=generator).to(content)
        return (0.5 * content + 0.5 * noise).clamp(0, 1)
    if init == "style" and style is not None:
        return resize(style, tuple(content.shape[-2:])).to(content)
    return content.clone()


class GatysStrategy(Strategy):
    name = "gatys"
    title = "Gatys (optimisation)"
    description = "Optimises the picture itself against the style's Gram statistics. Best quality, slowest."
    Params = GatysParams

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p: GatysParams = job.params
        start = time.perf_counter()
        dev = ctx.device
        net = features.get(p.net, dev)
        style_layers, content_layer = layers_for(p.net, p.layers)
        out_hw = job.output_hw
        content = resize(job.content, out_hw).to(dev)
        styles = job.image_styles()
        targets = blended_targets(net, styles, style_layers, out_hw, p.style_scale, p.colour, content, dev)
        objective = StyleObjective(net, content, [StyleTerm(targets)], style_layers, content_layer,
                                   p.content_weight, p.style_weight, p.tv_weight)
        gen = torch.Generator().manual_seed(job.seed)
        first_style = prepare_style(styles[0].image, out_hw, p.style_scale, "none", None, dev) if styles else None
        x0 = initial_image(p.init, content, first_style, gen)
        image = yield from optimise(x0, objective, ctx, p.steps, p.optimizer, p.lr, stage=f"{out_hw[1]}x{out_hw[0]}")
        image = preserve(p.colour if p.colour == "luminance" else "none", image, content).cpu()
        yield Result(image, figures(image, job.content, [s.image for s in styles], [s.weight for s in styles]),
                     time.perf_counter() - start)
