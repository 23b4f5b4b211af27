"""A batch's inputs from files, folders and globs: pictures and clips, each with its output."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Sequence

from ..errors import InputError
from ..video.reader import FRAME_SUFFIXES, VIDEO_SUFFIXES
from .item import BatchItem
from .settings import BatchSettings

_GLOB_CHARS = set("*?[")


def _kind(path: Path) -> str:
    """A picture or a clip by the file's ending; an unknown ending asks FFmpeg (render's own rule)."""
    suffix = path.suffix.lower()
    if suffix in FRAME_SUFFIXES:
        return "picture"
    if suffix in VIDEO_SUFFIXES:
        return "clip"
    from ..video import is_video_input

    return "clip" if is_video_input(path) else "picture"


def _in_folder(folder: Path) -> list[Path]:
    """A folder's pictures and clips (not its sub-folders: they are the user's to name)."""
    known = FRAME_SUFFIXES | VIDEO_SUFFIXES
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in known
                  and not p.name.startswith("."))


def expand_inputs(specs: Sequence[str | Path], settings: BatchSettings) -> list[BatchItem]:
    """Every input the specs name, in order, once each, with its output from the settings' pattern.

    A file is taken whatever it holds (a corrupt one fails as its own item); a folder gives its
    pictures and clips; a glob its matches. A file that is another input's output (``-o`` the
    input folder, run twice) is left out, and two inputs that would write one output are refused."""
    paths: list[Path] = []
    for spec in specs:
        text = str(spec)
        if _GLOB_CHARS & set(text) and not Path(text).exists():
            hits = sorted(glob.glob(text, recursive=True))
            if not hits:
                raise InputError(f"Nothing matches '{text}'.")
            for h in hits:
                p = Path(h)
                paths += _in_folder(p) if p.is_dir() else [p]
            continue
        p = Path(text)
        if p.is_dir():
            found = _in_folder(p)
            if not found:
                raise InputError(f"{p} holds no pictures or clips (endings: "
                                 f"{', '.join(sorted(FRAME_SUFFIXES | VIDEO_SUFFIXES))}).")
            paths += found
        elif p.exists():
            paths.append(p)
        else:
            raise InputError(f"Input not found: {p}")
    seen: set[Path] = set()
    items = []
    for p in paths:
        r = p.resolve()
        if r in seen:
            continue
        seen.add(r)
        kind = _kind(p)
        items.append(BatchItem(str(p), kind, str(settings.output_for(p, clip=kind == "clip"))))
    outputs = {Path(i.output).resolve() for i in items}
    items = [i for i in items if Path(i.input).resolve() not in outputs]
    by_output: dict[Path, list[str]] = {}
    for i in items:
        by_output.setdefault(Path(i.output).resolve(), []).append(i.name)
    clashes = [f"{', '.join(names)} -> {out}" for out, names in by_output.items() if len(names) > 1]
    if clashes:
        raise InputError("Several inputs would write the same output: " + "; ".join(clashes)
                         + ". Put {name} in the output pattern (e.g. out/{name}_{strategy}.png).")
    if not items:
        raise InputError("No inputs to render.")
    return items
