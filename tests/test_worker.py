"""The background worker: jobs queue one after another, events arrive, cancel works, errors don't kill it."""

from __future__ import annotations

import threading

from engine import params
from engine.errors import Cancelled, InputError
from engine.job import StyleJob, StyleSource
from engine.registry import strategies
from engine.strategy import Progress
from engine.worker import JobWorker


def job(content, style, steps, **extra):
    P = strategies.get("gatys").Params
    return StyleJob(content=content, strategy="gatys", styles=(StyleSource(image=style),), size=64,
                    params=params.make(P, {"steps": steps, "net": "distilled16x", **extra}))


def test_jobs_run_in_order_with_previews_and_cancel(content, style):
    events: dict[int, list] = {}
    order: list[int] = []
    started = threading.Event()

    def on_event(job_id, e):
        events.setdefault(job_id, []).append(e)
        started.set()

    worker = JobWorker(on_event=on_event, on_done=lambda d: order.append(d.job_id), preview_every=2)
    try:
        slow = worker.submit(job(content, style, steps=500))
        quick = worker.submit(job(content, style, steps=4))
        assert started.wait(120)
        slow.cancel()
        assert slow.wait(120).cancelled and isinstance(slow.outcome.error, Cancelled)
        done = quick.wait(120)
        assert done.error is None and done.result.image.shape[-1] == 64
        assert order == [slow.id, quick.id]
        assert len([e for e in events[slow.id] if isinstance(e, Progress)]) < 500
        assert [e.step for e in events[quick.id] if isinstance(e, Progress) and e.preview is not None] == [0, 2, 4]  # 0: the stylised start
    finally:
        worker.shutdown()


def test_a_bad_job_reports_an_error_and_the_worker_goes_on(content, style):
    worker = JobWorker()
    try:
        bad = worker.submit(StyleJob(content=content, strategy="gatys", params=strategies.get("gatys").Params()))
        assert isinstance(bad.wait(60).error, InputError)  # no style
        good = worker.submit(job(content, style, steps=1))
        assert good.wait(120).result is not None
    finally:
        worker.shutdown()
