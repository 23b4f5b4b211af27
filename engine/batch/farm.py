"""A batch on a Ray cluster: ``brushwork batch ... --ray [ADDRESS]``.

Ray schedules, retries and moves the bytes; Brushwork brings only what is its own. Each worker is
a Ray actor holding one :class:`.item.ItemRenderer` (the nets and style statistics stay loaded
between tasks), one per GPU where the cluster has GPUs, else one per CPU. Every picture is a task
on an idle actor; a clip is cut into chunks (:mod:`engine.video.chunks`), each a task, and
stitched by the driver with its audio. Inputs, styles and masks travel as bytes through Ray's
object store, and results come back the same way: the driver writes every output, so the workers
need no shared file system. An actor whose process dies is restarted and its task retried
(``max_restarts``/``max_task_retries``); the driver yields each item once, whatever was retried.

A worker refuses to render when its Brushwork, torch or weights manifest differ from the
driver's (:func:`fingerprint`): the batch stops with the worker's node and both versions named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import BrushworkError, Cancelled, InputError
from .command import FARM_EXTRA
from .item import BatchItem, Failure, ItemRenderer, ItemResult
from .settings import BatchSettings

#: a worker process that dies (killed, out of memory, its node lost) is started again this many
#: times, and the task it ran is retried on it: Ray's own retry
MAX_RESTARTS = 3
#: chunks per worker for a clip: more than one, so a worker that finishes early takes another
CHUNKS_PER_WORKER = 2


class FarmError(BrushworkError):
    """The cluster cannot run the batch (a worker with other versions, no worker at all)."""


def import_ray():
    """Ray, or an InputError naming the extra that brings it."""
    try:
        import ray
    except ImportError as exc:
        raise InputError(f"--ray needs Ray, which is not installed: pip install '{FARM_EXTRA}' ({exc}).") from None
    return ray


def fingerprint() -> str:
    """What must be equal on the driver and every worker for their outputs to be equal: the
    Brushwork and torch versions and the weights manifest (every weight file is checked against
    its sha256 there when it loads, so an equal manifest means equal weights)."""
    import torch

    from .. import __version__
    from ..weights import MANIFEST_PATH, sha256_of

    return f"brushwork {__version__}, torch {torch.__version__}, weights manifest {sha256_of(MANIFEST_PATH)[:16]}"


@dataclass(frozen=True)
class Files:
    """Files shipped to the workers: each path (as the driver names it) with its bytes."""

    data: tuple[tuple[str, bytes], ...] = ()

    @staticmethod
    def of(paths) -> "Files":
        out = {}
        for p in paths:
            path = Path(p)
            if path.is_dir():
                for f in sorted(x for x in path.iterdir() if x.is_file()):
                    out[str(f)] = f.read_bytes()
            elif path.is_file():
                out[str(path)] = path.read_bytes()
        return Files(tuple(out.items()))


@dataclass(frozen=True)
class RenderedOn:
    """Sent (as an item's event) when a worker returns an item or a chunk: which process did it."""

    node: str
    pid: int


def _is_file_source(source: str) -> bool:
    return not (source.startswith("text:") or source.strip().lower() == "keep")


def settings_files(settings: BatchSettings) -> list[str]:
    """The files the settings name (styles, regions' styles), which a worker needs too."""
    files = list(settings.styles)
    files += [g.partition("=")[2] for g in settings.auto_regions if _is_file_source(g.partition("=")[2])]
    files += [style for _, style in settings.mask_regions if _is_file_source(style)]
    return files


def item_files(settings: BatchSettings, item: BatchItem) -> list[str]:
    """The files one item needs on a worker: its input and its masks."""
    files = [item.input]
    if settings.mask_regions:
        try:
            files += [str(mask) for mask, _ in settings.masks_for(item.input)]
        except BrushworkError:
            pass  # rendering it says which mask is missing
    return files


#: a worker's scratch folder in the node's temp folder: brushwork-farm-<pid>-<random>
SCRATCH_PREFIX = "brushwork-farm-"


def _sweep_dead_scratch() -> None:
    """Remove the scratch folders of workers whose process is gone (killed: nothing ran their
    close), so a node's temp folder does not fill with inputs over restarts."""
    for folder in Path(tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*-*"):
        pid = folder.name.removeprefix(SCRATCH_PREFIX).partition("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and Path("/proc/self").exists():
            shutil.rmtree(folder, ignore_errors=True)


class FarmWorker:
    """One worker's state (a Ray actor wraps it): the renderer, and the shipped files under a
    scratch folder, each path the driver named mapped to a local one."""

    def __init__(self, settings: BatchSettings, driver: str) -> None:
        self.refused = None if fingerprint() == driver else (
            f"a worker on {_node()} has {fingerprint()}, the driver {driver}: install the same Brushwork and weights "
            "on every node (see the README's cluster recipe)")
        _sweep_dead_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        self.local: dict[str, str] = {}
        self.given = settings
        self.renderer: ItemRenderer | None = None
        try:
            import ray
            import torch

            torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
        except Exception:
            pass

    def _ready(self, shared: Files) -> ItemRenderer:
        """The renderer, made at the first task from the settings' files. They come with every task
        (Ray caches them on the node), not with the constructor: a worker started again after its
        process died takes its constructor's arguments from the object store, where they may be
        gone (ray-project/ray#53727)."""
        if self.renderer is None:
            self._unpack(shared)
            self.settings = self._localise(self.given)
            self.renderer = ItemRenderer(self.settings)
        return self.renderer

    def _unpack(self, files: Files) -> None:
        for path, data in files.data:
            if path in self.local:
                continue
            digest = hashlib.sha256(path.encode()).hexdigest()[:16]
            local = self.scratch / digest / Path(path).name
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            self.local[path] = str(local)

    def _here(self, path: str) -> str:
        return self.local.get(path, path)

    def _localise(self, settings: BatchSettings) -> BatchSettings:
        def source(s: str) -> str:
            return self._here(s) if _is_file_source(s) else s

        # a mask folder becomes a local folder that the items' masks are unpacked into
        masks = []
        self.mask_folders: dict[Path, Path] = {}
        for i, (folder, style) in enumerate(settings.mask_regions):
            local = self.scratch / f"masks{i}"
            local.mkdir(exist_ok=True)
            self.mask_folders[Path(folder)] = local
            masks.append((str(local), source(style)))
        return dataclasses.replace(
            settings, styles=tuple(self._here(s) for s in settings.styles),
            auto_regions=tuple(g.partition("=")[0] + "=" + source(g.partition("=")[2]) for g in settings.auto_regions),
            mask_regions=tuple(masks))

    def _local_item(self, item: BatchItem, files: Files) -> BatchItem:
        """The item with its input (and masks) unpacked here under their own names."""
        for path, data in files.data:
            local = self.mask_folders.get(Path(path).parent)
            if local is not None and path != item.input:
                (local / Path(path).name).write_bytes(data)
        if item.input not in self.local:
            own = self.scratch / "inputs" / hashlib.sha256(item.input.encode()).hexdigest()[:16]
            own.mkdir(parents=True, exist_ok=True)
            for path, data in files.data:
                if path == item.input:
                    (own / Path(path).name).write_bytes(data)
                elif Path(path).parent == Path(item.input):  # a folder of frames
                    (own / Path(item.input).name).mkdir(exist_ok=True)
                    (own / Path(item.input).name / Path(path).name).write_bytes(data)
            self.local[item.input] = str(own / Path(item.input).name)
        out = self.scratch / "out" / Path(item.output).name
        out.parent.mkdir(exist_ok=True)
        return BatchItem(self.local[item.input], item.kind, str(out))

    def check(self) -> str | None:
        """None when this worker renders what the driver would; else why not."""
        return self.refused

    def picture(self, item: BatchItem, files: Files, shared: Files) -> tuple[ItemResult | Failure, RenderedOn]:
        renderer = self._ready(shared)
        local = self._local_item(item, files)
        outcome = renderer.try_render(local)
        shutil.rmtree(Path(self.local.pop(item.input)).parent, ignore_errors=True)  # a clip's stays for its chunks
        if isinstance(outcome, ItemResult):
            outcome = dataclasses.replace(outcome, item=item)
        else:
            outcome = outcome.replace(local.input, item.input)
        return outcome, RenderedOn(_node(), os.getpid())

    def chunk(self, item: BatchItem, files: Files, chunk, encoded: bool, shared: Files):
        """One chunk of a clip (engine.video.chunks.render_chunk) as two returns: (the reason it
        failed or None, where it ran), then its frames (None if it failed). The frames stay in the
        object store until the driver writes them, one chunk at a time."""
        from ..cli import clip_setup
        from ..video.chunks import render_chunk

        renderer = self._ready(shared)
        local = self._local_item(item, files)
        where = RenderedOn(_node(), os.getpid())
        try:
            job, options, ctx = clip_setup(renderer._args(local, local.output))
            return (None, where), render_chunk(job, local.input, chunk, options, ctx, encoded)
        except Cancelled:
            raise
        except BrushworkError as exc:
            return (str(exc).replace(local.input, item.input), where), None
        except (MemoryError, Exception) as exc:  # as ItemRenderer.try_render: this clip fails, the batch goes on
            return (f"{type(exc).__name__}: {exc}".replace(local.input, item.input), where), None

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _node() -> str:
    try:
        import ray

        return f"node {ray.get_runtime_context().get_node_id()[:12]} ({os.uname().nodename})"
    except Exception:
        return os.uname().nodename


#: seconds to wait for a cluster's head to answer before saying it does not (Ray itself retries for minutes)
CONNECT_TIMEOUT = 10


def check_reachable(address: str) -> None:
    """A FarmError now when nothing answers at a HOST:PORT address, rather than Ray's minutes of
    retries; 'auto' and ray:// addresses are left to Ray."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise FarmError(f"Nothing answers at {address} ({exc.strerror or exc}): start the cluster's head there "
                        "(ray start --head --port=PORT) or give its address.") from None


@contextmanager
def connected(address: str | None) -> Iterator[object]:
    """Ray, joined to the cluster at ``address`` ('auto': the one this machine belongs to), or a
    private local instance for the run (None or 'local'), shut down after; one already joined in
    this process is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address in (None, "local"):
        # "local": a new instance even where RAY_ADDRESS names a cluster
        ray.init(address="local", include_dashboard=False, logging_level="WARNING", log_to_driver=False,
                 configure_logging=False)
    else:
        check_reachable(address)
        try:
            ray.init(address=address, logging_level="WARNING", log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise FarmError(f"Cannot join the Ray cluster at {address}: {str(exc).rstrip('.')}. Start one (ray start "
                            "--head) or give its address (HEAD:6379, or auto on a node of it).") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def worker_shape(ray) -> tuple[int, dict]:
    """How many workers and what each asks for: one GPU each where the cluster has GPUs, else one CPU."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus, {"num_gpus": 1, "num_cpus": 1}
    return max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}


class Farm:
    """The actors and the work in flight on them; yields each finished unit once."""

    def __init__(self, ray, settings: BatchSettings, workers: int | None = None) -> None:
        self.ray = ray
        count, shape = worker_shape(ray)
        count = workers or count
        remote = ray.remote(**shape, max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)(FarmWorker)
        #: the settings' files, passed with every task (see FarmWorker._ready)
        self.shared = ray.put(Files.of(settings_files(settings)))
        driver = fingerprint()
        self.actors = [remote.remote(settings, driver) for _ in range(count)]
        try:
            refusals = ray.get([a.check.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            self.close()
            raise FarmError(f"The cluster's workers could not start: {exc}") from None
        for refusal in refusals:
            if refusal:
                self.close()
                raise FarmError(f"The cluster cannot render this batch: {refusal}.")

    def close(self) -> None:
        """Each worker's scratch folder removed, then the workers ended."""
        try:
            self.ray.get([a.close.remote() for a in self.actors], timeout=5)
        except Exception:
            pass  # a worker already lost: its node's temp folder is all it leaves
        for a in self.actors:
            self.ray.kill(a, no_restart=True)
        self.actors = []

    def run(self, units: Sequence[tuple]) -> Iterator[tuple[tuple, list]]:
        """Each unit ``(method, *args)`` on an idle actor; yields ``(unit, refs)`` as they finish
        (a chunk has two returns, a picture one)."""
        ray = self.ray
        queue = list(units)
        idle = list(self.actors)
        flying: dict = {}
        while queue or flying:
            while queue and idle:
                unit, actor = queue.pop(0), idle.pop(0)
                method = getattr(actor, unit[0])
                args = [a() if callable(a) else a for a in unit[1:]]  # inputs read as they go out
                refs = method.options(num_returns=2).remote(*args, self.shared) if unit[0] == "chunk" else \
                    [method.remote(*args, self.shared)]
                flying[refs[0]] = (unit, actor, refs)
            done, _ = ray.wait(list(flying), num_returns=1)
            unit, actor, refs = flying.pop(done[0])
            idle.append(actor)
            yield unit, refs


def _once(make):
    """``make()``'s value, made at the first call and kept."""
    kept = []
    return lambda: kept[0] if kept else kept.append(make()) or kept[0]


def make_executor(address: str | None):
    """An executor for :func:`.run.run_batch` that renders on the Ray cluster at ``address``."""
    import_ray()  # a missing Ray is an error before anything starts

    def executor(settings: BatchSettings, items: Sequence[BatchItem], on_event=None) -> Iterator:
        with connected(address) as ray:
            yield from farm_executor(ray, settings, items, on_event)

    return executor


def farm_executor(ray, settings: BatchSettings, items: Sequence[BatchItem], on_event=None,
                  workers: int | None = None) -> Iterator[tuple[BatchItem, ItemResult | Failure]]:
    """Pictures as tasks, clips as chunks on the cluster Ray is joined to; yields each item once."""
    from ..video.chunks import plan_chunks
    from ..video.writer import is_folder_output

    farm = Farm(ray, settings, workers)
    try:
        units: list[tuple] = []
        clips: dict[BatchItem, dict] = {}
        for item in items:
            # an item's files go into the object store when its first task goes out, once per clip
            files = _once(lambda item=item: ray.put(Files.of(item_files(settings, item))))
            if item.kind == "picture":
                units.append(("picture", item, files))
                continue
            try:
                chunks = plan_chunks(item.input, CHUNKS_PER_WORKER * len(farm.actors), fps=settings.fps)
            except BrushworkError as exc:
                yield item, str(exc)
                continue
            clips[item] = {"chunks": chunks, "refs": {}, "started": time.perf_counter()}
            encoded = not is_folder_output(item.output)
            units += [("chunk", item, files, c, encoded) for c in chunks]
        for unit, refs in farm.run(units):
            item = unit[1]
            try:
                if unit[0] == "picture":
                    outcome, where = ray.get(refs[0])
                else:
                    (outcome, where), outcome_ref = ray.get(refs[0]), refs[1]
            except ray.exceptions.RayError as exc:  # its worker died more often than Ray restarts it
                outcome, where = (f"The worker rendering it was lost and not restarted ({type(exc).__name__}); "
                                  "run the batch again to render it."), None
            if on_event is not None and where is not None:
                on_event(item, where)
            if unit[0] == "picture":
                yield item, outcome
                continue
            state = clips[item]
            if state.get("failed"):
                continue
            if outcome is not None:
                state["failed"] = True
                yield item, outcome
                continue
            state["refs"][unit[3].index] = outcome_ref
            if len(state["refs"]) == len(state["chunks"]):
                yield item, stitch(ray, settings, item, state, on_event)
                del clips[item]
    finally:
        farm.close()


def stitch(ray, settings: BatchSettings, item: BatchItem, state: dict, on_event=None) -> ItemResult | Failure:
    """A clip's chunks written in order, with its audio, at the item's output (on the driver)."""
    from ..cli import clip_setup, make_parser
    from ..video.chunks import render_chunked

    pieces = state.pop("refs")
    try:
        job, options, ctx = clip_setup(make_parser().parse_args(settings.render_argv(item.input, item.output)))
        report = render_chunked(job, item.input, item.output, options, chunks=state["chunks"], ctx=ctx,
                                render_chunks=lambda chunks: (ray.get(pieces.pop(c.index)) for c in chunks),
                                on_event=(lambda e: on_event(item, e)) if on_event else None)
    except BrushworkError as exc:
        return str(exc)
    return ItemResult(item, None, report.width, report.height, time.perf_counter() - state["started"], "clip",
                      frames=report.frames, notes=tuple(report.notes))
