"""One unit of a batch and the object that renders it, in whatever process it runs in.

:class:`ItemRenderer` parses each item with ``brushwork render``'s own parser and runs the same
functions (engine.cli.render_image / render_clip), so a batch output is the file a single
``render`` call writes. It lives as long as its process does (the local batch, or a Ray actor):
the strategies' networks, the style statistics and the face and semantic models stay loaded in
their process-wide caches between items, which is the batch's speed-up over one process a picture.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from ..errors import BrushworkError, Cancelled
from .settings import BatchSettings

Kind = Literal["picture", "clip"]


def _update_with_file(h, path: Path) -> None:
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)


def content_hash(path: str | Path) -> str:
    """sha256 of a file's bytes, or of a folder's files (a clip of numbered frames) by name and bytes."""
    p = Path(path)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.iterdir() if x.is_file()):
            h.update(f.name.encode() + b"\0")
            _update_with_file(h, f)
    else:
        _update_with_file(h, p)
    return h.hexdigest()


@dataclass(frozen=True)
class BatchItem:
    """One input of a batch and where its output goes."""

    input: str
    kind: Kind
    output: str

    @property
    def name(self) -> str:
        return Path(self.input).name

    def input_hash(self, settings: BatchSettings) -> str:
        """The input's content, and its masks' when the settings paint a mask per input: what
        decides this item's pixels besides the settings (a touched but unchanged file is the same)."""
        h = hashlib.sha256(content_hash(self.input).encode())
        if settings.mask_regions:
            try:
                masks = settings.masks_for(self.input)
            except BrushworkError:
                masks = ()  # rendering it says which is missing
            for mask, _ in masks:
                h.update(content_hash(mask).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class ItemResult:
    """A rendered item: a picture's encoded file (``data``, for the driver to write wherever it
    runs), or a clip already written in place at ``item.output`` (``data`` None)."""

    item: BatchItem
    data: bytes | None
    width: int
    height: int
    seconds: float
    #: "single", "tiled-feedforward", "tiled-refine" (pictures) or "clip"
    method: str = "single"
    frames: int = 0
    figures: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


#: what an executor yields for an item that could not be rendered: the reason, as a user reads it
Failure = str


class ItemRenderer:
    """Renders items one at a time with one batch's settings; keep one per process."""

    def __init__(self, settings: BatchSettings) -> None:
        from ..cli import make_parser

        self.settings = settings
        self._parser = make_parser()
        self._scratch = Path(tempfile.mkdtemp(prefix="brushwork-batch-"))

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "ItemRenderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _args(self, item: BatchItem, output: str | Path):
        from ..cli import check_render_numbers

        args = self._parser.parse_args(self.settings.render_argv(item.input, output))
        check_render_numbers(args)
        return args

    def render(self, item: BatchItem, on_event: Callable | None = None) -> ItemResult:
        """Render one item; a BrushworkError (a corrupt input, one too large) says why it could not."""
        start = time.perf_counter()
        if item.kind == "clip":
            from ..cli import render_clip

            report = render_clip(self._args(item, item.output), on_event)
            return ItemResult(item, None, report.width, report.height, time.perf_counter() - start, "clip",
                              frames=report.frames, notes=tuple(report.notes))
        from ..cli import render_image

        # rendered into this process's scratch folder and read back: the driver writes it where
        # it belongs (a Ray worker may not see the output folder at all)
        scratch = self._scratch / f"{os.getpid()}-{time.monotonic_ns()}{Path(item.output).suffix}"
        try:
            report = render_image(self._args(item, scratch), on_event)
            data = scratch.read_bytes()
        finally:
            scratch.unlink(missing_ok=True)
        return ItemResult(item, data, report.width, report.height, time.perf_counter() - start, report.method,
                          figures=dict(report.figures))

    def try_render(self, item: BatchItem, on_event: Callable | None = None) -> ItemResult | Failure:
        """:meth:`render`, with any failure but a stop (Ctrl+C) turned into its reason."""
        try:
            return self.render(item, on_event)
        except Cancelled:
            raise  # the user stopped the batch: not this item's failure
        except BrushworkError as exc:
            return str(exc)
        except (MemoryError, Exception) as exc:  # a bug or a library's own error: this item fails, the batch goes on
            return f"{type(exc).__name__}: {exc} ({traceback.extract_tb(exc.__traceback__)[-1].name})"
