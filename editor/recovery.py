"""Autosave to a recovery file, and offering it back after a crash.

While the document has unsaved changes it is written every ``interval`` seconds to one
recovery file (atomically, through :func:`engine.project.save_project`). A clean close
deletes it, so a recovery file found at start-up means the last session did not end well.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer

from engine.project import load_project, save_project, Project

from .document import Document


def recovery_path() -> Path:
    env = os.environ.get("BRUSHWORK_RECOVERY_DIR")
    base = Path(env) if env else Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    return base / "recovery.brushwork"


class Autosave(QObject):
    def __init__(self, doc: Document, interval_s: float = 60.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.path = recovery_path()
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self._thread: threading.Thread | None = None
        self.timer.timeout.connect(lambda: self.save_now(wait=False))
        self.timer.start()

    def save_now(self, wait: bool = True) -> bool:
        """Write the recovery file if there is anything unsaved; True when a save was started.

        The snapshot is taken here (GUI thread); encoding and writing (a second or two for a
        large picture) run on a thread so the artist's stroke never stalls on an autosave.
        """
        if self.doc.content is None or self.doc.undo_stack.isClean():
            return False
        if self._thread is not None and self._thread.is_alive():
            return False  # the previous autosave is still writing
        snapshot = self.doc.to_project()

        def write() -> None:
            try:
                save_project(snapshot, self.path)
            except Exception:  # autosave must never interrupt the artist
                pass

        self._thread = threading.Thread(target=write, name="brushwork-autosave", daemon=True)
        self._thread.start()
        if wait:
            self._thread.join()
        return True

    def discard(self) -> None:
        if self._thread is not None:
            self._thread.join()
        self.path.unlink(missing_ok=True)


def pending_recovery() -> Path | None:
    p = recovery_path()
    return p if p.is_file() else None


def read_recovery(path: Path) -> Project:
    return load_project(path)
