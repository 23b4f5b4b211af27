"""The building blocks of optimisation-based transfer: Gram targets, content, TV.

Each style layer's loss is normalised by its target's size, so no layer dominates and the
same style weight works across layers, nets and image sizes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch


def gram(feat: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Gram matrix of a 1xCxHxW feature map, normalised by the (masked) number of positions."""
    _, c, h, w = feat.shape
    f = feat.reshape(c, h * w)
    if mask is None:
        return f @ f.T / (h * w)
    m = mask.reshape(1, h * w)
    return (f * m) @ f.T / m.sum().clamp_min(1e-6)


def gram_loss(g: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (g - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def content_loss(feat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (feat - target).pow(2).mean() / target.pow(2).mean().clamp_min(1e-12)


def tv_loss(img: torch.Tensor) -> torch.Tensor:
    """Smoothness: mean squared difference of neighbouring pixels."""
    dx = img[..., :, 1:] - img[..., :, :-1]
    dy = img[..., 1:, :] - img[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


def blended_grams(
    per_style: Sequence[Mapping[str, torch.Tensor]], weights: Sequence[float]
) -> dict[str, torch.Tensor]:
    """Several styles' Gram targets blended by their (normalised) weights."""
    total = float(sum(weights))
    if total <= 0:
        weights, total = [1.0] * len(per_style), float(len(per_style))
    layers = per_style[0].keys()
    return {l: sum((w / total) * g[l] for g, w in zip(per_style, weights)) for l in layers}


def style_grams(net, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        feats = net(image, layers)
    return {l: gram(feats[l]) for l in layers}
