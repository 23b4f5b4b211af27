"""The weight loader: verified files, clear errors naming the fix, fetch that never installs bad bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine import weights
from engine.errors import WeightsError


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Only ``tmp_path/weights`` is searched: no project folder, no cache, no mirror."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setattr(weights, "search_dirs", lambda explicit=None: [Path(explicit)] if explicit else [d])
    weights._verified.clear()
    return d


def test_required_weights_are_present_and_verified():
    for name, entry in weights.load_manifest().items():
        if not entry.optional:
            state, path = weights.status(name)
            assert state == "present", f"{name}: {state} (run make weights)"
            assert weights.sha256_of(path) == entry.sha256


def test_missing_file_names_file_and_command(isolated):
    with pytest.raises(WeightsError) as exc:
        weights.locate("distilled16x/encoder4")
    msg = str(exc.value)
    assert "encoder4.safetensors" in msg and "brushwork weights fetch distilled16x/encoder4" in msg


def test_corrupt_file_is_reported_as_corrupt(isolated):
    entry = weights.load_manifest()["distilled16x/decoder1"]
    bad = isolated / entry.path
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a safetensors file")
    assert weights.status("distilled16x/decoder1")[0] == "corrupt"
    with pytest.raises(WeightsError, match="corrupt"):
        weights.load_state("distilled16x/decoder1")


def test_fetch_from_mirror_verifies_and_installs(isolated, tmp_path):
    mirror = _real("distilled16x/decoder2").parent.parent
    results = dict(weights.fetch(["distilled16x/decoder2"], mirror=mirror, target=isolated))
    assert results["distilled16x/decoder2"].startswith("copied")
    assert weights.status("distilled16x/decoder2")[0] == "present"
    assert set(weights.load_state("distilled16x/decoder2")) == {f"{c}.{p}" for c in ("conv21", "conv12", "conv11") for p in ("weight", "bias")}


def test_fetch_refuses_a_corrupt_mirror_copy(isolated, tmp_path):
    entry = weights.load_manifest()["distilled16x/decoder1"]
    mirror = tmp_path / "bad_mirror"
    (mirror / entry.path).parent.mkdir(parents=True)
    shutil.copy(_real("distilled16x/decoder1"), mirror / entry.path)
    with open(mirror / entry.path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(WeightsError, match="sha256"):
        weights.fetch(["distilled16x/decoder1"], mirror=mirror, target=isolated)
    assert not (isolated / entry.path).exists()
    assert not any(p.name.startswith(".fetch") for p in isolated.rglob("*"))


def _real(name: str) -> Path:
    for d in (weights.PROJECT_WEIGHTS, weights.user_cache_dir()):
        p = d / weights.load_manifest()[name].path
        if p.exists():
            return p
    import os

    return Path(os.environ["BRUSHWORK_WEIGHTS_MIRROR"]) / weights.load_manifest()[name].path
