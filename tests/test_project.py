"""The .brushwork project format: round trips keep what the user made; damaged files say why."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch

from engine.images import resize_long_edge
from engine.project import (KeptResult, Project, ProjectError, ProjectRegion, ProjectStyle, load_project,
                            save_project)


@pytest.fixture()
def project(content, style, style2) -> Project:
    c = resize_long_edge(content, 96)
    h, w = c.shape[-2:]
    sky = torch.zeros(h, w)
    sky[: h // 3] = 1.0
    ramp = torch.linspace(0, 1, w).expand(h, w).contiguous()
    return Project(
        content=c, content_name="beagle.jpg",
        styles=(ProjectStyle("starry", image=resize_long_edge(style, 64), weight=0.7),
                ProjectStyle("wave", image=resize_long_edge(style2, 64), active=False),
                ProjectStyle("ink", text="an ink drawing", active=False)),
        regions=(ProjectRegion("Sky", sky, colour="#3c8ce0", style="wave", strength=0.8, feather=3.0),
                 ProjectRegion("Ramp", ramp, style="ink", visible=False)),
        strategy="masked", params={"masked": {"coarse_steps": 40, "net": "distilled16x"}, "gatys": {"steps": 7}},
        results=(KeptResult("first", c.flip(-1), "gatys", {"steps": 7}, {"style_distance": 0.5}, 1.5),),
        size=320, seed=3, gaps="global")


def test_round_trip_keeps_regions_styles_params_and_results(project, tmp_path):
    path = save_project(project, tmp_path / "a.brushwork")
    back = load_project(path)
    assert back.content.shape == project.content.shape
    assert (back.content - project.content).abs().max() <= 1 / 255 + 1e-6
    assert [s.name for s in back.styles] == ["starry", "wave", "ink"]
    assert back.styles[0].weight == pytest.approx(0.7) and back.styles[1].active is False
    assert back.styles[2].text == "an ink drawing" and back.styles[2].image is None
    assert [r.name for r in back.regions] == ["Sky", "Ramp"]
    sky, ramp = back.regions
    assert (sky.mask - project.regions[0].mask).abs().max() == 0  # hard masks are exact
    assert (ramp.mask - project.regions[1].mask).abs().max() <= 0.5 / 255 + 1e-6  # soft masks to 8 bits
    assert (sky.style, sky.strength, sky.feather, sky.colour) == ("wave", 0.8, 3.0, "#3c8ce0")
    assert ramp.visible is False
    assert back.params == {"masked": {"coarse_steps": 40, "net": "distilled16x"}, "gatys": {"steps": 7}}
    assert (back.strategy, back.size, back.seed, back.gaps) == ("masked", 320, 3, "global")
    assert back.results[0].figures == {"style_distance": 0.5} and back.results[0].params == {"steps": 7}
    assert (back.results[0].image - project.content.flip(-1)).abs().max() <= 1 / 255 + 1e-6


def test_manifest_is_versioned_json(project, tmp_path):
    path = save_project(project, tmp_path / "a.brushwork")
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "brushwork-project" and manifest["version"] == 1
        assert {"content.png", "masks/0.png", "masks/1.png", "styles/0.png", "results/0.png"} <= set(zf.namelist())


def _rewrite(src, dst, drop=(), manifest_patch=None, replace=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == "manifest.json" and manifest_patch:
                m = json.loads(data)
                manifest_patch(m)
                data = json.dumps(m).encode()
            if replace and name in replace:
                data = replace[name]
            zout.writestr(name, data)
    return dst


@pytest.mark.parametrize("damage, expected", [
    ("garbage", "not a Brushwork project"),
    ("truncated", "not a Brushwork project"),
    ("no manifest", "no manifest.json"),
    ("bad json", "manifest.json is damaged"),
    ("newer", "newer Brushwork"),
    ("missing mask", "'masks/0.png' is listed in the manifest but missing"),
    ("mask not png", "'masks/1.png' is not a readable image"),
    ("wrong mask size", "the mask is"),
    ("bad clip", "'clip' must name a path and a frame number"),
])
def test_damaged_projects_give_a_clear_error(project, tmp_path, damage, expected):
    good = save_project(project, tmp_path / "good.brushwork")
    bad = tmp_path / "bad.brushwork"
    if damage == "garbage":
        bad.write_bytes(b"this is not a zip file at all" * 10)
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "no manifest":
        _rewrite(good, bad, drop=("manifest.json",))
    elif damage == "bad json":
        _rewrite(good, bad, replace={"manifest.json": b"{not json"})
    elif damage == "newer":
        _rewrite(good, bad, manifest_patch=lambda m: m.update(version=99))
    elif damage == "missing mask":
        _rewrite(good, bad, drop=("masks/0.png",))
    elif damage == "mask not png":
        _rewrite(good, bad, replace={"masks/1.png": b"\x89PNG broken"})
    elif damage == "bad clip":
        _rewrite(good, bad, manifest_patch=lambda m: m.update(clip={"path": "shot.mp4", "frame": "four"}))
    elif damage == "wrong mask size":
        import io
        from PIL import Image
        buf = io.BytesIO()
        Image.new("L", (10, 40)).save(buf, format="PNG")
        _rewrite(good, bad, replace={"masks/0.png": buf.getvalue()})
    with pytest.raises(ProjectError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        load_project(bad)


def test_failed_save_keeps_the_previous_file(project, tmp_path):
    path = save_project(project, tmp_path / "a.brushwork")
    before = path.read_bytes()
    broken = Project(content=project.content, params={"gatys": {"steps": object()}})  # not JSON-able
    with pytest.raises(ProjectError, match="Could not save"):
        save_project(broken, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.brushwork"]  # no temp file left behind
