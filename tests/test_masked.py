"""The masked strategy with real VGG16 weights: each region takes its own style and no other,
the two styles meet without a seam, and bad region jobs are refused before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import InputError
from engine.images import load_image, resize_long_edge
from engine.job import Region, StyleJob, StyleSource
from engine.metrics import style_distance
from engine.params import make
from engine.runner import run_job
from plugins.masked import MaskedParams

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "images" / "samples"
STYLE_A = SAMPLES / "style_hokusai_great_wave.jpg"
STYLE_B = SAMPLES / "style_turner_shipwreck_minotaur.jpg"
CONTENT = SAMPLES / "content_city_skyline.jpg"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def halves(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1
    return left, 1 - left


@pytest.fixture(scope="module")
def two_region_render():
    content = resize_long_edge(load_image(CONTENT), 192)
    a, b = load_image(STYLE_A), load_image(STYLE_B)
    h, w = content.shape[-2:]
    left, right = halves(h, w)
    params = make(MaskedParams, {"start_size": 128, "coarse_steps": 40, "fine_steps": 20})
    job = StyleJob(content=content, strategy="masked", params=params, device="cpu",
                   regions=(Region(left, StyleSource(image=a), name="left"),
                            Region(right, StyleSource(image=b), name="right")))
    result = run_job(job)
    return content, a, b, left, right, result


def test_each_half_takes_its_own_style_not_the_other(two_region_render):
    content, a, b, left, right, result = two_region_render
    out = result.image
    assert out.shape == content.shape
    own_left, other_left = style_distance(out, [a], mask=left), style_distance(out, [b], mask=left)
    own_right, other_right = style_distance(out, [b], mask=right), style_distance(out, [a], mask=right)
    print(f"left: own {own_left:.3f} other {other_left:.3f} ratio {other_left / own_left:.2f}; "
          f"right: own {own_right:.3f} other {other_right:.3f} ratio {other_right / own_right:.2f}")
    # Each half moved most of the way to its own style from where the photo started ...
    assert own_left < 0.5 * style_distance(content, [a], mask=left)
    assert own_right < 0.5 * style_distance(content, [b], mask=right)
    # ... and is clearly closer to its own style than to its neighbour's ...
    assert other_left / own_left > 1.5
    assert other_right / own_right > 1.15
    # ... as far from the neighbour's style as the own painting itself is (the metric's ceiling:
    # Turner's painting is only ~0.71 from Hokusai's Grams), so nothing leaked across.
    assert other_left > 0.9 * style_distance(a, [b])
    assert other_right > 0.9 * style_distance(b, [a])
    # The strategy reports the same per-region figure itself (within 0.2%).
    assert result.figures["style_distance[left]"] == pytest.approx(own_left, rel=2e-3)


def test_the_two_styles_meet_without_a_seam(two_region_render):
    content, _, _, _, _, result = two_region_render
    out = result.image
    w = out.shape[-1]
    dx = (out[..., :, 1:] - out[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # per column boundary
    c = w // 2 - 1  # the difference across the region edge
    at_edge = float(dx[c - 1 : c + 2].mean())
    band = torch.cat([dx[c - 12 : c - 1], dx[c + 2 : c + 13]])
    print(f"seam: edge {at_edge:.4f} vs band {float(band.mean()):.4f}")
    assert at_edge < 1.5 * float(band.mean())


def test_gaps_global_without_a_global_style_is_refused():
    content = torch.rand(1, 3, 48, 64)
    left, _ = halves(48, 64)
    job = StyleJob(content=content, strategy="masked", params=make(MaskedParams, {"coarse_steps": 1}), gaps="global",
                   regions=(Region(left, StyleSource(image=torch.rand(1, 3, 32, 32))),), device="cpu")
    with pytest.raises(InputError, match="global style"):
        run_job(job)


def test_text_regions_are_refused_by_the_masked_strategy():
    left, _ = halves(48, 64)
    job = StyleJob(content=torch.rand(1, 3, 48, 64), strategy="masked", params=make(MaskedParams), device="cpu",
                   regions=(Region(left, StyleSource(text="oil painting")),))
    with pytest.raises(InputError, match="takes image styles"):
        run_job(job)


def test_cli_render_with_regions_writes_the_image_and_keeps_the_content_gap(tmp_path):
    content = tmp_path / "content.png"
    Image.open(CONTENT).convert("RGB").resize((96, 62)).save(content)
    mask = np.zeros((62, 96), dtype=np.uint8)
    mask[:, :40] = 255  # the right 56 columns are a gap that keeps the content
    Image.fromarray(mask, "L").save(tmp_path / "left.png")
    out = tmp_path / "out.png"
    rc = main(["render", str(content), "--strategy", "masked", "--region", f"{tmp_path / 'left.png'}={STYLE_A}",
               "--set", "coarse_steps=15", "--set", "start_size=96", "--device", "cpu", "-q", "-o", str(out)])
    assert rc == 0
    got = np.asarray(Image.open(out).convert("RGB"), dtype=np.float32) / 255
    orig = np.asarray(Image.open(content).convert("RGB"), dtype=np.float32) / 255
    styled_change = np.abs(got[:, :32] - orig[:, :32]).mean()
    gap_change = np.abs(got[:, 64:] - orig[:, 64:]).mean()
    print(f"mean change: region {styled_change:.3f}, gap {gap_change:.3f}")
    assert styled_change > 2 * gap_change


def test_an_empty_region_mask_fails_in_the_cli_with_no_output(tmp_path, capsys):
    content = tmp_path / "content.png"
    Image.open(CONTENT).convert("RGB").resize((96, 62)).save(content)
    Image.fromarray(np.zeros((62, 96), dtype=np.uint8), "L").save(tmp_path / "empty.png")
    out = tmp_path / "out.png"
    rc = main(["render", str(content), "--strategy", "masked", "--region", f"{tmp_path / 'empty.png'}={STYLE_A}",
               "--device", "cpu", "-q", "-o", str(out)])
    assert rc == 2
    assert "empty" in capsys.readouterr().err
    assert not out.exists()
