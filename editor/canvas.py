"""The canvas: the content (or the result over it), the region overlays, and the painting tools.

Everything is drawn in image coordinates, so what is painted lands on the same pixels at any
zoom. Each finished stroke, fill or clear is pushed to the document's undo stack as one step.

What shows after a render: a render (result, preview or live picture) is shown untinted. The
regions' coloured overlays show while there is no render to look at, while a stroke is in
progress, and once the artist turns back to painting (picks a tool or a region, paints, fills,
undoes a mask edit, moves the Overlay slider) until the next render lands. Outline mode (O)
draws each region's edge as a thin line that may sit over a result. Holding backslash shows
the photo in place of the result; split view shows the photo left of a draggable divider.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QLineF, QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QDragEnterEvent, QDropEvent, QImage, QKeyEvent, QMouseEvent, QPainter,
                           QPen, QPixmap, QTransform)
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QGraphicsEllipseItem, QGraphicsItem, QGraphicsLineItem,
                               QGraphicsPixmapItem, QLineEdit, QPlainTextEdit, QTextEdit, QWidget)

from .brush import BrushSettings, Stroke, fill_mask, flood_region
from .conversions import empty_mask, tensor_to_qimage, image_array, mask_to_array
from .document import Document, RegionLayer
from .imageview import ImageView
from .undo import MaskEdit


class Tool(Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    FILL = "fill"
    #: click a thing: its semantic segment joins the region (editor.select_tool)
    SELECT = "select"


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


def edge_segments(mask: np.ndarray, threshold: int = 128) -> np.ndarray:
    """The boundary of ``mask >= threshold`` inside the picture as Nx4 line segments (x1, y1, x2, y2)
    along pixel edges.

    Each run of edge pixels along a row or a column is one segment, so a smooth shape costs about
    as many segments as its outline has steps, not as many as it has pixels."""
    inside = mask >= threshold
    out = []
    for grid, transpose in ((inside, False), (inside.T, True)):
        # the picture's own border is no edge: a region reaching it is cut there, not outlined
        padded = np.pad(grid, ((1, 1), (0, 0)), mode="edge")
        edge = padded[1:] != padded[:-1]  # (rows + 1) x cols: an edge above row y, over x..x+1
        runs = np.diff(np.pad(edge, ((0, 0), (1, 1))).astype(np.int8), axis=1)
        ys, x0 = np.nonzero(runs == 1)
        _, x1 = np.nonzero(runs == -1)
        seg = np.stack([x0, ys, x1, ys], axis=1) if not transpose else np.stack([ys, x0, ys, x1], axis=1)
        out.append(seg)
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, 4))


class OutlineItem(QGraphicsItem):
    """A region's edge as a thin line in its colour (over a dark halo, readable on any picture).

    The pens are cosmetic: 2 screen pixels at any zoom. The lines are built lazily from the mask
    the first time they are painted after a change, so masks edited with outlines off cost nothing.
    A very ragged mask (more than MAX_SEGMENTS edge runs) is outlined on a coarser grid.

    The lines are kept as one list drawn with one drawLines call: PySide6 6.12 on Python 3.11
    drops a reference to None on every call of a method returning nothing (one QPainterPath.lineTo
    per segment ends the process with "none_dealloc" after a few thousand), so per-segment calls
    are avoided."""

    MAX_SEGMENTS = 200_000

    def __init__(self, mask: QImage, colour: QColor) -> None:
        super().__init__()
        self.colour = QColor(colour)
        self._mask = mask
        self._size = mask.size()
        self._lines: list[QLineF] | None = None
        self._pens = self._make_pens()

    def _make_pens(self) -> tuple[QPen, QPen]:
        pens = []
        for colour, width in ((QColor(0, 0, 0, 150), 4.0), (self.colour, 2.0)):
            pen = QPen(colour, width)
            pen.setCosmetic(True)
            pen.setCapStyle(Qt.PenCapStyle.SquareCap)
            pens.append(pen)
        return pens[0], pens[1]

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._size.width(), self._size.height()).adjusted(-4, -4, 4, 4)

    def reset(self, mask: QImage, colour: QColor) -> None:
        if mask.size() != self._size:
            self.prepareGeometryChange()
            self._size = mask.size()
        self._mask, self.colour, self._lines = mask, QColor(colour), None
        self._pens = self._make_pens()
        self.update()

    def lines(self) -> list[QLineF]:
        if self._lines is None:
            m = mask_to_array(self._mask)
            step = 1
            segs = edge_segments(m)
            while len(segs) > self.MAX_SEGMENTS and min(m.shape) // (2 * step) >= 8:
                step *= 2
                h, w = m.shape[0] // step * step, m.shape[1] // step * step
                coarse = m[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))
                segs = edge_segments(coarse) * step
            self._lines = [QLineF(x1, y1, x2, y2) for x1, y1, x2, y2 in segs.tolist()]
        return self._lines

    def paint(self, painter: QPainter, option, widget=None) -> None:
        lines = self.lines()
        if not lines:
            return
        for pen in self._pens:
            painter.setPen(pen)
            painter.drawLines(lines)


class ResultItem(QGraphicsPixmapItem):
    """The render over the photo; in split view only the part right of ``split_x`` (scene x) is drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.split_x: float | None = None

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self.split_x is not None:
            sx = self.transform().m11() or 1.0
            x = self.split_x / sx
            painter.setClipRect(QRectF(x, 0, max(0.0, self.pixmap().width() - x), self.pixmap().height()),
                                Qt.ClipOperation.IntersectClip)
        super().paint(painter, option, widget)


class DividerItem(QGraphicsLineItem):
    """Split view's vertical divider: a cosmetic line the height of the picture with a round handle."""

    HANDLE = 9  # screen pixels

    def __init__(self) -> None:
        super().__init__()
        pen = QPen(QColor(255, 255, 255, 235), 2)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.handle = QGraphicsEllipseItem(-self.HANDLE, -self.HANDLE, 2 * self.HANDLE, 2 * self.HANDLE, self)
        self.handle.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.handle.setBrush(QBrush(QColor(255, 255, 255, 235)))
        ring = QPen(QColor(0, 0, 0, 160), 1)
        ring.setCosmetic(True)
        self.handle.setPen(ring)

    def set_height(self, h: float) -> None:
        self.setLine(QLineF(0, 0, 0, h))
        self.handle.setPos(0, h / 2)


class HoldToCompare(QObject):
    """Application-wide: while backslash is held in ``window`` the canvas shows the photo.

    Auto-repeated presses and releases are ignored, so holding the key is one press and one
    release. Typing a backslash into a text field is left alone; the window losing focus while
    the key is down ends the comparison (the release would go elsewhere)."""

    KEY = Qt.Key.Key_Backslash

    def __init__(self, window: QWidget, canvas: "Canvas") -> None:
        super().__init__(window)
        self.window, self.canvas = window, canvas

    def eventFilter(self, obj, event) -> bool:
        t = event.type()
        if t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and isinstance(event, QKeyEvent) \
                and event.key() == self.KEY and isinstance(obj, QWidget) and obj.window() is self.window:
            focus = QApplication.focusWidget()
            if isinstance(focus, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
                return False
            if not event.isAutoRepeat():
                self.canvas.set_comparing(t == QEvent.Type.KeyPress)
            return True
        if t == QEvent.Type.ApplicationDeactivate or (t == QEvent.Type.WindowDeactivate and obj is self.window):
            self.canvas.set_comparing(False)
        return False


class Canvas(ImageView):
    #: a file was dropped on the canvas (the main window opens it as content)
    fileDropped = Signal(str)
    #: a message for the status bar (e.g. "select a region to paint")
    message = Signal(str)
    #: the brush changed (size via [ and ])
    brushChanged = Signal(object)
    #: the mask under a stroke changed (live mode re-renders from the working mask)
    strokeMoved = Signal(object)
    #: what the canvas shows changed (a render, the photo while comparing, split view): the status bar follows
    viewChanged = Signal()
    #: the select tool clicked here (image pixels, the keyboard modifiers): editor.select_tool acts on it
    pointPicked = Signal(QPointF, object)

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
        #: View > Show result (unticked: the photo, for mouse users; the key is press-and-hold)
        self.show_result = True
        #: backslash is held: the photo in place of the result, untinted
        self.comparing = False
        #: View > Region outlines (O)
        self.outlines = False
        #: live mode: the region being painted shows its outline while its tint is hidden
        self.live_outlines = False
        #: split view: the photo left of the divider, the result right of it
        self.split = False
        self.split_x = 0.0
        #: the artist turned back to painting since the last render landed: the tint shows
        self.painting = False
        self._stroke: Stroke | None = None
        self._stroke_region: RegionLayer | None = None
        self._dragging_divider = False
        self._content_rgb: np.ndarray | None = None
        self.content_item = QGraphicsPixmapItem()
        self.result_item = ResultItem()
        self.result_item.setZValue(1)
        self.result_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.content_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.cursor_item = QGraphicsEllipseItem()
        self.cursor_item.setZValue(100)
        pen = QPen(QColor(255, 255, 255, 220), 0)
        pen.setCosmetic(True)
        self.cursor_item.setPen(pen)
        self.cursor_item.setVisible(False)
        self.divider = DividerItem()
        self.divider.setZValue(90)
        self.divider.setVisible(False)
        for item in (self.content_item, self.result_item, self.cursor_item, self.divider):
            self.scene().addItem(item)
        self._overlays: dict[int, OverlayItem] = {}
        self._outlines: dict[int, OutlineItem] = {}
        doc.contentChanged.connect(self._content_changed)
        doc.frameChanged.connect(self._frame_changed)
        doc.regionsChanged.connect(self.rebuild_overlays)
        doc.regionsChanged.connect(self.turn_to_painting)
        doc.maskChanged.connect(self._refresh_overlay)
        doc.maskChanged.connect(self.turn_to_painting)  # undo/redo of a stroke, a segmenter: show what changed
        doc.regionChanged.connect(self._refresh_overlay)
        doc.resultChanged.connect(self._result_changed)

    # ---------------------------------------------------------------- document
    def _content_changed(self) -> None:
        img = self.doc.content
        self.content_item.setPixmap(QPixmap.fromImage(img) if img is not None else QPixmap())
        self._content_rgb = image_array(img.convertToFormat(QImage.Format.Format_RGB888), 3) if img is not None else None
        if img is not None:
            self.scene().setSceneRect(QRectF(0, 0, img.width(), img.height()))
            self.divider.set_height(img.height())
            self.split_x = img.width() / 2
        self.rebuild_overlays()
        self.fit()

    def _frame_changed(self) -> None:
        """Another frame of the clip: new pixels under the same regions, zoom and pan kept."""
        img = self.doc.content
        self.content_item.setPixmap(QPixmap.fromImage(img))
        self._content_rgb = image_array(img.convertToFormat(QImage.Format.Format_RGB888), 3)

    def show_image(self, image) -> None:
        """Show a tensor (a live preview or a result) over the content, scaled to its size.

        A render landing hides the region tint (unless a stroke is still in progress: live mode
        renders during a stroke, and the artist is still looking at what they paint)."""
        if image is None or self.doc.content is None:
            self.result_item.setPixmap(QPixmap())
            self.update_layers()
            return
        pix = QPixmap.fromImage(tensor_to_qimage(image))
        self.result_item.setPixmap(pix)
        # each axis on its own: a 448 px result of a 1024x666 photo is 291 rows, which a
        # uniform scale leaves a pixel short of the photo (a stripe of photo at the bottom)
        self.result_item.setTransform(QTransform.fromScale(self.doc.content.width() / max(1, pix.width()),
                                                           self.doc.content.height() / max(1, pix.height())))
        if self._stroke is None:
            self.painting = False
        self.update_layers()

    def _result_changed(self) -> None:
        self.show_image(self.doc.result.image if self.doc.result is not None else None)

    # ---------------------------------------------------------------- what shows
    def has_render(self) -> bool:
        return not self.result_item.pixmap().isNull()

    def result_visible(self) -> bool:
        """A render is on the canvas (whole, or right of the split divider)."""
        return self.has_render() and self.show_result and not self.comparing

    def tint_visible(self, region: RegionLayer) -> bool:
        """Whether ``region``'s coloured overlay shows now (see the module docstring)."""
        return region.visible and self.regions_shown()

    def regions_shown(self) -> bool:
        """The regions are shown now, tinted, rather than a render alone (the face outlines follow)."""
        if self._stroke is not None:
            return True
        if self.comparing:
            return False
        return not self.result_visible() or (self.painting and self.active is not None)

    def outline_visible(self, region: RegionLayer) -> bool:
        if not region.visible:
            return False
        if self.outlines:
            return True
        return self.live_outlines and region is self.active and not self.tint_visible(region)

    def update_layers(self) -> None:
        """Apply the view state (result, compare, split, tint, outlines) to the scene's items."""
        self.result_item.setVisible(self.has_render() and self.show_result and not self.comparing)
        split = self.split and self.result_visible()
        self.result_item.split_x = self.split_x if split else None
        self.result_item.update()
        self.divider.setVisible(split)
        self.divider.setPos(self.split_x, 0)
        for r in self.doc.regions:
            item = self._overlays.get(r.id)
            if item is not None:
                item.setOpacity(self.overlay_opacity)
                item.setVisible(self.tint_visible(r))
            outline = self._outlines.get(r.id)
            if outline is not None:
                outline.setVisible(self.outline_visible(r))
        self.viewChanged.emit()

    def turn_to_painting(self, *_) -> None:
        """The artist is working on the regions again: show the tint until the next render lands."""
        self.painting = True
        self.update_layers()

    def rest(self) -> None:
        """Show the render untinted (e.g. a project just opened with its result)."""
        self.painting = False
        self.update_layers()

    def set_show_result(self, on: bool) -> None:
        self.show_result = bool(on)
        self.update_layers()

    def set_comparing(self, on: bool) -> None:
        """Held backslash: the photo in place of the result while ``on``."""
        if bool(on) != self.comparing:
            self.comparing = bool(on)
            self.update_layers()

    def set_outlines(self, on: bool) -> None:
        self.outlines = bool(on)
        self.update_layers()

    def set_live_outlines(self, on: bool) -> None:
        self.live_outlines = bool(on)
        self.update_layers()

    def set_split(self, on: bool) -> None:
        self.split = bool(on)
        self.update_layers()

    def set_split_x(self, x: float) -> None:
        w = self.doc.content.width() if self.doc.content is not None else 0
        self.split_x = float(min(max(x, 0.0), w))
        self.update_layers()

    def rebuild_overlays(self) -> None:
        for item in (*self._overlays.values(), *self._outlines.values()):
            self.scene().removeItem(item)
        self._overlays = {}
        self._outlines = {}
        for i, r in enumerate(self.doc.regions):
            item = OverlayItem(r.mask, r.colour)
            item.setZValue(2 + i * 0.01)
            self.scene().addItem(item)
            self._overlays[r.id] = item
            outline = OutlineItem(r.mask, r.colour)
            outline.setZValue(3 + i * 0.01)
            self.scene().addItem(outline)
            self._outlines[r.id] = outline
            self._refresh_overlay(r)
        if self.active is not None and self.active not in self.doc.regions:
            self.active = None
        self.update_layers()

    def _refresh_overlay(self, region: RegionLayer) -> None:
        item = self._overlays.get(region.id)
        if item is None:
            return
        item.reset(region.mask, region.colour)
        item.setOpacity(self.overlay_opacity)
        item.setVisible(self.tint_visible(region))
        outline = self._outlines.get(region.id)
        if outline is not None:
            outline.reset(region.mask, region.colour)
            outline.setVisible(self.outline_visible(region))

    def set_overlay_opacity(self, value: float) -> None:
        """The tint's opacity; moving the slider shows the tint (so the artist sees what it sets)."""
        self.overlay_opacity = value
        self.turn_to_painting()

    def set_active_region(self, region: RegionLayer | None) -> None:
        changed = region is not self.active
        self.active = region
        if changed and region is not None:
            self.turn_to_painting()
        else:
            self.update_layers()

    # ---------------------------------------------------------------- tools
    def set_tool(self, tool: Tool) -> None:
        self.tool = tool
        self.viewport().setCursor(self.idle_cursor())
        self.message.emit(f"{tool.value.capitalize()} tool")
        self.turn_to_painting()

    def set_brush(self, brush: BrushSettings) -> None:
        self.brush = brush
        self._update_cursor(self.cursor_item.rect().center() if self.cursor_item.isVisible() else None)
        self.brushChanged.emit(brush)

    def idle_cursor(self) -> Qt.CursorShape:
        return Qt.CursorShape.PointingHandCursor if self.tool in (Tool.FILL, Tool.SELECT) else Qt.CursorShape.CrossCursor

    def _update_cursor(self, p: QPointF | None) -> None:
        if p is None or self.tool in (Tool.FILL, Tool.SELECT) or self.doc.content is None:
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
        self.turn_to_painting()
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
        self.update_layers()

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

    # ---------------------------------------------------------------- split divider
    def divider_view_x(self) -> float:
        return float(self.mapFromScene(QPointF(self.split_x, 0)).x())

    def near_divider(self, pos: QPointF) -> bool:
        """``pos`` (viewport pixels) is on the split divider (within a few screen pixels)."""
        if not self.divider.isVisible() or self.doc.content is None:
            return False
        top = self.mapFromScene(QPointF(0, 0)).y()
        bottom = self.mapFromScene(QPointF(0, self.doc.content.height())).y()
        return abs(pos.x() - self.divider_view_x()) <= DividerItem.HANDLE and top - 4 <= pos.y() <= bottom + 4

    # ---------------------------------------------------------------- events
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._start_pan(event):
            return
        if event.button() == Qt.MouseButton.LeftButton and self.near_divider(event.position()):
            self._dragging_divider = True
            return
        if event.button() == Qt.MouseButton.LeftButton:
            p = self.mapToScene(event.position().toPoint())
            if self.tool == Tool.FILL:
                self.fill_at(p)
            elif self.tool == Tool.SELECT:
                self.pointPicked.emit(p, event.modifiers())
            else:
                self.begin_stroke(p)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan(event):
            return
        p = self.mapToScene(event.position().toPoint())
        if self._dragging_divider:
            self.set_split_x(p.x())
            return
        if self._stroke is None and self.near_divider(event.position()):
            self.cursor_item.setVisible(False)
            self.viewport().setCursor(Qt.CursorShape.SplitHCursor)
            return
        if self.viewport().cursor().shape() == Qt.CursorShape.SplitHCursor:
            self.viewport().setCursor(self.idle_cursor())
        self._update_cursor(p)
        if self._stroke is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.continue_stroke(p)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._end_pan():
            return
        if event.button() == Qt.MouseButton.LeftButton and self._dragging_divider:
            self._dragging_divider = False
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
