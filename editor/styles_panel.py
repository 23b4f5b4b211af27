"""The Styles dock: a library of style images (thumbnails) and text prompts.

Ticked styles are the job's global styles (blended by weight); regions pick theirs by name.
Add with the buttons or by dropping image files on the list.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (QDoubleSpinBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from engine.errors import InputError
from engine.images import load_image

from .conversions import tensor_to_qimage
from .document import Document, StyleItem

THUMB = 72
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp)"


def style_icon(item: StyleItem) -> QIcon:
    pix = QPixmap(THUMB, THUMB)
    pix.fill(QColor("#2b2b2b"))
    p = QPainter(pix)
    if item.image is not None:
        img = tensor_to_qimage(item.image).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                                 Qt.TransformationMode.SmoothTransformation)
        p.drawImage((THUMB - img.width()) // 2, (THUMB - img.height()) // 2, img)
    else:
        p.setPen(QColor("#e0e0e0"))
        p.drawText(pix.rect().adjusted(4, 4, -4, -4), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                   f"“{item.text}”")
    p.end()
    return QIcon(pix)


class StyleList(QListWidget):
    filesDropped = Signal(list)

    def __init__(self) -> None:
        super().__init__()
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 22, THUMB + 34))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWordWrap(True)
        self.setAcceptDrops(True)
        self.setSpacing(2)

    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dragMoveEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.filesDropped.emit(paths)
            e.acceptProposedAction()


class StylesPanel(QWidget):
    message = Signal(str)

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        layout = QVBoxLayout(self)
        self.list = StyleList()
        self.list.setToolTip("Ticked styles apply to the whole picture (or the gaps between regions).\n"
                             "Drop image files here to add them.")
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_image = QPushButton("+ Image…")
        self.add_text = QPushButton("+ Prompt…")
        self.add_text.setToolTip("A text prompt (for strategies that take text, e.g. CLIP)")
        self.remove = QPushButton("Remove")
        for b in (self.add_image, self.add_text, self.remove):
            row.addWidget(b)
        layout.addLayout(row)
        weight_row = QHBoxLayout()
        weight_row.addWidget(QLabel("Blend weight"))
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0.0, 10.0)
        self.weight.setSingleStep(0.1)
        self.weight.setToolTip("Relative weight of the selected style when several are ticked")
        weight_row.addWidget(self.weight, 1)
        layout.addLayout(weight_row)

        self.add_image.clicked.connect(self._ask_images)
        self.add_text.clicked.connect(self._ask_prompt)
        self.remove.clicked.connect(self._remove_selected)
        self.list.filesDropped.connect(self.add_files)
        self.list.itemChanged.connect(self._item_changed)
        self.list.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.weight.valueChanged.connect(self._weight_changed)
        doc.stylesChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        self.list.blockSignals(True)
        current = self.selected()
        self.list.clear()
        for s in self.doc.styles:
            item = QListWidgetItem(style_icon(s), s.name)
            item.setData(Qt.ItemDataRole.UserRole, s)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if s.active else Qt.CheckState.Unchecked)
            item.setToolTip(f"{s.name}\n{'image' if s.image is not None else 'prompt: ' + str(s.text)}\nweight {s.weight:g}")
            self.list.addItem(item)
            if s is current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._selection_changed()

    def selected(self) -> StyleItem | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _selection_changed(self) -> None:
        s = self.selected()
        self.weight.setEnabled(s is not None)
        self.remove.setEnabled(s is not None)
        if s is not None:
            self.weight.blockSignals(True)
            self.weight.setValue(s.weight)
            self.weight.blockSignals(False)

    def _item_changed(self, item: QListWidgetItem) -> None:
        s: StyleItem = item.data(Qt.ItemDataRole.UserRole)
        self.doc.set_style_attr(s, "active", item.checkState() == Qt.CheckState.Checked)

    def _weight_changed(self, v: float) -> None:
        s = self.selected()
        if s is not None:
            self.doc.set_style_attr(s, "weight", v)

    # ------------------------------------------------------------ adding
    def add_files(self, paths: list[str]) -> list[StyleItem]:
        added = []
        for path in paths:
            try:
                image = load_image(path)
            except InputError as exc:
                self.message.emit(str(exc))
                continue
            added.append(self.doc.add_style(StyleItem(Path(path).stem.replace("_", " "), image=image, active=not self.doc.styles)))
        return added

    def add_prompt(self, text: str) -> StyleItem:
        return self.doc.add_style(StyleItem(text[:40], text=text, active=False))

    def _ask_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add style images", "", IMAGE_FILTER)
        self.add_files(paths)

    def _ask_prompt(self) -> None:
        text, ok = QInputDialog.getText(self, "Add a text style", "Describe the style (e.g. 'a watercolour painting'):")
        if ok and text.strip():
            self.add_prompt(text.strip())

    def _remove_selected(self) -> None:
        s = self.selected()
        if s is not None:
            self.doc.remove_style(s)
