"""File > Batch…: the current project's look over a folder of pictures, in the background.

The look (the Strategy panel's strategy and values, the ticked styles, regions that are
semantic groups, size, seed, protect faces) becomes an :class:`engine.batch.BatchSettings`, and
:func:`engine.batch.run.run_batch` renders the folder on a thread of its own, resumable like
``brushwork batch`` (the manifest lies in the output folder). Painted regions belong to this
photo and do not carry over; the dialog says so. The canvas stays usable meanwhile.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QProgressBar, QPushButton, QWidget)

from engine import params as params_mod
from engine.batch import BatchSettings
from engine.batch.run import BatchReport, ItemFinished, ItemStarted, ItemStep, local_executor, run_batch
from engine.errors import BrushworkError, Cancelled
from engine.images import tensor_to_pil
from engine.registry import strategies

from .jobs import explain
from .thread_runner import ThreadRunner


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "style"


def _param_text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def look_settings(window, styles_dir: Path, output_folder: Path) -> tuple[BatchSettings, list[str]]:
    """The window's look as batch settings (its styles written as PNGs into ``styles_dir``), and
    what of it does not carry over to other photos, for the dialog to say."""
    doc = window.doc
    variant = window.current_variant()
    cls = strategies.get(variant.strategy)
    names = {s.name for s in params_mod.specs(cls.Params)}
    notes: list[str] = []
    written: dict[int, str] = {}

    def style_file(item) -> str:
        if item.text is not None:
            return "text:" + item.text
        if item.id not in written:
            path = styles_dir / f"{len(written)}_{_file_name(item.name)}.png"
            tensor_to_pil(item.image).save(path)
            written[item.id] = str(path)
        return written[item.id]

    active = [s for s in doc.styles if s.active]
    images = [s for s in active if s.text is None]
    texts = [s for s in active if s.text is not None]
    if len(texts) > 1:
        notes.append(f"only the first text style ('{texts[0].text}') is used")
    groups = {s.name.strip().lower() for s in doc.segments}
    auto = []
    if cls.honours_regions:
        for r in doc.regions:
            if not r.style or r.is_empty():
                continue
            item = doc.style_named(r.style)
            if r.name.strip().lower() in groups and item is not None:
                auto.append(f"{r.name.strip().lower()}=" + ("keep" if r.strength == 0 else style_file(item)))
            else:
                notes.append(f"the painted region '{r.name}' belongs to this photo and is left out")
    settings = BatchSettings(
        styles=tuple(style_file(s) for s in images), style_weights=tuple(float(s.weight) for s in images),
        prompt=texts[0].text if texts else None, strategy=cls.name,
        params=tuple((k, _param_text(v)) for k, v in variant.values.items() if k in names),
        size=doc.size, auto_regions=tuple(auto), gaps=doc.gaps if images else "content",
        protect_faces="on" if doc.protect_faces else "off", seed=doc.seed,
        device=window.strategy_panel.device.currentData() or "auto",
        output=str(output_folder / "{stem}_{strategy}.png"))
    return settings, notes


class BatchRunner(ThreadRunner):
    """Runs one batch on a thread; its signals arrive on the GUI thread. Cancel stops the picture
    in progress at its next step (or a clip at its next frame), and before the next one."""

    #: (items to render, items in all) once the current ones are known
    started = Signal(int, int)
    #: status ("done", "skipped", "failed"), the input's name, the reason, index, total
    itemFinished = Signal(str, str, str, int, int)
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()

    def start(self, settings: BatchSettings, inputs: list[str], cleanup: Path | None = None) -> None:
        self._start(self._run, (settings, inputs, cleanup), "brushwork-batch")

    def _executor(self, settings, items, on_event):
        from engine.batch.item import ItemRenderer

        with ItemRenderer(settings) as renderer:
            for item in items:
                if self._cancel.is_set():
                    raise Cancelled("Batch stopped; the finished pictures are kept.")
                yield from local_executor(settings, [item], on_event, renderer)

    def _progress(self, event) -> None:
        if isinstance(event, ItemStep) and self._cancel.is_set():
            # raised inside the picture's render (at its next step or frame), whose temporary file goes with it
            raise Cancelled("Batch stopped; the finished pictures are kept.")
        if isinstance(event, ItemStarted):
            self.started.emit(event.to_render, event.total)
        elif isinstance(event, ItemFinished):
            r = event.record
            self.itemFinished.emit(r.status, Path(r.input).name, r.reason, event.index, event.total)

    def _run(self, settings: BatchSettings, inputs: list[str], cleanup: Path | None) -> None:
        from engine.batch.inputs import expand_inputs

        try:
            items = expand_inputs(inputs, settings)
            outcome = (self.finished, run_batch(settings, items, self._executor, self._progress))
        except Cancelled:
            outcome = (self.cancelled,)
        except Exception as exc:  # shown to the user; the session goes on
            outcome = (self.failed, *explain(exc))
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        # last, so that whoever hears it finds the runner done (and may start the next batch)
        self._thread = None
        outcome[0].emit(*outcome[1:])


class _FolderField(QWidget):
    def __init__(self, text: str, title: str) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(text)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(title))
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def _browse(self, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, self.edit.text())
        if folder:
            self.edit.setText(folder)


class BatchDialog(QDialog):
    """Pick a folder, see what of the look carries over, run, watch each picture finish, read the report."""

    def __init__(self, window, folder: Path | None = None) -> None:
        super().__init__(window)
        self.setWindowTitle("Batch")
        self.setMinimumWidth(560)
        self.window_ = window
        folder = folder or Path.home()
        form = QFormLayout(self)
        self.folder = _FolderField(str(folder), "Pictures to render")
        form.addRow("Pictures in", self.folder)
        self.output = _FolderField(str(folder / "styled"), "Write the results to")
        form.addRow("Results to", self.output)
        self.look = QLabel()
        self.look.setWordWrap(True)
        form.addRow("Look", self.look)
        self.bar = QProgressBar()
        self.bar.setFormat("%v of %m")
        form.addRow(self.bar)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("Each picture is listed here as it finishes; a re-run skips the ones done.")
        self.log.setMinimumHeight(140)
        form.addRow(self.log)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.run_button = self.buttons.addButton("Run", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button = self.buttons.addButton("Stop", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setEnabled(False)
        self.run_button.clicked.connect(self.run)
        self.stop_button.clicked.connect(self.stop)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.runner = BatchRunner(self)
        self.runner.started.connect(self._started)
        self.runner.itemFinished.connect(self._item)
        self.runner.finished.connect(self._finished)
        self.runner.failed.connect(self._failed)
        self.runner.cancelled.connect(self._cancelled)
        self.report: BatchReport | None = None
        self._describe()

    def _describe(self) -> None:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                settings, notes = look_settings(self.window_, Path(tmp), Path(self.output.edit.text()))
        except BrushworkError as exc:
            self.look.setText(f"Cannot batch this look: {exc}")
            self.run_button.setEnabled(False)
            return
        parts = [settings.strategy, f"{len(settings.styles)} style{'s' * (len(settings.styles) != 1)}"]
        if settings.prompt:
            parts.append(f"prompt '{settings.prompt}'")
        if settings.auto_regions:
            parts.append("regions by meaning: " + ", ".join(a.partition("=")[0] for a in settings.auto_regions))
        if settings.size:
            parts.append(f"{settings.size} px")
        parts.append("faces protected" if settings.protect_faces == "on" else "faces not protected")
        self.look.setText(", ".join(parts) + "." + "".join(f"\nNote: {n}." for n in notes))

    def run(self) -> bool:
        if self.runner.busy():
            return False
        styles_dir = Path(tempfile.mkdtemp(prefix="brushwork-batch-styles-"))
        try:
            settings, _ = look_settings(self.window_, styles_dir, Path(self.output.edit.text()).expanduser())
        except BrushworkError as exc:
            shutil.rmtree(styles_dir, ignore_errors=True)
            self.log.appendPlainText("Cannot start: " + " ".join(explain(exc)))
            return False
        self.log.clear()
        self.bar.setRange(0, 0)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.runner.start(settings, [str(Path(self.folder.edit.text()).expanduser())], styles_dir)
        return True

    def stop(self) -> None:
        self.runner.cancel()
        self.stop_button.setEnabled(False)
        self.log.appendPlainText("Stopping…")

    def _started(self, to_render: int, total: int) -> None:
        self.bar.setRange(0, total)
        if to_render < total:
            self.log.appendPlainText(f"{total - to_render} of {total} already done with this look: skipped.")

    def _item(self, status: str, name: str, reason: str, index: int, total: int) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(index)
        if status != "skipped":
            self.log.appendPlainText(f"{status}: {name}" + (f": {reason}" if reason else ""))

    def _idle(self) -> None:
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _finished(self, report: BatchReport) -> None:
        self.report = report
        self._idle()
        self.log.appendPlainText(report.summary().splitlines()[0])

    def _failed(self, message: str, fix: str) -> None:
        self._idle()
        self.bar.setRange(0, 1)
        self.log.appendPlainText(f"Batch failed: {message} {fix}")

    def _cancelled(self) -> None:
        self._idle()
        self.log.appendPlainText("Stopped. The finished pictures are kept; Run again resumes.")

    def reject(self) -> None:
        self.runner.cancel()
        super().reject()

    def closeEvent(self, event) -> None:
        self.runner.cancel()
        super().closeEvent(event)


def open_batch_dialog(window) -> BatchDialog:
    """File > Batch…: the dialog, modeless, so the canvas stays in use while a batch runs (one at
    a time: while one runs, its dialog comes back to the front)."""
    dialog = getattr(window, "batch_dialog", None)
    if dialog is None or not dialog.runner.busy():
        dialog = window.batch_dialog = BatchDialog(window)
    dialog.show()
    dialog.raise_()
    return dialog
