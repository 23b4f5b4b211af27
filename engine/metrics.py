"""The figures shown to users and asserted in tests and benches.

``style_distance``: mean over relu1_1..relu5_1 of the relative Gram distance to the style
(0 = same texture statistics). ``content_distance``: relative relu3_3 distance to the content
(VGG16). Both on VGG16, whatever loss network made the image, so figures compare.
"""

from __future__ import annotations

from typing import Sequence

import torch

from . import features
from .images import resize
from .losses import gram

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu3_3"
#: metrics are measured at most this size (long edge) to stay cheap on the CPU
METRIC_EDGE = 512


def _fit(t: torch.Tensor) -> torch.Tensor:
    h, w = t.shape[-2:]
    s = METRIC_EDGE / max(h, w)
    return resize(t, (round(h * s), round(w * s))) if s < 1 else t


@torch.no_grad()
def style_distance(image: torch.Tensor, styles: Sequence[torch.Tensor], weights: Sequence[float] | None = None,
                   mask: torch.Tensor | None = None, net_name: str = "vgg16") -> float:
    """Relative Gram distance of ``image`` (optionally only under ``mask``, HxW) to blended style Grams."""
    net = features.get(net_name, image.device)
    weights = list(weights or [1.0] * len(styles))
    total = sum(weights)
    img = _fit(image)
    feats = net(img, STYLE_LAYERS)
    targets = [net(_fit(s.to(image.device)), STYLE_LAYERS) for s in styles]
    d = 0.0
    for l in STYLE_LAYERS:
        m = None
        if mask is not None:
            m = torch.nn.functional.interpolate(mask[None, None].float(), size=feats[l].shape[-2:], mode="bilinear")
        g = gram(feats[l], m)
        t = sum((w / total) * gram(tf[l]) for tf, w in zip(targets, weights))
        d += ((g - t).norm() / t.norm()).item()
    return d / len(STYLE_LAYERS)


@torch.no_grad()
def content_distance(image: torch.Tensor, content: torch.Tensor, net_name: str = "vgg16") -> float:
    net = features.get(net_name, image.device)
    img = _fit(image)
    ref = resize(content.to(image.device), tuple(img.shape[-2:]))
    a, b = net(img, [CONTENT_LAYER])[CONTENT_LAYER], net(ref, [CONTENT_LAYER])[CONTENT_LAYER]
    return ((a - b).norm() / b.norm()).item()


def figures(image: torch.Tensor, content: torch.Tensor, styles: Sequence[torch.Tensor],
            weights: Sequence[float] | None = None) -> dict[str, float]:
    out = {"content_distance": content_distance(image, content)}
    if styles:
        out["style_distance"] = style_distance(image, styles, weights)
    return out


@torch.no_grad()
def colour_distance(image: torch.Tensor, reference: torch.Tensor, projections: int = 64, quantiles: int = 256) -> float:
    """Sliced Wasserstein distance between the RGB pixel distributions of two pictures (any sizes).

    Pixels are projected on fixed random directions (seeded: figures repeat) and each projection's
    quantiles compared; 0 = the same palette in the same proportions. "Gap closed" figures divide
    (photo -> painting) minus (output -> painting) by (photo -> painting).
    """
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(3, projections, generator=g, dtype=torch.float64)
    dirs /= dirs.norm(dim=0, keepdim=True)
    q = torch.linspace(0, 1, quantiles, dtype=torch.float64)

    def profile(x: torch.Tensor) -> torch.Tensor:
        px = x[0].detach().double().cpu().reshape(3, -1).T @ dirs
        s = px.sort(0).values
        idx = (q * (s.shape[0] - 1)).round().long()
        return s[idx]

    return float((profile(image) - profile(reference)).pow(2).mean().sqrt())
