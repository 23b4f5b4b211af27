"""A clip as the canvas: its first frame opens as the content, a scrubber picks any other.

Frames decode on a thread of their own (PyAV seeks to the key frame before the one asked for, then
decodes up to it), so dragging the scrubber never blocks the window. Requests do not queue: the
thread decodes the latest one asked for, and the main window swaps the content's pixels in while
the regions stay (every frame has the same size).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from engine.errors import InputError
from engine.video import ClipInfo, Frame, open_clip

from .jobs import explain

#: what File > Open video... lists (any file FFmpeg reads opens; a folder of numbered frames too, by drop)
VIDEO_FILTER = "Videos (*.mp4 *.m4v *.mov *.mkv *.webm *.avi *.mpg *.mpeg *.ts *.gif)"


@dataclass(frozen=True)
class OpenedClip:
    """A clip checked on open: its description and its first frame (the canvas)."""

    info: ClipInfo
    first: Frame


def read_first_frame(path: str | Path) -> OpenedClip:
    """The clip's info and frame 0, or the engine's InputError (not a video, no frames, unreadable)."""
    with open_clip(path) as clip:
        first = next(clip.frames(), None)
        if first is None:
            raise InputError(f"{path} has no frames; nothing to show or render.")
        return OpenedClip(clip.info, first)


def clock(seconds: float) -> str:
    """'0:01.25': a frame's time as the scrubber shows it."""
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:05.2f}"


class FrameSeeker(QObject):
    """Decodes frames of one clip on a background thread; the latest request wins."""

    #: the index asked for, and the Frame decoded (its own index: the last frame past the end)
    decoded = Signal(int, object)
    #: (what went wrong, what to do)
    failed = Signal(str, str)

    def __init__(self, path: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self._wake = threading.Condition()
        self._wanted: int | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="brushwork-frames")
        self._thread.start()

    def seek(self, index: int) -> None:
        with self._wake:
            self._wanted = int(index)
            self._wake.notify()

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread (it finishes the frame it is decoding, if any, and sends nothing more)."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout)

    def _next(self) -> int | None:
        with self._wake:
            while self._wanted is None and not self._stopped:
                self._wake.wait()
            if self._stopped:
                return None
            index, self._wanted = self._wanted, None
            return index

    def _loop(self) -> None:
        try:
            clip = open_clip(self.path)  # its own demuxer: seeking must not disturb anyone else's
        except Exception as exc:  # the file vanished or changed since it was opened
            self.failed.emit(*explain(exc))
            return
        with clip:
            while (index := self._next()) is not None:
                try:
                    frame = clip.frame_at(index)
                except Exception as exc:  # a corrupt stretch of the clip: say so, keep scrubbing
                    if not self._stopped:
                        self.failed.emit(*explain(exc))
                    continue
                if not self._stopped:
                    self.decoded.emit(index, frame)


class FrameScrubber(QWidget):
    """A slider over the clip's frames and the frame's number and time."""

    #: the frame index the user moved to
    frameRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: ClipInfo | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(320)
        self.slider.setToolTip("Pick the frame to paint on and preview (the regions stay on every frame)")
        self.label = QLabel()
        self.label.setMinimumWidth(200)
        layout.addWidget(QLabel("Frame"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._moved)

    def set_clip(self, info: ClipInfo) -> None:
        self.info = info
        last = max(0, (info.frames or 1) - 1)
        self.slider.blockSignals(True)
        self.slider.setRange(0, last)
        self.slider.setValue(0)
        self.slider.setPageStep(max(1, round(float(info.fps))))  # Page Up/Down: a second
        self.slider.blockSignals(False)
        self.slider.setEnabled(last > 0)
        self.show_frame(0)

    def show_frame(self, index: int) -> None:
        """Name frame ``index`` in the label (and move the slider there without asking for it again)."""
        info = self.info
        if info is None:
            return
        if self.slider.value() != index:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        fps = float(info.fps)
        total = f"{info.frames}" if info.frames else "?"
        length = clock(info.frames / fps) if info.frames else "?"
        self.label.setText(f"{index + 1} / {total}  ·  {clock(index / fps)} / {length}")

    def _moved(self, index: int) -> None:
        self.show_frame(index)
        self.frameRequested.emit(index)
