"""Least-recently-used caches of encoded features, shared by the instant strategies, and a disk
store for what is worth keeping between processes (a style's statistics).

Every cache here computes a missing value outside its lock (an encoder pass, an ``eigh``), so
the editor's live worker and an export can share one without waiting on each other's work.
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
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


#: the photo at the sizes last rendered: live mode asks for the same one edit after edit, and
#: shrinking a 12-megapixel photo to 1024 px costs more than the steps that use it (keeping the
#: photo's shape, keeping its pixels outside the regions: 7 ms of a 165 ms live draft, twice)
_photos = ContentFeatureCache(2)


def photo_at(content: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """``content`` (1x3xHxW, CPU) resized to ``hw``, kept for the next job with the same photo and size."""
    from .images import resize

    return _photos.get(content, hw, "photo/pixels", torch.device("cpu"), lambda: resize(content, hw))


class DiskStore:
    """Small tensors kept on disk between processes: one safetensors file per key (named by the
    key's sha1) in the user cache, so a second ``brushwork render`` with the same style skips its
    encoding (universal: a style's five levels were 0.4 of a cold 1024 px render's time).

    Best effort: a folder that cannot be written, a damaged or foreign file, is a miss, never an
    error. ``$BRUSHWORK_FEATURE_CACHE`` moves it (``off`` turns it off); past ``max_files`` the
    least recently written files go.
    """

    ENV = "BRUSHWORK_FEATURE_CACHE"
    #: what each entry holds is a few covariance roots (at most 128x128 float32: 64 KB), so 4096
    #: files stay under ~100 MB
    MAX_FILES = 4096
    #: prune the folder every this many writes (listing it costs ~ms)
    PRUNE_EVERY = 64

    def __init__(self, name: str, max_files: int = MAX_FILES) -> None:
        self.name = name
        self.max_files = max_files
        self._writes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def folder(self) -> Path | None:
        env = os.environ.get(self.ENV, "")
        if env.strip().lower() == "off":
            return None
        if env:
            return Path(env) / self.name
        from platformdirs import user_cache_dir

        return Path(user_cache_dir("brushwork", appauthor=False)) / "features" / self.name

    def _path(self, key: str) -> Path | None:
        folder = self.folder()
        return None if folder is None else folder / f"{hashlib.sha1(key.encode('utf-8')).hexdigest()}.safetensors"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        path = self._path(key)
        if path is None or not path.is_file():
            self.misses += 1
            return None
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                if (f.metadata() or {}).get("key") != key:  # a hash collision, or another build's file
                    raise ValueError("foreign entry")
                out = {k: f.get_tensor(k) for k in f.keys()}
        except Exception:  # damaged or foreign: recompute, and the next put replaces it
            self.misses += 1
            return None
        self.hits += 1
        return out

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        path = self._path(key)
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            from safetensors.torch import save_file

            path.parent.mkdir(parents=True, exist_ok=True)
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata={"key": key})
            os.replace(tmp, path)  # readers see the old file or the new one, never half of one
        except Exception:  # a read-only or full disk: the cache is an optimisation, not a must
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return
        with self._lock:
            self._writes += 1
            due = self._writes % self.PRUNE_EVERY == 1
        if due:
            self.prune()

    def prune(self) -> None:
        """Keep the ``max_files`` most recently written entries."""
        folder = self.folder()
        try:
            files = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime) if folder else []
            for p in files[: max(0, len(files) - self.max_files)]:
                p.unlink(missing_ok=True)
        except OSError:
            pass

    def clear(self) -> None:
        folder = self.folder()
        if folder is not None and folder.is_dir():
            for p in folder.glob("*.safetensors"):
                p.unlink(missing_ok=True)
        self.hits = self.misses = 0
