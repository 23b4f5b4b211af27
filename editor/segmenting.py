"""Segmenter runs off the GUI thread: a scribble segmenter trains a small network (a minute on a
CPU), and the editor must stay responsive meanwhile. One run at a time."""

from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

import torch
from PySide6.QtCore import QObject, Signal

from engine.registry import segmenters

from .jobs import explain


class SegmentRunner(QObject):
    #: masks (list of HxW tensors), then the callback given to start()
    finished = Signal(object, object)
    failed = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, name: str, image: torch.Tensor, options: Mapping[str, Any],
              then: Callable[[list[torch.Tensor]], None]) -> bool:
        """Run segmenter ``name``; ``then(masks)`` is called on the GUI thread. False if one is running."""
        if self.busy():
            return False

        def work() -> None:
            try:
                masks = segmenters.get(name)().segment(image, dict(options))
            except Exception as exc:  # shown to the user; the session goes on
                self.failed.emit(*explain(exc))
                return
            self.finished.emit(masks, then)

        self._thread = threading.Thread(target=work, name=f"brushwork-segment-{name}", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
