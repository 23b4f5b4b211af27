"""Video: a real photo panned 2 px a frame (known motion), stylised frame by frame with real weights.

Clips are tiny (12-16 frames at 128x80) so the file runs in well under a minute on a busy CPU.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli
from engine import params as params_mod
from engine.errors import Cancelled, InputError
from engine.job import StyleJob, StyleSource
from engine.registry import strategies
from engine.strategy import RunContext
from engine.video import FrameDone, VideoOptions, parse_position, render_video
from engine.video.reader import open_clip
from engine.video.flow import Flow, gray, reliable, warp

W, H, STEP, FPS = 128, 80, 2, 12


def pan_frames(photo: Path, n: int, w: int = W, h: int = H, step: int = STEP) -> list[np.ndarray]:
    """``n`` crops of ``photo`` whose window moves ``step`` px right a frame: frame t+1 at x is frame t at x+step."""
    im = Image.open(photo).convert("RGB")
    im = im.resize((max(w + step * n + 8, round(im.width * (h + 8) / im.height)), h + 8), Image.LANCZOS)
    arr = np.asarray(im)
    return [np.ascontiguousarray(arr[4:4 + h, i * step:i * step + w]) for i in range(n)]


def write_clip(path: Path, frames: list[np.ndarray], fps: int = FPS, audio: bool = False,
               durations: list[int] | None = None, codec: str = "libx264", gop: int | None = None) -> list[int]:
    """Encode ``frames`` (time base 1/(100 fps); ``durations`` in those units for a variable rate),
    with a 440 Hz sine track when ``audio``, a key frame every ``gop`` frames when given. Returns the frames' pts."""
    tb = Fraction(1, fps * 100)
    pts, t = [], 0
    with av.open(str(path), "w") as out:
        s = out.add_stream(codec, rate=fps)
        s.width, s.height = frames[0].shape[1], frames[0].shape[0]
        s.pix_fmt = "yuv420p"
        s.time_base = s.codec_context.time_base = tb
        if codec == "libx264":
            s.options = {"crf": "10"}
        if gop:
            s.codec_context.gop_size = gop
            s.options = {**s.options, "keyint_min": str(gop), "sc_threshold": "0"}
        a = out.add_stream("aac", rate=44100) if audio else None
        if a is not None:
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = t, tb
            pts.append(t)
            t += durations[i] if durations else 100
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
        if a is not None:
            sr, pos, total = 44100, 0, int(44100 * float(t * tb))
            while pos < total:
                m = min(1024, total - pos)
                x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(pos, pos + m) / sr)).astype(np.float32)[None]
                af = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
                af.sample_rate, af.pts = sr, pos
                for p in a.encode(af):
                    out.mux(p)
                pos += m
            for p in a.encode(None):
                out.mux(p)
    return pts


def read_clip(path: Path) -> tuple[list[np.ndarray], list[int], Fraction, list[tuple[str, int]]]:
    """Frames, their pts, the average rate, and (codec, packets) per audio track."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames, pts = [], []
        for f in c.decode(s):
            frames.append(f.to_ndarray(format="rgb24"))
            pts.append(f.pts)
        rate = s.average_rate
    with av.open(str(path)) as c:
        audio = [(a.codec_context.name, sum(1 for p in c.demux(a) if p.size)) for a in c.streams.audio]
    return frames, pts, rate, audio


def read_folder(path: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(path.glob("frame_*.png"))]


def pan_error(frames: list[np.ndarray], step: int = STEP) -> float:
    """Mean abs difference (0-255) between each frame and the previous one moved by the known pan."""
    return float(np.mean([np.abs(b[:, :-step].astype(np.float32) - a[:, step:].astype(np.float32)).mean()
                          for a, b in zip(frames, frames[1:])]))


@pytest.fixture(scope="module")
def pan(content_path, tmp_path_factory) -> list[np.ndarray]:
    return pan_frames(content_path, 16)


@pytest.fixture(scope="module")
def clip(pan, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "pan.mp4"
    write_clip(path, pan[:12], audio=True)
    return path


def job(name: str, style, **values) -> StyleJob:
    cls = strategies.get(name)
    first = np.zeros((H, W, 3), np.uint8)
    import torch

    content = torch.from_numpy(first).permute(2, 0, 1)[None].float()
    return StyleJob(content=content, strategy=name, params=params_mod.make(cls.Params, values),
                    styles=(StyleSource(image=style),))


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# ---------------------------------------------------------------- the clip survives


def test_cli_render_keeps_frame_count_rate_timing_and_audio(clip, style_path, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    rc = cli.main(["render", str(clip), "-s", str(style_path), "--strategy", "adain", "-q", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    frames, pts, rate, audio = read_clip(out)
    in_frames, in_pts, in_rate, in_audio = read_clip(clip)
    assert len(frames) == len(in_frames) == 12
    assert rate == in_rate == FPS and pts == in_pts
    assert frames[0].shape == (H, W, 3)
    assert audio and audio[0][0] == "aac" and audio[0][1] == in_audio[0][1]  # every packet copied
    assert set(files_in(tmp_path)) == {"out.mp4"}  # no temporary left beside it
    assert "12 frames" in capsys.readouterr().out


def test_variable_frame_rate_keeps_each_frames_time(pan, style, tmp_path):
    src = tmp_path / "vfr.mkv"
    in_pts = write_clip(src, pan[:8], durations=[100, 200, 50, 100, 300, 100, 100, 100])
    out = tmp_path / "out.mkv"
    render_video(job("adain", style), src, out)
    _, pts, _, _ = read_clip(out)
    with av.open(str(out)) as c:
        tb = c.streams.video[0].time_base
    # mkv stores milliseconds: compare times
    assert [round(float(p * tb), 3) for p in pts] == [round(p / (FPS * 100), 3) for p in in_pts]


def test_start_and_end_trim_and_restart_the_clock(clip, style, tmp_path):
    out = tmp_path / "cut.mp4"
    report = render_video(job("adain", style), clip, out,
                          VideoOptions(start=parse_position("3"), end=parse_position("0.75s")))
    frames, pts, _, audio = read_clip(out)
    assert report.frames == len(frames) == 6  # frames 3..8 (0.75 s = frame 9 at 12 fps)
    assert pts[0] == 0
    assert audio and 0 < audio[0][1] < 40  # about 0.5 s of 1024-sample AAC packets, not the whole track


def write_gop4(src: Path, pan: list[np.ndarray]) -> list[np.ndarray]:
    """24 frames at a constant rate with a key frame every 4."""
    frames = pan + pan[::-1][:8]
    tb = Fraction(1, FPS * 100)
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.time_base = s.codec_context.time_base = tb
        s.codec_context.gop_size = 4
        s.options = {"crf": "10", "keyint_min": "4", "sc_threshold": "0"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i * 100, tb
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return frames


class CountingDecodes:
    """A container that counts the frames it decodes (the rest goes to the real one)."""

    def __init__(self, container) -> None:
        self.container, self.decoded = container, 0

    def decode(self, *streams):
        for frame in self.container.decode(*streams):
            self.decoded += 1
            yield frame

    def __getattr__(self, name):
        return getattr(self.container, name)


@pytest.mark.parametrize("start", ["12", "1.0s"])
def test_a_start_seeks_to_the_key_frame_before_it_on_a_constant_rate(pan, tmp_path, start):
    """Frame 12 (or 1.0 s at 12 fps) with a key frame every 4: decoding starts at frame 12's key
    frame, not frame 0, and gives exactly the frames decoding from 0 gives."""
    src = tmp_path / "gop4.mp4"
    n = len(write_gop4(src, pan))
    with open_clip(src) as clip:
        every = list(clip.frames())
    with open_clip(src) as clip:
        assert clip.constant_rate
        clip.container = CountingDecodes(clip.container)
        got = list(clip.frames(parse_position(start)))
        decoded = clip.container.decoded
    assert [f.index for f in got] == list(range(12, n))
    assert decoded <= n - 12 + 4  # from the key frame at or before frame 12
    assert all(np.array_equal(a.rgb, b.rgb) and a.pts == b.pts for a, b in zip(got, every[12:]))


def test_a_frame_number_start_counts_from_frame_0_on_a_variable_rate(pan, tmp_path):
    """On a variable rate a frame's number is not its time times the rate: count, never seek (and
    in a container that only declares its rate, never trust it: a constant-rate .mkv counts too)."""
    write_clip(tmp_path / "cfr.mkv", pan[:4])
    with open_clip(tmp_path / "cfr.mkv") as clip:
        assert not clip.constant_rate
    src = tmp_path / "vfr.mp4"
    write_clip(src, pan[:8], durations=[100, 200, 50, 100, 300, 100, 100, 100])
    with open_clip(src) as clip:
        every = list(clip.frames())
    with open_clip(src) as clip:
        assert not clip.constant_rate
        clip.container = CountingDecodes(clip.container)
        got = list(clip.frames(parse_position("5")))
        assert clip.container.decoded == 8
    assert [f.index for f in got] == [5, 6, 7]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(got, every[5:]))


def test_a_time_start_and_a_frame_number_start_render_the_same(pan, style, tmp_path):
    """--start 1.0s and --start 12 (12 fps) render the same frames, and as many as are left."""
    src = tmp_path / "gop4.mp4"
    frames = write_gop4(src, pan)
    by_time, by_count = tmp_path / "t", tmp_path / "n"
    for where, out in ((parse_position("1.0s"), by_time), (parse_position("12"), by_count)):
        report = render_video(job("adain", style), src, out, VideoOptions(start=where, temporal=False))
        assert report.frames == len(frames) - 12
    a, b = read_folder(by_time), read_folder(by_count)
    assert len(a) == len(b) == len(frames) - 12
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_positions_parse():
    assert parse_position("12").frames == 12
    assert parse_position("1.5s").seconds == 1.5
    assert parse_position("0:01.5").seconds == 1.5
    with pytest.raises(InputError, match="frame number"):
        parse_position("soon")


def test_frame_folders_in_and_out(pan, style, tmp_path):
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(pan[:6]):
        Image.fromarray(f).save(src / f"f{i + 1}.png")  # natural order: f10 would follow f9
    out = tmp_path / "styled"
    report = render_video(job("adain", style), src, out, VideoOptions(fps=6))
    got = read_folder(out)
    assert report.frames == len(got) == 6 and got[0].shape == (H, W, 3)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_folder_of_frames_keeps_the_audio_beside_them(clip, style, tmp_path):
    """Numbered PNGs cannot hold sound: the input's track is copied beside them (audio.mka),
    every packet, or the trimmed part with --start/--end."""
    _, _, _, in_audio = read_clip(clip)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    report = render_video(job("adain", style), clip, whole, VideoOptions(temporal=False))
    assert len(read_folder(whole)) == 12 and "copied (aac) into audio.mka" in report.audio
    trimmed = render_video(job("adain", style), clip, cut,
                           VideoOptions(start=parse_position("3"), end=parse_position("0.75s"), temporal=False))
    assert len(read_folder(cut)) == trimmed.frames == 6
    counts = []
    for folder in (whole, cut):
        with av.open(str(folder / "audio.mka")) as c:
            a = c.streams.audio[0]
            assert a.codec_context.name == "aac"
            packets = [p for p in c.demux(a) if p.size]
            counts.append(len(packets))
    assert counts[0] == in_audio[0][1]  # every packet copied
    assert 0 < counts[1] < counts[0] * 0.75  # about half a second of the one-second track
    assert sorted(p.name for p in whole.iterdir())[-1] == "frame_000012.png" and (whole / "audio.mka").is_file()


def test_webm_reencodes_the_audio_it_cannot_hold(clip, style, tmp_path):
    out = tmp_path / "out.webm"
    report = render_video(job("adain", style), clip, out, VideoOptions(end=parse_position("4")))
    frames, _, _, audio = read_clip(out)
    assert len(frames) == 4 and audio and audio[0][0] == "opus" and "re-encoded" in report.audio


# ---------------------------------------------------------------- temporal consistency


@pytest.mark.parametrize("strategy", ["adain", "universal"])
def test_temporal_on_follows_the_motion(pan, style, tmp_path, strategy):
    """Along the known 2 px pan, temporal on's frame-to-frame error is well below per-frame's
    (lossless PNG frames out, so the codec adds nothing)."""
    src = tmp_path / "pan.mkv"
    write_clip(src, pan[:10])
    errors = {}
    for mode in ("on", "off"):
        out = tmp_path / f"out_{mode}"
        render_video(job(strategy, style, depth=3) if strategy == "universal" else job(strategy, style),
                     src, out, VideoOptions(temporal=mode == "on"))
        errors[mode] = pan_error(read_folder(out))
    assert errors["on"] < 0.5 * errors["off"], errors


def test_optimisation_frames_start_from_the_previous_output(pan, style, tmp_path):
    """Ruder et al.: after the first frame, gatys starts each frame from the previous output
    warped along the flow, with a temporal loss; the strokes follow the pan instead of jumping,
    and the later frames cost a few steps, not the whole schedule."""
    from engine import metrics

    src = tmp_path / "pan.mkv"
    write_clip(src, pan[:5])
    errors, styles = {}, {}
    for mode in ("on", "off"):
        out = tmp_path / f"out_{mode}"
        render_video(job("gatys", style, steps=16, net="distilled16x"), src, out, VideoOptions(temporal=mode == "on"))
        frames = read_folder(out)
        assert len(frames) == 5
        errors[mode] = pan_error(frames)
        styles[mode] = np.mean([metrics.style_distance(torch.from_numpy(f.copy()).permute(2, 0, 1)[None].float() / 255, [style])
                                for f in frames])
    assert errors["on"] < 0.5 * errors["off"], errors  # measured 2.9 against 21.8 at 8 frames
    assert styles["on"] < 1.1 * styles["off"], styles  # as stylised as frame by frame


def test_flow_recovers_a_known_pan_and_flags_the_new_edge(pan):
    a, b = gray(pan[0]), gray(pan[1])  # b(x) = a(x + 2)
    back = Flow()(b, a)
    fwd = Flow()(a, b)
    inner = back[8:-8, 8:-8]
    assert abs(float(np.median(inner[..., 0])) - STEP) < 0.25 and abs(float(np.median(inner[..., 1]))) < 0.25
    m = reliable(back, fwd)
    assert m[:, -1].mean() < 0.2  # the column the pan brings in has no past
    assert m[8:-8, 8:-12].mean() > 0.8
    warped = warp(pan[0].astype(np.float32), back)
    assert np.abs(warped[8:-8, 8:-12] - pan[1][8:-8, 8:-12]).mean() < 6


# ---------------------------------------------------------------- cancel


@pytest.mark.parametrize("how", ["cancel", "interrupt"])
def test_cancel_leaves_no_file(clip, style, tmp_path, how):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    ctx = RunContext("cpu", cancel=threading.Event())

    def on_event(e) -> None:
        if isinstance(e, FrameDone) and e.index == 3:
            if how == "cancel":
                ctx.cancel()
            else:
                raise KeyboardInterrupt

    with pytest.raises(Cancelled if how == "cancel" else KeyboardInterrupt):
        render_video(job("adain", style), clip, out_dir / "out.mp4", ctx=ctx, on_event=on_event)
    assert files_in(out_dir) == set()
    with pytest.raises(Cancelled):
        ctx2 = RunContext("cpu")
        render_video(job("adain", style), clip, out_dir / "frames", ctx=ctx2,
                     on_event=lambda e: ctx2.cancel())
    assert files_in(out_dir) == set()


# ---------------------------------------------------------------- bad inputs


def _bad(tmp_path: Path, make) -> Path:
    src = make(tmp_path)
    return src


def not_a_video(d: Path) -> Path:
    p = d / "notes.mp4"
    p.write_text("this is not a video\n" * 50)
    return p


def empty_clip(d: Path) -> Path:
    p = d / "empty.mp4"
    with av.open(str(p), "w") as o:
        s = o.add_stream("mpeg4", rate=12)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        o.start_encoding()
    return p


def empty_folder(d: Path) -> Path:
    p = d / "noframes"
    p.mkdir()
    (p / "readme.txt").write_text("no pictures here")
    return p


def corrupt_stream(d: Path) -> Path:
    src = d / "good.mp4"
    rng = np.random.default_rng(0)
    write_clip(src, [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(6)])
    data = bytearray(src.read_bytes())
    i = data.find(b"mdat")
    size = int.from_bytes(data[i - 4:i], "big")  # the box's header: the pictures, the index (moov) after
    data[i + 200:i + size - 200] = rng.integers(0, 256, size - 400, dtype=np.uint8).tobytes()
    src.unlink()
    p = d / "corrupt.mp4"
    p.write_bytes(bytes(data))
    return p


def audio_only(d: Path) -> Path:
    p = d / "sound.mp4"
    with av.open(str(p), "w") as o:
        a = o.add_stream("aac", rate=44100)
        a.layout = "mono"
        x = np.zeros((1, 1024), np.float32)
        for k in range(10):
            af = av.AudioFrame.from_ndarray(x, format="fltp", layout="mono")
            af.sample_rate, af.pts = 44100, k * 1024
            for pk in a.encode(af):
                o.mux(pk)
        for pk in a.encode(None):
            o.mux(pk)
    return p


@pytest.mark.parametrize("make, fragment", [
    (not_a_video, "is not a video"),
    (empty_clip, "zero frames"),
    (empty_folder, "holds no frames"),
    (corrupt_stream, "unreadable"),
    (audio_only, "no video track"),
])
def test_bad_clips_fail_clearly_and_write_nothing(tmp_path, style_path, capsys, make, fragment):
    src = make(tmp_path)
    before = files_in(tmp_path)
    rc = cli.main(["render", str(src), "-s", str(style_path), "--strategy", "adain", "-q",
                   "-o", str(tmp_path / "out.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and fragment in err and "Traceback" not in err, err
    assert files_in(tmp_path) == before


def test_no_frames_in_the_range_is_an_error(clip, style_path, tmp_path, capsys):
    rc = cli.main(["render", str(clip), "-s", str(style_path), "--strategy", "adain", "-q", "--start", "50",
                   "-o", str(tmp_path / "out.mp4")])
    assert rc == 2 and "no frames between frame 50" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, fragment", [
    (["--crf", "80"], "--crf for .mp4 must be between 0"),
    (["--print", "10x10cm"], "for still images"),
    (["--start", "later"], "frame number"),
    (["-o", "OUT.png"], "not one .png image"),
    (["-o", "OUT.avi"], "Unknown video format"),
])
def test_bad_video_options(clip, style_path, tmp_path, capsys, args, fragment):
    argv = ["render", str(clip), "-s", str(style_path), "--strategy", "adain", "-q", "-o", str(tmp_path / "o.mp4"),
            *args]
    argv = [a.replace("OUT", str(tmp_path / "o")) for a in argv]
    rc = cli.main(argv)
    assert rc == 2 and fragment in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_odd_frame_sizes_are_cropped_to_even_and_said(pan, style_path, tmp_path, capsys):
    src = tmp_path / "odd"
    src.mkdir()
    for i, f in enumerate(pan[:4]):
        Image.fromarray(f[:77, :101]).save(src / f"frame_{i:03d}.png")
    out = tmp_path / "odd.mp4"
    rc = cli.main(["render", str(src), "-s", str(style_path), "--strategy", "adain", "-q", "-o", str(out)])
    assert rc == 0
    assert "cropped to 100x76" in capsys.readouterr().err
    frames, _, rate, _ = read_clip(out)
    assert len(frames) == 4 and frames[0].shape == (76, 100, 3) and rate == 24
