"""One background job at a time on a thread of its own, with a cancel flag: the part every
long-running dialog (export, video export, layers, batch) needs around its own work.
"""

from __future__ import annotations

import threading
from typing import Callable

from PySide6.QtCore import QObject


class ThreadRunner(QObject):
    """Subclasses declare their signals (emitted from the thread, delivered on the GUI thread)
    and call :meth:`_start` with the work; the work checks :attr:`_cancel`."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _start(self, work: Callable, args: tuple, name: str) -> None:
        self._cancel.clear()
        self._thread = threading.Thread(target=work, args=args, daemon=True, name=name)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
