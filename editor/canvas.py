"""The canvas: the content (or the result over it), the region overlays, and the painting tools.

Everything is drawn in image coordinates, so what is painted lands on the same pixels at any
zoom. Each finished stroke, fill or clear is pushed to the document's undo stack as one step.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QImage, QMouseEvent, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsItem, QGraphicsPixmapItem, QWidget

from .brush import BrushSettings, Stroke, fill_mask, flood_region
from .conversions import empty_mask, tensor_to_qimage, image_array
from .document import Document, RegionLayer
from .imageview import ImageView
from .undo import MaskEdit


class Tool(Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    FILL = "fill"


def coloured_overlay(mask: QImage, colour: QColor) -> QImage:
    """The mask as a translucent layer of the region's colour."""
    out = QImage(mask.size(), QImage.Format.Format_ARGB32_Premultiplied)
    out.fill(colour)
    p = QPainter(out)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
    p.drawImage(0, 0, mask)
    p.end()
    return out


class OverlayItem(QGraphicsItem):
    """A region's mask drawn in its colour. Painting updates only the changed rectangle, so a
    stroke on a 4000 px picture costs what the brush covers, not the whole picture."""

    def __init__(self, mask: QImage, colour: QColor) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.colour = QColor(colour)
        self.image = coloured_overlay(mask, self.colour)

    def boundingRect(self) -> QRectF:
        return QRectF(self.image.rect())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        r = option.exposedRect.toAlignedRect().intersected(self.image.rect())
        if not r.isEmpty():
            painter.drawImage(r, self.image, r)

    def reset(self, mask: QImage, colour: QColor) -> None:
        if mask.size() != self.image.size():
            self.prepareGeometryChange()
        self.colour = QColor(colour)
        self.image = coloured_overlay(mask, self.colour)
        self.update()

    def refresh(self, mask: QImage, rect: QRect) -> None:
        """Recolour ``rect`` from ``mask``."""
        p = QPainter(self.image)
        p.setClipRect(rect)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        p.fillRect(rect, self.colour)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_DestinationIn)
        p.drawImage(rect, mask, rect)
        p.end()
        self.update(QRectF(rect))


class Canvas(ImageView):
    #: a file was dropped on the canvas (the main window opens it as content)
    fileDropped = Signal(str)
    #: a message for the status bar (e.g. "select a region to paint")
    message = Signal(str)
    #: the brush changed (size via [ and ])
    brushChanged = Signal(object)
    #: the mask under a stroke changed (live mode re-renders from the working mask)
    strokeMoved = Signal(object)

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.tool = Tool.BRUSH
        self.brush = BrushSettings()
        self.fill_tolerance = 0.12
        self.active: RegionLayer | None = None
        self.overlay_opacity = 0.45
        self.show_result = True
        self._stroke: Stroke | None = None
        self._stroke_region: RegionLayer | None = None
        self._content_rgb: np.ndarray | None = None
        self.content_item = QGraphicsPixmapItem()
        self.result_item = QGraphicsPixmapItem()
        self.result_item.setZValue(1)
        self.result_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.content_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setZValue(100)
        pen = QPen(QColor(255, 255, 255, 220), 0)
        pen.setCosmetic(True)
        self.cursor_item.setPen(pen)
        self.cursor_item.setVisible(False)
        for item in (self.content_item, self.result_item, self.cursor_item):
            self.scene().addItem(item)
        self._overlays: dict[int, OverlayItem] = {}
        doc.contentChanged.connect(self._content_changed)
        doc.regionsChanged.connect(self.rebuild_overlays)
        doc.maskChanged.connect(self._refresh_overlay)
        doc.regionChanged.connect(self._refresh_overlay)
        doc.resultChanged.connect(self._result_changed)

    # ---------------------------------------------------------------- document
    def _content_changed(self) -> None:
        img = self.doc.content
        self.content_item.setPixmap(QPixmap.fromImage(img) if img is not None else QPixmap())
        self._content_rgb = image_array(img.convertToFormat(QImage.Format.Format_RGB888), 3) if img is not None else None
        if img is not None:
            self.scene().setSceneRect(QRectF(0, 0, img.width(), img.height()))
        self.rebuild_overlays()
        self.fit()

    def show_image(self, image) -> None:
        """Show a tensor (a live preview or a result) over the content, scaled to its size."""
        if image is None or self.doc.content is None:
            self.result_item.setPixmap(QPixmap())
            return
        pix = QPixmap.fromImage(tensor_to_qimage(image))
        self.result_item.setPixmap(pix)
        # each axis on its own: a 448 px result of a 1024x666 photo is 291 rows, which a
        # uniform scale leaves a pixel short of the photo (a stripe of photo at the bottom)
        self.result_item.setTransform(QTransform.fromScale(self.doc.content.width() / max(1, pix.width()),
                                                           self.doc.content.height() / max(1, pix.height())))
        self.result_item.setVisible(self.show_result)

    def _result_changed(self) -> None:
        self.show_image(self.doc.result.image if self.doc.result is not None else None)

    def set_show_result(self, on: bool) -> None:
        self.show_result = on
        self.result_item.setVisible(on)

    def rebuild_overlays(self) -> None:
        for item in self._overlays.values():
            self.scene().removeItem(item)
        self._overlays = {}
        for i, r in enumerate(self.doc.regions):
            item = OverlayItem(r.mask, r.colour)
            item.setZValue(2 + i * 0.01)
            self.scene().addItem(item)
            self._overlays[r.id] = item
            self._refresh_overlay(r)
        if self.active is not None and self.active not in self.doc.regions:
            self.active = None

    def _refresh_overlay(self, region: RegionLayer) -> None:
        item = self._overlays.get(region.id)
        if item is None:
            return
        item.reset(region.mask, region.colour)
        item.setOpacity(self.overlay_opacity)
        item.setVisible(region.visible)

    def set_overlay_opacity(self, value: float) -> None:
        self.overlay_opacity = value
        for item in self._overlays.values():
            item.setOpacity(value)

    def set_active_region(self, region: RegionLayer | None) -> None:
        self.active = region

    # ---------------------------------------------------------------- tools
    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self.viewport().setCursor(self.idle_cursor())
        self.message.emit(f"{tool.value.capitalize()} tool")

    def set_brush(self, brush: BrushSettings) -> None:
        self.brush = brush
        self._update_cursor(self.cursor_item.rect().center() if self.cursor_item.isVisible() else None)
        self.brushChanged.emit(brush)

    def idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.PointingHandCursor if self.tool == Tool.FILL else Qt.CursorShape.CrossCursor

    def _update_cursor(self, p: QPointF | None) -> None:
        if p is None or self.tool == Tool.FILL or self.doc.content is None:
            self.cursor_item.setVisible(False)
            return
        r = self.brush.size / 2
        self.cursor_item.setRect(QRectF(p.x() - r, p.y() - r, 2 * r, 2 * r))
        self.cursor_item.setVisible(True)

    def _paint_target(self) -> RegionLayer | None:
        if self.doc.content is None:
            self.message.emit("Open a content image first.")
            return None
        if self.active is None or self.active not in self.doc.regions:
            self.message.emit("Select or add a region in the Regions panel to paint its mask.")
            return None
        return self.active

    def begin_stroke(self, p: QPointF) -> bool:
        region = self._paint_target()
        if region is None:
            return False
        self._stroke = Stroke(region.mask, self.brush, erase=self.tool == Tool.ERASER)
        self._stroke_region = region
        self.continue_stroke(p)
        return True

    def continue_stroke(self, p: QPointF) -> None:
        if self._stroke is None or self._stroke_region is None:
            return
        dirty = self._stroke.add(p)
        self._stroke_region.mask = self._stroke.working
        item = self._overlays.get(self._stroke_region.id)
        if item is not None:
            item.refresh(self._stroke.working, dirty)
        self.strokeMoved.emit(self._stroke_region)

    def end_stroke(self) -> None:
        if self._stroke is None or self._stroke_region is None:
            return
        stroke, region = self._stroke, self._stroke_region
        self._stroke = self._stroke_region = None
        after = stroke.result()
        region.mask = stroke.before  # the undo command applies the change
        self.doc.undo_stack.push(MaskEdit(self.doc, region, stroke.before, after, "Erase" if stroke.erase else "Paint"))

    def fill_at(self, p: QPointF) -> None:
        region = self._paint_target()
        if region is None or self._content_rgb is None:
            return
        x, y = int(p.x()), int(p.y())
        h, w, _ = self._content_rgb.shape
        if not (0 <= x < w and 0 <= y < h):
            return
        area = flood_region(self._content_rgb, x, y, self.fill_tolerance)
        after = fill_mask(region.mask, area, self.brush.opacity)
        self.doc.undo_stack.push(MaskEdit(self.doc, region, region.mask.copy(), after, "Fill"))

    def clear_active(self) -> None:
        region = self._paint_target()
        if region is None:
            return
        self.doc.undo_stack.push(MaskEdit(self.doc, region, region.mask.copy(),
                                          empty_mask(region.mask.width(), region.mask.height()), "Clear"))

    def fill_all_active(self) -> None:
        region = self._paint_target()
        if region is None:
            return
        full = empty_mask(region.mask.width(), region.mask.height())
        full.fill(QColor(0, 0, 0, 255))
        self.doc.undo_stack.push(MaskEdit(self.doc, region, region.mask.copy(), full, "Fill all"))

    # ---------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._start_pan(event):
            return
        if event.button() == Qt.MouseButton.LeftButton:
            p = self.mapToScene(event.position().toPoint())
            if self.tool == Tool.FILL:
                self.fill_at(p)
            else:
                self.begin_stroke(p)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan(event):
            return
        p = self.mapToScene(event.position().toPoint())
        self._update_cursor(p)
        if self._stroke is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.continue_stroke(p)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._end_pan():
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.end_stroke()
            return
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:
        self.cursor_item.setVisible(False)
        super().leaveEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.fileDropped.emit(str(Path(url.toLocalFile())))
                event.acceptProposedAction()
                return
