"""A clip cut in chunks and stitched (engine/video/chunks.py, issue 29): what a render farm does.

A 48-frame pan (2 px a frame over the beagle, 12 fps, a key frame every 12, an AAC track) rendered
with universal in one piece and in 4 chunks here, one after another. The seam measure: the mean
absolute difference (0-255) between a frame and the one before it moved by the known pan, on the
frames as rendered (before encoding); across a seam it must be no larger than the largest between
two frames of the one-piece render.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import InputError
from engine.video import FrameDone, VideoOptions, render_video
from engine.video.chunks import OVERLAP, plan_chunks, render_chunked
from test_video import STEP, job, pan_frames, read_clip, write_clip

FRAMES, GOP = 48, 12


def pan_clip(photo: Path, path: Path) -> Path:
    write_clip(path, pan_frames(photo, FRAMES), audio=True, gop=GOP)
    return path


def step_errors(frames) -> list[float]:
    """Each frame against the one before it moved by the pan: the seam measure (see the docstring)."""
    return [float(np.abs(b[:, :-STEP].astype(np.float32) - a[:, STEP:].astype(np.float32)).mean())
            for a, b in zip(frames, frames[1:])]


@pytest.fixture(scope="module")
def clip48(content_path, tmp_path_factory) -> Path:
    return pan_clip(content_path, tmp_path_factory.mktemp("chunks") / "pan48.mp4")


@pytest.fixture(scope="module")
def one_piece(clip48, style, tmp_path_factory):
    """The clip rendered in one piece: its file and its frames as rendered."""
    out = tmp_path_factory.mktemp("one") / "one.mp4"
    frames = []
    render_video(job("universal", style), clip48, out,
                 on_event=lambda e: frames.append(e.image) if isinstance(e, FrameDone) else None)
    return out, frames


def test_chunks_cut_on_key_frames_and_warm_up_before(clip48):
    chunks = plan_chunks(clip48, 4)
    assert [c.first for c in chunks] == [0, 12, 24, 36]  # the key frames
    assert [c.first for c in plan_chunks(clip48, 3)] == [0, 12, 36]  # the key frames nearest 16 and 32
    assert [c.count for c in chunks] == [12] * 4
    assert [c.warm for c in chunks] == [0, min(12, OVERLAP), OVERLAP, OVERLAP]
    assert chunks[-1].end_s is None and chunks[0].end_s == chunks[1].start_s == 1.0
    # a clip with fewer key frames than chunks asked for is cut between them
    assert [c.first for c in plan_chunks(clip48, 8, overlap=4)] == [0, 6, 12, 18, 24, 30, 36, 42]
    # never a chunk shorter than its warm-up: 64 workers' worth of chunks is still 4
    assert len(plan_chunks(clip48, 128)) == FRAMES // OVERLAP


def test_a_clip_in_chunks_is_the_one_piece_clip_without_a_seam(clip48, one_piece, style, tmp_path):
    whole, whole_frames = one_piece
    out = tmp_path / "chunked.mp4"
    frames = []
    report = render_chunked(job("universal", style), clip48, out, VideoOptions(), parts=4,
                            on_chunk=lambda piece: frames.extend(piece.frames))
    got, pts, rate, audio = read_clip(out)
    ref, ref_pts, ref_rate, ref_audio = read_clip(whole)
    assert report.frames == len(got) == len(ref) == FRAMES
    assert pts == ref_pts and rate == ref_rate  # every frame at its time
    assert audio == ref_audio and audio[0][1] > 0 and report.audio.startswith("copied")
    # the first chunk is the one-piece render's start, frame for frame
    assert all(np.array_equal(a, b) for a, b in zip(frames[:12], whole_frames[:12]))
    errors, one = step_errors(frames), step_errors(whole_frames)
    seams = [errors[i - 1] for i in (12, 24, 36)]
    assert max(seams) <= max(one), (seams, max(one), np.mean(one))


def test_a_trimmed_clip_is_not_chunked(clip48, style, tmp_path):
    from engine.video import parse_position

    with pytest.raises(InputError, match="trim it first"):
        render_chunked(job("universal", style), clip48, tmp_path / "t.mp4", VideoOptions(start=parse_position("12")))
    assert not list(tmp_path.iterdir())
