"""'Outside regions: keep the photo' keeps the photo's own pixels, for every strategy and size.

A centred rectangle region at 512 px; away from its edge and feather band the result must be
the photo (mean absolute error at most 0.005), in a single pass, its preview and a tiled print.
"""

from __future__ import annotations

import pytest
import torch

from engine import params
from engine.export import ExportOptions, export
from engine.images import load_image, resize
from engine.job import Region, StyleJob, StyleSource
from engine.registry import strategies
from engine.regions import keep_photo, outside_regions
from engine.runner import run_job
from engine.strategy import Progress

FEATHER = 8


def rectangle(content: torch.Tensor) -> torch.Tensor:
    h, w = content.shape[-2:]
    m = torch.zeros(h, w)
    m[h // 4:3 * h // 4, w // 4:3 * w // 4] = 1
    return m


def region_job(content, style, strategy: str, size: int, **values) -> StyleJob:
    cls = strategies.get(strategy)
    return StyleJob(content=content, strategy=strategy, params=params.make(cls.Params, values),
                    regions=(Region(mask=rectangle(content), style=StyleSource(image=style), feather=FEATHER),),
                    size=size, gaps="content")


def far_outside(hw: tuple[int, int], band: int) -> torch.Tensor:
    """Pixels further than ``band`` px outside the centred rectangle."""
    h, w = hw
    inside = torch.zeros(h, w, dtype=torch.bool)
    inside[max(0, h // 4 - band):3 * h // 4 + band, max(0, w // 4 - band):3 * w // 4 + band] = True
    return ~inside


def error_outside(image: torch.Tensor, content: torch.Tensor) -> float:
    hw = tuple(image.shape[-2:])
    photo = resize(content, hw)
    out = far_outside(hw, 2 * FEATHER + 4)
    return float((image - photo).abs().mean(1)[0][out].mean())


def error_inside(image: torch.Tensor, content: torch.Tensor) -> float:
    h, w = image.shape[-2:]
    photo = resize(content, (h, w))
    return float((image - photo).abs()[..., h // 3:2 * h // 3, w // 3:2 * w // 3].mean())


def test_outside_regions_is_one_outside_zero_inside_soft_between(content, style):
    job = region_job(content, style, "adain", 512)
    keep = outside_regions(job, job.output_hw)
    h, w = job.output_hw
    assert float(keep[5, 5]) == pytest.approx(1) and float(keep[h // 2, w // 2]) == pytest.approx(0, abs=1e-5)
    edge = keep[h // 2, w // 4 - FEATHER:w // 4 + FEATHER]
    assert 0.05 < float(edge.mean()) < 0.95  # the feather blends the two
    assert outside_regions(job.with_(gaps="global"), job.output_hw) is None


@pytest.mark.parametrize("strategy, values", [
    ("adain", {}),
    ("masked", {"net": "distilled16x", "start_size": 128, "coarse_steps": 8, "fine_steps": 4}),
])
def test_the_photo_is_kept_outside_the_region(content, style, strategy, values):
    events = []
    job = region_job(content, style, strategy, 512, **values)
    result = run_job(job, on_event=events.append)
    assert error_outside(result.image, content) <= 0.005
    assert error_inside(result.image, content) > 0.05  # and the region is styled
    previews = [e.preview for e in events if isinstance(e, Progress) and e.preview is not None]
    assert previews and all(error_outside(p, content) <= 0.01 for p in previews)


def test_a_tiled_print_keeps_the_photo_outside_the_region(content, style, tmp_path):
    job = region_job(content, style, "adain", 512)
    report = export(job, tmp_path / "print.png", ExportOptions(tile=160, overlap=32, tiled=True))
    assert report.tiles > 1
    printed = load_image(tmp_path / "print.png")
    assert error_outside(printed, content) <= 0.005
    assert error_inside(printed, content) > 0.05


def test_keep_photo_leaves_jobs_without_regions_alone(content, style):
    cls = strategies.get("adain")
    job = StyleJob(content=content, strategy="adain", params=params.make(cls.Params, {}),
                   styles=(StyleSource(image=style),), size=128)
    image = torch.rand(1, 3, *job.output_hw)
    assert keep_photo(job, image) is image
