"""File > Export layers…: the photo, each region, the render and kept results as named layers
(engine.layers) for the artist's painting program: OpenRaster (Krita, MyPaint), PSD (Photoshop,
Affinity, GIMP, Krita) or TIFF pages (GIMP).

At the result's size the shown result is the render layer; at another size the job is rendered
again (tiled when it does not fit). Each feed-forward region is rendered in its own style over
the whole picture either way, on a background thread with progress; Esc cancels and nothing is
written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox,
                               QSpinBox, QVBoxLayout, QWidget)

from engine.errors import BrushworkError, Cancelled
from engine.export import ExportOptions, quantise
from engine.job import StyleJob
from engine.layers import KeptPicture, export_layers
from engine.layers.layered_export import check_layers_output
from engine.layers.stack import region_name
from engine.strategy import Progress, RunContext

from .export_dialog import add_resolution_rows
from .jobs import explain
from .save_path import SavePathField
from .thread_runner import ThreadRunner

#: (label, suffix)
FORMATS = (("OpenRaster (.ora): Krita, MyPaint", ".ora"), ("Photoshop (.psd): Photoshop, Affinity, GIMP, Krita", ".psd"),
           ("TIFF pages (.tif): GIMP", ".tif"))


@dataclass(frozen=True)
class LayersSettings:
    """What the dialog asks for; crosses to the export thread."""

    path: Path
    width: int
    height: int
    dpi: float
    bit_depth: int
    icc: bool
    with_kept: bool

    def options(self) -> ExportOptions:
        return ExportOptions(dpi=self.dpi, bit_depth=self.bit_depth, icc=self.icc)  # type: ignore[arg-type]


class LayersDialog(QDialog):
    def __init__(self, result_hw: tuple[int, int], suggested: Path, names: tuple[str, ...], kept: tuple[str, ...],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export layers")
        self.result_hw, self.names, self.kept = result_hw, names, kept
        layout = QVBoxLayout(self)
        form = QFormLayout()
        path_field = SavePathField(suggested, "Export layers to", "Layers (*.ora *.psd *.tif *.tiff)")
        self.path = path_field.edit
        form.addRow("File", path_field)
        self.format = QComboBox()
        for label, suffix in FORMATS:
            self.format.addItem(label, suffix)
        form.addRow("Format", self.format)
        self.depth = QComboBox()
        self.depth.addItem("8 bits per channel", 8)
        self.depth.addItem("16 bits per channel", 16)
        form.addRow("Depth", self.depth)
        self.width_px = QSpinBox()
        self.width_px.setRange(16, 60000)
        self.width_px.setValue(result_hw[1])
        self.width_px.setSuffix(" px")
        form.addRow("Width", self.width_px)
        self.dpi, self.icc = add_resolution_rows(form)
        self.with_kept = QCheckBox(f"Kept results as hidden layers ({len(kept)})")
        self.with_kept.setChecked(bool(kept))
        self.with_kept.setEnabled(bool(kept))
        form.addRow("", self.with_kept)
        layout.addLayout(form)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setMinimumWidth(460)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        for sig in (self.format.currentIndexChanged, self.width_px.valueChanged, self.with_kept.toggled):
            sig.connect(self._update)
        self._update()

    def pixel_size(self) -> tuple[int, int]:
        w = self.width_px.value()
        return w, max(1, round(w * self.result_hw[0] / self.result_hw[1]))

    def _update(self, *_) -> None:
        suffix = self.format.currentData()
        p = Path(self.path.text())
        if p.suffix.lower() != suffix and not (suffix == ".tif" and p.suffix.lower() == ".tiff"):
            self.path.setText(str(p.with_suffix(suffix)))
        w, h = self.pixel_size()
        kept = tuple(f"{k} (hidden)" for k in self.kept) if self.with_kept.isChecked() else ()
        stack = ("Photo",) + self.names + ("Render",) + kept
        rerender = (h, w) != tuple(self.result_hw)
        self.note.setText(f"Layers, bottom to top: {', '.join(stack)}. The render lies above the regions, so the "
                          "file opens looking like the result; hide it to mix the regions beneath. "
                          + ("The job is rendered again at this size (tiled if needed)." if rerender
                             else "The render layer is the current result.")
                          + (" TIFF has no hidden layers: kept results go under the photo." if kept and suffix == ".tif"
                             else ""))

    def accept(self) -> None:
        s = self.settings()
        try:
            check_layers_output((s.height, s.width), s.path, s.options(), 2 + len(self.names) + len(self.kept))
        except BrushworkError as exc:  # a huge picture, an unwritable folder, a full disk
            QMessageBox.warning(self, "Cannot export layers", str(exc))
            return
        super().accept()

    def settings(self) -> LayersSettings:
        suffix = self.format.currentData()
        path = Path(self.path.text())
        if path.suffix.lower() not in (suffix, ".tiff" if suffix == ".tif" else suffix):
            path = path.with_suffix(suffix)
        w, h = self.pixel_size()
        return LayersSettings(path, w, h, float(self.dpi.value()), self.depth.currentData(), self.icc.isChecked(),
                              self.with_kept.isChecked())


class LayersRunner(ThreadRunner):
    """Runs one layered export on a thread; signals arrive on the GUI thread."""

    progressed = Signal(int, int, str)
    finished = Signal(str)
    failed = Signal(str, str)
    cancelled = Signal()

    def start(self, settings: LayersSettings, job: StyleJob, image, kept: tuple[KeptPicture, ...]) -> None:
        """Write the layers of ``job`` at the asked size, over ``image`` (the shown result) where it has that size."""
        self._start(self._run, (settings, job, image, kept), "brushwork-layers")

    def _run(self, s: LayersSettings, job: StyleJob, image, kept: tuple[KeptPicture, ...]) -> None:
        try:
            from engine.runner import resolve_device

            ctx = RunContext(resolve_device(job.device), self._cancel)
            same = image is not None and tuple(image.shape[-2:]) == (s.height, s.width)
            render = quantise(image, s.bit_depth) if same else None

            def on_event(e) -> None:
                if isinstance(e, Progress):
                    self.progressed.emit(e.step, e.total, e.stage)

            export_layers(job.with_(size=max(s.width, s.height)), s.path, s.options(), ctx, on_event,
                          kept=kept if s.with_kept else (), render=render)
            self.finished.emit(str(s.path))
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # shown to the user; the session goes on
            self.failed.emit(*explain(exc))


def _runner(window) -> LayersRunner:
    """The window's one LayersRunner, wired to its Job panel like File > Export's."""
    runner = getattr(window, "layers_exporter", None)
    if runner is None:
        runner = window.layers_exporter = LayersRunner(window)
        runner.progressed.connect(window._export_progress)
        runner.finished.connect(window._export_finished)
        runner.failed.connect(window._export_failed)
        runner.cancelled.connect(lambda: window.job_panel.job_ended("Layer export cancelled; nothing was written."))
        window.job_panel.cancelRequested.connect(runner.cancel)
    return runner


def ask_export_layers(window) -> LayersDialog | None:
    """File > Export layers…: the dialog, then the export on a thread (returns the dialog, for tests)."""
    from engine import params as params_mod
    from engine.registry import strategies

    entry = window.doc.result
    if entry is None:
        window.alert("Nothing to export", "There is no result yet.", "Render first (Ctrl+R), then export its layers.")
        return None
    runner = _runner(window)
    if runner.busy():
        window.statusBar().showMessage("A layer export is still running (Esc cancels it).", 4000)
        return None
    try:
        cls = strategies.get(entry.strategy)
        job = window.doc.build_job(cls.name, params_mod.make(cls.Params, dict(entry.params)), cls.honours_regions,
                                   window.strategy_panel.device.currentData())
    except BrushworkError as exc:
        window.alert("Cannot export layers", *explain(exc))
        return None
    kept = tuple(KeptPicture(f"Kept: {k.name}", k.image) for k in window.doc.kept if k is not entry)
    names = tuple(region_name(r, i) for i, r in enumerate(job.regions))
    h, w = entry.image.shape[-2:]
    base = Path(window.project_path or window.doc.content_name or "brushwork").stem
    dialog = LayersDialog((h, w), Path.home() / f"{base}-layers.ora", names, tuple(k.name for k in kept), window)
    window.layers_dialog = dialog
    if dialog.exec():
        window.job_panel.job_started(f"Exporting layers {dialog.settings().path.name}", 0)
        runner.start(dialog.settings(), job, entry.image, kept)
    return dialog


__all__ = ["LayersDialog", "LayersRunner", "LayersSettings", "ask_export_layers"]
