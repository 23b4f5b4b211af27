"""The batch's record beside its outputs: what was rendered from what, so a re-run resumes.

One JSON file (``brushwork-batch.json`` in the outputs' folder), rewritten atomically after
every item, so a batch stopped anywhere (Ctrl+C, a lost driver, a power cut) leaves it naming
exactly the outputs that are whole. An item is current when its entry is ``done`` with the same
input hash and settings hash and its output is still there; everything else is rendered again.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..images import atomic_write
from .item import BatchItem

MANIFEST_NAME = "brushwork-batch.json"
#: bumped when the file's meaning changes; an older file is read as empty (everything re-renders)
FORMAT = 1


@dataclass(frozen=True)
class Entry:
    input: str
    output: str
    input_hash: str
    settings_hash: str
    #: "done" or "failed"
    status: str
    reason: str = ""
    seconds: float = 0.0
    #: when it finished (UTC, ISO 8601)
    finished: str = ""


def folder_of(pattern: str) -> Path:
    """The fixed folder an output pattern writes under (``out/{stem}.png`` -> ``out``)."""
    parts = Path(pattern).parent.parts
    fixed = []
    for part in parts:
        if "{" in part:
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def key_of(item: BatchItem) -> str:
    return str(Path(item.input).resolve())


class Manifest:
    """The entries by input (its resolved path), loaded from and saved to ``path``."""

    def __init__(self, path: Path, entries: dict[str, Entry] | None = None) -> None:
        self.path = Path(path)
        self.entries: dict[str, Entry] = dict(entries or {})

    @classmethod
    def load(cls, folder: str | Path) -> "Manifest":
        """The manifest in ``folder``; an unreadable one is set aside (renamed ``.corrupt``) with a
        warning and the batch starts afresh, never silently trusting it."""
        path = Path(folder) / MANIFEST_NAME
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                return cls(path)
            return cls(path, {k: Entry(**v) for k, v in data["items"].items()})
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            aside = path.with_name(path.name + ".corrupt")
            print(f"warning: {path} could not be read ({exc}); it is kept as {aside.name} and every item is "
                  "rendered again.", file=sys.stderr)
            os.replace(path, aside)
            return cls(path)

    def is_current(self, item: BatchItem, input_hash: str, settings_hash: str) -> bool:
        e = self.entries.get(key_of(item))
        return (e is not None and e.status == "done" and e.input_hash == input_hash
                and e.settings_hash == settings_hash and e.output == str(Path(item.output).resolve())
                and Path(item.output).exists())

    def record(self, item: BatchItem, input_hash: str, settings_hash: str, status: str, reason: str = "",
               seconds: float = 0.0) -> None:
        """Note one item's outcome and write the file at once (atomically)."""
        self.entries[key_of(item)] = Entry(key_of(item), str(Path(item.output).resolve()), input_hash, settings_hash,
                                           status, reason, round(seconds, 3),
                                           time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        self.save()

    def save(self) -> None:
        data = {"format": FORMAT, "items": {k: asdict(e) for k, e in sorted(self.entries.items())}}
        text = json.dumps(data, indent=1)
        atomic_write(self.path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
