"""The building blocks of optimisation-based transfer: Gram targets, content, TV.

Each style layer's loss is normalised by its target's size, so no layer dominates and the
same style weight works across layers, nets and image sizes.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch


def gram(feat: torch.Tensor, mask: torch.Tensor | None = None,
         box: tuple[slice, slice] | None = None) -> torch.Tensor:
    """Gram matrix of a 1xCxHxW feature map, normalised by the (masked) number of positions.

    ``box`` (rows, columns): only those cells count, ``mask`` then being the box's weights (a
    region's Gram over its bounding box: cells of weight 0 add nothing). Channels-last features
    (the bfloat16 loss nets') take :class:`_CellsGram`."""
    if feat.dim() == 4 and feat.shape[0] == 1 and feat.stride(1) == 1 and feat.shape[1] > 1:
        return _CellsGram.apply(feat, mask, box)
    if box is not None:
        feat = feat[(..., *box)]
    _, c, h, w = feat.shape
    f = feat.reshape(c, h * w)
    if mask is None:
        return f @ f.T / (h * w)
    m = mask.reshape(1, h * w)
    return (f * m) @ f.T / m.sum().clamp_min(1e-6)


class _CellsGram(torch.autograd.Function):
    """The Gram of channels-last features as cells x channels, with its own backward.

    Not the three lines above: flattening channels-last features to channels x cells copies them
    through a transpose, and autograd's gradient then comes back channels-first, which the
    bfloat16 convolutions' backward converts again; a box's slice came back as a channels-first
    zero tensor the size of the picture. Here the cells are a free view, the backward is one
    matrix product instead of two (the Gram is symmetric: dG/dx = x (dL + dL^T)), and the gradient
    is written channels-last."""

    @staticmethod
    def forward(ctx, feat, mask, box):  # type: ignore[override]
        rows, cols = box if box is not None else (slice(None), slice(None))
        cells = feat[0, :, rows, cols].permute(1, 2, 0)  # h x w x c, rows of contiguous cells
        h, w, c = cells.shape
        x = cells.reshape(h * w, c)  # a view for a full picture; a box copies its rows
        if mask is None:
            n = float(h * w)
            g = x.T @ x / n
            weight = None
        else:
            weight = mask.reshape(h * w, 1).to(x.dtype)
            n = float(weight.sum().clamp_min(1e-6))
            g = x.T @ (x * weight) / n
        ctx.save_for_backward(x, weight)
        ctx.geometry = (tuple(feat.shape), feat.dtype, rows, cols, h, w, n)
        return g

    @staticmethod
    def backward(ctx, dg):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        shape, dtype, rows, cols, h, w, n = ctx.geometry
        dx = x @ ((dg + dg.T) / n)
        if weight is not None:
            dx.mul_(weight)
        grad = dx.view(1, h, w, -1).permute(0, 3, 1, 2)  # channels-last as it stands
        if tuple(grad.shape) == shape:
            return grad, None, None
        out = torch.empty(shape, dtype=dtype, device=dx.device, memory_format=torch.channels_last).zero_()
        out[..., rows, cols] = grad
        return out, None, None


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
