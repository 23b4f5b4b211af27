"""The Regions dock: add, remove, rename, recolour, hide regions; give each a style, strength and keep shape.

Every change goes through the undo stack. The selected region is the one the brush paints.
Auto regions splits the photo by meaning (named groups: Sky, Buildings, People) or by colour.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QColorDialog, QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QSlider, QVBoxLayout, QWidget)

from engine.registry import segmenters

from .document import Document, RegionLayer
from .undo import AddRegion, RemoveRegion, SetRegionAttr

#: Auto regions' methods: (segmenter, what the artist reads, tooltip), the first installed is the default
AUTO_METHODS = (
    ("semantic", "by meaning", "Named regions for what is in the photo (Sky, Buildings, People...), in one click"),
    ("clusters", "by colour", "Regions of like colour and texture (no names; works without the semantic model)"),
)


def swatch(colour: QColor) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(colour)
    return QIcon(pix)


class RegionsPanel(QWidget):
    #: the region the brush paints now (or None)
    activeChanged = Signal(object)
    overlayOpacityChanged = Signal(float)
    autoRequested = Signal()
    scribblesRequested = Signal()

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setToolTip("Tick to show, double-click to rename. The selected region is the one you paint.")
        self.list.setEditTriggers(QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.colour_button = QPushButton("Colour…")
        for b in (self.add_button, self.remove_button, self.colour_button):
            row.addWidget(b)
        layout.addLayout(row)
        auto_row = QHBoxLayout()
        self.auto_button = QPushButton("Auto regions")
        self.auto_button.setToolTip("Split the picture into regions automatically (segmenter plugin)")
        self.auto_method = QComboBox()
        self.auto_method.setToolTip("How Auto regions splits the picture")
        installed = segmenters.names()
        for name, label, tip in AUTO_METHODS:
            if name in installed:
                self.auto_method.addItem(label, name)
                self.auto_method.setItemData(self.auto_method.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.auto_button.setEnabled(self.auto_method.count() > 0)
        self.scribble_button = QPushButton("Grow scribbles")
        self.scribble_button.setToolTip("Spread rough scribbles of each region to the whole picture (segmenter plugin)")
        auto_row.addWidget(self.auto_button)
        auto_row.addWidget(self.auto_method)
        auto_row.addWidget(self.scribble_button)
        layout.addLayout(auto_row)

        form = QFormLayout()
        self.style_combo = QComboBox()
        self.style_combo.setToolTip("The style painted into this region")
        self.strength = QSlider(Qt.Orientation.Horizontal)
        self.strength.setRange(0, 100)
        self.strength.setToolTip("How strongly the region takes its style (0 = keeps the photo)")
        self.feather = QDoubleSpinBox()
        self.feather.setRange(0, 200)
        self.feather.setSuffix(" px")
        self.feather.setToolTip("Soften the region's edge over this many pixels")
        self.keep_shape = QSlider(Qt.Orientation.Horizontal)
        self.keep_shape.setRange(0, 100)
        self.keep_shape.setToolTip("How much of the photo's shapes and edges the region keeps under its style "
                                   "(0 % = the style's own, 100 % = the photo's structure in the style's colours)")
        self.keep_shape_label = QLabel("0 %")
        self.keep_shape_label.setMinimumWidth(38)
        keep_row = QHBoxLayout()
        keep_row.addWidget(self.keep_shape, 1)
        keep_row.addWidget(self.keep_shape_label)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(45)
        self.opacity.setToolTip("Opacity of the mask overlays on the canvas (display only)")
        form.addRow("Style", self.style_combo)
        form.addRow("Strength", self.strength)
        form.addRow("Feather", self.feather)
        form.addRow("Keep shape", keep_row)
        form.addRow("Overlay", self.opacity)
        layout.addLayout(form)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: palette(mid); font-size: 11px;")
        layout.addWidget(self.hint)

        self.add_button.clicked.connect(self.add_region)
        self.remove_button.clicked.connect(self.remove_selected)
        self.colour_button.clicked.connect(self._ask_colour)
        self.auto_button.clicked.connect(self.autoRequested)
        self.scribble_button.clicked.connect(self.scribblesRequested)
        self.list.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.list.itemChanged.connect(self._item_edited)
        self.style_combo.activated.connect(self._style_chosen)
        self.strength.valueChanged.connect(lambda v: self._set("strength", v / 100))
        self.feather.valueChanged.connect(lambda v: self._set("feather", float(v)))
        self.keep_shape.valueChanged.connect(self._keep_shape_moved)
        self.opacity.valueChanged.connect(lambda v: self.overlayOpacityChanged.emit(v / 100))
        doc.regionsChanged.connect(self.refresh)
        doc.regionChanged.connect(lambda _: self.refresh())
        doc.stylesChanged.connect(self._fill_styles)
        self._fill_styles()
        self.refresh()

    # ------------------------------------------------------------ list
    def refresh(self) -> None:
        current = self.selected()
        self.list.blockSignals(True)
        self.list.clear()
        for r in self.doc.regions:
            item = QListWidgetItem(swatch(r.colour), r.name)
            item.setData(Qt.ItemDataRole.UserRole, r)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEditable)
            item.setCheckState(Qt.CheckState.Checked if r.visible else Qt.CheckState.Unchecked)
            item.setToolTip(f"style: {r.style or '(none)'} · strength {r.strength:.2f} · keep shape {r.keep_shape:.0%}")
            self.list.addItem(item)
            if r is current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)
        self.list.blockSignals(False)
        self._selection_changed()

    def selected(self) -> RegionLayer | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def select(self, region: RegionLayer) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) is region:
                self.list.setCurrentRow(i)

    def _selection_changed(self) -> None:
        r = self.selected()
        for w in (self.remove_button, self.colour_button, self.style_combo, self.strength, self.feather,
                  self.keep_shape):
            w.setEnabled(r is not None)
        if r is not None:
            for w in (self.strength, self.feather, self.style_combo, self.keep_shape):
                w.blockSignals(True)
            self.strength.setValue(round(r.strength * 100))
            self.feather.setValue(r.feather)
            self.keep_shape.setValue(round(r.keep_shape * 100))
            self.keep_shape_label.setText(f"{round(r.keep_shape * 100)} %")
            self.style_combo.setCurrentIndex(max(0, self.style_combo.findData(r.style)))
            for w in (self.strength, self.feather, self.style_combo, self.keep_shape):
                w.blockSignals(False)
        self.hint.setText("Paint the selected region with B (brush), E (eraser), [ and ] for size."
                          if r is not None else "Add a region, then paint where its style goes.")
        self.activeChanged.emit(r)

    def _fill_styles(self) -> None:
        self.style_combo.blockSignals(True)
        self.style_combo.clear()
        self.style_combo.addItem("(none)", "")
        for s in self.doc.styles:
            self.style_combo.addItem(s.name, s.name)
        self.style_combo.blockSignals(False)
        self._selection_changed()

    # ------------------------------------------------------------ edits
    def _set(self, attr: str, value) -> None:
        r = self.selected()
        if r is not None and getattr(r, attr) != value:
            self.doc.undo_stack.push(SetRegionAttr(self.doc, r, attr, value))

    def _keep_shape_moved(self, percent: int) -> None:
        self.keep_shape_label.setText(f"{percent} %")
        r = self.selected()
        if r is not None and r.keep_shape != percent / 100:
            self.doc.undo_stack.push(SetRegionAttr(self.doc, r, "keep_shape", percent / 100,
                                                  f"Change keep shape of '{r.name}'"))

    def auto_method_name(self) -> str:
        """The segmenter Auto regions uses now ("semantic" or "clusters"; "" when neither is installed)."""
        return self.auto_method.currentData() or ""

    def set_auto_method(self, name: str) -> None:
        i = self.auto_method.findData(name)
        if i >= 0:
            self.auto_method.setCurrentIndex(i)

    def _item_edited(self, item: QListWidgetItem) -> None:
        # read everything first: each push refreshes the list, which deletes ``item``
        r: RegionLayer = item.data(Qt.ItemDataRole.UserRole)
        visible = item.checkState() == Qt.CheckState.Checked
        name = item.text().strip()
        if visible != r.visible:
            self.doc.undo_stack.push(SetRegionAttr(self.doc, r, "visible", visible, f"{'Show' if visible else 'Hide'} '{r.name}'"))
        if name and name != r.name:
            self.doc.undo_stack.push(SetRegionAttr(self.doc, r, "name", name, f"Rename '{r.name}' to '{name}'"))

    def _style_chosen(self, index: int) -> None:
        self._set("style", self.style_combo.itemData(index) or "")

    def add_region(self) -> RegionLayer | None:
        if self.doc.content is None:
            self.hint.setText("Open a content image first.")
            return None
        region = self.doc.new_region()
        if self.doc.styles:
            region.style = next((s.name for s in self.doc.styles if not s.active), self.doc.styles[0].name)
        self.doc.undo_stack.push(AddRegion(self.doc, region))
        self.select(region)
        return region

    def remove_selected(self) -> None:
        r = self.selected()
        if r is not None:
            self.doc.undo_stack.push(RemoveRegion(self.doc, r))

    def rename(self, region: RegionLayer, name: str) -> None:
        self.doc.undo_stack.push(SetRegionAttr(self.doc, region, "name", name, f"Rename '{region.name}' to '{name}'"))

    def recolour(self, region: RegionLayer, colour: QColor) -> None:
        self.doc.undo_stack.push(SetRegionAttr(self.doc, region, "colour", QColor(colour), f"Recolour '{region.name}'"))

    def _ask_colour(self) -> None:
        r = self.selected()
        if r is None:
            return
        c = QColorDialog.getColor(r.colour, self, f"Colour of '{r.name}'")
        if c.isValid():
            self.recolour(r, c)
