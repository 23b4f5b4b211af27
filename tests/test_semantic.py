"""The semantic segmenter on real photos with the real ADE20K model: the groups a photo has,
soft photo-sized masks snapped to its edges, the group table, the cache, clear errors for a
missing or damaged model and a tiny photo, and ``brushwork segment --method semantic``.
Also the segmenter API's names and colours (Segment, pick_segment, file names)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import weights
from engine.cli import main
from engine.errors import InputError, WeightsError
from engine.images import load_image
from engine.params import make
from engine.registry import segmenters
from engine.segmenter import DEFAULT_COLOURS, Segment, Segmenter, pick_segment, safe_file_stem
from plugins.segment_semantic import reading, segmenter as semantic
from plugins.segment_semantic.groups import GROUPS, class_to_group
from plugins.segment_semantic.model import load_labels

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
CITY = ROOT / "resources" / "samples" / "content_city_skyline.jpg"
PALM_BEACH = SAMPLES / "content_landscape_palm_beach.jpg"
ASTRONAUT = SAMPLES / "content_portrait_astronaut.jpg"
GROUP_NAMES = ("sky", "buildings", "plants", "grass", "water", "mountains", "ground", "people", "animals",
               "vehicles", "interior", "other")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def seg() -> semantic.SemanticSegmenter:
    return segmenters.get("semantic")()


@pytest.fixture(scope="module")
def city(seg):
    image = load_image(CITY)
    return image, seg.groups(image)


@pytest.fixture(scope="module")
def palm_beach(seg):
    image = load_image(PALM_BEACH)
    return image, seg.groups(image)


@pytest.fixture(scope="module")
def astronaut(seg):
    image = load_image(ASTRONAUT)
    return image, seg.groups(image)


@pytest.fixture(scope="module")
def real_weights() -> dict[str, Path]:
    """Where each weight file present on this machine is (looked up before any test hides them)."""
    found = {name: weights.status(name) for name in weights.load_manifest()}
    return {name: path for name, (state, path) in found.items() if state == "present"}


@pytest.fixture
def no_weights(tmp_path, monkeypatch, real_weights):
    """Weights are looked for in an empty folder only; nothing read before is remembered."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setattr(weights, "search_dirs", lambda explicit=None: [Path(explicit)] if explicit else [d])
    monkeypatch.setattr(weights, "_verified", {})
    semantic.clear_cache()
    yield d
    semantic.clear_cache()


def link_all_but(folder: Path, real: dict[str, Path], *missing: str) -> None:
    """Fill ``folder`` with links to every weight file there is, except ``missing``."""
    for name, entry in weights.load_manifest().items():
        if name in real and name not in missing:
            (folder / entry.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / entry.path).symlink_to(real[name])


# ---------------------------------------------------------------- the group table
def test_semantic_is_a_registered_plugin():
    assert {"clusters", "scribbles", "semantic"} <= set(segmenters.names())
    params = {p["name"] for p in segmenters.get("semantic").describe()["params"]}
    assert {"min_area", "edge_radius", "read", "tile_size"} <= params


def test_every_ade20k_class_belongs_to_exactly_one_group():
    labels = load_labels()
    assert len(labels) == 150
    for i, name in enumerate(labels, start=1):
        owners = [g.name for g in GROUPS if name in g.classes]
        assert len(owners) == 1, f"class {i} '{name}' is in {owners or 'no group'}"
    listed = [c for g in GROUPS for c in g.classes]
    assert len(listed) == len(set(listed)) and set(listed) == set(labels)  # no stray or repeated name
    owner = class_to_group(labels)
    assert len(owner) == 151 and GROUPS[owner[0]].name == "other"  # channel 0: nothing ADE20K names
    assert GROUPS[owner[labels.index("sky") + 1]].name == "sky"
    assert GROUPS[owner[labels.index("swimming") + 1]].name == "water"  # the swimming pool
    assert GROUPS[owner[labels.index("pool") + 1]].name == "interior"  # ADE20K's pool table


def test_groups_have_fixed_names_titles_and_distinct_colours():
    assert tuple(g.name for g in GROUPS) == GROUP_NAMES
    assert all(safe_file_stem(g.title) == g.name for g in GROUPS)  # the title's file is the group's name
    assert len({g.colour.lower() for g in GROUPS}) == len(GROUPS)
    with pytest.raises(ValueError, match="snow"):
        class_to_group(load_labels() + ["snow"])


# ---------------------------------------------------------------- real photos
def test_city_has_sky_on_top_and_buildings(city):
    image, groups = city
    assert "sky" in groups and "buildings" in groups
    sky = groups["sky"].mask
    h = sky.shape[0]
    top, bottom = float(sky[: h // 10].mean()), float(sky[h // 2:].mean())
    print(f"city sky: top tenth {100 * top:.1f} %, bottom half {100 * bottom:.2f} %")
    assert top > 0.95
    assert bottom < 0.01
    assert groups["buildings"].coverage > 0.4


def test_palm_beach_has_sky_water_ground_and_plants(palm_beach):
    _, groups = palm_beach
    print("palm beach: " + ", ".join(f"{k} {100 * s.coverage:.1f} %" for k, s in groups.items()))
    assert {"sky", "water", "ground", "plants"} <= set(groups)


def test_astronaut_is_people(astronaut):
    _, groups = astronaut
    assert "people" in groups and groups["people"].coverage > 0.2


def test_masks_are_soft_photo_sized_and_named(city, palm_beach, astronaut):
    for image, groups in (city, palm_beach, astronaut):
        for name, s in groups.items():
            assert s.mask.shape == image.shape[-2:] and s.mask.dtype == torch.float32
            assert float(s.mask.min()) >= 0.0 and float(s.mask.max()) <= 1.0
            assert s.file_stem == name and s.colour == next(g.colour for g in GROUPS if g.name == name)
        stack = torch.stack([s.mask for s in groups.values()])
        between = ((stack > 0.05) & (stack < 0.95)).any(0).float().mean()
        assert 0.001 < float(between) < 0.5  # soft edges, decided regions
        assert float(stack.sum(0).max()) <= 1.0 + 1e-4
        coverages = [s.coverage for s in groups.values()]
        assert coverages == sorted(coverages, reverse=True) and min(coverages) >= 0.01  # min_area


def test_masks_follow_the_photos_edges(seg, palm_beach):
    """Snapped at full resolution: the sky's edges follow the fronds, not the model's 513 px blobs."""
    image, groups = palm_beach
    lum = 0.299 * image[0, 0] + 0.587 * image[0, 1] + 0.114 * image[0, 2]

    def edges(x):
        return ((x[1:, :-1] - x[:-1, :-1]) ** 2 + (x[:-1, 1:] - x[:-1, :-1]) ** 2).sqrt().flatten()

    def along_photo_edges(mask):
        return float(torch.corrcoef(torch.stack([edges(mask), edges(lum)]))[0, 1])

    blobby = along_photo_edges(seg.groups(image, {"edge_radius": 0})["sky"].mask)
    snapped = along_photo_edges(groups["sky"].mask)
    print(f"palm beach sky: its edges correlate with the photo's {blobby:.3f} unsnapped, {snapped:.3f} snapped")
    assert snapped > 1.5 * blobby


def test_pick_segment_names_the_groups_the_photo_has(city):
    _, groups = city
    assert pick_segment(groups, "sky") is groups["sky"]
    assert pick_segment(list(groups.values()), "Sky") is groups["sky"]
    with pytest.raises(InputError) as exc:
        pick_segment(groups, "people")
    msg = str(exc.value)
    assert "'people'" in msg and "sky" in msg and "buildings" in msg


def test_asking_again_reads_the_photo_once(seg, monkeypatch):
    image = load_image(CITY, long_edge=320)
    reads, finishes = [], []
    real_read, real_finish = reading.read, semantic.finish
    monkeypatch.setattr(reading, "read", lambda *a, **k: reads.append(1) or real_read(*a, **k))
    monkeypatch.setattr(semantic, "finish", lambda *a, **k: finishes.append(1) or real_finish(*a, **k))
    semantic.clear_cache()
    first = seg.segment_named(image)
    first[0].mask.fill_(0.5)  # the caller's copy: the kept result is not touched
    again = seg.segment_named(image.clone())
    assert (len(reads), len(finishes)) == (1, 1)
    assert not torch.equal(first[0].mask, again[0].mask)
    assert [s.name for s in again] == [s.name for s in first]
    fewer = seg.segment_named(image, {"min_area": 0.2})  # another finish, the same reading
    assert (len(reads), len(finishes)) == (1, 2) and len(fewer) < len(again)
    seg.segment_named(image, {"read": "tiles", "tile_size": 600})
    assert len(reads) == 2  # another way of reading is another reading


class _WindowMean:
    """A stand-in model: 'sky' as strong as the window is bright, the same all over the window."""

    def run(self, x):
        logits = np.zeros((1, 513, 513, 151), np.float32)
        logits[..., 3] = 8.0 * float(x.mean())
        return {"out": logits}


def test_tiles_cover_every_pixel_without_seams():
    """Overlapping windows blended with ramps: every pixel read, no step where a window ends."""
    grouping = semantic.grouping_matrix(load_labels())
    flat = np.full((700, 1100, 3), 0.5, np.float32)
    probs = reading.tiles(_WindowMean(), flat, grouping, 1100)
    assert probs.shape == (700, 1100, len(GROUPS))
    assert np.allclose(probs, probs[0, 0], atol=1e-5) and np.allclose(probs.sum(-1), 1.0, atol=1e-5)
    assert reading.starts(1100) == [0, 294, 587] and reading.windows((700, 1100), "both", 1100) == 7
    # brighter to the right: each window reads differently; the blend must ramp between them
    ramp = np.broadcast_to(np.linspace(0, 1, 1100, dtype=np.float32)[None, :, None], (700, 1100, 3)).copy()
    sky = reading.tiles(_WindowMean(), ramp, grouping, 1100)[..., 0]
    step = np.abs(np.diff(sky, axis=1)).max()
    spread = sky.max() - sky.min()
    print(f"tiles: largest step between neighbouring columns {step:.4f} of a spread {spread:.4f}")
    assert spread > 0.1 and step < 2.0 * spread / reading.OVERLAP


def test_the_registry_lists_semantic_without_the_model(tmp_path):
    """Nothing loads the model at import: a machine without it still lists (and runs) every segmenter."""
    import subprocess
    import sys

    code = (
        "from pathlib import Path; from engine import weights; "
        f"weights.search_dirs = lambda explicit=None: [Path({str(tmp_path)!r})]; "
        "from engine.registry import segmenters; "
        "print(sorted(segmenters.names()), segmenters.broken)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "['clusters', 'scribbles', 'semantic'] []" in out.stdout


# ---------------------------------------------------------------- bad inputs
def test_missing_model_is_a_clear_error_and_other_segmenters_still_work(no_weights, real_weights):
    link_all_but(no_weights, real_weights, "semantic/ade20k")
    image = load_image(CITY, long_edge=128)
    with pytest.raises(WeightsError) as exc:
        segmenters.get("semantic")().segment(image)
    assert "deeplabv3-mobilenetv2-ade20k.tflite" in str(exc.value) and "brushwork weights fetch" in str(exc.value)
    assert "semantic" in segmenters.names()
    masks = segmenters.get("clusters")().segment(image, {"n": 2, "size": 128})
    assert len(masks) == 2


def test_missing_model_in_the_cli_says_so_and_writes_nothing(no_weights, tmp_path, capsys):
    out = tmp_path / "masks"
    assert main(["segment", str(CITY), "--method", "semantic", "-o", str(out)]) == 2
    assert "deeplabv3-mobilenetv2-ade20k.tflite" in capsys.readouterr().err
    assert not out.exists()


def test_corrupt_model_is_a_clear_error(no_weights, real_weights, monkeypatch):
    entry = weights.load_manifest()["semantic/ade20k"]
    bad = no_weights / entry.path
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"TFL3 not a model" * 1000)
    link_all_but(no_weights, real_weights, "semantic/ade20k")
    image = load_image(CITY, long_edge=128)
    with pytest.raises(WeightsError, match="corrupt") as exc:  # its sha256 does not match the manifest
        segmenters.get("semantic")().segment(image)
    assert str(bad) in str(exc.value)
    # bytes that pass the hash (a manifest of the damaged file) still fail to load: the interpreter says so
    real_manifest = weights.load_manifest()
    patched = dict(real_manifest)
    patched["semantic/ade20k"] = weights.WeightEntry(**{**entry.__dict__, "sha256": weights.sha256_of(bad)})
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: patched)
    weights._verified.clear()
    with pytest.raises(WeightsError, match="cannot be loaded") as exc:
        segmenters.get("semantic")().segment(image)
    assert str(bad) in str(exc.value) and "brushwork weights fetch semantic/ade20k" in str(exc.value)


def test_damaged_labels_file_is_a_clear_error(no_weights, monkeypatch):
    entry = weights.load_manifest()["semantic/ade20k-labels"]
    bad = no_weights / entry.path
    bad.parent.mkdir(parents=True)
    bad.write_text("1\twall\n2\tbuilding\n")
    patched = dict(weights.load_manifest())
    patched["semantic/ade20k-labels"] = weights.WeightEntry(**{**entry.__dict__, "sha256": weights.sha256_of(bad)})
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: patched)
    with pytest.raises(WeightsError, match="names 2 classes") as exc:
        load_labels()
    assert str(bad) in str(exc.value)


def test_a_photo_too_small_is_refused(seg):
    with pytest.raises(InputError, match="too small"):
        seg.segment(torch.rand(1, 3, 40, 300))
    with pytest.raises(InputError):
        make(semantic.SemanticParams, {"read": "sideways"})


# ---------------------------------------------------------------- the CLI
def test_cli_writes_a_mask_per_group_and_prints_coverage(city, tmp_path, capsys):
    image, groups = city
    out = tmp_path / "groups"
    assert main(["segment", str(CITY), "--method", "semantic", "-o", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.png" for name in groups)
    assert len(lines) == len(groups)
    for line in lines:
        path, percent = line.split()
        mask = np.asarray(Image.open(path))
        assert mask.shape == tuple(image.shape[-2:]) and mask.dtype == np.uint8
        assert abs(float(percent.rstrip("%")) - 100 * mask.mean() / 255) < 0.2
    sky = np.asarray(Image.open(out / "sky.png"))
    assert sky[:10].mean() > 240 and sky[-10:].mean() < 5


def test_cli_group_picks_one_or_names_what_there_is(city, tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["segment", str(CITY), "--method", "semantic", "--group", "sky", "-o", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["sky.png"]
    missing = tmp_path / "none"
    assert main(["segment", str(CITY), "--method", "semantic", "--group", "people", "-o", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "'people'" in err and "sky" in err and "buildings" in err
    assert not missing.exists()


# ---------------------------------------------------------------- names and colours in the API
class _Bare(Segmenter):
    """An old-style plugin: bare tensors."""

    name = "bare"

    from dataclasses import dataclass as _dc

    @_dc(frozen=True)
    class Params:
        pass

    def compute(self, image, params, inputs):
        h, w = image.shape[-2:]
        left = torch.zeros(h, w)
        left[:, : w // 2] = 1
        return [left, 1 - left]


class _Named(_Bare):
    name = "named"
    colour = "#123456"

    def compute(self, image, params, inputs):
        a, b = super().compute(image, params, inputs)
        return [Segment(a, "Sky", self.colour), Segment(b, "Sky", "#654321")]


def test_bare_masks_are_named_regions_in_the_default_colours(tmp_path):
    image = torch.rand(1, 3, 20, 30)
    segs = _Bare().segment_named(image)
    assert [s.name for s in segs] == ["Region 1", "Region 2"]
    assert [s.colour for s in segs] == list(DEFAULT_COLOURS[:2])
    assert all(torch.equal(a, b.mask) for a, b in zip(_Bare().segment(image), segs))
    written = _Bare().segment_to_dir(image, None, tmp_path / "bare")
    assert [p.name for p in written] == ["region_1.png", "region_2.png"]


def test_named_masks_are_written_under_safe_unique_names(tmp_path):
    written = _Named().segment_to_dir(torch.rand(1, 3, 20, 30), None, tmp_path / "named")
    assert [p.name for p in written] == ["sky.png", "sky_2.png"]
    assert safe_file_stem("../Bâtiments") == "batiments" and safe_file_stem("///") == "region"
    with pytest.raises(InputError, match="must be a folder"):
        _Named().segment_to_dir(torch.rand(1, 3, 20, 30), None, written[0])


def test_a_segment_with_a_bad_colour_is_a_plugin_bug():
    class BadColour(_Named):
        colour = "blue"

    with pytest.raises(RuntimeError, match="colour 'blue'"):
        BadColour().segment_named(torch.rand(1, 3, 20, 30))
