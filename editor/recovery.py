"""Autosave to a recovery file, and offering it back after a crash.

While the document has unsaved changes it is written every ``interval`` seconds to one
recovery file (atomically, through :func:`engine.project.save_project`). A clean close
deletes it, so a recovery file found at start-up means the last session did not end well.
"""

from __future__ import annotations

import os
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
        self.timer.timeout.connect(self.save_now)
        self.timer.start()

    def save_now(self) -> bool:
        """Write the recovery file if there is anything unsaved; True when written."""
        if self.doc.content is None or self.doc.undo_stack.isClean():
            return False
        try:
            save_project(self.doc.to_project(), self.path)
        except Exception:  # autosave must never interrupt the artist
            return False
        return True

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def pending_recovery() -> Path | None:
    p = recovery_path()
    return p if p.is_file() else None


def read_recovery(path: Path) -> Project:
    return load_project(path)
