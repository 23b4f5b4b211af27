"""Least-recently-used caches of encoded features, shared by the instant strategies.

Every cache here computes a missing value outside its lock (an encoder pass, an ``eigh``), so
the editor's live worker and an export can share one without waiting on each other's work.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Generic, TypeVar

import torch

V = TypeVar("V")


#: hashes already taken, by tensor object (id, checked through a weak reference) and its in-place
#: version counter: a live render asks for every style's key each time, and hashing a
#: 1-megapixel painting costs ~5 ms. (Not a WeakKeyDictionary: its references compare the
#: tensors with ==, which is elementwise.)
_keys: dict[int, tuple[weakref.ref, int, str]] = {}
_keys_lock = threading.RLock()  # re-entrant: a collection inside the lock may run _forget


def _forget(key: int) -> None:
    with _keys_lock:
        _keys.pop(key, None)


def image_key(image: torch.Tensor) -> str:
    """Content hash of an image tensor: equal pixels share cached features whatever object holds them."""
    with _keys_lock:
        known = _keys.get(id(image))
    if known is not None and known[0]() is image and known[1] == image._version:
        return known[2]
    t = image.detach().float().contiguous().cpu()
    key = hashlib.sha1(t.numpy().tobytes()).hexdigest() + str(tuple(t.shape))
    ref = weakref.ref(image, lambda _, i=id(image): _forget(i))
    with _keys_lock:
        _keys[id(image)] = (ref, image._version, key)
    return key


class LruCache(Generic[V]):
    """A thread-safe map of at most ``capacity`` items, least recently used first out, with hit counts."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Any, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def lookup(self, key: Any, compute: Callable[[], V], valid: Callable[[V], bool] = lambda _: True) -> V:
        """The item under ``key`` (if ``valid``), else ``compute()``'s, stored."""
        with self._lock:
            item = self._items.get(key)
            if item is not None and valid(item):
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


class ContentFeatureCache(LruCache[tuple[torch.Tensor, Any]]):
    """The last few contents' encoded features, so live edits (a stroke, a slider) skip the encoder.

    Keyed by the content tensor itself (identity and in-place version, not a hash of its pixels:
    a job hands over the document's own tensor on every edit), the size it was encoded at, the
    encoder and the device.
    """

    def __init__(self, capacity: int = 4) -> None:
        super().__init__(capacity)

    def get(self, content: torch.Tensor, out_hw: tuple[int, int], encoder_name: str, device: torch.device,
            encode: Callable[[], Any]) -> Any:
        """``encode()``'s features for ``content`` at ``out_hw``, computed once per key."""
        key = (id(content), content._version, tuple(out_hw), encoder_name, str(device))
        # the stored reference keeps id(content) from being reused by another tensor
        return self.lookup(key, lambda: (content, encode()), lambda item: item[0] is content)[1]
