"""Stylising a clip: decode a frame, stylise it, blend it along the flow, encode it; repeat.

One frame is held at a time (plus the previous input and output for the flow), so memory stays
flat with the clip's length. Every frame is a job run through :func:`engine.runner.run_job`
with the clip's styles, regions and parameters; the strategies' caches keep the styles' encoded
statistics across frames. Feed-forward strategies get the flow blend of :mod:`.temporal`.
Optimisation strategies follow Ruder et al. (2016): after the first frame (the strategy's full
schedule), each frame starts from the previous output warped along the flow (its own stylised
start where the flow fails) and runs a few steps at the output size with a temporal loss that
keeps the warped strokes where the flow holds (``engine.job.PreviousFrame``).
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError
from ..images import atomic_write, resize, size_for_long_edge
from ..job import PreviousFrame, StyleJob
from ..runner import check_job, run_job
from ..strategy import RunContext
from .reader import Clip, ClipInfo, Frame, Position, open_clip
from .flow import warp
from .scene_track import SceneFollow, SceneTrack
from .temporal import BLEND, Motion, TemporalBlender
from .writer import (AudioPlan, FolderWriter, VideoWriter, atomic_folder, check_video_output, check_video_space,
                     is_folder_output)


@dataclass
class VideoOptions:
    temporal: bool = True
    #: weight of the warped previous output where the flow holds (temporal on)
    blend: float = BLEND
    crf: int | None = None
    start: Position | None = None
    end: Position | None = None
    #: frame rate of a folder of frames (a video file carries its own)
    fps: float | None = None
    #: optimisation strategies, temporal on: steps per frame after the first, and the temporal
    #: loss's weight (see PreviousFrame)
    frame_steps: int = PreviousFrame.steps
    temporal_weight: float = PreviousFrame.temporal_weight
    #: regions cut from semantic groups, and faces, that follow the picture (None: as on the first frame)
    scene: SceneFollow | None = None


@dataclass(frozen=True)
class FrameDone:
    """Sent after each frame is written: ``index`` 1-based among the frames written, ``total``
    the expected count (None when the container does not say), ``image`` the frame written."""

    index: int
    total: int | None
    image: np.ndarray | None = None


@dataclass
class VideoReport:
    frames: int = 0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    seconds: float = 0.0
    audio: str = "none"
    temporal: bool = True
    notes: list[str] = field(default_factory=list)


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    if not rgb.flags.writeable:
        rgb = rgb.copy()
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div_(255)


def _chw(image: np.ndarray) -> torch.Tensor:
    """HxWx3 float in [0, 1] as 1x3xHxW."""
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).float().clamp(0, 1).contiguous().numpy()


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def frame_params(job: StyleJob):
    """The job's params with the per-frame extras off: no low-resolution preview, no figures."""
    names = {f.name for f in dataclasses.fields(job.params)}
    off = {k: False for k in ("preview", "measure") if k in names}
    return dataclasses.replace(job.params, **off) if off else job.params


def output_size(info: ClipInfo, size: int | None, encoded: bool) -> tuple[tuple[int, int], tuple[int, int], str | None]:
    """(render hw, written hw, note): H.264/VP9 in yuv420p need even sides, so an odd side is
    rendered and then cropped by one pixel."""
    hw = (info.height, info.width) if size is None else size_for_long_edge(info.height, info.width, size)
    if not encoded or (hw[0] % 2 == 0 and hw[1] % 2 == 0):
        return hw, hw, None
    even = (hw[0] - hw[0] % 2, hw[1] - hw[1] % 2)
    if min(even) < 16:
        raise InputError(f"The clip renders at {hw[1]}x{hw[0]} px, too small to encode; use a larger --size.")
    note = (f"{hw[1]}x{hw[0]} has an odd side and yuv420p video needs even sides: cropped to {even[1]}x{even[0]} "
            "(the last column/row dropped)")
    return hw, even, note


def ended_early(frames: int, expected: int | None) -> str | None:
    """What to say when a clip gave fewer frames than it declares (a truncated or damaged file
    decodes up to the damage and stops without an error), or None. The count a container declares
    (or the duration times the rate) can be a frame off, so 1 frame (2 % of a long clip) is let go."""
    if expected is None or frames >= expected - max(1, expected // 50):
        return None
    return (f"the clip ended early: it had {frames} frames of the {expected} it declares (the file may be truncated "
            f"or damaged); the output has those {frames} frames")


#: one thread for the flow of the frame being stylised (a styler's frames come one at a time)
_flow_thread = ThreadPoolExecutor(1, thread_name_prefix="video-flow")


class FrameStyler:
    """A clip's frames stylised in order, each made consistent with the ones before it: the flow
    blend (feed-forward strategies) or the previous output as the start (optimisation ones), and
    regions that follow the picture. Holds the state between frames, so a clip cut in chunks
    (:mod:`.chunks`) warms a fresh one up on the frames before its chunk."""

    def __init__(self, template: StyleJob, options: VideoOptions, ctx: RunContext,
                 render_hw: tuple[int, int]) -> None:
        from ..registry import strategies

        self.template, self.options, self.ctx, self.render_hw = template, options, ctx, render_hw
        # feed-forward strategies blend their outputs along the flow; optimisation ones optimise
        # each frame from the previous output with a temporal loss
        linked = options.temporal and strategies.get(template.strategy).links_frames
        self.blender = TemporalBlender(options.blend) if options.temporal and not linked else None
        self.motion = Motion() if linked else None
        self.previous: list[np.ndarray] = []  # the last output (HxWx3 float), for the linked start
        self.track = SceneTrack(options.scene, template) if options.scene is not None and options.scene.active \
            else None

    def __call__(self, frame: Frame) -> np.ndarray:
        """The frame to write (HxWx3 float in [0, 1], at the render size)."""
        options, render_hw = self.options, self.render_hw
        content = resize(_tensor(frame.rgb), render_hw)
        frame_job = self.template.with_(content=content)
        if self.track is not None:
            self.track.step(_hwc(content))
            frame_job = self.track.frame_job(frame_job)
        if self.motion is not None:
            moved = self.motion.step(_hwc(content))
            if moved is not None and self.previous:
                frame_job = frame_job.with_(previous=PreviousFrame(
                    _chw(warp(self.previous[0], moved.back)), torch.from_numpy(moved.mask).float(),
                    options.temporal_weight, options.frame_steps))
        frame_hwc = _hwc(content)
        # the flow needs only the inputs: OpenCV measures it (GIL released) while the nets run
        # (universal, 512x288 pan, temporal on, interleaved: 2 torch threads at load 4, 1.68 -> 1.19 s
        # a frame; 1 thread at load 3, 239 -> 229 ms)
        moving = _flow_thread.submit(self.blender.measure, frame_hwc) if self.blender is not None else None
        try:
            if frame_job.regions or frame_job.styles:
                result = run_job(frame_job, self.ctx).image
            else:  # every followed region has left the picture: nothing to style on this frame
                result = content
        finally:
            motion = moving.result() if moving is not None else None
        styl = _hwc(result if tuple(result.shape[-2:]) == render_hw else resize(result, render_hw))
        image = self.blender.step(frame_hwc, styl, motion) if self.blender is not None else styl
        self.previous[:] = [image]
        return image


def write_clip(out: Path, info: ClipInfo, write_hw: tuple[int, int], crf: int | None, audio_src: Path | None,
               offset_pts: int, end_s: float | None, plan: AudioPlan, fill: Callable[[object], None]) -> None:
    """Open the writer ``out`` needs (a video file, or a folder of numbered frames), atomically,
    with the audio of ``audio_src`` copied as the frames advance; ``fill(writer)`` writes the frames
    (``writer.write(rgb, pts)``). Nothing is left at ``out`` unless ``fill`` returns."""

    def write_with(writer) -> None:
        ok = False
        try:
            fill(writer)
            ok = True
        finally:
            writer.close(ok)

    if is_folder_output(out):
        with atomic_folder(out) as tmp:
            write_with(FolderWriter(tmp, audio_src, float(offset_pts * info.time_base), end_s, plan))
    else:
        atomic_write(out, lambda tmp: write_with(VideoWriter(
            tmp, out.suffix.lower(), write_hw[1], write_hw[0], info.time_base, info.fps, crf,
            audio_src, offset_pts, end_s, plan)))


def render_video(job: StyleJob, source: str | Path, dest: str | Path, options: VideoOptions | None = None,
                 ctx: RunContext | None = None, on_event: Callable[[object], None] | None = None,
                 clip: Clip | None = None) -> VideoReport:
    """Stylise the clip at ``source`` into ``dest`` (a video file, or a folder for numbered frames).

    ``job`` gives the strategy, params, styles, regions (static masks), size and seed; its content
    is ignored (each frame is the content). Raises InputError for a bad clip before anything is
    written; a cancel (``ctx.cancel()``) or Ctrl+C leaves no file."""
    from ..runner import resolve_device

    options = options or VideoOptions()
    src, out = Path(source), Path(dest)
    check_video_output(out, options.crf)
    if src.resolve() == out.resolve():
        raise InputError(f"The output {out} is the input clip; choose another name.")
    ctx = ctx or RunContext(resolve_device(job.device))
    clip = clip or open_clip(src, options.fps)
    report = VideoReport(temporal=options.temporal)
    started = time.perf_counter()
    with clip:
        info = clip.info
        frames = clip.frames(options.start, options.end)
        first = next(frames, None)  # zero frames: an error before anything is written
        if first is None:
            where = "" if options.start is None and options.end is None else \
                f" between {options.start or 'the start'} and {options.end or 'the end'}"
            raise InputError(f"{src} has no frames{where}; nothing to render.")
        folder = is_folder_output(out)
        render_hw, write_hw, note = output_size(info, job.size, encoded=not folder)
        if note:
            report.notes.append(note)
        template = job.with_(content=resize(_tensor(first.rgb), render_hw), size=None,
                             params=frame_params(job))
        check_job(template)
        total = info.frames
        if total is not None:
            if options.end is not None and options.end.frames is not None:
                total = min(total, options.end.frames)
            elif options.end is not None and options.end.seconds is not None:
                total = min(total, round(options.end.seconds * float(info.fps)))
            if options.start is not None:
                skip = options.start.frames if options.start.frames is not None else \
                    round((options.start.seconds or 0) * float(info.fps))
                total = max(1, total - skip)
        if total is not None:  # a full disk is refused now, not after every frame is rendered
            check_video_space(out, total, write_hw, options.crf, total / float(info.fps),
                              info.has_audio and info.kind == "video")
        # a trimmed clip starts at 0; otherwise every time stamp is kept as it was (A/V sync exact)
        offset_pts = first.pts if options.start is not None else 0
        start_s = float(getattr(clip, "start_pts", 0) * info.time_base)
        end_s = None if options.end is None else start_s + (
            options.end.seconds if options.end.seconds is not None else float(options.end.frames / info.fps))
        plan = AudioPlan()
        audio_src = src if info.has_audio and info.kind == "video" else None
        styler = FrameStyler(template, options, ctx, render_hw)

        def frames_all():
            yield first
            yield from frames

        def run(writer) -> None:
            for frame in frames_all():
                ctx.check()
                rgb = _u8(styler(frame)[: write_hw[0], : write_hw[1]])
                writer.write(rgb, frame.pts)
                report.frames += 1
                if on_event is not None:
                    on_event(FrameDone(report.frames, total, rgb))

        write_clip(out, info, write_hw, options.crf, audio_src, offset_pts, end_s, plan, run)
    short = ended_early(report.frames, total)
    if short:
        report.notes.append(short)  # the CLI prints notes on stderr, the editor in its status bar
    report.width, report.height = write_hw[1], write_hw[0]
    report.fps = float(info.fps)
    report.audio = plan.status
    report.seconds = time.perf_counter() - started
    return report
