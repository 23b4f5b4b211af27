"""Regions as the strategies see them: masks resized to the job, feathered, normalised.

Overlapping regions share pixels in proportion to their masks (weights normalised per
pixel); pixels no region covers are the *gap*, which keeps the content or takes the job's
global style (``StyleJob.gaps``).
"""

from __future__ import annotations

import math
import threading
import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import InputError
from .job import Region, StyleJob


@dataclass(frozen=True, eq=False)
class RegionMasks:
    """Per-pixel weights at one resolution: ``weights`` KxHxW for the K regions, ``gap`` HxW.

    For each pixel, sum(weights) + gap == 1.
    """

    weights: torch.Tensor
    gap: torch.Tensor
    regions: tuple[Region, ...]


def feather(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """Gaussian blur with sigma = radius / 2, so edges blend over about ``radius`` pixels."""
    if radius <= 0:
        return mask
    sigma = radius / 2
    k = int(2 * round(3 * sigma) + 1)
    x = torch.arange(k, dtype=mask.dtype) - k // 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = (g / g.sum()).to(mask)
    m = mask[None, None]
    pad = k // 2
    m = F.conv2d(F.pad(m, (pad, pad, 0, 0), mode="replicate"), g.view(1, 1, 1, k))
    m = F.conv2d(F.pad(m, (0, 0, pad, pad), mode="replicate"), g.view(1, 1, k, 1))
    return m[0, 0].clamp(0, 1)


# A mask resized and feathered for one size, kept while the mask tensor lives and is unchanged
# (its version counter): live mode sends the same tensor for a region its edit did not touch
# (editor.document keeps them), and a render asks for every level's size of every mask.
# Keyed by the tensor's id (tensors compare by value), dropped when the tensor is collected.
_shaped: dict[int, dict] = {}
_shaped_lock = threading.Lock()


def _forget(key: int) -> None:
    with _shaped_lock:
        _shaped.pop(key, None)


def _remembered(mask: torch.Tensor, key: tuple, make):
    key = (mask._version, *key)
    with _shaped_lock:
        known = _shaped.get(id(mask))
        if known is not None and key in known:
            return known[key]
    value = make()
    with _shaped_lock:
        known = _shaped.get(id(mask))
        if known is None:
            known = _shaped[id(mask)] = {}
            weakref.finalize(mask, _forget, id(mask))
        if len(known) > 16:  # another version's sizes: not needed again
            known.clear()
        known[key] = value
    return value


def shaped_mask(mask: torch.Tensor, hw: tuple[int, int], radius: float) -> torch.Tensor:
    """``mask`` resized to ``hw`` and feathered by ``radius`` px (kept: see _shaped). Never modify it."""
    return _remembered(mask, (tuple(hw), float(radius)), lambda: feather(resize_mask(mask, hw), radius))


def check_mask(region: Region, content_hw: tuple[int, int]) -> None:
    """Clear errors for masks a user could not have meant (a mask found sound once is not measured again)."""
    _remembered(region.mask, ("checked", tuple(content_hw), region.name), lambda: _check_mask(region, content_hw))


def _check_mask(region: Region, content_hw: tuple[int, int]) -> bool:
    m = region.mask
    name = region.name or "unnamed"
    # aminmax in one pass (a NaN makes both NaN, an infinity the max or min; the sum is the mean's):
    # checked on every job, and live mode makes one per edit
    lo, hi = (float(v) for v in torch.aminmax(m))
    total = float(m.sum())
    if not (math.isfinite(lo) and math.isfinite(hi) and math.isfinite(total)):
        raise InputError(f"Region '{name}': the mask holds NaN or infinite values.")
    if lo < 0 or hi > 1:
        raise InputError(f"Region '{name}': mask values must be in [0, 1], got {lo:.3g}..{hi:.3g}.")
    if hi <= 0:
        raise InputError(f"Region '{name}': the mask is empty (all zero); paint some of the region or remove it.")
    mh, mw = m.shape
    ch, cw = content_hw
    if abs(mh / mw - ch / cw) > 0.02 * (ch / cw):
        raise InputError(
            f"Region '{name}': the mask is {mw}x{mh} but the content is {cw}x{ch}; their aspect ratios differ, "
            "so the mask would not line up. Use a mask made for this image."
        )
    mean = total / m.numel()
    if mean < 1e-4:
        warnings.warn(f"Region '{name}' covers almost nothing ({100 * mean:.3f}% of the image).", stacklevel=3)
    return True


def resize_mask(mask: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    if tuple(mask.shape) == tuple(hw):
        return mask.float()
    shrinking = hw[0] < mask.shape[0]
    return F.interpolate(mask[None, None].float(), size=hw, mode="bilinear", align_corners=False,
                         antialias=shrinking)[0, 0].clamp(0, 1)


def bounding_box(mask: torch.Tensor) -> tuple[slice, slice] | None:
    """The rows and columns of an HxW mask's nonzero cells, or None when it has none: a region's
    statistics are taken inside its box only (cells of weight 0 add nothing to them)."""
    rows = torch.nonzero(mask.amax(1) > 0)
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.amax(0) > 0)
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def region_masks(job: StyleJob, hw: tuple[int, int] | None = None) -> RegionMasks:
    """The job's regions as normalised weights at ``hw`` (default: the output size)."""
    hw = hw or job.output_hw
    content_hw = tuple(job.content.shape[-2:])
    if not job.regions:
        return RegionMasks(torch.zeros(0, *hw), torch.ones(hw), ())
    scale = max(hw) / max(job.output_hw)
    layers = []
    for r in job.regions:
        check_mask(r, content_hw)  # type: ignore[arg-type]
        layers.append(shaped_mask(r.mask, hw, r.feather * scale) * r.strength)
    stack = torch.stack(layers)
    cover = stack.sum(0)
    # Overlaps: share the pixel in proportion; where total cover exceeds 1 normalise it to 1.
    weights = stack / cover.clamp_min(1.0)
    gap = (1 - weights.sum(0)).clamp(0, 1)
    return RegionMasks(weights, gap, job.regions)


def outside_regions(job: StyleJob, hw: tuple[int, int]) -> torch.Tensor | None:
    """HxW: how much of each pixel is the photo's own.

    With ``gaps="content"``, 1 outside every region, 0 inside, soft across each region's
    feather. A region of strength 0 keeps the photo (``--auto-region people=keep``), with either
    ``gaps``: where it overlaps styled regions it takes its share of the pixel, as overlapping
    regions share one. None when the job keeps no photo. Any other strength is left out: it says
    how strongly the style applies inside the region, which each strategy honours itself (a
    half-strength region is not half photo pixels on top of that). Strategies already skip a
    region whose weights are all 0, so a kept region costs no style work.
    """
    kept = any(r.strength == 0 for r in job.regions)
    if not job.regions or (job.gaps != "content" and not kept):
        return None
    scale = max(hw) / max(job.output_hw)
    styled, keeps = torch.zeros(hw), torch.zeros(hw)
    for r in job.regions:
        (keeps if r.strength == 0 else styled).add_(shaped_mask(r.mask, hw, r.feather * scale))
    share = (styled + keeps).clamp_min(1.0)
    if job.gaps == "content":
        return (1 - styled / share).clamp(0, 1)
    return (keeps / share).clamp(0, 1)


def keep_photo(job: StyleJob, image: torch.Tensor) -> torch.Tensor:
    """``image`` (1x3xHxW) with the photo's own pixels wherever the job keeps the photo.

    One place for every strategy: those that decode features (AdaIN, universal) would
    otherwise give a soft, colour-shifted reconstruction of the photo there.
    """
    hw = tuple(image.shape[-2:])
    keep = outside_regions(job, hw)  # type: ignore[arg-type]
    if keep is None or not bool(keep.any()):  # regions that cover the whole picture keep nothing
        return image
    from .featurecache import photo_at

    photo = photo_at(job.content, hw).to(image)  # type: ignore[arg-type]
    return torch.lerp(image, photo, keep.to(image)[None, None])
