"""Region masks as strategies see them: resized, feathered, normalised, and bad masks refused."""

from __future__ import annotations

import warnings

import pytest
import torch

from engine.errors import InputError
from engine.job import Region, StyleJob, StyleSource
from engine.regions import feather, region_masks

STYLE = StyleSource(image=torch.rand(1, 3, 32, 32))


def job_with(*regions: Region, size: int | None = None, content_hw=(60, 90)) -> StyleJob:
    return StyleJob(content=torch.rand(1, 3, *content_hw), strategy="masked", params=None, regions=regions, size=size)


def halves(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1
    return left, 1 - left


def test_weights_and_gap_sum_to_one_with_overlap_and_gap():
    h, w = 60, 90
    a = torch.zeros(h, w)
    a[:, :60] = 1  # columns 0..59
    b = torch.zeros(h, w)
    b[:, 30:70] = 1  # overlaps a on 30..59, leaves 70..89 uncovered
    rm = region_masks(job_with(Region(a, STYLE), Region(b, STYLE)))
    total = rm.weights.sum(0) + rm.gap
    assert torch.allclose(total, torch.ones(h, w), atol=1e-5)
    # Overlap is shared evenly, each region alone owns its side, the uncovered strip is the gap.
    assert torch.allclose(rm.weights[:, :, 45], torch.full((2, h), 0.5))
    assert rm.weights[0, :, 10].min() == 1 and rm.weights[1, :, 65].min() == 1
    assert rm.gap[:, 80].min() == 1 and rm.gap[:, :70].max() == 0


def test_masks_follow_the_output_size_not_the_mask_file_size():
    left, _ = halves(120, 180)  # mask at twice the content's resolution
    rm = region_masks(job_with(Region(left, STYLE), size=45))
    assert tuple(rm.weights.shape[-2:]) == (30, 45)
    assert rm.weights[0, :, :20].min() > 0.99 and rm.weights[0, :, 25:].max() < 0.01


def test_feather_makes_a_soft_band_of_about_the_radius():
    left, _ = halves(60, 90)
    hard = region_masks(job_with(Region(left, STYLE))).weights[0, 30]
    soft = region_masks(job_with(Region(left, STYLE, feather=8.0))).weights[0, 30]
    in_between = lambda row: int(((row > 0.02) & (row < 0.98)).sum())
    assert in_between(hard) == 0
    assert 4 <= in_between(soft) <= 16
    assert torch.all(soft[1:] <= soft[:-1] + 1e-6)  # monotone: no ringing


def test_strength_scales_a_region_and_hands_the_rest_to_the_gap():
    left, _ = halves(60, 90)
    rm = region_masks(job_with(Region(left, STYLE, strength=0.25)))
    assert rm.weights[0, :, :40].mean().item() == pytest.approx(0.25)
    assert rm.gap[:, :40].mean().item() == pytest.approx(0.75)


@pytest.mark.parametrize(
    "mask, message",
    [
        (torch.zeros(60, 90), "empty"),
        (torch.full((60, 90), float("nan")), "NaN"),
        (torch.full((60, 90), 2.0), r"\[0, 1\]"),
        (torch.ones(90, 60), "aspect"),
    ],
)
def test_bad_masks_are_refused_with_a_clear_error(mask, message):
    with pytest.raises(InputError, match=message):
        region_masks(job_with(Region(mask, STYLE, name="sky")))


def test_mask_mode_errors_name_the_region():
    with pytest.raises(InputError, match="sky.*2-D"):
        Region(torch.ones(3, 60, 90), STYLE, name="sky")
    with pytest.raises(InputError, match="sky.*floats"):
        Region(torch.ones(60, 90, dtype=torch.uint8), STYLE, name="sky")


def test_a_mask_covering_almost_nothing_warns():
    m = torch.zeros(600, 900)
    m[0, 0] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        region_masks(job_with(Region(m, STYLE, name="speck"), content_hw=(600, 900)))
    assert any("speck" in str(w.message) and "almost nothing" in str(w.message) for w in caught)


def test_feather_keeps_a_constant_mask_constant():
    m = torch.full((40, 40), 0.7)
    assert torch.allclose(feather(m, 6.0), m, atol=1e-6)
