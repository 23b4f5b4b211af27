"""Live mode: the canvas restyles as the artist paints, slides and picks styles.

Every edit that changes the job asks for one render with an instant strategy at the live
working size. Latest wins: at most one render runs and at most one waits, and the waiting one
is always built from the newest edit. Live renders run on their own worker thread, so a long
quality render on the main queue never holds the canvas back, and the GUI thread never waits
on either.

A running render that an edit makes stale is cancelled (between its stages: universal checks before
each level) only while it is young, under YOUNG of a typical render's time, and only if it is not
itself the restart of a cancelled one. Past that it is let finish: it is still newer than the
canvas, and cancelling every time would leave a slider held in motion with no picture at all.
Measured interleaved (bench/editor.py --live): at 1024 px it took the median from 0.87-0.97 s to
0.74-0.84 and p95 from 1.32-1.61 to 1.11-1.17; at 512 px, where a drag's edits mostly land during
restarts, it changed little. One whose inputs are gone (another photo, strategy or live size) is
always cancelled, and its result is dropped. What each edit costs stays low because the strategies
keep the content's encodings and the styles' statistics cached across jobs (a mask edit re-runs the
regional transform and the decode, a slider only the blend and the decode).

The working size is what the canvas shows the photo at (editor.sharpness), up to the live cap (the
toolbar's box, 1024 px by default) and the photo's own size: a live picture is never blown up on a
normal screen. Zooming in or growing the window past the last picture's size renders again.

While a gesture goes on (edits closer than GESTURE_GAP: a stroke, a slider held in motion) and the
working size is past DRAFT_FROM, live renders a draft at DRAFT_SHARE of the working size; the first pause
renders the sharp picture, so a draft is never what the canvas is left with. A stroke is a gesture
from its first dab, and a gesture that resumes while that sharp picture renders cancels it when what
is left of it takes longer than a draft (1024 px: p95 0.72 -> ~0.56 s). Universal at 1024 px
with two regions takes 0.45-0.55 s on 2 cores and a 410 px draft 0.12-0.15 s: the canvas follows a
stroke at about seven pictures a second instead of two (bench/editor.py --live prints both latencies).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from engine import params as params_mod
from engine.errors import BrushworkError
from engine.job import StyleJob
from engine.registry import strategies
from engine.worker import JobDone, JobHandle, JobWorker

from .document import Document
from .jobs import explain
from .live_threads import ThreadPolicy
from .sharpness import LIVE_CAP, live_size

#: the live cap (long edge, px) unless the artist picks another: renders follow the shown size up to it
DEFAULT_SIZE = LIVE_CAP
#: a stroke in progress re-renders at most this often
STROKE_INTERVAL_MS = 150
#: a zoom or a window resize settles for this long before a larger live picture is asked for
#: (a fitted window being dragged wider changes the zoom on every frame)
VIEW_SETTLE_MS = 200
#: a render an edit makes stale is restarted while it has run under this fraction of the median
#: of the last few renders' times (0.75 measured no different at 512 px)
YOUNG = 0.5
#: edits closer together than this are one gesture (strokes re-render every STROKE_INTERVAL_MS,
#: a held slider sends 30 values a second), which gets draft pictures until it pauses
GESTURE_GAP = 0.3
#: working sizes past this get drafts during gestures, at DRAFT_SHARE of the working size
DRAFT_FROM = 512
#: 0.4, not 0.5: a draft must come back within a stroke's re-render interval (STROKE_INTERVAL_MS) or
#: the stroke's edits queue behind each other. Universal with two regions on 2 cores: a 512 px draft
#: 0.17-0.23 s, a 410 px one 0.12-0.15 s; edit to a picture at 1024 px (bench/editor.py --live,
#: three runs each, interleaved) median 0.30-0.35 -> 0.24-0.30 s, p95 0.50-0.55 -> 0.45-0.49
DRAFT_SHARE = 0.4


@dataclass
class RenderTimes:
    """The last few renders' seconds, sharp and draft, that the cancel rules judge by. Kept apart
    from LiveStats: a bench or a panel that clears its figures must not leave the rules blind (a
    first sharp render nobody could cancel held a stroke's drafts back 0.45 s)."""

    sharp: list[float] = field(default_factory=list)
    draft: list[float] = field(default_factory=list)

    def add(self, seconds: float, draft: bool) -> None:
        times = self.draft if draft else self.sharp
        times.append(seconds)
        del times[:-5]

    def typical(self, draft: bool) -> float | None:
        """The median of the last five (None before the first)."""
        recent = sorted(self.draft if draft else self.sharp)
        return recent[len(recent) // 2] if recent else None


def instant_strategies() -> list[str]:
    """Registered strategies fast enough for live mode, the preferred (universal) first."""
    names = [n for n, cls in strategies.all().items() if getattr(cls, "instant", False)]
    return sorted(names, key=lambda n: (n != "universal", n))


@dataclass
class LiveStats:
    """What the artist waited for: seconds from each edit to the canvas holding a render that
    includes it (taken once the canvas has the new picture; it paints in the same event-loop pass)."""

    latencies: list[float] = field(default_factory=list)
    #: seconds from each edit to the canvas holding a picture at the working size that includes it
    #: (the same as latencies where no draft came first)
    sharp_latencies: list[float] = field(default_factory=list)
    #: per sharp picture, seconds from the newest edit it includes (a gesture's last) to the canvas
    settle_latencies: list[float] = field(default_factory=list)
    #: seconds each shown render took on the worker (what a latency is made of, besides waiting)
    render_seconds: list[float] = field(default_factory=list)
    draft_seconds: list[float] = field(default_factory=list)
    renders: int = 0
    edits: int = 0
    cancelled: int = 0
    drafts: int = 0


class LiveMode(QObject):
    #: a render reached the canvas (the 1x3xHxW picture)
    shown = Signal(object)
    #: a live render or job failed: (what went wrong, what to do); live mode stays on
    failed = Signal(str, str)
    enabledChanged = Signal(bool)
    # worker thread -> GUI thread
    _finished = Signal(object)

    def __init__(self, doc: Document, params_for, parent: QObject | None = None) -> None:
        """``params_for(strategy)`` gives the artist's current values for that strategy."""
        super().__init__(parent)
        self.doc = doc
        self.params_for = params_for
        names = instant_strategies()
        self.strategy = names[0] if names else ""
        #: the live cap: renders are the canvas's shown size up to this (see working_size)
        self.size = DEFAULT_SIZE
        #: the shown long edge of the photo on the canvas (0: unknown, render at the cap)
        self.shown_edge: Callable[[], int] = lambda: 0
        self.device = "auto"
        self.enabled = False
        self.stats = LiveStats()
        self.times = RenderTimes()
        self.last_image = None
        #: torch threads for live renders: fewer while another process holds a core
        self.threads = ThreadPolicy()
        self._worker = JobWorker(on_done=self._worker_done)
        self._running: JobHandle | None = None
        self._running_edit: float = 0.0
        self._running_since: float = 0.0
        self._running_restart = False  # the running render replaced a cancelled one
        self._running_draft = False
        self._restart = False  # the next render replaces a cancelled one
        self._waiting = False
        self._edits: list[float] = []  # edit times not yet on the canvas
        self._unsharp: list[float] = []  # edit times on the canvas only as a draft so far
        self._last_edit = 0.0
        self._gesture = False  # the newest edit came within GESTURE_GAP of the one before
        self._stroking = False  # the edit being made comes from a stroke in progress
        self._kick = QTimer(self)
        self._kick.setSingleShot(True)
        self._kick.setInterval(0)  # edits within one event-loop pass become one render
        self._kick.timeout.connect(self._start)
        self._stroke_timer = QTimer(self)
        self._stroke_timer.setSingleShot(True)
        self._stroke_timer.setInterval(STROKE_INTERVAL_MS)
        self._stroke_timer.timeout.connect(self._stroke_edit)
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_SETTLE_MS)
        self._view_timer.timeout.connect(self._view_settled)
        self._finished.connect(self._done)
        for sig in (doc.contentChanged, doc.regionsChanged, doc.maskChanged, doc.regionChanged, doc.stylesChanged,
                    doc.styleChanged):
            sig.connect(self.edited)
        doc.undo_stack.indexChanged.connect(self.edited)

    # ------------------------------------------------------------ settings
    def set_enabled(self, on: bool) -> None:
        if on == self.enabled:
            return
        self.enabled = on
        if on:
            self.edited()
        else:
            self._edits.clear()
            self._unsharp.clear()
            self._waiting = False
            if self._running is not None:
                self._running.cancel()
        self.enabledChanged.emit(on)

    def set_strategy(self, name: str) -> None:
        self.strategy = name
        self.edited()

    def set_size(self, size: int) -> None:
        """The live cap (the toolbar's box)."""
        self.size = int(size)
        self.edited()

    def follow(self, view) -> None:
        """Render at what ``view`` (the canvas, an editor.imageview.ImageView) shows the photo at."""
        self.shown_edge = view.shown_long_edge
        view.zoomChanged.connect(lambda _: self._view_timer.start())

    def working_size(self) -> int:
        """The long edge live renders at now: the shown size, up to the cap and the photo's size."""
        content = self.doc.content
        if content is None:
            return self.size
        return live_size(self.size, self.shown_edge(), max(content.width(), content.height()))

    def _view_settled(self) -> None:
        """The canvas shows the photo larger than the live picture: render it again, sharp."""
        if self.enabled and self.last_image is not None and max(self.last_image.shape[-2:]) < self.working_size():
            self.edited()

    # ------------------------------------------------------------ edits
    def edited(self, *_: Any) -> None:
        """Something the render depends on changed: render it (latest wins)."""
        if not self.enabled or self.doc.content is None:
            return
        now = time.perf_counter()
        self._gesture = self._stroking or now - self._last_edit < GESTURE_GAP
        self._stroking = False
        self._last_edit = now
        self._edits.append(now)
        self.stats.edits += 1
        self._waiting = True
        running = self._running
        if running is not None and not running.cancel_event.is_set():
            if self._obsolete(running.job):
                running.cancel()
            elif self._young() or (self._gesture and self._sharp_outlasts_draft()):
                running.cancel()
                self._restart = True
        self._kick.start()

    def _sharp_outlasts_draft(self) -> bool:
        """A sharp render is running and what is left of it takes longer than a draft: a gesture has
        resumed (a stroke after a pause too short to finish the sharp picture), so a draft of the newest
        edit reaches the canvas sooner than the sharp picture of an older one (the next pause renders it
        sharp again)."""
        if self._running_draft or self._running_restart or self.draft_size() is None:
            return False
        typical = self.times.typical(draft=False)
        if typical is None:
            return False
        draft = self.times.typical(draft=True)
        if draft is None:  # no draft yet: its pixels' share of a sharp render's time
            draft = typical * DRAFT_SHARE ** 2
        return typical - (time.perf_counter() - self._running_since) > draft

    def _young(self) -> bool:
        """The running render has done too little to be worth showing before the newer one."""
        typical = self.times.typical(self._running_draft)
        if self._running_restart or typical is None:
            return False
        return time.perf_counter() - self._running_since < YOUNG * typical

    def draft_size(self) -> int | None:
        """The long edge of drafts at the current working size (None: this size gets none)."""
        size = self.working_size()
        return max(DRAFT_FROM // 2, round(size * DRAFT_SHARE)) if size > DRAFT_FROM else None

    def _obsolete(self, job: StyleJob) -> bool:
        """A job for another photo, strategy or working size: its picture is no use even as a stopgap."""
        return (job.content is not self.doc.content_tensor() or job.strategy != self.strategy
                or job.size not in (self.working_size(), self.draft_size()))

    def stroke_moved(self, *_: Any) -> None:
        """During a long stroke: a render every STROKE_INTERVAL_MS at most (the stroke's end is an edit too)."""
        if self.enabled and not self._stroke_timer.isActive():
            self._stroke_timer.start()

    def _stroke_edit(self) -> None:
        """A stroke's re-render: a gesture from its first dab (more dabs follow), so it gets a draft."""
        self._stroking = True
        self.edited()

    def job(self, size: int | None = None) -> StyleJob:
        """The live job for the document as it is now, at ``size`` (default: the working size);
        raises BrushworkError when it cannot render."""
        if not self.strategy:
            raise BrushworkError("No instant strategy is installed (universal or adain); live mode cannot render.")
        cls = strategies.get(self.strategy)
        specs = {s.name for s in params_mod.specs(cls.Params)}
        values = {k: v for k, v in self.params_for(self.strategy).items() if k in specs}
        if "preview" in specs:
            values["preview"] = False  # live renders are already small: one stage, not two
        if "measure" in specs:
            values["measure"] = False  # the figures cost a VGG pass: Refine and Render measure
        params = params_mod.make(cls.Params, values)
        job = self.doc.build_job(cls.name, params, cls.honours_regions, self.device, size=size or self.working_size())
        return replace(job, metadata={**job.metadata, "live": True})

    # ------------------------------------------------------------ rendering
    def _start(self) -> None:
        if not self.enabled or not self._waiting or self._running is not None:
            return
        self._waiting = False
        edit_time = self._edits[-1] if self._edits else time.perf_counter()
        # mid-gesture, a draft; otherwise (a pause, a single edit, the sharp follow-up) the working size
        in_gesture = self._gesture and self._edits and time.perf_counter() - self._last_edit < GESTURE_GAP
        draft = self.draft_size() if in_gesture else None
        try:
            job = self.job(draft)
        except BrushworkError as exc:
            self._edits.clear()
            self.failed.emit(*explain(exc))
            return
        self.threads.started()
        self._running = self._worker.submit(job)
        self._running_edit = edit_time
        self._running_since = time.perf_counter()
        self._running_restart, self._restart = self._restart, False
        self._running_draft = draft is not None

    def _worker_done(self, done: JobDone) -> None:
        """On the worker's thread: set its threads for the next render, then hand over to the GUI."""
        self.threads.finished()
        self._finished.emit(done)

    def _done(self, done: JobDone) -> None:
        covered = self._running_edit
        done_job = self._running.job if self._running is not None else None
        self._running = None
        if done.cancelled:
            self.stats.cancelled += 1
        elif done.error is not None:
            self._edits = [t for t in self._edits if t > covered]
            if self.enabled:
                self.failed.emit(*explain(done.error))
        elif self.enabled and done_job is not None and not self._obsolete(done_job):
            sharp = done_job.size == self.working_size()
            self.stats.renders += 1
            self.stats.drafts += not sharp
            (self.stats.render_seconds if sharp else self.stats.draft_seconds).append(done.result.seconds)
            self.times.add(done.result.seconds, draft=not sharp)
            self.last_image = done.result.image
            self.shown.emit(done.result.image)  # the canvas paints it in this slot
            now = time.perf_counter()
            reached = [t for t in self._edits if t <= covered]
            self.stats.latencies += [now - t for t in reached]
            self._edits = [t for t in self._edits if t > covered]
            if sharp:
                self.stats.sharp_latencies += [now - t for t in self._unsharp + reached]
                if self._unsharp or reached:
                    self.stats.settle_latencies.append(now - max(self._unsharp + reached))
                self._unsharp = []
            else:
                self._unsharp += reached
                if not self._edits:  # the gesture paused: the sharp picture next
                    self._gesture = False
                    self._waiting = True
        elif self.enabled and self._edits:
            # dropped (the canvas was zoomed or resized to another working size meanwhile): its
            # edits still have to reach the canvas, at the size it shows now
            self._waiting = True
        if self._waiting:
            self._kick.start()

    def busy(self) -> bool:
        return self._running is not None or self._waiting

    def shutdown(self) -> None:
        self.enabled = False
        if self._running is not None:
            self._running.cancel()
        self._worker.shutdown(wait=False)
