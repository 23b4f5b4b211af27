"""What the optimiser changes: the pixels, a pyramid of offsets over the content, or a light network.

CLIP's gradient on raw pixels is mostly high-frequency: optimising pixels directly finds
adversarial speckle that CLIP reads as the prompt long before it paints strokes (the reason
CLIPstyler puts a network in between). A Laplacian-style pyramid of offsets, each level a
coarser grid upsampled to the image, lets Adam move large areas as easily as single pixels, so
colour and shape changes come first and speckle is one level among several. The network is
CLIPstyler's own choice: a small U-Net over the content, whose convolutional prior favours
textures that repeat over the picture.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: the coarsest pyramid level is at least this many pixels on its short side
_COARSEST_PX = 8
_MAX_LEVELS = 6


class Canvas:
    """Trainable parameters and the image (1x3xHxW, in [0, 1]) they make."""

    #: Adam's step size relative to the strategy's ``lr`` (a network's weights need far smaller steps)
    lr_scale: float = 1.0

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


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, padding_mode="reflect"), nn.InstanceNorm2d(cout, affine=True),
                         nn.LeakyReLU(0.2))


class StyleNet(nn.Module):
    """A light U-Net (widths 16-32-64) predicting an offset to add to the content."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.enc1, self.enc2, self.enc3 = _block(3, w), _block(w, 2 * w, 2), _block(2 * w, 4 * w, 2)
        self.mid = _block(4 * w, 4 * w)
        self.dec2, self.dec1 = _block(4 * w + 2 * w, 2 * w), _block(2 * w + w, w)
        self.head = nn.Conv2d(w, 3, 1)
        # Small initial offsets: the output starts near the content but not exactly on it, where
        # every image direction would be zero.
        nn.init.normal_(self.head.weight, std=1e-2)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        m = self.mid(self.enc3(e2))
        d2 = self.dec2(torch.cat([F.interpolate(m, size=e2.shape[-2:], mode="bilinear", align_corners=False), e2], 1))
        d1 = self.dec1(torch.cat([F.interpolate(d2, size=e1.shape[-2:], mode="bilinear", align_corners=False), e1], 1))
        return self.head(d1)


class NetworkCanvas(Canvas):
    """content + StyleNet(content): CLIPstyler's light network, trained for this one picture."""

    lr_scale = 0.025  # 5e-4 at the default lr, CLIPstyler's step size

    def __init__(self, content: torch.Tensor, generator: torch.Generator) -> None:
        self.content = content.detach()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            self.net = StyleNet().to(content.device)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.net.parameters())

    def image(self) -> torch.Tensor:
        return (self.content + self.net(self.content)).clamp(0, 1)


def make_canvas(kind: str, content: torch.Tensor, noise: torch.Tensor, generator: torch.Generator | None = None) -> Canvas:
    """The canvas ``kind`` ("pyramid", "pixels" or "network"), starting near ``content + noise``."""
    if kind == "network":
        return NetworkCanvas(content, generator or torch.Generator().manual_seed(0))
    if kind == "pixels":
        return PixelCanvas(content + noise)
    if kind == "pyramid":
        return PyramidCanvas(content, noise)
    raise ValueError(f"unknown canvas '{kind}'")
