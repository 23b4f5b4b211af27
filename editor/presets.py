"""Strategy presets: named parameter sets saved as small JSON files.

Bundled presets live in ``resources/presets``; the user's own in the config folder (or
``$BRUSHWORK_PRESETS_DIR``). A preset names its strategy, so the list shows only the
presets of the strategy in use.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.errors import InputError
from engine.images import atomic_write

from .resources import resource_dir


@dataclass(frozen=True)
class Preset:
    name: str
    strategy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None
    bundled: bool = False


def user_dir() -> Path:
    env = os.environ.get("BRUSHWORK_PRESETS_DIR")
    if env:
        return Path(env)
    from PySide6.QtCore import QStandardPaths

    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppConfigLocation)) / "presets"


def _read(path: Path, bundled: bool) -> Preset | None:
    try:
        data = json.loads(path.read_text("utf-8"))
        return Preset(str(data["name"]), str(data["strategy"]), dict(data.get("params", {})), path, bundled)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a broken preset file is skipped, never fatal


def presets_for(strategy: str) -> list[Preset]:
    found = []
    for folder, bundled in ((resource_dir() / "presets", True), (user_dir(), False)):
        if folder.is_dir():
            for p in sorted(folder.glob("*.json")):
                preset = _read(p, bundled)
                if preset is not None and preset.strategy == strategy:
                    found.append(preset)
    return found


def save_preset(name: str, strategy: str, params: Mapping[str, Any]) -> Preset:
    name = name.strip()
    if not name:
        raise InputError("A preset needs a name.")
    slug = re.sub(r"[^a-z0-9]+", "-", f"{strategy}-{name}".lower()).strip("-")
    path = user_dir() / f"{slug}.json"
    text = json.dumps({"name": name, "strategy": strategy, "params": dict(params)}, indent=2)
    atomic_write(path, lambda tmp: tmp.write_text(text, "utf-8"))
    return Preset(name, strategy, dict(params), path, False)
