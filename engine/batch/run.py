"""The batch driver: which items need rendering, an executor to render them, outputs and the manifest.

An executor is any callable ``executor(settings, items, on_event)`` that yields
``(item, ItemResult)`` or ``(item, reason)`` as items finish, in any order: :func:`local_executor`
renders them one after another in this process; ``engine.batch.farm`` on a Ray cluster. The
driver alone writes outputs (atomically) and the manifest (after each item), wherever the
executor ran them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..errors import BrushworkError
from ..images import atomic_write
from .item import BatchItem, Failure, ItemRenderer, ItemResult
from .manifest import Manifest, folder_of
from .settings import BatchSettings

#: what an executor yields as each item finishes
Outcome = tuple[BatchItem, "ItemResult | Failure"]
#: an item's engine events (Progress, FrameDone) while it runs, for a bar over its steps or frames
ItemEvents = Callable[[BatchItem, object], None]
Executor = Callable[[BatchSettings, Sequence[BatchItem], "ItemEvents | None"], Iterator[Outcome]]


def local_executor(settings: BatchSettings, items: Sequence[BatchItem], on_event: ItemEvents | None = None,
                   renderer: ItemRenderer | None = None) -> Iterator[Outcome]:
    """One item after another in this process, with one renderer (nets and statistics loaded once)."""
    own = renderer is None
    renderer = renderer or ItemRenderer(settings)
    try:
        for item in items:
            events = (lambda e, item=item: on_event(item, e)) if on_event else None
            yield item, renderer.try_render(item, events)
    finally:
        if own:
            renderer.close()


@dataclass(frozen=True)
class ItemRecord:
    """One item's line in the summary and the report."""

    input: str
    output: str
    #: "done", "skipped" (done and current before this run) or "failed"
    status: str
    reason: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class ItemFinished:
    """Sent to ``on_progress`` as each item finishes (or is skipped): ``index`` counts from 1 to ``total``."""

    record: ItemRecord
    index: int
    total: int


@dataclass(frozen=True)
class ItemStarted:
    """Sent when the items to render are known: ``to_render`` of ``total`` (the rest are current)."""

    to_render: int
    total: int


@dataclass(frozen=True)
class ItemStep:
    """An engine event (Progress, FrameDone) of the item rendering now."""

    item: BatchItem
    event: object


@dataclass(frozen=True)
class BatchReport:
    done: tuple[ItemRecord, ...]
    skipped: tuple[ItemRecord, ...]
    failed: tuple[ItemRecord, ...]
    manifest: str
    #: the pictures' settings hash (a clip's leaves out what only pictures take, and the other way round)
    settings_hash: str
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict:
        return {"ok": self.ok, "done": [asdict(r) for r in self.done], "skipped": [asdict(r) for r in self.skipped],
                "failed": [asdict(r) for r in self.failed], "manifest": self.manifest,
                "settings_hash": self.settings_hash, "seconds": round(self.seconds, 3)}

    def summary(self) -> str:
        lines = [f"{len(self.done)} done, {len(self.skipped)} skipped (current), {len(self.failed)} failed "
                 f"in {self.seconds:.1f} s; manifest {self.manifest}"]
        lines += [f"  failed {Path(r.input).name}: {r.reason}" for r in self.failed]
        return "\n".join(lines)


def write_report(report: BatchReport, path: str | Path) -> Path:
    """The report as JSON, written atomically."""
    text = json.dumps(report.to_json(), indent=1)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _write_output(result: ItemResult) -> None:
    if result.data is not None:
        data = result.data
        atomic_write(result.item.output, lambda tmp: Path(tmp).write_bytes(data))


def run_batch(settings: BatchSettings, items: Sequence[BatchItem], executor: Executor = local_executor,
              on_progress: Callable[[object], None] | None = None) -> BatchReport:
    """Render the items that are not current, write their outputs and the manifest, and report.

    A failing item is recorded with its reason and the batch goes on; a stop (Ctrl+C, SIGTERM, a
    cancel) propagates after the item in flight is abandoned, leaving every finished output and
    the manifest that names them, and no partial file."""
    start = time.perf_counter()
    # a missing style stops here, before anything is written
    settings_hash = {kind: settings.settings_hash(kind) for kind in ("picture", "clip")}
    manifest = Manifest.load(folder_of(settings.output))
    notify = on_progress or (lambda _: None)
    total = len(items)
    records: dict[str, list[ItemRecord]] = {"done": [], "skipped": [], "failed": []}
    hashes: dict[BatchItem, str] = {}
    pending: list[BatchItem] = []
    finished = 0

    def finish(record: ItemRecord) -> None:
        nonlocal finished
        finished += 1
        records[record.status].append(record)
        notify(ItemFinished(record, finished, total))

    for item in items:
        try:
            hashes[item] = item.input_hash(settings)
        except OSError as exc:
            reason = f"Cannot read {item.input}: {exc.strerror or exc}."
            manifest.record(item, "", settings_hash[item.kind], "failed", reason)
            finish(ItemRecord(item.input, item.output, "failed", reason))
            continue
        if manifest.is_current(item, hashes[item], settings_hash[item.kind]):
            finish(ItemRecord(item.input, item.output, "skipped"))
        else:
            pending.append(item)
    notify(ItemStarted(len(pending), total))
    if pending:
        outcomes = executor(settings, pending, lambda item, e: notify(ItemStep(item, e)))
        try:
            for item, outcome in outcomes:
                if isinstance(outcome, ItemResult):
                    try:
                        _write_output(outcome)
                    except BrushworkError as exc:
                        outcome = str(exc)
                if isinstance(outcome, ItemResult):
                    manifest.record(item, hashes[item], settings_hash[item.kind], "done", seconds=outcome.seconds)
                    finish(ItemRecord(item.input, item.output, "done", seconds=round(outcome.seconds, 3)))
                else:
                    manifest.record(item, hashes[item], settings_hash[item.kind], "failed", outcome)
                    finish(ItemRecord(item.input, item.output, "failed", outcome))
        finally:
            close = getattr(outcomes, "close", None)
            if close:
                close()
    return BatchReport(tuple(records["done"]), tuple(records["skipped"]), tuple(records["failed"]),
                       str(manifest.path), settings_hash["picture"], time.perf_counter() - start)
