"""CLIPstyler's losses (Kwon & Ye 2022): directional CLIP losses, global and patch-wise.

A *direction* compares two embeddings: the text direction goes from the source prompt ("a
photo") to the target prompt; the image direction from the content to the output. Aligning
the two moves the picture towards the prompt by what distinguishes it from a plain photo,
instead of pasting the prompt's words or objects into the picture (what maximising plain
CLIP similarity does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .model import ClipModel


def text_direction(clip: ClipModel, target: str, source: str) -> torch.Tensor:
    """Unit vector (1xD) from the source prompt's embedding to the target prompt's."""
    return F.normalize(clip.encode_prompt(target) - clip.encode_prompt(source), dim=-1)


def directional_loss(out_emb: torch.Tensor, ref_emb: torch.Tensor, text_dir: torch.Tensor) -> torch.Tensor:
    """Per-row 1 - cos(image direction, text direction); image direction = out - ref."""
    img_dir = F.normalize(out_emb - ref_emb, dim=-1, eps=1e-8)
    return 1 - (img_dir * text_dir).sum(-1)


def thresholded_mean(losses: torch.Tensor, weights: torch.Tensor, threshold: float) -> torch.Tensor:
    """Weighted mean of per-patch losses after dropping the easy ones (loss below ``threshold``).

    CLIPstyler's rejection: patches that already read as the prompt stop pulling, so the
    optimisation spends itself on the patches that do not (and does not over-stylise a few).
    """
    kept = torch.where(losses >= threshold, losses, torch.zeros_like(losses))
    return (kept * weights).sum() / weights.sum().clamp_min(1e-8)


@dataclass(frozen=True, eq=False)
class Crops:
    """N affine sampling grids (NxSxSx2, for F.grid_sample) and how much of each lies in the mask."""

    grids: torch.Tensor
    coverage: torch.Tensor

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        """The N crops of a 1x3xHxW image, each SxS."""
        return F.grid_sample(image.expand(self.grids.shape[0], -1, -1, -1), self.grids, mode="bilinear",
                             padding_mode="reflection", align_corners=False)


def sample_crops(mask: torch.Tensor | None, hw: tuple[int, int], n: int, crop_px: int, out_px: tuple[int, int],
                 generator: torch.Generator, jitter: float = 0.15, device: torch.device | str = "cpu") -> Crops:
    """``n`` square crops of about ``crop_px`` pixels, centred where ``mask`` (HxW weights) is on.

    Centres are drawn in proportion to the mask, so a region's prompt is scored only on
    patches of that region; each crop gets a random scale, rotation and shear (CLIPstyler's
    perspective augmentation, which keeps CLIP from being fooled by pixel-level patterns).
    """
    h, w = hw
    if mask is None:
        mask = torch.ones(hw)
    mask = mask.detach().float().cpu()
    probs = mask.flatten().clamp_min(0)
    if probs.sum() <= 0:
        raise ValueError("sample_crops: the mask is empty")
    idx = torch.multinomial(probs, n, replacement=True, generator=generator)
    cy = (idx // w).float() + 0.5
    cx = (idx % w).float() + 0.5

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=generator)

    size = crop_px * uniform(1 - jitter, 1 + jitter)
    angle = uniform(-math.pi / 12, math.pi / 12) * (jitter / 0.15 if jitter > 0 else 0)
    shear = uniform(-jitter, jitter)
    # Normalised coordinates ([-1, 1] across each side): half-extent of the crop per axis.
    sx, sy = size / w, size / h
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = sx * cos
    theta[:, 0, 1] = sx * (-sin + shear)
    theta[:, 1, 0] = sy * sin
    theta[:, 1, 1] = sy * cos
    theta[:, 0, 2] = 2 * cx / w - 1
    theta[:, 1, 2] = 2 * cy / h - 1
    grids = F.affine_grid(theta, [n, 3, out_px[0], out_px[1]], align_corners=False)
    # Coverage: the mask sampled on each crop's grid exactly as the image will be (reflected at
    # the borders), averaged.
    cov = F.grid_sample(mask[None, None].expand(n, 1, h, w), grids, mode="bilinear", padding_mode="reflection",
                        align_corners=False).mean(dim=(1, 2, 3))
    return Crops(grids.to(device), cov.to(device))


def bounding_box(mask: torch.Tensor, level: float = 0.5, margin: float = 0.05) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) around where ``mask`` exceeds ``level``, with a small margin."""
    on = mask > level
    if not on.any():
        on = mask > 0
    h, w = mask.shape
    rows = torch.nonzero(on.any(1)).flatten()
    cols = torch.nonzero(on.any(0)).flatten()
    mh, mw = round(margin * h), round(margin * w)
    top, bottom = max(0, rows.min().item() - mh), min(h, rows.max().item() + 1 + mh)
    left, right = max(0, cols.min().item() - mw), min(w, cols.max().item() + 1 + mw)
    return int(top), int(bottom), int(left), int(right)
