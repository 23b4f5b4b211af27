"""The command line starts fast (issue 28): no preview nobody sees, one pass whenever the picture
fits the free memory, and a style's statistics kept on disk for the next process.

A 1024x666 universal render printed ``[tiled-feedforward: 2 tiles of 816 px]`` in 7.9-8.8 s
(every tile capped at 1 GB with 20 GB free) where one pass takes 1.5 s; it also rendered a
256 px preview first with nowhere to show it.
"""

from __future__ import annotations

import numpy as np
import torch

from engine import cli, export as export_mod, params as params_mod, tiling
from engine.export import ExportOptions, Picture
from engine.feedforward import FeedForwardStrategy
from engine.job import StyleJob, StyleSource
from engine.registry import strategies


def _rendered_sizes(monkeypatch) -> list[tuple[int, int]]:
    """Every size a feed-forward strategy renders at, from now on."""
    sizes: list[tuple[int, int]] = []
    original = FeedForwardStrategy._render

    def spy(self, job, p, out_hw, ctx):
        sizes.append(tuple(out_hw))
        return original(self, job, p, out_hw, ctx)

    monkeypatch.setattr(FeedForwardStrategy, "_render", spy)
    return sizes


def test_no_preview_is_rendered_without_a_preview_dir(content_path, style_path, tmp_path, monkeypatch):
    monkeypatch.setenv("BRUSHWORK_FEATURE_CACHE", str(tmp_path / "cache"))
    sizes = _rendered_sizes(monkeypatch)
    args = ["render", str(content_path), "-s", str(style_path), "--strategy", "universal", "--set", "depth=2",
            "--size", "400", "-q"]
    assert cli.main(args + ["-o", str(tmp_path / "out.png")]) == 0
    assert len(sizes) == 1 and max(sizes[0]) == 400  # the picture itself, nothing at 256 px first
    sizes.clear()
    previews = tmp_path / "previews"
    assert cli.main(args + ["--preview-dir", str(previews), "-o", str(tmp_path / "out2.png")]) == 0
    assert [max(s) for s in sizes] == [256, 400]  # asked for: the quick picture, then the full one
    assert any(p.name.startswith("preview_") for p in previews.iterdir())


def _path_taken(monkeypatch, free_bytes: int, out_hw: tuple[int, int], strategy: str = "universal",
                tile: int | None = None) -> str:
    """Which way export() goes for a picture of ``out_hw`` with ``free_bytes`` of memory free."""
    monkeypatch.setattr(tiling, "free_memory", lambda device: free_bytes)
    taken: list[str] = []

    def single(job, options, ctx, on_event):
        taken.append("single")
        return Picture(np.zeros((*out_hw, 3), np.uint8), "single", 1, 0, None, {})

    def tiled(job, renderer, tile, options, ctx, on_event):
        taken.append(f"tiled {tile}")
        return Picture(np.zeros((*out_hw, 3), np.uint8), "tiled-feedforward", 2, tile, None, {})

    monkeypatch.setattr(export_mod, "_single", single)
    monkeypatch.setattr(export_mod, "_feedforward", tiled)
    cls = strategies.get(strategy)
    job = StyleJob(content=torch.rand(1, 3, *out_hw), strategy=strategy, params=params_mod.make(cls.Params, {}),
                   styles=(StyleSource(image=torch.rand(1, 3, 64, 64)),), device="cpu")
    monkeypatch.setattr(export_mod, "check_output", lambda *a, **k: None)  # nothing is written
    monkeypatch.setattr(export_mod, "write_image", lambda *a, **k: None)
    export_mod.export(job, "never-written.png", ExportOptions(tile=tile, allow_huge=True))
    return taken[0]


def test_one_pass_whenever_the_picture_fits_the_free_memory(monkeypatch):
    gb = 1 << 30
    # the case: 1024x666 with 20 GB free was 2 tiles of 816 px; it fits one pass many times over
    assert _path_taken(monkeypatch, 20 * gb, (666, 1024)) == "single"
    assert _path_taken(monkeypatch, 20 * gb, (666, 1024), "adain") == "single"
    assert _path_taken(monkeypatch, 20 * gb, (2000, 3000)) == "single"  # 6 MP x 1,200 bytes < half of 20 GB
    # past the free memory it tiles, with tiles that fill the budget (not a fixed 1 GB)
    assert _path_taken(monkeypatch, 1 * gb, (666, 1024)).startswith("tiled")
    big = _path_taken(monkeypatch, 64 * gb, (10000, 15000))
    assert big.startswith("tiled") and int(big.split()[1]) > 816
    # --tile still asks for tiles past its size
    assert _path_taken(monkeypatch, 20 * gb, (666, 1024), tile=512) == "tiled 512"


def test_a_styles_statistics_are_kept_on_disk_for_the_next_process(content, style, tmp_path, monkeypatch):
    from plugins.universal import UniversalStrategy

    monkeypatch.setenv("BRUSHWORK_FEATURE_CACHE", str(tmp_path / "cache"))
    cache = UniversalStrategy.cache
    cls = strategies.get("universal")
    job = StyleJob(content=content, strategy="universal", params=params_mod.make(cls.Params, {"preview": False}),
                   styles=(StyleSource(image=style),), size=192, device="cpu")
    from engine.runner import run_job

    cache.clear()
    first = run_job(job).image
    assert len(list((tmp_path / "cache").rglob("*.safetensors"))) == 5  # one file per level
    hits = cache.disk.hits
    cache.clear()  # as a new process: nothing in memory
    second = run_job(job).image
    assert cache.disk.hits == hits + 5  # every level from disk: the style was not encoded again
    assert torch.equal(first, second)
    # a damaged file is a miss, recomputed and replaced, never an error
    for f in (tmp_path / "cache").rglob("*.safetensors"):
        f.write_bytes(b"not a safetensors file")
    cache.clear()
    assert torch.equal(run_job(job).image, first)
