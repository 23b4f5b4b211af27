"""Regions made by segmenters: Auto regions (by meaning or by colour) and Grow scribbles.

Segmenters run off the GUI thread: a scribble segmenter trains a small network (a minute on a
CPU), and the editor must stay responsive meanwhile; one run at a time. Auto regions by meaning
costs nothing at the click: the photo's semantic groups were found when it opened
(:mod:`editor.scene_analysis`), so the click only turns them into named, coloured regions
(one undo step). Without the semantic model it splits the picture by colour instead, and says so.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor

from engine.errors import BrushworkError
from engine.registry import segmenters

from .conversions import mask_to_tensor, tensor_to_mask
from .jobs import explain
from .scene_analysis import SceneReading
from .undo import AddRegion, MaskEdit

if TYPE_CHECKING:
    from .mainwindow import MainWindow


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


class Segmenting(QObject):
    """The Regions menu's and panel's segmenter commands for ``window`` (its document, panels, status bar)."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = window
        self.runner = SegmentRunner(self)
        #: the photo a by-meaning click waits on (its groups are still being found), or None
        self._waiting_for: torch.Tensor | None = None
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        window.scene.ready.connect(self._scene_ready)

    def _say(self, message: str, ms: int = 6000) -> None:
        self.window.statusBar().showMessage(message, ms)

    # ------------------------------------------------------------ auto regions
    def auto_regions(self, *_: Any) -> bool:
        """Auto regions as the Regions panel's method says: by meaning (named groups) or by colour."""
        if self.window.regions_panel.auto_method_name() == "semantic":
            return self.by_meaning()
        return self.by_colour()

    def by_meaning(self) -> bool:
        """One region per semantic group the photo has ("Sky", "Buildings"...), in the group's colour."""
        doc = self.window.doc
        content = doc.content_tensor()
        if content is None:
            self.window.alert("No picture", "Open a content image first.")
            return False
        scene = self.window.scene
        scene.ask()
        if doc.segments:
            self._add_groups()
            return True
        if scene.state() == "running":
            self._waiting_for = content
            self.window.job_panel.job_started("Finding what is in the photo…", 0)
            self.window.job_panel.queue_idle()  # nothing to cancel: it is read once per photo anyway
            return True
        return self._instead_by_colour(scene.reading)

    def _scene_ready(self, reading: SceneReading) -> None:
        if reading.segments_problem is not None and reading.missing_model:
            self.window.regions_panel.set_auto_method("clusters")  # the default without the model
        if self._waiting_for is None or reading.content is not self._waiting_for:
            return
        self._waiting_for = None
        self.window.job_panel.job_ended("Done: found what is in the photo")
        if reading.segments:
            self._add_groups()
        else:
            self._instead_by_colour(reading)

    def _instead_by_colour(self, reading: SceneReading | None) -> bool:
        why = reading.segments_problem[0] if reading is not None and reading.segments_problem else \
            "no semantic groups were found."
        if "clusters" not in segmenters.names():
            self.window.alert("Auto regions", f"Auto regions by meaning is unavailable: {why}",
                              "Fetch the model with `brushwork weights fetch`, or paint the regions.")
            return False
        self._say(f"Auto regions by meaning is unavailable ({why}); splitting the picture by colour instead.", 12000)
        return self.by_colour()

    def _add_groups(self) -> None:
        doc = self.window.doc
        stack = doc.undo_stack
        added = []
        stack.beginMacro("Auto regions (by meaning)")
        for seg in doc.segments:
            region = doc.new_region(seg.name, tensor_to_mask(seg.mask))
            region.colour = QColor(seg.colour)
            stack.push(AddRegion(doc, region))
            added.append(region)
        stack.endMacro()
        if added:
            self.window.regions_panel.select(added[0])
        self._say(f"Auto regions: {', '.join(r.name for r in added)}. Give each a style in the Regions panel.")

    def by_colour(self, options: dict | None = None) -> bool:
        """Add one region per segment the 'clusters' segmenter finds (one undo step), off the GUI thread."""
        doc = self.window.doc
        content = doc.content_tensor()
        if content is None:
            self.window.alert("No picture", "Open a content image first.")
            return False

        def add(masks: list[torch.Tensor]) -> None:
            stack = doc.undo_stack
            stack.beginMacro("Auto regions")
            for i, m in enumerate(masks):
                stack.push(AddRegion(doc, doc.new_region(f"Auto {i + 1}", tensor_to_mask(m))))
            stack.endMacro()

        return self._segment("clusters", content, dict(options or {}), add, "Finding regions by colour…")

    # ------------------------------------------------------------ scribbles
    def grow_scribbles(self, options: dict | None = None) -> bool:
        """Treat each region's painted strokes as scribbles and let the segmenter complete the masks.

        The scribbles go to the segmenter as an integer label map (region k = k, 0 = unmarked);
        each returned mask goes back to the region whose scribbles it covers most, whatever its order.
        """
        doc = self.window.doc
        content = doc.content_tensor()
        regions = [r for r in doc.regions if not r.is_empty()]
        if content is None or len(regions) < 2:
            self.window.alert("Grow scribbles", "Scribble at least two regions first.",
                              "Paint a few rough strokes in each region, then grow them.")
            return False
        labels = torch.zeros(tuple(content.shape[-2:]), dtype=torch.int64)
        inside = []
        for k, r in enumerate(regions, start=1):
            on = mask_to_tensor(r.mask) > 0.5
            labels[on] = k
            inside.append(on)
        befores = [r.mask.copy() for r in regions]

        def apply(masks: list[torch.Tensor]) -> None:
            stack = doc.undo_stack
            stack.beginMacro("Grow scribbles")
            for r, on, before in zip(regions, inside, befores):
                if r not in doc.regions:
                    continue  # removed while the segmenter ran
                best = max(masks, key=lambda m: float(m[on].mean()) if on.any() else 0.0)
                stack.push(MaskEdit(doc, r, before, tensor_to_mask(best), "Grow"))
            stack.endMacro()

        try:
            key = (segmenters.get("scribbles").inputs or ("scribbles",))[0]
        except BrushworkError as exc:
            self.window.alert("Grow scribbles failed", *explain(exc))
            return False
        return self._segment("scribbles", content, {**dict(options or {}), key: labels}, apply,
                             "Growing scribbles (trains a small network: up to a minute on a CPU)…")

    # ------------------------------------------------------------ running
    def _segment(self, name: str, content: torch.Tensor, options: dict, then, label: str) -> bool:
        if not self.runner.start(name, content, options, then):
            self._say("A segmenter is still running.", 4000)
            return False
        self.window.job_panel.job_started(label, 0)
        return True

    def _finished(self, masks, then) -> None:
        then(masks)
        self.window.job_panel.job_ended(f"Done: {len(masks)} masks")
        self.window.job_panel.queue_idle()

    def _failed(self, message: str, fix: str) -> None:
        self.window.job_panel.job_ended("Segmenting failed")
        self.window.job_panel.queue_idle()
        self.window.alert("Segmenting failed", message, fix)
