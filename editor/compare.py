"""Compare: one job, several strategies (or presets of one), results side by side.

The setup dialog lists every registered strategy and its presets; each ticked entry becomes
one job on the queue. The grid's views are linked, so zooming or panning one moves all, and
each cell is captioned with its time and figures (style and content distances, SSIM and LPIPS
against the photo: engine.metrics.figures), with a Keep button.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QGraphicsPixmapItem, QGridLayout, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from engine import params as params_mod
from engine.registry import strategies

from .conversions import tensor_to_qimage
from .document import ResultEntry
from .imageview import ImageView
from .job_panel import caption
from .presets import presets_for


@dataclass(frozen=True)
class Variant:
    """One column of a comparison: a strategy and its parameter values."""

    label: str
    strategy: str
    values: Mapping[str, Any] = field(default_factory=dict)


class CompareSetup(QDialog):
    """Tick the strategies / presets to compare."""

    def __init__(self, current: Variant, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare strategies")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Render the same job with each ticked entry:"))
        self.list = QListWidget()
        layout.addWidget(self.list)
        self._add(Variant(f"{current.label} (current settings)", current.strategy, current.values), True)
        for name, cls in strategies.all().items():
            if name != current.strategy:
                self._add(Variant(cls.title or name, name, {}), False)
            for p in presets_for(name):
                self._add(Variant(f"{cls.title or name}: {p.name}", name, dict(p.params)), False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Run comparison")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _add(self, v: Variant, checked: bool) -> None:
        item = QListWidgetItem(v.label)
        item.setData(Qt.ItemDataRole.UserRole, v)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.list.addItem(item)

    def variants(self) -> list[Variant]:
        return [measured(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]


def measured(v: Variant) -> Variant:
    """``v`` asking for its figures: the instant strategies measure only when told (``measure``),
    and a comparison is where the figures are read."""
    cls = strategies.get(v.strategy)
    if "measure" not in {s.name for s in params_mod.specs(cls.Params)}:
        return v
    return dataclasses.replace(v, values={**v.values, "measure": True})


def figures_caption(entry: ResultEntry) -> str:
    """The Job panel's caption, with LPIPS named (it lists figures it does not know by key)."""
    figs = dict(entry.figures)
    lpips = figs.pop("lpips", None)
    text = caption(dataclasses.replace(entry, figures=figs))
    return text if lpips is None else f"{text} · LPIPS {lpips:.3f}"


class CompareCell(QWidget):
    keepRequested = Signal(object)

    def __init__(self, variant: Variant) -> None:
        super().__init__()
        self.variant = variant
        self.entry: ResultEntry | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.title = QLabel(f"<b>{variant.label}</b>")
        self.view = ImageView()
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.view.scene().addItem(self.item)
        self.caption = QLabel("queued…")
        self.caption.setWordWrap(True)
        self.keep = QPushButton("Keep")
        self.keep.setEnabled(False)
        self.keep.clicked.connect(lambda: self.entry is not None and self.keepRequested.emit(self.entry))
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.keep)

    def show_image(self, image) -> None:
        first = self.item.pixmap().isNull()
        self.item.setPixmap(QPixmap.fromImage(tensor_to_qimage(image)))
        if first:
            self.view.fit()

    def set_result(self, entry: ResultEntry) -> None:
        self.entry = entry
        self.show_image(entry.image)
        self.caption.setText(figures_caption(entry))
        self.keep.setEnabled(True)

    def set_failed(self, message: str) -> None:
        self.caption.setText(f"<span style='color:#e07070'>{message}</span>")


class CompareWindow(QWidget):
    """The grid of results; lives as long as the user keeps it open."""

    keepRequested = Signal(object)

    def __init__(self, variants: list[Variant], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Compare — Brushwork")
        self.resize(1200, 700)
        grid = QGridLayout(self)
        cols = max(1, math.ceil(math.sqrt(len(variants))))
        self.cells: list[CompareCell] = []
        for i, v in enumerate(variants):
            cell = CompareCell(v)
            cell.keepRequested.connect(self.keepRequested)
            grid.addWidget(cell, i // cols, i % cols)
            self.cells.append(cell)
        for a in self.cells:
            for b in self.cells:
                if a is not b:
                    a.view.link(b.view)
        #: job id -> cell
        self.jobs: dict[int, CompareCell] = {}

    def results(self) -> list[ResultEntry]:
        return [c.entry for c in self.cells if c.entry is not None]
