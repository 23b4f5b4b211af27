"""Export Video: the open clip stylised with the current job, on a thread, with progress and cancel.

The engine's :func:`engine.video.render_video` does the work (the CLI's own loop): every frame is
the content, the Strategy panel's strategy and values, the ticked styles and the painted regions
(static masks) are the job. Like a print export, the clip is written to a temporary file and
moved into place, so a cancel or a failure leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox, QSpinBox, QWidget

from engine.errors import BrushworkError, Cancelled
from engine.job import StyleJob
from engine.strategy import RunContext
from engine.video import ClipInfo, FrameDone, VideoOptions, check_video_output, render_video

from .jobs import explain
from .save_path import SavePathField
from .thread_runner import ThreadRunner

VIDEO_OUTPUT_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm)"


@dataclass(frozen=True)
class VideoExportSettings:
    path: Path
    #: long edge of the output in px; None keeps the clip's own size
    size: int | None = None
    temporal: bool = True
    #: encoder quality (lower = better); None takes the container's default (H.264 18, VP9 31)
    crf: int | None = None


class VideoExportDialog(QDialog):
    """Where to write the clip, at what size, with temporal consistency or not."""

    def __init__(self, info: ClipInfo, suggested: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export video")
        self.info = info
        form = QFormLayout(self)
        path_field = SavePathField(suggested, "Export video", VIDEO_OUTPUT_FILTER, ".mp4")
        self.path = path_field.edit
        form.addRow("File", path_field)
        self.size = QSpinBox()
        self.size.setRange(0, 8192)
        self.size.setSingleStep(64)
        self.size.setSpecialValueText(f"clip size ({info.width} × {info.height})")
        self.size.setSuffix(" px")
        self.size.setToolTip("Long edge of the output; smaller renders faster")
        form.addRow("Size", self.size)
        self.temporal = QCheckBox("Temporal consistency (follow the motion: no flicker)")
        self.temporal.setChecked(True)
        self.temporal.setToolTip("Off stylises every frame on its own: faster, but strokes and colours flicker")
        form.addRow("", self.temporal)
        self.crf = QSpinBox()
        self.crf.setRange(-1, 63)
        self.crf.setValue(-1)
        self.crf.setSpecialValueText("default (H.264 18, VP9 31)")
        self.crf.setToolTip("Encoder quality: lower is better and larger")
        form.addRow("Quality (CRF)", self.crf)
        frames = f"{info.frames} frames" if info.frames else "an unknown number of frames"
        note = QLabel(f"{frames} at {float(info.fps):.3g} fps"
                      + (", the audio track copied" if info.has_audio else ", no audio")
                      + ". The regions painted on this frame apply to every frame.")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> VideoExportSettings:
        path = Path(self.path.text()).expanduser()
        if not path.suffix:
            path = path.with_suffix(".mp4")
        return VideoExportSettings(path, self.size.value() or None, self.temporal.isChecked(),
                                   None if self.crf.value() < 0 else self.crf.value())

    def accept(self) -> None:
        """Check the output as the engine will (a known container, a writable folder, a CRF in range)."""
        s = self.settings()
        try:
            check_video_output(s.path, s.crf)
            if not s.path.parent.is_dir():
                raise BrushworkError(f"The folder {s.path.parent} does not exist; choose another place.")
            if s.path.resolve() == Path(self.info.path).resolve():
                raise BrushworkError(f"{s.path} is the clip being exported; choose another name.")
        except BrushworkError as exc:
            QMessageBox.warning(self, "Cannot export video", str(exc))
            return
        super().accept()


class VideoExportRunner(ThreadRunner):
    """Runs one clip export on a thread; signals arrive on the GUI thread."""

    #: frames written, frames expected (0 when the container does not say)
    progressed = Signal(int, int)
    #: the path written, and the engine's VideoReport
    finished = Signal(str, object)
    failed = Signal(str, str)
    cancelled = Signal()

    def start(self, settings: VideoExportSettings, job: StyleJob, source: Path) -> None:
        self._start(self._run, (settings, job, source), "brushwork-video-export")

    def _run(self, s: VideoExportSettings, job: StyleJob, source: Path) -> None:
        from engine.runner import resolve_device

        def on_event(e) -> None:
            if isinstance(e, FrameDone):
                self.progressed.emit(e.index, e.total or 0)

        try:
            ctx = RunContext(resolve_device(job.device), self._cancel)
            report = render_video(job.with_(size=s.size), source, s.path, VideoOptions(temporal=s.temporal, crf=s.crf),
                                  ctx, on_event)
            self.finished.emit(str(s.path), report)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # shown to the user; the session goes on
            self.failed.emit(*explain(exc))
