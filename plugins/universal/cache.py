"""Per-level style statistics, computed once per (level, device, image hash and size).

Moving alpha, the depth or a style weight, or painting a region, never re-encodes a style:
each of its levels is an encoder pass plus an ``eigh``, most of a cold run's time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

import torch

from .wct import Colouring


class StyleLevelCache:
    """Colourings (mean and covariance root) of encoded styles, least recently used first out.

    Thread-safe: the editor's live worker and an export may share it.
    """

    def __init__(self, capacity: int = 128) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple, Colouring] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, level: int, image: str, device: torch.device, compute: Callable[[], Colouring]) -> Colouring:
        """``compute()``'s colouring at ``level`` of the image whose :func:`image_key` is ``image``
        (hashed once per run by the caller, not once per level)."""
        key = (level, str(device), image)
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return item
        item = compute()
        with self._lock:
            self.misses += 1
            self._items[key] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


#: the process-wide cache the strategy uses
style_levels = StyleLevelCache()
