"""The faces protect faces keeps, outlined on the canvas while the regions are shown.

Each outline is where the engine's soft face mask (:meth:`engine.scene.faces.Face.ellipse`)
crosses one half, traced from the mask itself, so what the artist sees is what the renderer
protects. Outlines show with the regions' tint (while painting, before a render) and only
while protect faces is on; a finished render is shown without them.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem

from .canvas import Canvas
from .document import Document

#: the long edge (px) the masks are traced at: plenty for an outline at any zoom
TRACE_EDGE = 1024
#: above the regions' tint and outlines, under the brush cursor and split divider
Z = 50


def face_outlines(faces: tuple, hw: tuple[int, int]) -> list[QPolygonF]:
    """Each face's protected area's edge (its ellipse's 0.5 level) as a polygon in image pixels."""
    h, w = hw
    scale = min(1.0, TRACE_EDGE / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    out = []
    for face in faces:
        inside = (face.ellipse((th, tw)).numpy() >= 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            pts = (c[:, 0, :].astype(np.float64) + 0.5) * (w / tw, h / th)
            # one constructor call per polygon (see editor.canvas.OutlineItem on per-point calls)
            out.append(QPolygonF([QPointF(x, y) for x, y in pts.tolist()]))
    return out


class FaceOutlineItem(QGraphicsItem):
    """Dashed outlines over a dark halo, 2 screen pixels wide at any zoom."""

    def __init__(self) -> None:
        super().__init__()
        self.polygons: list[QPolygonF] = []
        self._bounds = QRectF()
        self.pens = []
        for colour, width, style in ((QColor(0, 0, 0, 150), 4.0, Qt.PenStyle.SolidLine),
                                     (QColor("#ffd84a"), 2.0, Qt.PenStyle.DashLine)):
            pen = QPen(colour, width, style)
            pen.setCosmetic(True)
            self.pens.append(pen)

    def set_polygons(self, polygons: list[QPolygonF]) -> None:
        self.prepareGeometryChange()
        self.polygons = polygons
        bounds = QRectF()
        for poly in polygons:
            bounds = bounds.united(poly.boundingRect())
        self._bounds = bounds.adjusted(-4, -4, 4, 4)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for pen in self.pens:
            painter.setPen(pen)
            for poly in self.polygons:
                painter.drawPolygon(poly)


class FaceOverlay(QObject):
    """Keeps the canvas's face outlines in step with ``doc.faces``, protect faces and what the canvas shows."""

    def __init__(self, doc: Document, canvas: Canvas, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc, self.canvas = doc, canvas
        self.item = FaceOutlineItem()
        self.item.setZValue(Z)
        self.item.setVisible(False)
        canvas.scene().addItem(self.item)
        doc.sceneChanged.connect(self.rebuild)
        canvas.viewChanged.connect(self.update_visibility)

    def rebuild(self) -> None:
        content = self.doc.content
        faces = self.doc.faces if content is not None else ()
        self.item.set_polygons(face_outlines(tuple(faces), (content.height(), content.width())) if faces else [])
        self.update_visibility()

    def update_visibility(self, *_: object) -> None:
        """Shown while the regions are, protect faces is on and there are faces to protect."""
        self.item.setVisible(bool(self.item.polygons) and self.doc.protect_faces and self.canvas.regions_shown())
