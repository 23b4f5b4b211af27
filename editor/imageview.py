"""A zoomable, pannable picture view: the base of the canvas and of each Compare cell.

Wheel zooms around the cursor; the middle button, or space + left button, pans; views can be
linked so zoom and pan follow each other (Compare).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QTransform, QWheelEvent
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

MIN_ZOOM, MAX_ZOOM = 0.02, 64.0


class ImageView(QGraphicsView):
    #: zoom factor after any zoom change
    zoomChanged = Signal(float)
    #: the view moved (zoom or pan); linked views follow
    viewMoved = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(38, 38, 40))
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self._panning_from: QPointF | None = None
        self._space = False
        self._syncing = False
        self._linked: list[ImageView] = []
        #: keep fitting the picture to the window until the user zooms
        self.fitting = True
        self.horizontalScrollBar().valueChanged.connect(lambda _: self._moved())
        self.verticalScrollBar().valueChanged.connect(lambda _: self._moved())

    # ---------------------------------------------------------------- zoom
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, factor: float) -> None:
        self.fitting = False
        factor = max(MIN_ZOOM, min(MAX_ZOOM, factor))
        self.setTransform(QTransform.fromScale(factor, factor))
        self.zoomChanged.emit(factor)
        self._moved()

    def zoom_by(self, step: float) -> None:
        self.set_zoom(self.zoom() * step)

    def fit(self) -> None:
        rect = self.scene().sceneRect()  # the canvas pins it to the picture; elsewhere it grows with the items
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self.fitting = True
        self.zoomChanged.emit(self.zoom())
        self._moved()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.fitting:
            self.fit()

    def actual_size(self) -> None:
        self.set_zoom(1.0)

    def shown_long_edge(self) -> int:
        """Screen pixels the picture's long edge spans at the current zoom (device pixels: a
        HiDPI screen shows twice the pixels), 0 with no picture. A render with fewer pixels than
        this is blown up on screen (editor.sharpness)."""
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return 0
        dpr = self.viewport().devicePixelRatioF() or 1.0
        return math.ceil(max(rect.width(), rect.height()) * self.zoom() * dpr - 1e-6)

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015 ** delta)
        event.accept()

    # ---------------------------------------------------------------- pan
    def _start_pan(self, event: QMouseEvent) -> bool:
        if event.button() == Qt.MouseButton.MiddleButton or (event.button() == Qt.MouseButton.LeftButton and self._space):
            self._panning_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return True
        return False

    def _pan(self, event: QMouseEvent) -> bool:
        if self._panning_from is None:
            return False
        d = event.position() - self._panning_from
        self._panning_from = event.position()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - round(d.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() - round(d.y()))
        return True

    def _end_pan(self) -> bool:
        if self._panning_from is None:
            return False
        self._panning_from = None
        self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space else self.idle_cursor())
        return True

    def idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.ArrowCursor

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self._start_pan(event):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if not self._pan(event):
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._end_pan():
            super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(self.idle_cursor())
            return
        super().keyReleaseEvent(event)

    # ---------------------------------------------------------------- linking
    def link(self, other: "ImageView") -> None:
        if other not in self._linked:
            self._linked.append(other)

    def _moved(self) -> None:
        self.viewMoved.emit()
        if self._syncing:
            return
        for v in self._linked:
            v.follow(self)

    def follow(self, source: "ImageView") -> None:
        """Take the zoom and scroll position of ``source`` (linked views)."""
        self._syncing = True
        try:
            self.setTransform(source.transform())
            self.horizontalScrollBar().setValue(source.horizontalScrollBar().value())
            self.verticalScrollBar().setValue(source.verticalScrollBar().value())
        finally:
            self._syncing = False
