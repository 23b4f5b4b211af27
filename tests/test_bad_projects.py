"""Opening a project is all or nothing (issue 31, items 1-3).

A manifest with a wrong type, a value out of range, NaN, or JSON nested past reason is a
ProjectError naming the field and the file; a zip bomb is refused before it is inflated; and in
the editor a project that fails to open leaves the open document, its path and its undo history
as they were, so the next save cannot write the wrong picture over the artist's file.
"""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from engine.images import resize_long_edge
from engine.project import Project, ProjectError, ProjectRegion, ProjectStyle, KeptResult, load_project, save_project


@pytest.fixture()
def good(content, style, tmp_path) -> Path:
    c = resize_long_edge(content, 64)
    h, w = c.shape[-2:]
    sky = torch.zeros(h, w)
    sky[: h // 3] = 1.0
    project = Project(content=c, content_name="beagle.jpg",
                      styles=(ProjectStyle("starry", image=resize_long_edge(style, 48)),),
                      regions=(ProjectRegion("Sky", sky, style="starry"),),
                      strategy="universal", params={"universal": {"alpha": 0.8}},
                      results=(KeptResult("first", c, "universal", {"alpha": 0.8}, {"style_distance": 0.5}, 1.5),),
                      size=256, seed=3)
    return save_project(project, tmp_path / "good.brushwork")


def _patched(good: Path, dst: Path, patch=None, raw: bytes | None = None) -> Path:
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "manifest.json":
                if raw is not None:
                    data = raw
                else:
                    m = json.loads(data)
                    patch(m)
                    data = json.dumps(m).encode()
            zout.writestr(name, data)
    return dst


def _set(path: str, value):
    """A patch that sets manifest[path] (dotted, list indices as numbers) to value."""
    def patch(m):
        *parents, last = path.split(".")
        for p in parents:
            m = m[int(p)] if isinstance(m, list) else m[p]
        m[int(last) if isinstance(m, list) else last] = value
    return patch


@pytest.mark.parametrize("path, value, fragment", [
    ("size", "big", "'size' must be a whole number, not 'big'"),
    ("size", -5, "'size' is -5; it must be between 16 and 16384"),
    ("size", 1e308, "'size' must be a whole number"),
    ("seed", "abc", "'seed' must be a whole number, not 'abc'"),
    ("seed", 1e308, "'seed' must be a whole number"),
    ("seed", 10**30, "'seed' is"),
    ("version", True, "the project version True is invalid"),
    ("styles.0.weight", "heavy", "style 1: 'weight' must be a number, not 'heavy'"),
    ("styles.0.weight", None, "style 1: 'weight' is null"),
    ("styles.0.image", ["styles/0.png"], "style 1: 'image' must be text, not a list"),
    ("regions.0.strength", {"a": 1}, "region 1: 'strength' must be a number, not an object"),
    ("regions.0.feather", -50, "region 1: 'feather' is -50"),
    ("results", "x", "'results' must be a list"),
    ("results", {"a": 1}, "'results' must be a list"),
    ("results.0.figures", {"style_distance": "high"}, "result 1: figure 'style_distance' must be a number"),
    ("results.0.params", 5, "result 1: 'params' must be an object"),
    ("content", ["content.png"], "'content' must be text, not a list"),
    ("params", {"universal": {"alpha": "lots"}}, "the parameters of 'universal': Parameter 'alpha'"),
    ("params", {"universal": {"alpha": 99.0}}, "the parameters of 'universal': Parameter 'alpha'"),
    ("params", {"universal": {"alpha": [1, 2]}}, "'alpha' must be a plain value"),
    ("gaps", "sometimes", "'gaps' is 'sometimes'; it must be one of content, global"),
    ("regions.0", "Sky", "region 1 must be an object"),
])
def test_a_malformed_manifest_is_a_project_error_naming_the_field(good, tmp_path, path, value, fragment):
    bad = _patched(good, tmp_path / "bad.brushwork", _set(path, value))
    with pytest.raises(ProjectError) as info:
        load_project(bad)
    assert "bad.brushwork" in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize("raw, fragment", [
    (b'{"format": "brushwork-project", "version": 1, "size": Infinity, "styles": [], "regions": []}', "Infinity"),
    (b'{"format": "brushwork-project", "version": 1, "seed": NaN, "styles": [], "regions": []}', "NaN"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_non_numbers_and_deep_nesting_are_refused(good, tmp_path, raw, fragment):
    bad = _patched(good, tmp_path / "bad.brushwork", raw=raw)
    with pytest.raises(ProjectError, match=fragment):
        load_project(bad)


def test_a_good_project_still_opens_with_its_values(good):
    p = load_project(good)
    assert (p.size, p.seed, p.strategy, p.params["universal"]["alpha"]) == (256, 3, "universal", 0.8)
    assert p.results[0].figures == {"style_distance": 0.5}


# ---------------------------------------------------------------- zip bombs
def _deflate_bomb(inflated: int) -> tuple[bytes, int]:
    """A raw deflate stream of ``inflated`` zero bytes, a few MB long, built in milliseconds.

    After a full flush the compressor starts afresh, so every 1 MiB block of zeros compresses
    to the same bytes: the stream is one block repeated (zipfile.writestr would spend seconds
    and GBs producing it)."""
    block = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(b"\0" * block) + comp.flush(zlib.Z_FULL_FLUSH)
    comp2 = zlib.compressobj(9, zlib.DEFLATED, -15)
    again = comp2.compress(b"\0" * block) + comp2.flush(zlib.Z_FULL_FLUSH)
    assert first == again
    n = inflated // block
    return first * n + zlib.compressobj(9, zlib.DEFLATED, -15).flush(), n * block


def _zip_with(entries: dict[str, bytes], bomb_name: str, inflated: int) -> bytes:
    """A zip (written by hand: zipfile cannot store pre-deflated data) whose ``bomb_name`` entry
    inflates to ``inflated`` bytes; the other entries are deflated normally."""
    local, central = b"", b""
    items = dict(entries)
    items[bomb_name] = None
    for name, data in items.items():
        if data is None:
            comp, size = _deflate_bomb(inflated)
            crc = 0  # never reached: the entry must be refused before it is inflated
        else:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp, size, crc = c.compress(data) + c.flush(), len(data), zlib.crc32(data)
        n = name.encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(comp), size, len(n), 0) + n + comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(comp), size, len(n),
                               0, 0, 0, 0, 0, offset) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(items), len(items), len(central), len(local), 0)
    return local + central + end


@pytest.mark.parametrize("bomb", ["content.png", "manifest.json"])
def test_a_zip_bomb_fails_fast_in_little_memory(good, tmp_path, bomb):
    with zipfile.ZipFile(good) as zf:
        entries = {n: zf.read(n) for n in zf.namelist() if n != bomb}
    path = tmp_path / "bomb.brushwork"
    path.write_bytes(_zip_with(entries, bomb, 4095 << 20))  # 4 GiB inflated
    assert path.stat().st_size < 8 << 20
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ProjectError, match=f"'{bomb}' would inflate to 4095 MB"):
            load_project(path)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 2 and peak < 200 << 20, (seconds, peak)


# ---------------------------------------------------------------- the editor
pytest.importorskip("pytestqt")
from editor.mainwindow import MainWindow  # noqa: E402

from test_editor import window  # noqa: E402,F401  (a window with a photo and a style)


def _open_a(window, content, tmp_path) -> Path:
    """Open project A (a beagle with a painted region) and make one undoable edit to it."""
    a = tmp_path / "a.brushwork"
    assert window.save_to(a) and window.open_project(a)
    window.regions_panel.add_region()
    assert window.doc.undo_stack.count() == 1
    return a


def _project_b(content, tmp_path, **params) -> Path:
    flipped = resize_long_edge(content, 96).flip(-1)
    return save_project(Project(content=flipped, content_name="other.jpg", strategy="universal",
                                params={"universal": params}), tmp_path / "b.brushwork")


def _still_a(window, a: Path, tmp_path) -> None:
    assert window.doc.content_name == "beagle.jpg" and window.project_path == a
    assert window.doc.undo_stack.count() == 1 and len(window.doc.regions) == 1
    assert window.save()
    assert load_project(a).content_name == "beagle.jpg" and len(load_project(a).regions) == 1


def test_a_project_the_loader_refuses_leaves_a_open_and_saving_writes_a(window, content, tmp_path):
    a = _open_a(window, content, tmp_path)
    b = _project_b(content, tmp_path)
    b = _patched(b, tmp_path / "b-bad.brushwork", _set("params", {"universal": {"alpha": "lots"}}))
    assert not window.open_project(b)
    assert "Parameter 'alpha'" in window.last_alert.text()
    _still_a(window, a, tmp_path)


def test_a_project_the_window_cannot_take_is_undone_whole(window, content, tmp_path, monkeypatch):
    """Whatever fails while the panels take a project (here the Strategy panel), the document,
    its path and its undo history are put back: Save then writes A, not half of B."""
    a = _open_a(window, content, tmp_path)
    b = _project_b(content, tmp_path, alpha=0.5)
    real = window.strategy_panel.sync_from_document

    def fails_on_b():
        if window.doc.content_name == "other.jpg":
            raise TypeError("setValue(float): argument 1 has unexpected type 'str'")
        real()

    monkeypatch.setattr(window.strategy_panel, "sync_from_document", fails_on_b)
    assert not window.open_project(b)
    assert "could not be shown" in window.last_alert.text() and "Nothing was changed" in window.last_alert.informativeText()
    assert window.doc.content_tensor().shape[-1] == 128  # A's picture, not B's
    _still_a(window, a, tmp_path)
    window.doc.undo_stack.undo()  # A's history still works
    assert window.doc.regions == []
