"""What every feed-forward (instant) strategy's run looks like: a quick small picture, then the full one.

A strategy renders in one call (``render(job, params, out_hw, device)``), so its run is the same
everywhere: an optional preview at PREVIEW_EDGE, the full size, and the figures when asked.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, Callable, Iterator

import torch

from .images import size_for_long_edge
from .job import StyleJob
from .metrics import figures
from .strategy import Event, Progress, Result, RunContext, Strategy

#: long edge of the first, low-resolution result sent while the full one renders
PREVIEW_EDGE = 256


def decode_picture(decoder: torch.nn.Module, feat: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Decode features and crop back to ``hw`` (the size before padding), float32 clamped to [0, 1]."""
    return decoder(feat)[..., : hw[0], : hw[1]].float().clamp(0, 1)


def never_cancelled() -> None:
    """The ``check`` of a render nobody can cancel."""


@functools.cache
def _takes_check(cls: type) -> bool:
    """Whether ``cls.render`` accepts ``check`` (looked up once per class, not per live render)."""
    return "check" in inspect.signature(cls.render).parameters


class FeedForwardStrategy(Strategy):
    """Base of strategies that render in one pass; their Params declare ``preview`` and ``measure``.

    ``render`` may call ``check()`` between its stages (universal: before each level): it raises
    Cancelled once the run is cancelled, so live mode can drop a render it has only just started.
    """

    def render(self, job: StyleJob, p: Any, out_hw: tuple[int, int], device: torch.device,
               check: Callable[[], None] = never_cancelled) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - interface

    def _render(self, job: StyleJob, p: Any, out_hw: tuple[int, int], ctx: RunContext) -> torch.Tensor:
        # a plugin written before ``check`` existed renders without it (cancelled between stages only)
        if _takes_check(type(self)):
            return self.render(job, p, out_hw, ctx.device, check=ctx.check)
        return self.render(job, p, out_hw, ctx.device)

    def run(self, job: StyleJob, ctx: RunContext) -> Iterator[Event]:
        p = job.params
        start = time.perf_counter()
        out_hw = job.output_hw
        total = 1
        if p.preview and max(out_hw) > PREVIEW_EDGE * 1.5:
            total = 2
            small = size_for_long_edge(*out_hw, PREVIEW_EDGE)
            ctx.check()
            yield Progress(1, total, stage=f"preview {small[1]}x{small[0]}", preview=self._render(job, p, small, ctx))
        ctx.check()
        image = self._render(job, p, out_hw, ctx)
        seconds = time.perf_counter() - start
        yield Progress(total, total, stage=f"{out_hw[1]}x{out_hw[0]}", preview=image)
        styles = job.image_styles() or tuple(r.style for r in job.regions if r.style.image is not None)
        figs = figures(image, job.content, [s.image for s in styles], [s.weight for s in styles]) if p.measure else {}
        yield Result(image, figs, seconds)
