"""A clip cut into chunks that render apart (on a render farm's workers) and stitch back into one.

A chunk's cuts fall on key frames, so decoding it starts near where it is needed. Temporal
consistency carries state from frame to frame (the previous output, the clip's running colour
statistics), which a chunk rendered elsewhere does not have: each chunk is therefore rendered
from OVERLAP frames before its first one with a fresh :class:`.render.FrameStyler`, and those
frames are thrown away, so by the chunk's first frame the blend has settled as it would have in
one piece. The driver stitches the chunks in order through the one-piece path's writer, with the
audio copied as that path copies it (:func:`.render.write_clip`): same frames, time stamps and
audio packets.

A chunk's frames come back raw (uint8, frames x H x W x 3), not as PNG: stylised frames barely
compress (PNG at level 1 took 3.2 B/px, writer.py's figure, over raw's 3) and encoding costs time;
CHUNK_FRAMES bounds what one chunk holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import InputError
from ..images import resize
from ..job import StyleJob
from ..strategy import RunContext
from .reader import Clip, Position, VideoClip, open_clip
from .render import (FrameDone, FrameStyler, VideoOptions, VideoReport, _tensor, _u8, ended_early, frame_params, output_size,
                     write_clip)
from .writer import AudioPlan, check_video_output, check_video_space, is_folder_output

#: frames rendered before a chunk and thrown away, so its first frame carries the blend the clip
#: would have had in one piece (the blend keeps 0.8 of the warped previous output, and the colour
#: statistics a running average: a fresh start fades slowly). On tests/test_chunks.py's 48-frame pan
#: in 4 chunks (universal, 128x80; the error of a frame against the previous one moved by the pan,
#: 0-255): seams at 24 and 36 of 5.5 and 5.8 with 8 frames, 4.3 and 4.4 with 12, against 3.7 on
#: average and 4.8 at most between frames of the one-piece render (4.4 at most inside the chunks)
OVERLAP = 12
#: the most frames one chunk holds (10 s at 24 fps): at 1080p its frames are 1.5 GB in transit
CHUNK_FRAMES = 240


@dataclass(frozen=True)
class Chunk:
    """Frames ``first`` .. ``first + count - 1`` (0-based, in presentation order) of a clip.

    Times are seconds on the clip's clock, as :class:`.reader.Frame` counts them: ``warm_s`` the
    first frame rendered (``warm`` frames before ``start_s``, its first frame written), ``end_s``
    the next chunk's first frame (None: to the clip's end)."""

    index: int
    first: int
    count: int
    warm: int
    warm_s: float
    start_s: float
    end_s: float | None


@dataclass(frozen=True)
class ChunkFrames:
    """A rendered chunk: its frames as written (``frames`` x H x W x 3 uint8) and their time stamps."""

    index: int
    pts: tuple[int, ...]
    frames: np.ndarray


def frame_times(clip: Clip) -> tuple[list[float], list[bool]]:
    """Each frame's time (seconds on the clip's clock, in presentation order) and whether it is a
    key frame, from the container's packets (nothing is decoded). A folder's frames are all keys."""
    info = clip.info
    if not isinstance(clip, VideoClip):
        n = info.frames or 0
        return [float(i / info.fps) for i in range(n)], [True] * n
    import av

    times: list[tuple[int, bool]] = []
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    times.append((packet.pts, bool(packet.is_keyframe)))
        except av.error.FFmpegError:
            pass  # a damaged tail: the chunks cover what can be read, the render says the clip ended early
    times.sort()
    return [float((p - clip.start_pts) * info.time_base) for p, _ in times], [k for _, k in times]


def plan_chunks(source: str | Path, parts: int, overlap: int = OVERLAP, fps: float | None = None,
                most: int = CHUNK_FRAMES) -> tuple[Chunk, ...]:
    """Cut the clip at ``source`` into about ``parts`` chunks (fewer where one would be shorter
    than ``overlap`` frames, more where one would pass ``most``), cut on the key frames nearest
    even shares; each chunk warms up on the ``overlap`` frames before it.
    A clip with too few key frames for that is cut between them: the frames from the key frame
    before a chunk's warm-up to it are decoded and dropped (decoding is a small share of a frame's
    stylisation)."""
    with open_clip(source, fps) as clip:
        times, keys = frame_times(clip)
    n = len(times)
    if n == 0:
        raise InputError(f"{source} has no frames; nothing to render.")
    # a chunk is at least ``overlap`` frames long, so warming up never more than doubles its work
    parts = max(1, min(parts, n // max(1, overlap)), -(-n // most))
    cuts = [i for i in range(1, n) if keys[i]]
    if len(cuts) < parts - 1:
        cuts = list(range(1, n))
    chosen: list[int] = []
    for j in range(1, parts):
        ideal = j * n / parts
        best = min(cuts, key=lambda i: abs(i - ideal), default=None)
        if best is not None and best > (chosen[-1] if chosen else 0):
            chosen.append(best)
    bounds = [0, *chosen, n]
    chunks = []
    for index, (a, b) in enumerate(zip(bounds, bounds[1:])):
        w = a - max(0, a - overlap)
        chunks.append(Chunk(index, a, b - a, w, times[a - w], times[a], times[b] if b < n else None))
    return tuple(chunks)


def render_chunk(job: StyleJob, source: str | Path, chunk: Chunk, options: VideoOptions | None = None,
                 ctx: RunContext | None = None, encoded: bool = True) -> ChunkFrames:
    """Render one chunk of the clip at ``source``: its warm-up frames, then its own, kept.
    ``encoded``: the stitched output is a video file (odd sides are cropped to even, as
    :func:`.render.output_size` says), not a folder of frames."""
    from ..runner import check_job, resolve_device

    options = options or VideoOptions()
    ctx = ctx or RunContext(resolve_device(job.device))
    pts: list[int] = []
    kept: list[np.ndarray] = []
    with open_clip(source, options.fps) as clip:
        render_hw, write_hw, _ = output_size(clip.info, job.size, encoded)
        end = None if chunk.end_s is None else Position(seconds=chunk.end_s)
        styler = None
        for frame in clip.frames(Position(seconds=chunk.warm_s), end):
            ctx.check()
            if styler is None:
                template = job.with_(content=resize(_tensor(frame.rgb), render_hw), size=None,
                                     params=frame_params(job))
                check_job(template)
                styler = FrameStyler(template, options, ctx, render_hw)
            image = styler(frame)
            if frame.seconds >= chunk.start_s - 1e-6:
                kept.append(_u8(image[: write_hw[0], : write_hw[1]]))
                pts.append(frame.pts)
    frames = np.stack(kept) if kept else np.zeros((0, *write_hw, 3), np.uint8)
    return ChunkFrames(chunk.index, tuple(pts), frames)


def local_chunks(job: StyleJob, source: str | Path, options: VideoOptions, ctx: RunContext | None,
                 encoded: bool) -> Callable[[Sequence[Chunk]], Iterable[ChunkFrames]]:
    """Chunks rendered one after another in this process (what a farm does on its workers)."""
    return lambda chunks: (render_chunk(job, source, c, options, ctx, encoded) for c in chunks)


def render_chunked(job: StyleJob, source: str | Path, dest: str | Path, options: VideoOptions | None = None,
                   parts: int = 2, render_chunks: Callable[[Sequence[Chunk]], Iterable[ChunkFrames]] | None = None,
                   ctx: RunContext | None = None, overlap: int = OVERLAP, chunks: Sequence[Chunk] | None = None,
                   on_chunk: Callable[[ChunkFrames], None] | None = None,
                   on_event: Callable[[object], None] | None = None) -> VideoReport:
    """Render the clip at ``source`` into ``dest`` in chunks, stitched in order with its audio.

    ``render_chunks`` turns the plan (``chunks``, else :func:`plan_chunks` into ``parts``) into
    rendered chunks, yielded in the plan's order (a farm renders them at once on its workers; the
    default renders them here, one after another); ``on_event`` gets a FrameDone per frame written.
    Trimming (``options.start``/``end``) is the one-piece path's: refused here."""
    options = options or VideoOptions()
    if options.start is not None or options.end is not None:
        raise InputError("A clip rendered in chunks is rendered whole; trim it first, or render it in one piece.")
    src, out = Path(source), Path(dest)
    check_video_output(out, options.crf)
    if src.resolve() == out.resolve():
        raise InputError(f"The output {out} is the input clip; choose another name.")
    started = time.perf_counter()
    chunks = tuple(chunks) if chunks is not None else plan_chunks(src, parts, overlap, options.fps)
    total = sum(c.count for c in chunks)
    encoded = not is_folder_output(out)
    with open_clip(src, options.fps) as clip:
        info = clip.info
    _, write_hw, note = output_size(info, job.size, encoded)
    audio = info.has_audio and info.kind == "video"
    check_video_space(out, total, write_hw, options.crf, total / float(info.fps), audio)
    report = VideoReport(temporal=options.temporal, notes=[note] if note else [])
    plan = AudioPlan()
    render_chunks = render_chunks or local_chunks(job, src, options, ctx, encoded)

    def fill(writer) -> None:
        for chunk, piece in zip(chunks, render_chunks(chunks), strict=True):
            if piece.index != chunk.index:
                raise RuntimeError(f"chunk {piece.index} came back in chunk {chunk.index}'s place")
            for rgb, pts in zip(piece.frames, piece.pts):
                writer.write(rgb, pts)
                report.frames += 1
                if on_event is not None:
                    on_event(FrameDone(report.frames, total, rgb))
            if on_chunk is not None:
                on_chunk(piece)

    write_clip(out, info, write_hw, options.crf, src if audio else None, 0, None, plan, fill)
    short = ended_early(report.frames, info.frames)
    if short:
        report.notes.append(short)
    report.width, report.height = write_hw[1], write_hw[0]
    report.fps = float(info.fps)
    report.audio = plan.status
    report.seconds = time.perf_counter() - started
    return report
