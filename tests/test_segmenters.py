"""Segmenters on a real photo with real weights: scribbles against the hand-made sky mask,
clusters for stability and sense, and the CLI writing readable masks (or nothing on bad input)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.errors import InputError
from engine.images import load_image, load_mask, resize_long_edge
from engine.registry import segmenters

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
DATA = Path(__file__).resolve().parent / "data"
CITY = SAMPLES / "content_city_skyline.jpg"
SCRIBBLES = DATA / "city_skyline_scribbles.png"
REFERENCE_SKY = DATA / "city_skyline_sky.png"


pytestmark = pytest.mark.usefixtures("one_thread")


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a & b).sum()) / float((a | b).sum())


@pytest.fixture(scope="module")
def city_512() -> torch.Tensor:
    return resize_long_edge(load_image(CITY), 512)


@pytest.fixture(scope="module")
def reference_512(city_512) -> torch.Tensor:
    ref = load_mask(REFERENCE_SKY)[None, None]
    return torch.nn.functional.interpolate(ref, size=city_512.shape[-2:], mode="bilinear")[0, 0] > 0.5


def test_both_segmenters_are_registered_plugins():
    names = segmenters.names()
    assert "clusters" in names and "scribbles" in names
    assert segmenters.get("scribbles").inputs == ("scribbles",)


def test_scribbles_match_the_hand_made_sky_mask(city_512, reference_512):
    masks = segmenters.get("scribbles")().segment(city_512, {"scribbles": str(SCRIBBLES)})
    assert len(masks) == 2  # red (sky) first: it appears first scanning from the top
    assert torch.allclose(masks[0] + masks[1], torch.ones_like(masks[0]), atol=1e-4)
    sky, ground = masks[0] > 0.5, masks[1] > 0.5
    sky_iou, ground_iou = iou(sky, reference_512), iou(ground, ~reference_512)
    print(f"scribbles IoU: sky {sky_iou:.3f}, ground {ground_iou:.3f}")
    assert sky_iou >= 0.85 and ground_iou >= 0.85


def test_scribbles_accept_a_label_array_like_the_png(city_512):
    """The editor hands over painted labels, not a file: the same strokes give the same masks."""
    from plugins.segment_scribbles import labels_from_colours

    labels, colours = labels_from_colours(np.asarray(Image.open(SCRIBBLES).convert("RGBA")))
    assert colours == [(255, 0, 0), (0, 200, 0)]
    seg = segmenters.get("scribbles")()
    from_png = seg.segment(city_512, {"scribbles": str(SCRIBBLES), "steps": 10})
    from_array = seg.segment(city_512, {"scribbles": labels, "steps": 10})
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(from_png, from_array))


@pytest.mark.parametrize(
    "draw, message",
    [
        (lambda d: None, "marks nothing"),
        (lambda d: d.line([(10, 10), (200, 10)], fill=(255, 0, 0, 255), width=6), "at least two colours"),
    ],
)
def test_bad_scribbles_are_refused_and_nothing_is_written(tmp_path, draw, message, capsys):
    from PIL import ImageDraw

    im = Image.new("RGBA", (256, 166), (0, 0, 0, 0))
    draw(ImageDraw.Draw(im))
    path = tmp_path / "scribbles.png"
    im.save(path)
    out = tmp_path / "masks"
    assert main(["segment", str(CITY), "--method", "scribbles", "--scribbles", str(path), "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    with pytest.raises(InputError, match=message):
        segmenters.get("scribbles")().segment(resize_long_edge(load_image(CITY), 128), {"scribbles": str(path)})


def test_scribbles_for_another_image_shape_are_refused(tmp_path):
    from PIL import ImageDraw

    im = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.line([(10, 10), (190, 10)], fill=(255, 0, 0, 255), width=6)
    d.line([(10, 150), (190, 150)], fill=(0, 200, 0, 255), width=6)
    path = tmp_path / "square.png"
    im.save(path)
    with pytest.raises(InputError, match="paint them on this image"):
        segmenters.get("scribbles")().segment(resize_long_edge(load_image(CITY), 128), {"scribbles": str(path)})


@pytest.fixture(scope="module")
def clusters_city(city_512):
    return segmenters.get("clusters")().segment(city_512, {"n": 4})


def test_clusters_are_a_partition_of_sizeable_regions(clusters_city, city_512):
    assert 2 <= len(clusters_city) <= 4
    stack = torch.stack(clusters_city)
    assert stack.shape[-2:] == city_512.shape[-2:]
    assert torch.allclose(stack.sum(0), torch.ones(stack.shape[-2:]), atol=1e-4)
    hard = stack.argmax(0)
    for k in range(len(clusters_city)):
        assert (hard == k).float().mean() > 0.005  # islands were merged away: no speck regions


def test_clusters_find_the_sky(clusters_city, reference_512):
    """Sensible: on the skyline, the top region is the sky (regions are numbered top to bottom)."""
    best = max(iou(m > 0.5, reference_512) for m in clusters_city)
    print(f"clusters: best IoU with the sky {best:.3f}")
    assert iou(clusters_city[0] > 0.5, reference_512) == best
    assert best >= 0.8


def test_clusters_are_stable(clusters_city, city_512):
    """Same input, same regions; a different working size gives nearly the same regions."""
    seg = segmenters.get("clusters")()
    again = seg.segment(city_512, {"n": 4})
    assert all(torch.equal(a, b) for a, b in zip(clusters_city, again))
    other = seg.segment(city_512, {"n": 4, "size": 384})
    assert len(other) == len(clusters_city)
    sky_iou = iou(clusters_city[0] > 0.5, other[0] > 0.5)
    hard_a, hard_b = torch.stack(clusters_city).argmax(0), torch.stack(other).argmax(0)
    # Regions are matched by their best pairing: the numbering may differ, the split should not.
    agreement = max(float((hard_a == torch.tensor(perm)[hard_b]).float().mean())
                    for perm in itertools.permutations(range(len(other))))
    print(f"clusters: sky IoU {sky_iou:.3f} between working sizes 320 and 384")
    assert sky_iou > 0.9
    print(f"clusters: {100 * agreement:.1f}% of pixels keep their region at 320 vs 384 px")
    assert agreement > 0.7


def test_cli_segment_writes_readable_masks(tmp_path):
    small = tmp_path / "city.png"
    Image.open(CITY).convert("RGB").resize((256, 166)).save(small)
    out = tmp_path / "masks"
    assert main(["segment", str(small), "--method", "clusters", "-n", "3", "-o", str(out)]) == 0
    files = sorted(out.glob("region_*.png"))
    assert [f.name for f in files] == ["region_1.png", "region_2.png", "region_3.png"]
    arrays = [np.asarray(Image.open(f)) for f in files]
    assert all(a.shape == (166, 256) and a.dtype == np.uint8 for a in arrays)
    total = sum(a.astype(np.int32) for a in arrays)
    assert np.abs(total - 255).max() <= 3  # the masks still share every pixel after 8-bit rounding
    # and they load back as region masks
    assert load_mask(files[0]).shape == (166, 256)
