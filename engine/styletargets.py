"""Turning a job's style images into Gram targets at a given output size."""

from __future__ import annotations

from typing import Sequence

import torch

from .colour import match_histogram
from .features import FeatureNet
from .images import scale_style
from .job import StyleJob, StyleSource
from .losses import blended_grams, style_grams
from .optimise import StyleTerm, TermsAt


def prepare_style(style: torch.Tensor, out_hw: tuple[int, int], scale: float, colour: str,
                  content: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """Scale a style image to the output; in 'histogram' mode recolour it with the content's colours first."""
    s = scale_style(style, out_hw, scale).to(device)
    if colour == "histogram" and content is not None:
        s = match_histogram(s, content.to(device))
    return s


def blended_targets(net: FeatureNet, styles: Sequence[StyleSource], layers: Sequence[str],
                    out_hw: tuple[int, int], scale: float, colour: str, content: torch.Tensor | None,
                    device: torch.device) -> dict[str, torch.Tensor]:
    """Gram targets of several image styles, blended by their weights."""
    per_style = [
        style_grams(net, prepare_style(s.image, out_hw, scale, colour, content, device), layers) for s in styles
    ]
    return blended_grams(per_style, [s.weight for s in styles])


def whole_picture_terms(job: StyleJob, scale: float, colour: str) -> TermsAt:
    """One style term over the whole picture: the job's style images' Gram targets, blended by weight."""
    def terms_at(net: FeatureNet, layers, hw: tuple[int, int], content: torch.Tensor) -> list[StyleTerm]:
        return [StyleTerm(blended_targets(net, job.image_styles(), layers, hw, scale, colour, content, content.device))]
    return terms_at
