"""Running one job: choose the device, seed, drive the strategy, translate failures.

The CLI calls :func:`run_job` directly; the editor calls it through :class:`engine.worker.JobWorker`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from . import params as params_mod
from .errors import BrushworkError, Cancelled, DeviceError, InputError
from .job import StyleJob
from .regions import keep_photo
from .registry import strategies
from .scene.keep_shape import keep_shape
from .strategy import Event, Progress, Result, RunContext


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu or auto.")
    if name not in ("cpu",) and not name.startswith("cuda"):
        raise InputError(f"Unknown device '{name}'; use auto, cpu or cuda.")
    return torch.device(name)


def check_job(job: StyleJob):
    """The strategy for a job, after checking the job asks only for what it can do."""
    strategy_cls = strategies.get(job.strategy)
    params_mod.validate(job.params)
    kinds = {s.kind for s in job.styles} | {r.style.kind for r in job.regions}
    unsupported = kinds - set(strategy_cls.style_sources)
    if unsupported:
        raise InputError(
            f"Strategy '{job.strategy}' takes {' or '.join(sorted(strategy_cls.style_sources))} styles, "
            f"not {' or '.join(sorted(unsupported))}."
        )
    if job.regions and not strategy_cls.honours_regions:
        raise InputError(f"Strategy '{job.strategy}' does not honour regions; choose one that does (e.g. masked).")
    if not job.styles and not job.regions:
        raise InputError("The job has no style: add a style image or a prompt.")
    return strategy_cls


def _is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower()


@contextmanager
def oom_as_device_error(device: torch.device, message: str) -> Iterator[None]:
    """Running out of memory becomes a DeviceError saying ``message`` (the GPU's cache freed first)."""
    try:
        yield
    except BrushworkError:
        raise
    except (RuntimeError, MemoryError) as exc:
        if not _is_oom(exc):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise DeviceError(message) from exc


def _kept(job: StyleJob, image: torch.Tensor) -> torch.Tensor:
    """What every strategy's pictures get from the engine: the photo's shape where protected, its pixels where kept."""
    return keep_photo(job, keep_shape(job, image))


def run_job(
    job: StyleJob,
    ctx: RunContext | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> Result:
    """Run ``job`` to completion and return its Result; raises BrushworkError subclasses only."""
    strategy_cls = check_job(job)
    if ctx is None:
        ctx = RunContext(resolve_device(job.device))
    torch.manual_seed(job.seed)
    start = time.perf_counter()
    result: Result | None = None
    oom = (f"Out of memory on {ctx.device} while running '{job.strategy}' at {job.output_hw[1]}x{job.output_hw[0]}. "
           "Try a smaller size, the CPU, or a lighter loss network; your work is unchanged.")
    # the last picture kept and what it became: a feed-forward run's last preview is its result
    last: tuple[torch.Tensor, torch.Tensor] | None = None

    def kept(image: torch.Tensor) -> torch.Tensor:
        nonlocal last
        if last is None or last[0] is not image:
            last = (image, _kept(job, image))
        return last[1]

    with oom_as_device_error(ctx.device, oom):
        for event in strategy_cls().run(job, ctx):
            # previews and the result keep the photo's structure where the job protects it (faces,
            # a region's keep shape), then the photo's pixels where the job keeps the photo
            if isinstance(event, Progress) and event.preview is not None:
                event = Progress(event.step, event.total, event.stage, kept(event.preview), event.losses)
            if isinstance(event, Result):
                event = Result(kept(event.image), event.figures, event.seconds)
                result = event
            if on_event is not None:
                on_event(event)
            ctx.check()
    if result is None:
        raise Cancelled() if ctx.cancelled else BrushworkError(f"Strategy '{job.strategy}' finished without a result.")
    return Result(image=result.image, figures=result.figures, seconds=time.perf_counter() - start)


__all__ = ["run_job", "resolve_device", "check_job", "Progress", "Result", "RunContext"]
