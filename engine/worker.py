"""A background worker that runs jobs one after another on its own thread.

Events reach the caller through a callback on the worker thread; the editor forwards them to
the GUI thread with Qt signals. Cancelling a job stops it within one step.
"""

from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass
from typing import Callable

from .errors import BrushworkError, Cancelled
from .job import StyleJob
from .runner import resolve_device, run_job
from .strategy import Event, RunContext


@dataclass(frozen=True, eq=False)
class JobDone:
    job_id: int
    result: object | None = None  # a Result
    error: BaseException | None = None

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled)


class JobHandle:
    def __init__(self, job_id: int, job: StyleJob) -> None:
        self.id = job_id
        self.job = job
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        self.outcome: JobDone | None = None

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> JobDone | None:
        self.done.wait(timeout)
        return self.outcome


class JobWorker:
    """One thread, one queue. ``on_event(job_id, event)`` and ``on_done(JobDone)`` run on that thread."""

    def __init__(
        self,
        on_event: Callable[[int, Event], None] | None = None,
        on_done: Callable[[JobDone], None] | None = None,
        preview_every: int = 10,
    ) -> None:
        self.on_event = on_event
        self.on_done = on_done
        self.preview_every = preview_every
        self._queue: queue.Queue[JobHandle | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._loop, name="brushwork-worker", daemon=True)
        self._thread.start()

    def submit(self, job: StyleJob) -> JobHandle:
        handle = JobHandle(next(self._ids), job)
        self._queue.put(handle)
        return handle

    def _loop(self) -> None:
        while True:
            handle = self._queue.get()
            if handle is None:
                return
            outcome: JobDone
            try:
                if handle.cancel_event.is_set():
                    raise Cancelled()
                ctx = RunContext(resolve_device(handle.job.device), handle.cancel_event, self.preview_every)
                result = run_job(handle.job, ctx, lambda e, h=handle: self.on_event and self.on_event(h.id, e))
                outcome = JobDone(handle.id, result=result)
            except BrushworkError as exc:
                outcome = JobDone(handle.id, error=exc)
            except Exception as exc:  # an unexpected bug must not kill the worker
                outcome = JobDone(handle.id, error=exc)
            handle.outcome = outcome
            handle.done.set()
            if self.on_done:
                self.on_done(outcome)

    def shutdown(self, wait: bool = True) -> None:
        self._queue.put(None)
        if wait:
            self._thread.join()
