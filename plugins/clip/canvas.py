"""What the optimiser changes: the pixels themselves, or a pyramid of offsets over the content.

CLIP's gradient on raw pixels is mostly high-frequency: optimising pixels directly finds
adversarial speckle that CLIP reads as the prompt long before it paints strokes (the reason
CLIPstyler puts a network in between). A Laplacian-style pyramid of offsets, each level a
coarser grid upsampled to the image, lets Adam move large areas as easily as single pixels, so
colour and shape changes come first and speckle is one level among several.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: the coarsest pyramid level is at least this many pixels on its short side
_COARSEST_PX = 8
_MAX_LEVELS = 6


class Canvas:
    """Trainable parameters and the image (1x3xHxW, in [0, 1]) they make."""

    def parameters(self) -> list[torch.Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def image(self) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def after_step(self) -> None:
        """Keep parameters in range after an optimiser step (nothing by default)."""


class PixelCanvas(Canvas):
    """The pixels, clamped to [0, 1] after every step."""

    def __init__(self, start: torch.Tensor) -> None:
        self.x = start.detach().clone().clamp(0, 1).requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.x]

    def image(self) -> torch.Tensor:
        return self.x

    def after_step(self) -> None:
        with torch.no_grad():
            self.x.clamp_(0, 1)


class PyramidCanvas(Canvas):
    """content + sum of offsets at 1, 1/2, 1/4 ... resolution, each upsampled bilinearly."""

    def __init__(self, base: torch.Tensor, start_offset: torch.Tensor | None = None) -> None:
        self.base = base.detach()
        h, w = base.shape[-2:]
        n = max(1, min(_MAX_LEVELS, int(math.log2(max(1, min(h, w) // _COARSEST_PX))) + 1))
        self.size = (h, w)
        self.levels = [torch.zeros(1, 3, max(1, h >> i), max(1, w >> i), device=base.device) for i in range(n)]
        if start_offset is not None:
            self.levels[0] = start_offset.detach().clone().to(base.device)
        for level in self.levels:
            level.requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return self.levels

    def image(self) -> torch.Tensor:
        x = self.base + self.levels[0]
        for level in self.levels[1:]:
            x = x + F.interpolate(level, size=self.size, mode="bilinear", align_corners=False)
        return x.clamp(0, 1)


def make_canvas(kind: str, content: torch.Tensor, noise: torch.Tensor) -> Canvas:
    """The canvas ``kind`` ("pyramid" or "pixels"), starting at ``content + noise``."""
    if kind == "pixels":
        return PixelCanvas(content + noise)
    if kind == "pyramid":
        return PyramidCanvas(content, noise)
    raise ValueError(f"unknown canvas '{kind}'")
