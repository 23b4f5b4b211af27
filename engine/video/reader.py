"""Reading clips frame by frame: a video file through PyAV, or a folder of numbered frames.

Frames stream (one decoded at a time); each carries its presentation time stamp in the stream's
time base, so a variable-frame-rate clip keeps its timing when written back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import InputError

#: file endings read as video (anything else that is not an image is probed)
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".gif"})
FRAME_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"})
#: frame rate given to a folder of frames unless told otherwise
DEFAULT_FOLDER_FPS = 24
#: the highest frame rate a user may give a folder of frames (slow-motion cameras reach 1000)
MAX_FPS = 1000
#: the latest --start/--end time (seconds; a 1000-hour clip): keeps time stamps within 64 bits
MAX_POSITION_SECONDS = 3_600_000


@dataclass(frozen=True)
class Position:
    """Where a clip starts or ends: a frame number, or a time in seconds from the clip's start."""

    frames: int | None = None
    seconds: float | None = None

    def reached(self, index: int, seconds: float) -> bool:
        if self.frames is not None:
            return index >= self.frames
        return seconds >= (self.seconds or 0.0) - 1e-6

    def __str__(self) -> str:
        return f"frame {self.frames}" if self.frames is not None else f"{self.seconds:g}s"


_TIME_RE = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?)$")


def parse_position(text: str, flag: str = "A clip position") -> Position:
    """'12' -> frame 12; '1.5s', '1.5', '0:01.5', '1:02:03' -> seconds. A frame number fits 2**31-1 and a
    time is finite and at most MAX_POSITION_SECONDS; ``flag`` (--start, --end) opens the error."""
    from ..params import INT_LIMIT, number, shown

    t = text.strip().lower()
    if t.isdigit():
        return Position(frames=number(flag, t, int, min=0, max=INT_LIMIT))
    try:
        if t.endswith("s"):
            value = float(t[:-1])
        else:
            m = _TIME_RE.match(t)
            if not m:
                raise ValueError
            parts = [p for p in m.groups() if p is not None]
            value = 0.0
            for p in parts:
                value = value * 60 + float(p)
    except ValueError:
        raise InputError(f"{flag} is a frame number (e.g. 12) or a time (e.g. 1.5s or 0:01.5), "
                         f"got '{shown(text)}'.") from None
    if value < 0:
        raise InputError(f"{flag} must not be negative, got '{shown(text)}'.")
    return Position(seconds=number(flag, t[:-1] if t.endswith("s") else value, float, max=MAX_POSITION_SECONDS))


def check_fps(fps: float | None, flag: str = "--fps") -> float | None:
    """A frame rate given by the user: None (the default), or a finite rate in (0, MAX_FPS]."""
    if fps is None:
        return None
    from ..params import number

    return number(flag, fps, float, above=0, max=MAX_FPS)


@dataclass(frozen=True)
class ClipInfo:
    path: Path
    kind: str  # "video" or "frames"
    width: int
    height: int
    #: average frame rate (frames per second)
    fps: Fraction
    #: the stream's time base: a frame's time is pts * time_base seconds
    time_base: Fraction
    #: the number of frames when the container says (or estimated from the duration); None if unknown
    frames: int | None
    has_audio: bool
    codec: str = ""


@dataclass(frozen=True)
class Frame:
    #: HxWx3 uint8 RGB
    rgb: np.ndarray
    #: 0-based index in the clip (before --start is applied)
    index: int
    #: presentation time stamp in ClipInfo.time_base units
    pts: int
    #: seconds from the clip's start
    seconds: float


def _natural_key(p: Path) -> tuple:
    return tuple(int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", p.name))


def is_video_input(path: str | Path) -> bool:
    """Whether ``path`` is read as a clip: a folder, a video ending, or (an unknown ending) a file
    FFmpeg opens with a video stream of more than one frame."""
    p = Path(path)
    if p.is_dir():
        return True
    suffix = p.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return True
    if suffix in FRAME_SUFFIXES or not p.is_file():
        return False
    try:
        import av

        with av.open(str(p)) as c:
            s = next(iter(c.streams.video), None)
            return s is not None and (s.frames > 1 or (s.duration or 0) > 0 or (c.duration or 0) > 0)
    except Exception:
        return False


class Clip:
    """An open clip; ``frames()`` decodes it lazily. Use as a context manager."""

    info: ClipInfo

    def frames(self, start: Position | None = None, end: Position | None = None) -> Iterator[Frame]:
        raise NotImplementedError  # pragma: no cover - interface

    def frame_at(self, index: int) -> Frame:
        """One frame by its 0-based index (clamped to the clip), without decoding from the start:
        the editor's scrubber. It moves the read position, so stream with ``frames()`` on a clip of
        its own."""
        raise NotImplementedError  # pragma: no cover - interface

    def close(self) -> None:
        pass

    def __enter__(self) -> "Clip":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _in_range(index: int, seconds: float, start: Position | None, end: Position | None) -> str:
    """'skip', 'keep' or 'stop' for a frame."""
    if end is not None and end.reached(index, seconds):
        return "stop"
    if start is not None and not start.reached(index, seconds):
        return "skip"
    return "keep"


class VideoClip(Clip):
    def __init__(self, path: Path) -> None:
        import av

        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"{path} is not a video FFmpeg can read ({_reason(exc)}). Use an .mp4, .mov, "
                             ".mkv or .webm clip, or a folder of numbered frames.") from None
        video = next(iter(self.container.streams.video), None)
        if video is None:
            kinds = ", ".join(sorted({s.type for s in self.container.streams}))
            self.container.close()
            if not kinds:
                raise InputError(f"{path} is an empty clip: it holds no streams and zero frames; nothing to render.")
            raise InputError(f"{path} has no video track (it holds {kinds}); give a clip with pictures.")
        if video.codec_context is None or not video.codec_context.width:
            self.container.close()
            raise InputError(f"The video track of {path} cannot be decoded (codec "
                             f"'{getattr(video.codec_context, 'name', '?')}', no picture size).")
        video.thread_type = "AUTO"
        self.stream = video
        tb = video.time_base or Fraction(1, 90000)
        fps = video.average_rate or video.guessed_rate or Fraction(DEFAULT_FOLDER_FPS)
        frames = video.frames or None
        if frames is None and video.duration:
            frames = max(1, round(float(video.duration * tb * fps)))
        elif frames is None and self.container.duration:
            frames = max(1, round(self.container.duration / 1_000_000 * float(fps)))
        self.start_pts = video.start_time or 0
        #: a constant frame rate, known for sure: then a frame's number is its time times the rate,
        #: and a frame-number --start can seek like a time one. MP4/MOV keep every frame's duration
        #: (the average is measured: a variable-rate clip averages 192/23 fps at a base of 24);
        #: Matroska/WebM only declare a rate (a variable-rate .mkv says 12 and 12), so never there
        measured = any(name in self.container.format.name.split(",") for name in ("mp4", "mov"))
        self.constant_rate = bool(measured and video.average_rate and video.average_rate == video.base_rate)
        self.info = ClipInfo(path=path, kind="video", width=video.codec_context.width,
                             height=video.codec_context.height, fps=Fraction(fps), time_base=Fraction(tb),
                             frames=frames, has_audio=bool(self.container.streams.audio),
                             codec=video.codec_context.name)

    def _seek_to(self, start: Position | None, end: Position | None) -> float | None:
        """Seconds to seek to before decoding, or None to decode from frame 0. A time --start seeks
        (unless --end is a frame number, which needs the count from frame 0); a frame-number one
        too on a constant frame rate, where numbers follow from time stamps exactly."""
        fps = float(self.info.fps)
        if start is None:
            return None
        if start.seconds and (end is None or end.frames is None or self.constant_rate):
            return start.seconds
        if start.frames and self.constant_rate:
            return (start.frames - 0.5) / fps  # half a frame early: rounding never skips it
        return None

    def frames(self, start: Position | None = None, end: Position | None = None,
               seek: bool = True) -> Iterator[Frame]:
        import av

        info = self.info
        index = 0
        last_pts = None
        # seeking goes to the key frame before the start instead of decoding everything before it;
        # frames are then numbered from their time stamps
        counted = True
        to = self._seek_to(start, end) if seek else None
        if to is not None:
            try:
                self.container.seek(self.start_pts + int(to / info.time_base), stream=self.stream,
                                    backward=True, any_frame=False)
                counted = False
            except av.error.FFmpegError:
                pass  # not seekable: decode from the start
        try:
            for frame in self.container.decode(self.stream):
                pts = frame.pts
                if pts is None and not counted:  # no time stamps to number by after all: start over
                    self.container.seek(self.start_pts, stream=self.stream, backward=True, any_frame=False)
                    yield from self.frames(start, end, seek=False)
                    return
                if pts is None:  # a stream without time stamps: count frames at the average rate
                    pts = self.start_pts + round(index / (info.fps * info.time_base))
                if last_pts is not None and pts <= last_pts:
                    pts = last_pts + 1
                last_pts = pts
                seconds = float((pts - self.start_pts) * info.time_base)
                if not counted:
                    index = round(seconds * float(info.fps))
                where = _in_range(index, seconds, start, end)
                if where == "stop":
                    return
                if where == "keep":
                    yield Frame(frame.to_ndarray(format="rgb24"), index, pts, seconds)
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"The video stream of {self.path} is unreadable after {index} frame(s) "
                             f"({_reason(exc)}); the file may be truncated or corrupt.") from None

    def frame_at(self, index: int) -> Frame:
        """Seek to the key frame at or before the frame's time, then decode up to it.

        The index is counted at the average rate (exact for a constant frame rate; on a variable
        one, the frame showing at ``index / fps`` seconds). Past the end: the last frame."""
        import av

        info = self.info
        fps = float(info.fps)
        target = max(0, index) / fps
        self.container.seek(self.start_pts + int(target / info.time_base), stream=self.stream, backward=True,
                            any_frame=False)
        last = None
        try:
            for frame in self.container.decode(self.stream):
                pts = frame.pts if frame.pts is not None else self.start_pts
                seconds = float((pts - self.start_pts) * info.time_base)
                last = (frame, pts, seconds)
                if seconds >= target - 0.5 / fps:
                    break
        except av.error.FFmpegError as exc:
            if last is None:
                raise InputError(f"Frame {index} of {self.path} is unreadable ({_reason(exc)}); the file may be "
                                 "truncated or corrupt.") from None
        if last is None:
            raise InputError(f"{self.path} has no frame at {target:.2f}s; nothing to show.")
        frame, pts, seconds = last
        return Frame(frame.to_ndarray(format="rgb24"), round(seconds * fps), pts, seconds)

    def close(self) -> None:
        self.container.close()


class FolderClip(Clip):
    """A folder of numbered frames (frame_0001.png, ...), in natural order, at ``fps``."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        from ..images import image_size

        self.path = path
        self.files = sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and
                             not p.name.startswith(".")), key=_natural_key)
        if not self.files:
            raise InputError(f"The folder {path} holds no frames (numbered .png/.jpg/.tif/.webp images).")
        w, h = image_size(self.files[0])
        fps = check_fps(fps)
        rate = Fraction(DEFAULT_FOLDER_FPS) if fps is None else Fraction(fps).limit_denominator(1001)
        if rate <= 0:
            raise InputError(f"--fps: {fps} is too small a frame rate; give at least 0.001.")
        self.info = ClipInfo(path=path, kind="frames", width=w, height=h, fps=rate, time_base=1 / rate,
                             frames=len(self.files), has_audio=False, codec="images")

    def frames(self, start: Position | None = None, end: Position | None = None) -> Iterator[Frame]:
        from ..images import load_pil

        for index, f in enumerate(self.files):
            seconds = float(index / self.info.fps)
            where = _in_range(index, seconds, start, end)
            if where == "stop":
                return
            if where == "skip":
                continue
            rgb = np.asarray(load_pil(f, "RGB"))
            if rgb.shape[:2] != (self.info.height, self.info.width):
                raise InputError(f"Frame {f.name} is {rgb.shape[1]}x{rgb.shape[0]} px but the first frame is "
                                 f"{self.info.width}x{self.info.height}; every frame of a clip needs one size.")
            yield Frame(rgb, index, index, seconds)

    def frame_at(self, index: int) -> Frame:
        from ..images import load_pil

        index = min(max(0, index), len(self.files) - 1)
        rgb = np.asarray(load_pil(self.files[index], "RGB"))
        if rgb.shape[:2] != (self.info.height, self.info.width):
            raise InputError(f"Frame {self.files[index].name} is {rgb.shape[1]}x{rgb.shape[0]} px but the first frame "
                             f"is {self.info.width}x{self.info.height}; every frame of a clip needs one size.")
        return Frame(rgb, index, index, float(index / self.info.fps))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def open_clip(path: str | Path, fps: float | None = None) -> Clip:
    """The clip at ``path`` (a video file or a folder of frames), or an InputError saying why not."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist.")
    if p.is_dir():
        return FolderClip(p, fps)
    return VideoClip(p)
