"""The select tool (S): click a thing and its semantic segment joins the selected region.

What is clicked is the connected piece of the group under the cursor (this building's sky, not
every patch of sky behind a tower), read from the photo's semantic groups (``doc.segments``,
found once per photo by :mod:`editor.scene_analysis`), so a click costs a flood fill, never a
model run. A click or Shift-click adds the piece, Alt-click takes it away; each is one undo step
(a mask edit, like a brush stroke), so live mode restyles the canvas after it as after a stroke.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal

from engine.project import ProjectSegment

from .canvas import Canvas, Tool
from .conversions import array_to_mask, mask_to_array
from .document import Document
from .scene_analysis import SceneAnalysis
from .undo import MaskEdit

#: how decisively a pixel belongs to the clicked group: 0.5 where it ties with the next group,
#: 1 once it leads by a quarter (the groups' soft masks sum to 1, so most pixels lead by far more)
LEAD_GAIN = 2.0
#: the piece's soft edge reaches this far past its hard edge (px at a 1024 px photo)
EDGE_REACH = 8


class GroupLabels:
    """For each pixel: the group that leads there and by how much (computed once per set of segments)."""

    def __init__(self, segments: tuple[ProjectSegment, ...]) -> None:
        first = segments[0].mask.numpy()
        self.labels = np.zeros(first.shape, dtype=np.uint8)
        self.top = np.full(first.shape, -1.0, dtype=np.float32)
        self.second = np.full(first.shape, -1.0, dtype=np.float32)
        for k, seg in enumerate(segments):  # one mask at a time: a 4000 px photo's stack would be gigabytes
            m = seg.mask.numpy().astype(np.float32, copy=False)
            better = m > self.top
            np.copyto(self.second, np.where(better, self.top, np.maximum(self.second, m)))
            np.copyto(self.top, np.where(better, m, self.top))
            self.labels[better] = k
        self.segments = segments

    def piece(self, x: int, y: int) -> tuple[ProjectSegment, np.ndarray]:
        """The group at (x, y) and its connected piece there as a soft HxW uint8 mask."""
        k = int(self.labels[y, x])
        h, w = self.labels.shape
        flood = np.zeros((h + 2, w + 2), dtype=np.uint8)
        cv2.floodFill(self.labels.copy(), flood, (x, y), 0, 0, 0, 4 | cv2.FLOODFILL_MASK_ONLY | (255 << 8))
        hard = flood[1:-1, 1:-1]
        reach = max(2, round(EDGE_REACH * max(h, w) / 1024))
        near = cv2.dilate(hard, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))) > 0
        mask = self.segments[k].mask.numpy()
        rival = np.where(self.labels == k, self.second, self.top)  # the strongest other group
        lead = np.clip(0.5 + LEAD_GAIN * (mask - rival), 0.0, 1.0)
        soft = np.where(near, lead, 0.0)
        soft[hard > 0] = np.maximum(soft[hard > 0], 0.5)  # the piece itself is always in
        return self.segments[k], (soft * 255.0 + 0.5).astype(np.uint8)


class SelectTool(QObject):
    #: a line for the status bar
    message = Signal(str)

    def __init__(self, doc: Document, canvas: Canvas, scene: SceneAnalysis, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.canvas, self.scene = doc, canvas, scene
        self._labels: GroupLabels | None = None
        canvas.pointPicked.connect(self.pick)
        doc.sceneChanged.connect(self._forget)
        scene.ready.connect(self._ready)

    def _forget(self) -> None:
        self._labels = None

    def labels(self) -> GroupLabels | None:
        if self._labels is None or self._labels.segments is not self.doc.segments:
            self._labels = GroupLabels(self.doc.segments) if self.doc.segments else None
        return self._labels

    def chosen(self) -> None:
        """The tool was picked: say how it works, or why it cannot yet."""
        if self._not_ready() is None:
            self.message.emit("Select: click a thing to add it to the selected region; Shift adds, Alt takes it away.")

    def _ready(self, *_: object) -> None:
        if self.canvas.tool is Tool.SELECT and self.doc.segments:
            self.message.emit("Select is ready: click a thing to add it to the selected region (Alt takes it away).")

    def _not_ready(self) -> str | None:
        """Why a click cannot select now (said in the status bar), or None."""
        state = self.scene.state()
        if self.doc.content is None:
            why = "Open a photo first."
        elif self.doc.segments:
            return None
        elif state in ("running", "none"):
            why = "Select: still finding what is in the photo (a second or two); try again in a moment."
        else:
            problem = self.scene.reading.segments_problem if self.scene.reading else None
            why = f"Select needs the photo's semantic groups: {problem[0] if problem else 'none were found.'}"
        self.message.emit(why)
        return why

    def pick(self, p: QPointF, modifiers: Qt.KeyboardModifier) -> bool:
        """Add (or with Alt take away) the piece under ``p`` (image pixels) to the selected region."""
        if self._not_ready() is not None:
            return False
        region = self.canvas.active
        if region is None or region not in self.doc.regions:
            self.message.emit("Select or add a region in the Regions panel first: the click adds to it.")
            return False
        labels = self.labels()
        x, y = int(p.x()), int(p.y())
        h, w = labels.labels.shape
        if not (0 <= x < w and 0 <= y < h):
            return False
        segment, piece = labels.piece(x, y)
        before = mask_to_array(region.mask)
        subtract = bool(modifiers & Qt.KeyboardModifier.AltModifier)
        if subtract:
            after = (before.astype(np.uint16) * (255 - piece) // 255).astype(np.uint8)
        else:
            after = np.maximum(before, piece)
        if np.array_equal(after, before):
            self.message.emit(f"{segment.name}: already {'out of' if subtract else 'in'} '{region.name}'.")
            return False
        verb = "Deselect" if subtract else "Select"
        self.doc.undo_stack.push(MaskEdit(self.doc, region, region.mask.copy(), array_to_mask(after),
                                          f"{verb} {segment.name.lower()}"))
        self.message.emit(f"{segment.name} {'taken out of' if subtract else 'added to'} '{region.name}'.")
        return True
