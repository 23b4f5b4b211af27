"""Finding strategies (and segmenters) through Python entry points.

The built-ins register through the project's own entry points, exactly as a third-party
package does, so the engine never imports a plugin by name. A plugin that fails to load is
reported with its error and skipped; it never stops the others.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import InputError

STRATEGIES = "brushwork.strategies"
SEGMENTERS = "brushwork.segmenters"
COMMANDS = "brushwork.commands"

T = TypeVar("T")


@dataclass(frozen=True)
class BrokenPlugin:
    group: str
    name: str
    target: str
    error: str


class Registry(Generic[T]):
    """Plugins of one entry-point group, loaded once and on demand."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._items: dict[str, T] | None = None
        self.broken: list[BrokenPlugin] = []
        self._lock = threading.Lock()

    def _load(self) -> dict[str, T]:
        with self._lock:
            if self._items is None:
                items: dict[str, T] = {}
                broken: list[BrokenPlugin] = []
                for ep in sorted(entry_points(group=self.group), key=lambda e: e.name):
                    try:
                        obj = ep.load()
                        name = getattr(obj, "name", "") or ep.name
                        if name in items:
                            raise RuntimeError(f"name '{name}' is already taken by another plugin")
                        items[name] = obj
                    except Exception as exc:  # any plugin bug must not stop the others
                        broken.append(BrokenPlugin(self.group, ep.name, ep.value, f"{type(exc).__name__}: {exc}"))
                self._items, self.broken = items, broken
            return self._items

    def reload(self) -> None:
        with self._lock:
            self._items = None

    def names(self) -> list[str]:
        return list(self._load())

    def all(self) -> dict[str, T]:
        return dict(self._load())

    def get(self, name: str) -> T:
        items = self._load()
        if name not in items:
            hint = ""
            for b in self.broken:
                if b.name == name:
                    hint = f" It failed to load: {b.error}"
            raise InputError(f"Unknown {self.kind} '{name}'; available: {', '.join(items) or 'none'}.{hint}")
        return items[name]

    def add(self, name: str, obj: T) -> None:
        """Register in-process (tests and embedding apps); entry points remain the normal path."""
        self._load()[name] = obj


strategies: Registry = Registry(STRATEGIES, "strategy")
segmenters: Registry = Registry(SEGMENTERS, "segmenter")
commands: Registry = Registry(COMMANDS, "command")
