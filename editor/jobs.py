"""The job queue as Qt signals: engine jobs run on the engine's worker thread, never the GUI's.

:class:`engine.worker.JobWorker` calls back on its own thread; emitting a Qt signal from there
queues the call onto the GUI thread, so slots may touch widgets. Jobs run one after another.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from engine.errors import BrushworkError, DeviceError, InputError, OutputError, WeightsError
from engine.job import StyleJob
from engine.strategy import Progress, Result
from engine.worker import JobDone, JobHandle, JobWorker


@dataclass(frozen=True)
class ProgressInfo:
    """One progress step as the GUI shows it."""

    job_id: int
    step: int
    total: int
    stage: str
    eta_s: float | None


def explain(error: BaseException) -> tuple[str, str]:
    """(what went wrong, what to do) for an error from a job."""
    text = str(error) or type(error).__name__
    if isinstance(error, WeightsError):
        return text, "Fetch the weights with `brushwork weights fetch` (or `make weights`), then run again."
    if isinstance(error, DeviceError):
        return text, "Lower the output size, pick a lighter strategy or loss network, or switch the device to CPU."
    if isinstance(error, OutputError):
        return text, "Choose another folder or free some disk space; nothing was written."
    if isinstance(error, InputError):
        return text, "Fix the input named above; nothing was changed."
    if isinstance(error, BrushworkError):
        return text, "Your work is unchanged; adjust the settings and try again."
    if isinstance(error, MemoryError):
        return "Out of memory.", "Lower the output size or close other programs."
    return f"Unexpected error: {type(error).__name__}: {text}", "This is a bug; please report it with the steps that led to it."


class JobQueue(QObject):
    started = Signal(int, object)  # job id, StyleJob
    progressed = Signal(object, object)  # ProgressInfo, preview tensor or None
    finished = Signal(int, object)  # job id, Result
    failed = Signal(int, str, str)  # job id, message, suggested fix
    cancelled = Signal(int)
    idle = Signal()

    def __init__(self, preview_every: int = 5, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = JobWorker(on_event=self._on_event, on_done=self._on_done, preview_every=preview_every)
        self.handles: dict[int, JobHandle] = {}
        self._started_at: dict[int, float] = {}
        self.current: int | None = None

    def submit(self, job: StyleJob) -> int:
        handle = self._worker.submit(job)
        self.handles[handle.id] = handle
        return handle.id

    def pending(self) -> int:
        return sum(1 for h in self.handles.values() if not h.done.is_set())

    def cancel(self, job_id: int | None = None) -> None:
        """Cancel one job, or (None) the running one and everything queued."""
        for h in self.handles.values():
            if job_id is None or h.id == job_id:
                h.cancel()

    # worker thread ---------------------------------------------------------
    def _on_event(self, job_id: int, event) -> None:
        now = time.perf_counter()
        if job_id not in self._started_at:
            self._started_at[job_id] = now
            self.current = job_id
            self.started.emit(job_id, self.handles[job_id].job)
        if isinstance(event, Progress):
            elapsed = now - self._started_at[job_id]
            eta = elapsed / event.step * (event.total - event.step) if event.step > 0 else None
            self.progressed.emit(ProgressInfo(job_id, event.step, event.total, event.stage, eta), event.preview)

    def _on_done(self, done: JobDone) -> None:
        self._started_at.pop(done.job_id, None)
        self.current = None
        if done.error is None and isinstance(done.result, Result):
            self.finished.emit(done.job_id, done.result)
        elif done.cancelled:
            self.cancelled.emit(done.job_id)
        else:
            message, fix = explain(done.error if done.error is not None else RuntimeError("no result"))
            self.failed.emit(done.job_id, message, fix)
        if self.pending() == 0:
            self.idle.emit()

    def shutdown(self) -> None:
        self.cancel()
        self._worker.shutdown(wait=False)
