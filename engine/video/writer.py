"""Writing clips: H.264 (or VP9 for .webm) through PyAV, or a folder of numbered PNG frames.

Every output goes to a temporary file (or folder) beside the destination and is moved into place
only once complete, so a failed or cancelled render leaves nothing behind. The input's audio
packets are copied into the output as the video advances (interleaved, never all held), or
re-encoded when the container cannot hold the codec (AAC into .webm becomes Opus).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError, OutputError
from .reader import FRAME_SUFFIXES

#: container ending -> (video encoder, default CRF, CRF range, audio codec to re-encode into)
FORMATS = {
    ".mp4": ("libx264", 18, 51, "aac"),
    ".m4v": ("libx264", 18, 51, "aac"),
    ".mov": ("libx264", 18, 51, "aac"),
    ".mkv": ("libx264", 18, 51, "aac"),
    ".webm": ("libvpx-vp9", 31, 63, "libopus"),
}


def is_folder_output(path: str | Path) -> bool:
    """A path without an ending (or an existing folder, or ending in a slash) gets numbered frames."""
    text = str(path)
    p = Path(path)
    return text.endswith(("/", os.sep)) or p.is_dir() or p.suffix == ""


def check_video_output(path: str | Path, crf: int | None) -> None:
    """Raise before anything runs when ``path`` cannot take a clip."""
    p = Path(path)
    if is_folder_output(p):
        if p.is_dir() and any(p.iterdir()):
            raise InputError(f"The folder {p} is not empty; give a new (or empty) folder for the frames.")
        if p.exists() and not p.is_dir():
            raise InputError(f"{p} exists and is not a folder.")
        return
    suffix = p.suffix.lower()
    if suffix in FRAME_SUFFIXES:
        raise InputError(f"A clip renders to a video (.mp4, .mov, .mkv, .webm) or a folder of frames, not one "
                         f"{suffix} image; give a folder name (no ending) for numbered frames.")
    if suffix not in FORMATS:
        raise InputError(f"Unknown video format '{suffix}': use .mp4, .mov, .mkv or .webm, or a folder name for frames.")
    if crf is not None:
        top = FORMATS[suffix][2]
        if not 0 <= crf <= top:
            raise InputError(f"--crf for {suffix} must be between 0 (lossless) and {top}, got {crf}.")


#: bytes a frame's pixel may take at a format's default CRF: a conservative bound (a stylised clip
#: rendered frame by frame at CRF 18 took 0.32 B/px at 64x48 px, where small frames cost the most)
ENCODED_BYTES_PER_PIXEL = 0.5
#: numbered PNGs at compress level 1: about the raw RGB (noise-like strokes barely compress)
PNG_BYTES_PER_PIXEL = 3.2
#: audio copied or re-encoded: 320 kbit/s bounds every usual track
AUDIO_BYTES_PER_SECOND = 40_000


def estimate_video_bytes(path: str | Path, frames: int, hw: tuple[int, int], crf: int | None = None,
                         seconds: float = 0.0, audio: bool = False) -> int:
    """An upper bound of what ``frames`` frames of ``hw`` take at ``path`` (a video file, or a
    folder of numbered PNGs), audio included: every 6 CRF below a format's default doubles the size
    (x264's rule), up to the raw yuv420p picture at the lossless end."""
    h, w = hw
    if is_folder_output(path):
        per_pixel = PNG_BYTES_PER_PIXEL
    else:
        _, default, _, _ = FORMATS.get(Path(path).suffix.lower(), FORMATS[".mp4"])
        step = (default - (default if crf is None else crf)) / 6
        per_pixel = min(2.0, max(0.05, ENCODED_BYTES_PER_PIXEL * 2.0 ** step))
    extra = AUDIO_BYTES_PER_SECOND * seconds if audio else 0
    return int(frames * h * w * per_pixel + extra + 1_000_000)


def _existing_folder(path: Path) -> Path:
    """The nearest folder of ``path`` that exists (the writers create the rest)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_video_space(path: str | Path, frames: int, hw: tuple[int, int], crf: int | None = None,
                      seconds: float = 0.0, audio: bool = False) -> int:
    """Refuse, before any frame is rendered, a clip the output's disk cannot hold (by
    :func:`estimate_video_bytes`); returns the estimate. The temporary file or folder lives beside
    the output and is renamed into place, so it needs no room of its own."""
    p = Path(path)
    need = estimate_video_bytes(p, frames, hw, crf, seconds, audio)
    folder = _existing_folder(p.resolve())
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return need  # the write reports what is wrong with the folder
    if free < need:
        what = "the frames" if is_folder_output(p) else "the clip"
        raise OutputError(f"Not enough disk space for {p}: {what} ({frames} frames at {hw[1]}x{hw[0]} px) may take up "
                          f"to {need / 1e6:,.0f} MB and {folder} has {free / 1e6:,.0f} MB free. Free some space, choose "
                          "another folder, or render fewer frames (--start/--end) or smaller (--size); nothing was "
                          "written.")
    return need


@dataclass
class AudioPlan:
    """What happened to the input's audio: 'copied', 're-encoded (opus)', 'none' or 'dropped (...)'."""

    status: str = "none"


class _AudioCopier:
    """Reads the input's first audio track with its own demuxer and muxes its packets into
    ``output`` up to each video time it is told. Times are the input's own clock (pts x time
    base): ``offset`` is where a trimmed clip starts (0: not trimmed, every packet kept as is),
    ``end`` where it stops; kept packets move back by ``offset``."""

    def __init__(self, source: Path, output, suffix: str, offset: float, end: float | None, plan: AudioPlan) -> None:
        import av

        self.input = av.open(str(source))
        self.in_stream = self.input.streams.audio[0]
        self.output = output
        self.offset, self.end = offset, end
        codec = self.in_stream.codec_context.name
        supported = getattr(output, "supported_codecs", None)
        self.copy = supported is None or codec in supported
        if self.copy:
            self.out_stream = output.add_stream_from_template(self.in_stream)
            plan.status = f"copied ({codec})"
        else:
            target = FORMATS[suffix][3]
            rate = self.in_stream.codec_context.sample_rate or 48000
            if target == "libopus" and rate not in (8000, 12000, 16000, 24000, 48000):
                rate = 48000
            self.out_stream = output.add_stream(target, rate=rate)
            self.out_stream.layout = self.in_stream.codec_context.layout or "stereo"
            fmt = self.out_stream.codec_context.codec.audio_formats[0].name
            self.resampler = av.AudioResampler(format=fmt, layout=self.out_stream.layout, rate=rate)
            plan.status = f"re-encoded ({codec} -> {target.removeprefix('lib')}: {suffix} cannot hold {codec})"
        self.packets = self.input.demux(self.in_stream)
        self.pending = None
        self.done = False

    def _next(self):
        while not self.done:
            try:
                pkt = next(self.packets)
            except StopIteration:
                self.done = True
                return None
            if pkt.pts is None or pkt.size == 0:
                continue
            return pkt
        return None

    def until(self, seconds: float | None) -> None:
        """Mux every audio packet that starts before ``seconds`` on the input's clock (None: the rest)."""
        tb = self.in_stream.time_base
        shift = round(self.offset / tb) if self.offset else 0
        while True:
            pkt = self.pending or self._next()
            self.pending = None
            if pkt is None:
                return
            t = float(pkt.pts * tb)
            if seconds is not None and t >= seconds:
                self.pending = pkt
                return
            if (self.offset and t < self.offset - 1e-6) or (self.end is not None and t >= self.end):
                continue
            if self.copy:
                pkt.pts -= shift
                if pkt.dts is not None:
                    pkt.dts -= shift
                pkt.stream = self.out_stream
                self.output.mux(pkt)
            else:
                for frame in pkt.decode():
                    frame.pts = None
                    for f in self.resampler.resample(frame):
                        self.output.mux(self.out_stream.encode(f))

    def finish(self) -> None:
        self.until(None)
        if not self.copy:
            for f in self.resampler.resample(None):
                self.output.mux(self.out_stream.encode(f))
            self.output.mux(self.out_stream.encode(None))
        self.input.close()


class VideoWriter:
    """An open video file being written (at a temporary path): ``write(rgb, pts)`` per frame."""

    def __init__(self, tmp: Path, suffix: str, width: int, height: int, time_base: Fraction, fps: Fraction,
                 crf: int | None, audio_source: Path | None, offset_pts: int, end_s: float | None,
                 plan: AudioPlan) -> None:
        import av

        codec, default_crf, _, _ = FORMATS[suffix]
        fmt = {".mkv": "matroska", ".webm": "webm", ".mov": "mov", ".m4v": "mp4"}.get(suffix, "mp4")
        self.output = av.open(str(tmp), "w", format=fmt)
        self.stream = self.output.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        options = {"crf": str(default_crf if crf is None else crf)}
        if codec == "libvpx-vp9":
            options.update({"b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"})
        else:
            options["preset"] = "medium"
        self.stream.options = options
        self.offset_pts = offset_pts
        self.time_base = time_base
        self.audio = (_AudioCopier(audio_source, self.output, suffix, float(offset_pts * time_base), end_s, plan)
                      if audio_source is not None else None)
        self.last_pts: int | None = None

    def write(self, rgb: np.ndarray, pts: int) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        out_pts = pts - self.offset_pts
        if self.last_pts is not None and out_pts <= self.last_pts:
            out_pts = self.last_pts + 1
        self.last_pts = out_pts
        frame.pts = out_pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self.output.mux(packet)
        if self.audio is not None:
            self.audio.until(float(pts * self.time_base))

    def close(self, ok: bool) -> None:
        try:
            if ok:
                for packet in self.stream.encode(None):
                    self.output.mux(packet)
                if self.audio is not None:
                    self.audio.finish()
        finally:
            if self.audio is not None and not ok:
                self.audio.input.close()
            self.output.close()


#: the input's audio beside a folder of frames: Matroska holds any codec, so it is copied as it is
FOLDER_AUDIO = "audio.mka"


class FolderWriter:
    """Numbered PNG frames (frame_000001.png, ...) into a temporary folder beside the destination;
    the input's audio (``audio_source``), trimmed as the frames are, beside them as FOLDER_AUDIO."""

    def __init__(self, tmp: Path, audio_source: Path | None = None, offset_s: float = 0.0,
                 end_s: float | None = None, plan: AudioPlan | None = None) -> None:
        self.dir = tmp
        self.count = 0
        self.audio: _AudioCopier | None = None
        if audio_source is not None:
            import av

            self.output = av.open(str(tmp / FOLDER_AUDIO), "w", format="matroska")
            plan = plan if plan is not None else AudioPlan()
            self.audio = _AudioCopier(audio_source, self.output, ".mkv", offset_s, end_s, plan)
            plan.status += f" into {FOLDER_AUDIO}"

    def write(self, rgb: np.ndarray, pts: int) -> None:
        from PIL import Image

        self.count += 1
        Image.fromarray(rgb).save(self.dir / f"frame_{self.count:06d}.png", compress_level=1)

    def close(self, ok: bool) -> None:
        if self.audio is None:
            return
        try:
            if ok:
                self.audio.finish()
        finally:
            if not ok:
                self.audio.input.close()
            self.output.close()


@contextmanager
def atomic_folder(dest: Path) -> Iterator[Path]:
    """A temporary folder beside ``dest`` that becomes ``dest`` (a new or empty folder) on success."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    except OSError as exc:
        raise OutputError(f"Cannot write {dest}: {exc.strerror or exc}. Choose another folder; nothing was written.") from exc
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if dest.is_dir():
            dest.rmdir()  # empty: checked before the render
        os.replace(tmp, dest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise OutputError(f"Cannot write {dest}: {exc.strerror or exc}; nothing was written.") from exc
        raise


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old
