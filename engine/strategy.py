"""The strategy API: what a plugin implements, and the events it sends back.

``Strategy.run(job, ctx)`` is a generator: it yields :class:`Progress` events and yields a
:class:`Result` last. Between steps it calls ``ctx.check()``, which raises
:class:`~engine.errors.Cancelled` once the user has asked to stop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator, Mapping

import torch

from .errors import Cancelled


@dataclass(frozen=True, eq=False)
class Progress:
    step: int
    total: int
    #: what is happening now, e.g. "scale 2/4 (362 px)"
    stage: str = ""
    #: 1x3xHxW CPU float in [0,1], or None
    preview: torch.Tensor | None = None
    losses: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Result:
    image: torch.Tensor
    figures: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0


Event = Progress | Result


class RunContext:
    """Per-run services: the device, cancellation, and how often to send previews."""

    def __init__(
        self,
        device: torch.device | str = "cpu",
        cancel: threading.Event | None = None,
        preview_every: int = 10,
    ) -> None:
        self.device = torch.device(device)
        self.cancel_event = cancel or threading.Event()
        self.preview_every = max(1, preview_every)

    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled()

    def wants_preview(self, step: int, total: int) -> bool:
        return step == total or step % self.preview_every == 0


class Strategy:
    """Base class of every strategy. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: a frozen dataclass declared with :func:`engine.params.param`
    Params: ClassVar[type]
    #: which style sources it accepts: "image", "text"
    style_sources: ClassVar[frozenset[str]] = frozenset({"image"})
    honours_regions: ClassVar[bool] = False
    #: feed-forward strategies that can render a large image tile by tile
    tileable: ClassVar[bool] = False
    #: fast enough (well under a second at 512 px on a CPU) to follow the brush in live mode
    instant: ClassVar[bool] = False
    #: on a clip, starts each frame from ``job.previous`` (the last output warped along the flow)
    #: with a temporal loss; the others get their outputs blended along the flow instead
    links_frames: ClassVar[bool] = False

    def run(self, job: Any, ctx: RunContext) -> Iterator[Event]:  # pragma: no cover - interface
        raise NotImplementedError

    # A strategy whose networks export to ONNX (``brushwork export-model NAME``) also defines
    #     def export_onnx(self, out: Path, int8: bool, params) -> dict
    # writing them with engine.onnxmodels.export_set into ``out`` and returning its manifest.

    @classmethod
    def describe(cls) -> dict:
        from .params import specs

        return {
            "name": cls.name,
            "title": cls.title,
            "description": cls.description,
            "style_sources": sorted(cls.style_sources),
            "honours_regions": cls.honours_regions,
            "tileable": cls.tileable,
            "instant": cls.instant,
            "params": [s.to_json() for s in specs(cls.Params)],
        }
