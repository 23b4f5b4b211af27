"""tqdm bars for a batch on a terminal: one over its items, one over the frames of the clip rendering now."""

from __future__ import annotations

from tqdm import tqdm

from .run import ItemFinished, ItemStarted, ItemStep


class BatchBars:
    """``on_progress`` for :func:`engine.batch.run.run_batch` that draws the bars."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.items: tqdm | None = None
        self.frames: tqdm | None = None

    def __call__(self, event) -> None:
        from ..video import FrameDone

        if isinstance(event, ItemStarted):
            self.items = tqdm(total=event.to_render, unit="item", desc="batch", disable=self.quiet,
                              dynamic_ncols=True)
        elif isinstance(event, ItemFinished) and self.items is not None and event.record.status != "skipped":
            self._close_frames()
            self.items.update(1)
            if event.record.status == "failed" and not self.quiet:
                self.items.write(f"failed {event.record.input}: {event.record.reason}")
        elif isinstance(event, ItemStep) and isinstance(event.event, FrameDone):
            if self.frames is None:
                self.frames = tqdm(total=event.event.total, unit="frame", desc=event.item.name, leave=False,
                                   disable=self.quiet, dynamic_ncols=True, position=1)
            self.frames.update(1)

    def _close_frames(self) -> None:
        if self.frames is not None:
            self.frames.close()
            self.frames = None

    def close(self) -> None:
        self._close_frames()
        if self.items is not None:
            self.items.close()
            self.items = None
