"""Nothing lost, whatever comes in (issue 31): runs that are stopped, caches and weight folders that
are damaged or unwritable, clips that end early, disks that are full.

Every render here is tiny (64x48 px clips, the adain strategy, temporal off) for a shared 2-core CPU;
the stop-signal tests run the real command in a subprocess.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from engine import cli, weights
from engine.errors import OutputError
from engine.video import VideoOptions, render_video

ROOT = Path(__file__).resolve().parent.parent
W, H = 64, 48


def noise_clip(path: Path, frames: int, faststart: bool = False) -> Path:
    """``frames`` frames of noise at 12 fps, H.264 (the index at the front with ``faststart``)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        s = out.add_stream("libx264", rate=12)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def style_file() -> Path:
    return ROOT / "resources" / "samples" / "style_vangogh_starry_night.jpg"


# ---------------------------------------------------------------- SIGTERM / SIGHUP
def _wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"the render ended (code {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > end:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stop(proc: subprocess.Popen, sig: signal.Signals) -> str:
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return err


@pytest.mark.parametrize("sig, output", [(signal.SIGTERM, "out.mp4"), (signal.SIGHUP, "frames")], ids=["SIGTERM-mp4", "SIGHUP-frames"])
def test_a_stop_signal_on_a_clip_render_leaves_nothing(tmp_path, sig, output):
    """SIGTERM (SIGHUP) mid-clip ends it as Ctrl+C does: exit 128 + the signal, the message, no temp
    file or folder beside the output, the previous output untouched."""
    clip = noise_clip(tmp_path / "clip.mp4", 400)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    dest = out_dir / output
    if dest.suffix:
        dest.write_bytes(b"the previous render")
    proc = subprocess.Popen([sys.executable, "-m", "engine", "render", str(clip), "-s", str(style_file()),
                             "--strategy", "adain", "--temporal", "off", "-q", "-o", str(dest)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    temp = f".{dest.stem}." if dest.suffix else f".{dest.name}."

    def writing() -> bool:  # the temp file exists (H.264), or holds a frame (numbered PNGs)
        found = [p for p in out_dir.iterdir() if p.name.startswith(temp)]
        return bool(found) and (bool(dest.suffix) or any(found[0].glob("frame_*.png")))

    _wait_for(writing, proc, "it started writing")
    time.sleep(0.2)
    err = _stop(proc, sig)
    assert proc.returncode == 128 + sig, err
    assert f"Stopped by {sig.name}; nothing was written" in err
    left = sorted(p.name for p in out_dir.iterdir())
    assert left == ([dest.name] if dest.suffix else []), left
    if dest.suffix:
        assert dest.read_bytes() == b"the previous render"


def test_sigterm_on_an_image_render_leaves_the_previous_file(tmp_path, content_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"the previous render")
    previews = tmp_path / "previews"
    proc = subprocess.Popen([sys.executable, "-m", "engine", "render", str(content_path), "-s", str(style_file()),
                             "--strategy", "gatys", "--size", "64", "--set", "steps=5000", "--set", "init=content",
                             "--set", "net=distilled16x", "--preview-dir", str(previews), "--preview-every", "1",
                             "-q", "-o", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: previews.is_dir() and any(previews.iterdir()), proc, "the first preview")
    err = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 143, err
    assert "Stopped by SIGTERM; nothing was written" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "previews"]
    assert out.read_bytes() == b"the previous render"


def test_the_stop_handlers_are_put_back(tmp_path, capsys):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    assert cli.main(["weights", "fetch", "no-such-weight"]) == 2
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)) == before


# ---------------------------------------------------------------- the ONNX cache
@pytest.fixture
def onnx_cache(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from engine import onnxmodels

    monkeypatch.setenv(onnxmodels.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setattr(onnxmodels, "_fallback", {}, raising=False)
    monkeypatch.setattr(onnxmodels, "fallback_root", lambda: tmp_path / "spare", raising=False)
    return onnxmodels


def _tiny_build(out: Path, int8: bool) -> dict:
    """A one-convolution 'decoder' exported for real (well under a second)."""
    import torch
    from torch import nn

    from engine import onnxmodels

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Sigmoid())
    x = torch.rand(1, 3, 16, 16)
    spec = onnxmodels.NetSpec("decoder", net, {"image": x}, "picture", {"image": x}, image_output=True)
    return onnxmodels.export_set([spec], out, weights={"tiny": "0" * 64})


def _run_decoder(onnxmodels, folder: Path, manifest: dict):
    import torch

    net = onnxmodels.load(onnxmodels.net_file(folder, manifest, "decoder", False))
    return net(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("damage", ["truncated", "overwritten"])
def test_a_damaged_cached_onnx_file_is_rebuilt_with_a_warning(onnx_cache, damage):
    folder, manifest = onnx_cache.cached_export("tiny", {"tiny": "0" * 64}, _tiny_build)
    f = folder / "decoder.onnx"
    data = f.read_bytes()
    if damage == "truncated":
        f.write_bytes(data[: len(data) // 2])
    else:  # same size, so only the sha256 tells
        f.write_bytes(data[:-64] + bytes(64))
    with pytest.warns(RuntimeWarning, match=r"decoder\.onnx is damaged.*Rebuilding"):
        folder2, manifest2 = onnx_cache.cached_export("tiny", {"tiny": "0" * 64}, _tiny_build)
    assert folder2 == folder and f.read_bytes() == data
    assert _run_decoder(onnx_cache, folder2, manifest2).shape == (1, 3, 8, 8)


def test_an_onnx_cache_path_that_is_a_file_falls_back_with_a_warning(onnx_cache, tmp_path):
    (tmp_path / "cache").write_text("not a folder")
    with pytest.warns(RuntimeWarning, match=r"cache .*cache cannot be written.*using .*spare"):
        folder, manifest = onnx_cache.cached_export("tiny", {"tiny": "0" * 64}, _tiny_build)
    assert folder == tmp_path / "spare" / "tiny"
    assert _run_decoder(onnx_cache, folder, manifest).shape == (1, 3, 8, 8)
    assert (tmp_path / "cache").read_text() == "not a folder"


def test_an_unusable_onnx_cache_and_fallback_are_a_clear_error(onnx_cache, tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("not a folder")
    (tmp_path / "spare-file").write_text("not a folder either")
    monkeypatch.setattr(onnx_cache, "fallback_root", lambda: tmp_path / "spare-file" / "onnx")
    with pytest.warns(RuntimeWarning), pytest.raises(OutputError, match="BRUSHWORK_ONNX_CACHE"):
        onnx_cache.cached_export("tiny", {"tiny": "0" * 64}, _tiny_build)


# ---------------------------------------------------------------- weights fetch and status
NAME = "distilled16x/decoder1"


def _mirror() -> Path:
    entry = weights.load_manifest()[NAME]
    for d in (weights.PROJECT_WEIGHTS, weights.user_cache_dir(), ROOT.parent / "shared" / "weights"):
        if (d / entry.path).is_file() and weights.sha256_of(d / entry.path) == entry.sha256:
            return d
    pytest.skip(f"no good copy of {NAME} to fetch from")


def _fetch(target: Path, capsys) -> tuple[int, str]:
    code = cli.main(["weights", "fetch", NAME, "--mirror", str(_mirror()), "--target", str(target)])
    return code, capsys.readouterr().err


def test_fetch_into_a_folder_under_a_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    target = tmp_path / "file" / "weights"
    code, err = _fetch(target, capsys)
    assert code == 2, err
    assert f"Cannot write weights into {target}" in err and "--target" in err and "Traceback" not in err


def test_fetch_into_a_read_only_folder_is_a_clear_error(tmp_path, capsys):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: a read-only folder is still writable (the folder-under-a-file test covers it)")
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o555)
    try:
        code, err = _fetch(target, capsys)
    finally:
        target.chmod(0o755)
    assert code == 2 and f"Cannot write weights into {target}" in err
    assert not any(target.rglob("*.safetensors"))


def test_fetch_onto_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    real_copy = weights._copy

    def full(src, tmp, entry, progress):  # half the file lands, then the disk is full
        with open(tmp, "wb") as fo:
            fo.write(src.read_bytes()[: entry.bytes // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(weights, "_copy", full)
    target = tmp_path / "target"
    code, err = _fetch(target, capsys)
    assert code == 2 and "No space left on device" in err and str(target) in err
    assert [p for p in target.rglob("*") if p.is_file()] == []
    # too little free space is refused before a byte is written
    monkeypatch.setattr(weights, "_copy", real_copy)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 100, 100))
    code, err = _fetch(target, capsys)
    assert code == 2 and "MB are free" in err
    assert [p for p in target.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640)], ids=["umask022", "umask027"])
def test_fetched_weights_have_a_normal_files_mode(tmp_path, capsys, umask, expected):
    old = os.umask(umask)
    try:
        code, err = _fetch(tmp_path / "target", capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    got = (tmp_path / "target" / weights.load_manifest()[NAME].path).stat().st_mode & 0o777
    assert got == expected, oct(got)


def test_weights_status_names_a_corrupt_copy_it_passes_over(tmp_path, capsys, monkeypatch):
    entry = weights.load_manifest()[NAME]
    good, bad = tmp_path / "weights", tmp_path / "mirror"
    for d in (good, bad):
        (d / entry.path).parent.mkdir(parents=True)
    shutil.copy(_mirror() / entry.path, good / entry.path)
    (bad / entry.path).write_bytes(b"flipped bits")
    monkeypatch.setattr(weights, "search_dirs", lambda explicit=None: [good, bad])  # the mirror comes last
    weights._verified.clear()
    cli.main(["weights", "status"])
    out = capsys.readouterr().out
    line = next(i for i, s in enumerate(out.splitlines()) if NAME in s)
    assert out.splitlines()[line].startswith("present")
    follow = out.splitlines()[line + 1]
    assert "corrupt copy" in follow and str(bad / entry.path) in follow


# ---------------------------------------------------------------- clips that end early, full disks
def _job():
    from engine import params
    from engine.images import load_image
    from engine.job import StyleJob, StyleSource
    from engine.registry import strategies
    import torch

    return StyleJob(content=torch.zeros(1, 3, H, W), strategy="adain",
                    params=params.make(strategies.get("adain").Params, {"preview": False}),
                    styles=(StyleSource(image=load_image(style_file())),), size=None)


@pytest.fixture(scope="module")
def cut_clip(tmp_path_factory) -> Path:
    """60 frames declared (the index at the front), the file cut at 60 % of its bytes."""
    d = tmp_path_factory.mktemp("cut")
    full = noise_clip(d / "full.mp4", 60, faststart=True)
    cut = d / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    with av.open(str(cut)) as c:
        assert c.streams.video[0].frames == 60
    return cut


def test_a_truncated_clip_says_how_many_frames_it_had_and_expected(cut_clip, tmp_path, capsys):
    report = render_video(_job(), cut_clip, tmp_path / "a.mp4", VideoOptions(temporal=False))
    assert 0 < report.frames < 60
    assert any(f"{report.frames} frames of the 60" in n for n in report.notes), report.notes
    code = cli.main(["render", str(cut_clip), "-s", str(style_file()), "--strategy", "adain", "--temporal", "off",
                     "-q", "-o", str(tmp_path / "b.mp4")])
    err = capsys.readouterr().err
    assert code == 0 and f"{report.frames} frames of the 60" in err and "truncated" in err


def test_a_whole_clip_has_no_such_note(tmp_path):
    clip = noise_clip(tmp_path / "whole.mp4", 12)
    report = render_video(_job(), clip, tmp_path / "out.mp4", VideoOptions(temporal=False))
    assert report.frames == 12 and not any("ended early" in n for n in report.notes)


@pytest.mark.parametrize("output", ["out.mp4", "frames"])
def test_a_clip_too_big_for_the_disk_is_refused_before_rendering(tmp_path, capsys, monkeypatch, output):
    clip = noise_clip(tmp_path / "clip.mp4", 12)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    from engine.video import render

    def no_render(*a, **k):
        raise AssertionError("a frame was rendered before the disk was checked")

    monkeypatch.setattr(render, "run_job", no_render)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 50_000, 50_000))
    code = cli.main(["render", str(clip), "-s", str(style_file()), "--strategy", "adain", "--temporal", "off", "-q",
                     "-o", str(out_dir / output)])
    err = capsys.readouterr().err
    assert code == 2 and "Not enough disk space" in err and "12 frames" in err, err
    assert list(out_dir.iterdir()) == []
