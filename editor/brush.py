"""Painting on masks: brush and eraser strokes built from dabs, and the flood fill.

A stroke is painted into its own buffer first and laid onto the mask once with the stroke's
opacity, so one stroke never darkens where it overlaps itself (as in Krita). Dabs are spaced
in image pixels along the segment between mouse events, so strokes are smooth at any zoom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF
from PySide6.QtGui import QColor, QImage, QPainter, QRadialGradient
from PySide6.QtCore import Qt

from .conversions import array_to_mask, empty_mask, mask_to_array


@dataclass(frozen=True)
class BrushSettings:
    size: float = 40.0  # diameter in image pixels
    hardness: float = 0.7  # 0 = soft airbrush edge, 1 = hard edge
    opacity: float = 1.0

    def resized(self, factor: float) -> "BrushSettings":
        return BrushSettings(max(1.0, min(2000.0, self.size * factor)), self.hardness, self.opacity)


class Stroke:
    """One brush or eraser stroke on one mask, from press to release."""

    def __init__(self, before: QImage, brush: BrushSettings, erase: bool) -> None:
        self.before = before.copy()
        self.brush = brush
        self.erase = erase
        self.buffer = empty_mask(before.width(), before.height())
        #: the mask with the stroke so far laid on; updated only where new dabs landed
        self.working = before.copy()
        self.last: QPointF | None = None
        self._carry = 0.0  # distance walked since the last dab

    def _dab(self, painter: QPainter, p: QPointF) -> None:
        r = self.brush.size / 2
        grad = QRadialGradient(p, r)
        grad.setColorAt(0.0, QColor(0, 0, 0, 255))
        grad.setColorAt(min(0.999, max(0.0, self.brush.hardness)), QColor(0, 0, 0, 255))
        grad.setColorAt(1.0, QColor(0, 0, 0, 0))
        painter.setBrush(grad)
        painter.drawEllipse(p, r, r)

    def add(self, p: QPointF) -> QRect:
        """Lay dabs from the last point to ``p``; returns the rectangle of the mask that changed."""
        spacing = max(0.5, self.brush.size * 0.12)
        painter = QPainter(self.buffer)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        start = self.last if self.last is not None else p
        if self.last is None:
            self._dab(painter, p)
        else:
            d = p - self.last
            length = math.hypot(d.x(), d.y())
            t = spacing - self._carry
            while t <= length:
                self._dab(painter, self.last + d * (t / length))
                t += spacing
            self._carry = length - (t - spacing)
        painter.end()
        self.last = p
        r = self.brush.size / 2 + 2
        dirty = QRectF(QPointF(min(start.x(), p.x()) - r, min(start.y(), p.y()) - r),
                       QPointF(max(start.x(), p.x()) + r, max(start.y(), p.y()) + r)).toAlignedRect()
        dirty = dirty.intersected(self.buffer.rect())
        self._composite(dirty)
        return dirty

    def _composite(self, rect: QRect) -> None:
        """working = before with the stroke laid on at the stroke's opacity, inside ``rect`` only."""
        if rect.isEmpty():
            return
        painter = QPainter(self.working)
        painter.setClipRect(rect)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect, self.before, rect)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationOut if self.erase
                                   else QPainter.CompositionMode.CompositionMode_SourceOver)
        painter.setOpacity(self.brush.opacity)
        painter.drawImage(rect, self.buffer, rect)
        painter.end()

    def result(self) -> QImage:
        """The mask as it is with this stroke laid on (a copy)."""
        return self.working.copy()


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D bool array."""
    padded = np.concatenate(([False], row, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


def flood_region(content_rgb: np.ndarray, x: int, y: int, tolerance: float = 0.12) -> np.ndarray:
    """Pixels connected to (x, y) whose colour is within ``tolerance`` of it (HxW bool).

    A scanline fill: each step takes a whole run of a row, so it loops over runs, not pixels.
    """
    h, w, _ = content_rgb.shape
    img = content_rgb.astype(np.float32) / 255.0
    similar = np.abs(img - img[y, x]).max(axis=2) <= tolerance
    filled = np.zeros((h, w), dtype=bool)
    stack = [(x, y)]
    while stack:
        sx, sy = stack.pop()
        if filled[sy, sx] or not similar[sy, sx]:
            continue
        row = similar[sy] & ~filled[sy]
        left = sx
        stop_l = np.flatnonzero(~row[:sx][::-1])
        left = sx - (stop_l[0] if stop_l.size else sx)
        stop_r = np.flatnonzero(~row[sx:])
        right = sx + (stop_r[0] if stop_r.size else w - sx)
        filled[sy, left:right] = True
        for ny in (sy - 1, sy + 1):
            if 0 <= ny < h:
                for a, b in _runs(similar[ny, left:right] & ~filled[ny, left:right]):
                    stack.append((left + a, ny))
    return filled


def fill_mask(mask: QImage, area: np.ndarray, opacity: float = 1.0, erase: bool = False) -> QImage:
    """``mask`` with ``area`` (HxW bool) filled (or erased) at ``opacity``."""
    arr = mask_to_array(mask).astype(np.float32)
    if erase:
        arr[area] *= 1 - opacity
    else:
        arr[area] = arr[area] + (255 - arr[area]) * opacity
    return array_to_mask(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
