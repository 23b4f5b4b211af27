"""The Job dock: progress with an ETA, Cancel, the queue length, errors with a suggested fix,
and the kept results (click one to show it on the canvas)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from .conversions import tensor_to_qimage
from .document import Document, ResultEntry
from .jobs import ProgressInfo


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating…"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d} left" if seconds >= 60 else f"{seconds} s left"


def caption(entry: ResultEntry) -> str:
    """'gatys · 12.3 s · style 0.41 · content 0.52': what a result cost and how far it moved."""
    parts = [entry.strategy, f"{entry.seconds:.1f} s"]
    f = entry.figures
    if "style_distance" in f:
        parts.append(f"style {f['style_distance']:.3f}")
    if "content_distance" in f:
        parts.append(f"content {f['content_distance']:.3f}")
    if "ssim" in f:
        parts.append(f"SSIM {f['ssim']:.3f}")
    if "clip_global" in f:  # CLIP directional loss to the prompt: lower = closer to the text
        parts.append(f"CLIP loss {f['clip_global']:.3f}")
    shown = {"style_distance", "content_distance", "ssim", "clip_global"}
    parts += [f"{k.replace('_', ' ')} {v:.3g}" for k, v in f.items() if k not in shown and isinstance(v, (int, float))]
    return " · ".join(parts)


class JobPanel(QWidget):
    cancelRequested = Signal()
    resultPicked = Signal(object)

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        layout = QVBoxLayout(self)
        self.stage = QLabel("Idle")
        self.stage.setWordWrap(True)  # long captions wrap instead of widening the dock
        self.bar = QProgressBar()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.eta = QLabel("")
        self.eta.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job (and anything queued) within a step (Esc)")
        row.addWidget(self.cancel_button)
        layout.addWidget(self.stage)
        layout.addLayout(row)
        layout.addWidget(self.eta)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("QLabel { background: #5a2424; color: #ffdede; padding: 6px; border-radius: 3px; }")
        self.error.hide()
        layout.addWidget(self.error)
        layout.addWidget(QLabel("Kept results"))
        self.kept = QListWidget()
        self.kept.setIconSize(QSize(48, 48))
        self.kept.setWordWrap(True)
        self.kept.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.kept.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.kept.setToolTip("Click to show on the canvas. Keep results from the Render menu or Compare.")
        layout.addWidget(self.kept, 1)
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.kept.itemClicked.connect(lambda it: self.resultPicked.emit(it.data(Qt.ItemDataRole.UserRole)))
        doc.keptChanged.connect(self.refresh_kept)

    def job_started(self, label: str, queued: int) -> None:
        self.error.hide()
        self.stage.setText(label + (f"  (+{queued} queued)" if queued else ""))
        self.bar.setRange(0, 0)  # busy until the first step reports
        self.eta.setText("starting…")
        self.cancel_button.setEnabled(True)

    def job_progress(self, info: ProgressInfo) -> None:
        self.bar.setRange(0, max(1, info.total))
        self.bar.setValue(info.step)
        self.bar.setFormat(f"{info.step}/{info.total}")
        self.eta.setText(f"{info.stage}  ·  {format_eta(info.eta_s)}" if info.stage else format_eta(info.eta_s))

    def job_ended(self, text: str) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if text.startswith("Done") else 0)
        self.bar.setFormat("%p%")
        self.stage.setText(text)
        self.eta.setText("")

    def queue_idle(self) -> None:
        self.cancel_button.setEnabled(False)

    def show_error(self, message: str, fix: str) -> None:
        self.error.setText(f"<b>{message}</b><br>{fix}")
        self.error.show()

    def refresh_kept(self) -> None:
        self.kept.clear()
        for entry in self.doc.kept:
            thumb = QPixmap.fromImage(tensor_to_qimage(entry.image)).scaled(
                48, 48, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            item = QListWidgetItem(QIcon(thumb), f"{entry.name}\n{caption(entry)}")
            item.setData(Qt.ItemDataRole.UserRole, entry)
            self.kept.addItem(item)
