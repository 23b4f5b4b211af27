"""Per-level style statistics, computed once per (level, device, image hash and size).

Moving alpha, the depth or a style weight, or painting a region, never re-encodes a style:
each of its levels is an encoder pass plus an ``eigh``, most of a cold run's time. They are also
kept on disk (engine.featurecache.DiskStore), keyed by the scaled style's pixel hash, the level,
the precision and the encoder's sha256, so a new process (a second ``brushwork render``, the
editor opened again) with the same style and size skips its encoding too.
"""

from __future__ import annotations

import functools
from typing import Callable

import torch

from engine.featurecache import DiskStore, LruCache, image_key

from .wct import Colouring


class StyleLevelCache(LruCache[Colouring]):
    """Colourings (mean and covariance root) of encoded styles, least recently used first out.

    Thread-safe: the editor's live worker and an export may share it.
    """

    def __init__(self, capacity: int = 128, disk: DiskStore | None = None) -> None:
        super().__init__(capacity)
        self.disk = disk

    def get(self, level: int, image: str, device: torch.device, compute: Callable[[], Colouring]) -> Colouring:
        """``compute()``'s colouring at ``level`` of the image whose :func:`image_key` is ``image``
        (hashed once per run by the caller, not once per level), from memory, else from disk."""
        return self.lookup((level, str(device), image), lambda: self._from_disk(level, image, device, compute))

    def _from_disk(self, level: int, image: str, device: torch.device, compute: Callable[[], Colouring]) -> Colouring:
        if self.disk is None:
            return compute()
        key = f"universal/{level}/{device.type}/{encoder_sha(level)}/{image}"
        found = self.disk.get(key)
        if found is not None and {"mean", "root", "std"} <= found.keys():
            return Colouring(found["mean"], found["root"], found["std"])
        colouring = compute()
        self.disk.put(key, {"mean": colouring.mean, "root": colouring.root, "std": colouring.std})
        return colouring


@functools.cache
def encoder_sha(level: int) -> str:
    """The manifest's sha256 of encoder ``level`` (other weights, other statistics)."""
    from engine import weights

    entry = weights.load_manifest().get(f"distilled16x/encoder{level}")
    return entry.sha256[:16] if entry is not None and entry.sha256 else "unknown"


#: the process-wide cache the strategy uses, backed by the disk
style_levels = StyleLevelCache(disk=DiskStore("universal-styles"))


class ScaledStyles(LruCache[tuple[torch.Tensor, str]]):
    """Style images resized for an output size and stroke scale, with their hash: a live edit
    would otherwise resize and hash every style again (~10 ms a render at 512 px)."""

    def get(self, image: torch.Tensor, out_hw: tuple[int, int], scale: float,
            prepare: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, str]:
        def compute() -> tuple[torch.Tensor, str]:
            img = prepare()
            return img, image_key(img)

        return self.lookup((image_key(image), tuple(out_hw), float(scale)), compute)


scaled_styles = ScaledStyles(32)
