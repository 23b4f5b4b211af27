"""Per-level style statistics, computed once per (level, device, image hash and size).

Moving alpha, the depth or a style weight, or painting a region, never re-encodes a style:
each of its levels is an encoder pass plus an ``eigh``, most of a cold run's time.
"""

from __future__ import annotations

from typing import Callable

import torch

from engine.featurecache import LruCache, image_key

from .wct import Colouring


class StyleLevelCache(LruCache[Colouring]):
    """Colourings (mean and covariance root) of encoded styles, least recently used first out.

    Thread-safe: the editor's live worker and an export may share it.
    """

    def __init__(self, capacity: int = 128) -> None:
        super().__init__(capacity)

    def get(self, level: int, image: str, device: torch.device, compute: Callable[[], Colouring]) -> Colouring:
        """``compute()``'s colouring at ``level`` of the image whose :func:`image_key` is ``image``
        (hashed once per run by the caller, not once per level)."""
        return self.lookup((level, str(device), image), compute)


#: the process-wide cache the strategy uses
style_levels = StyleLevelCache()


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
