"""How many CPU threads live renders get: every core while the machine is free, one while another
process holds a core (a browser, a build, another render).

Two threads on a 2-core machine whose other core is busy wait on each other at every parallel
step: a 1024 px live render took 2.68 and 3.06 s with two threads against 2.33 and 2.45 s with one
(interleaved, machine at load 9). The policy watches what each render got: its process CPU time
over its wall time. Below BUSY of the threads it ran with, the cores are shared, and the next
renders run on one thread; every PROBE_EVERY renders it tries all of them again and keeps them if
they ran free. torch's thread count belongs to the thread that sets it, so the count is set on the
live worker's thread, after each render, for the next.
"""

from __future__ import annotations

import threading
import time

import torch

#: a render that got under this share of its threads' time ran on shared cores. Alone, two threads
#: get ~1.9 cores; but in the editor, with the GUI thread painting strokes at 60 Hz beside them, 0.64-0.85
#: of two (bench/editor.py --live 1024 px, nothing else running), which 0.75 took for a busy machine:
#: 23 of 29 renders fell to one thread and took 0.84-0.90 s, against 0.67 s on two (edit to a picture
#: median 0.48 -> 0.38 s, p95 1.07 -> 0.63). Another process holding a core leaves two threads ~0.5.
BUSY = 0.6
#: while on one thread, try every core again after this many renders (a freed machine is noticed
#: within a few seconds of live editing)
PROBE_EVERY = 8


class ThreadPolicy:
    """Chooses the live worker's torch threads from how much CPU its last render actually got."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = max(1, cores if cores is not None else torch.get_num_threads())
        #: threads the current render runs with (what the worker thread was last set to)
        self.threads = self.cores
        self.busy = False
        self._since_probe = 0
        self._start: tuple[float, float] | None = None
        self._lock = threading.Lock()
        #: (threads, share of them the render got) per render, newest last (the bench prints it)
        self.history: list[tuple[int, float]] = []

    def started(self) -> None:
        """A render was handed to the worker (called on the GUI thread)."""
        with self._lock:
            self._start = (time.perf_counter(), time.process_time())

    def finished(self) -> None:
        """The render ended: judge it and set the next render's threads (on the worker thread)."""
        with self._lock:
            if self._start is None:
                return
            wall0, cpu0 = self._start
            self._start = None
            wall = time.perf_counter() - wall0
            if wall <= 0.02:  # too short to say anything (a cancelled render)
                return
            share = (time.process_time() - cpu0) / wall / self.threads
            self.history.append((self.threads, share))
            del self.history[:-64]
            self.threads = self.next_threads(share)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def next_threads(self, share: float) -> int:
        """The next render's threads, after one with ``self.threads`` got ``share`` of them."""
        if self.cores == 1:
            return 1
        if self.threads > 1:
            self.busy = share < BUSY
            self._since_probe = 0
            return 1 if self.busy else self.threads
        self._since_probe += 1
        if self._since_probe >= PROBE_EVERY:  # one render on every core: is the machine free again?
            return self.cores
        return 1
