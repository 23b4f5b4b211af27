"""Export: pixel or print size (cm / inch at a DPI), format, bit depth, quality, sRGB profile.

At the size of the result on the canvas the result itself is written; at any other size the
job is rendered again through :func:`engine.export.export` (tiled when it does not fit) on a
background thread with progress. Both paths write atomically: a failure or Cancel leaves no
file behind.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                               QLabel, QMessageBox, QRadioButton, QSpinBox, QStackedWidget, QVBoxLayout, QWidget)

from engine.errors import BrushworkError, Cancelled
from engine.export import ExportOptions, HugeOutputError, check_output, estimate_output, export, print_pixels, quantise, write_image
from engine.job import StyleJob
from engine.strategy import Progress, RunContext

from .jobs import explain
from .save_path import SavePathField
from .thread_runner import ThreadRunner

#: (label, suffix, bit depth)
FORMATS = (("PNG 8-bit", ".png", 8), ("PNG 16-bit", ".png", 16), ("TIFF 16-bit", ".tif", 16),
           ("TIFF 8-bit", ".tif", 8), ("JPEG", ".jpg", 8))


@dataclass(frozen=True)
class ExportSettings:
    """What the dialog asks for; crosses to the export thread."""

    path: Path
    width: int
    height: int
    dpi: float
    bit_depth: int
    quality: int
    icc: bool
    #: past engine.export.MAX_OUTPUT_PIXELS: the user said yes when the dialog asked
    allow_huge: bool = False

    def options(self) -> ExportOptions:
        return ExportOptions(dpi=self.dpi, bit_depth=self.bit_depth, icc=self.icc, quality=self.quality,  # type: ignore[arg-type]
                             allow_huge=self.allow_huge)


def add_resolution_rows(form: QFormLayout) -> tuple[QSpinBox, QCheckBox]:
    """The Resolution (DPI, 300 to start) and sRGB-profile rows every picture export asks (File > Export, Export layers)."""
    dpi = QSpinBox()
    dpi.setRange(30, 2400)
    dpi.setValue(300)
    dpi.setSuffix(" DPI")
    form.addRow("Resolution", dpi)
    icc = QCheckBox("Embed sRGB ICC profile")
    icc.setChecked(True)
    form.addRow("", icc)
    return dpi, icc


class ExportDialog(QDialog):
    def __init__(self, result_hw: tuple[int, int], suggested: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.result_hw = result_hw
        self.aspect = result_hw[1] / result_hw[0]
        layout = QVBoxLayout(self)
        form = QFormLayout()
        path_field = SavePathField(suggested, "Export to", "Images (*.png *.tif *.tiff *.jpg *.jpeg)")
        self.path = path_field.edit
        form.addRow("File", path_field)
        self.format = QComboBox()
        for label, suffix, depth in FORMATS:
            self.format.addItem(label, (suffix, depth))
        form.addRow("Format", self.format)
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(95)
        form.addRow("JPEG quality", self.quality)

        size_row = QHBoxLayout()
        self.by_pixels = QRadioButton("Pixels")
        self.by_print = QRadioButton("Print size")
        self.by_pixels.setChecked(True)
        size_row.addWidget(self.by_pixels)
        size_row.addWidget(self.by_print)
        form.addRow("Size by", size_row)
        self.stack = QStackedWidget()
        px = QWidget()
        px_l = QHBoxLayout(px)
        px_l.setContentsMargins(0, 0, 0, 0)
        self.width_px = QSpinBox()
        self.width_px.setRange(16, 60000)
        self.width_px.setValue(result_hw[1])
        self.width_px.setSuffix(" px")
        self.height_label = QLabel()
        px_l.addWidget(self.width_px)
        px_l.addWidget(self.height_label, 1)
        pr = QWidget()
        pr_l = QHBoxLayout(pr)
        pr_l.setContentsMargins(0, 0, 0, 0)
        self.print_w = QDoubleSpinBox()
        self.print_w.setRange(0.5, 1000)
        self.print_w.setValue(20.0)
        self.unit = QComboBox()
        self.unit.addItem("cm", "cm")
        self.unit.addItem("inch", "in")
        pr_l.addWidget(self.print_w)
        pr_l.addWidget(self.unit)
        self.print_label = QLabel()
        pr_l.addWidget(self.print_label, 1)
        self.stack.addWidget(px)
        self.stack.addWidget(pr)
        form.addRow("Width", self.stack)
        self.dpi, self.icc = add_resolution_rows(form)
        layout.addLayout(form)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        for sig in (self.width_px.valueChanged, self.print_w.valueChanged, self.unit.currentIndexChanged,
                    self.dpi.valueChanged, self.format.currentIndexChanged, self.by_pixels.toggled):
            sig.connect(self._update)
        self._update()

    def pixel_size(self) -> tuple[int, int]:
        if self.by_pixels.isChecked():
            w = self.width_px.value()
        else:
            w, _ = print_pixels(self.print_w.value(), self.print_w.value() / self.aspect, self.unit.currentData(), self.dpi.value())
        return w, max(1, round(w / self.aspect))

    def _update(self, *_) -> None:
        self.stack.setCurrentIndex(0 if self.by_pixels.isChecked() else 1)
        suffix, depth = self.format.currentData()
        self.quality.setEnabled(suffix == ".jpg")
        p = Path(self.path.text())
        if p.suffix.lower() != suffix and not (suffix == ".tif" and p.suffix.lower() == ".tiff"):
            self.path.setText(str(p.with_suffix(suffix)))
        w, h = self.pixel_size()
        self.height_label.setText(f"× {h} px")
        dpi = self.dpi.value()
        self.print_label.setText(f"= {w} × {h} px")
        rerender = (h, w) != tuple(self.result_hw)
        self.note.setText(f"{w} × {h} px prints at {w / dpi * 2.54:.1f} × {h / dpi * 2.54:.1f} cm at {dpi} DPI. "
                          + ("The job is rendered again at this size (tiled if needed)." if rerender
                             else "Writes the current result as it is.")
                          + f" Output: {estimate_output((h, w), self.path.text(), depth).describe()}.")
        self._allow_huge = False

    def accept(self) -> None:
        """Check the size and the disk as the engine will (engine.export.check_output), asking before a huge export."""
        s = self.settings()
        try:
            check_output((s.height, s.width), s.path, s.options())
        except HugeOutputError as exc:
            answer = QMessageBox.question(self, "Very large export", f"{exc}\n\nExport anyway?",
                                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                          QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
            self._allow_huge = True
            try:
                check_output((s.height, s.width), s.path, replace(s, allow_huge=True).options())
            except BrushworkError as again:
                QMessageBox.warning(self, "Cannot export", str(again))
                return
        except BrushworkError as exc:  # an unwritable folder or a full disk
            QMessageBox.warning(self, "Cannot export", str(exc))
            return
        super().accept()

    def settings(self) -> ExportSettings:
        suffix, depth = self.format.currentData()
        w, h = self.pixel_size()
        return ExportSettings(Path(self.path.text()).with_suffix(suffix) if Path(self.path.text()).suffix.lower() not in (suffix, ".tiff") else Path(self.path.text()),
                              w, h, float(self.dpi.value()), depth, self.quality.value(), self.icc.isChecked(),
                              getattr(self, "_allow_huge", False))


class ExportRunner(ThreadRunner):
    """Runs one export on a thread; signals arrive on the GUI thread."""

    progressed = Signal(int, int, str)
    finished = Signal(str)
    failed = Signal(str, str)
    cancelled = Signal()

    def start(self, settings: ExportSettings, image, job: StyleJob | None) -> None:
        """Write ``image`` if it already has the size asked for, else re-render ``job`` at that size."""
        self._start(self._run, (settings, image, job), "brushwork-export")

    def _run(self, s: ExportSettings, image, job: StyleJob | None) -> None:
        try:
            if image is not None and tuple(image.shape[-2:]) == (s.height, s.width):
                self.progressed.emit(0, 1, "writing")
                if self._cancel.is_set():
                    raise Cancelled()
                write_image(quantise(image, s.bit_depth), s.path, s.dpi, s.icc, s.quality)
            else:
                if job is None:
                    raise BrushworkError("There is no job to render at a new size; render once first.")
                from engine.runner import resolve_device

                ctx = RunContext(resolve_device(job.device), self._cancel)
                sized = job.with_(size=max(s.width, s.height))

                def on_event(e) -> None:
                    if isinstance(e, Progress):
                        self.progressed.emit(e.step, e.total, e.stage)

                export(sized, s.path, s.options(), ctx, on_event)
            self.finished.emit(str(s.path))
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # shown to the user; the session goes on
            self.failed.emit(*explain(exc))
