"""Render sizes that are sharp where they are shown: at least as many pixels as the canvas gives the photo.

A render smaller than the canvas shows it is blown up, soft at once (the sample's 448 px shown
at 188 % read as a blur, where 1024 px read as a city). So every render for the canvas (Render,
Compare, the first one) is at least the size the canvas shows, up to the photo's own size; the
Strategy panel's Size is the floor (a larger size still prints larger). Live renders follow the
shown size too, up to the live cap (the toolbar's box, LIVE_CAP by default), so a 4000 px
photo shown at full screen does not ask for a 4000 px render on every stroke. Instant
strategies send a quick 256 px picture first and the quality ones their instant start, so a
larger render never leaves the canvas empty meanwhile.
"""

from __future__ import annotations

from engine.job import StyleJob

#: live renders stop here by default: at 1024 px a live universal render takes 0.45-0.53 s on a
#: 2-core CPU (README), four times 512 px's; a larger screen gets a slightly soft live picture
#: and Refine / Render at full sharpness
LIVE_CAP = 1024
#: a live render is never smaller than this, however far the canvas is zoomed out
LIVE_FLOOR = 128


def render_size(requested: int | None, shown: int, photo_long: int) -> int | None:
    """The long edge to render at for the canvas: ``requested`` (the Size box; None = the photo's
    size) raised to what the canvas shows, never past the photo's own size on that account."""
    if requested is None:
        return None
    return max(int(requested), min(int(shown), int(photo_long)))


def live_size(cap: int, shown: int, photo_long: int) -> int:
    """The live working size: what the canvas shows, up to ``cap`` and the photo's size."""
    size = min(int(cap), int(shown) if shown > 0 else int(cap), int(photo_long))
    return max(min(LIVE_FLOOR, int(photo_long)), size)


def sharp_job(job: StyleJob, shown: int) -> StyleJob:
    """``job`` at :func:`render_size` for a canvas showing the photo ``shown`` px long."""
    photo_long = max(job.content.shape[-2:])
    size = render_size(job.size, shown, photo_long)
    return job if size == job.size else job.with_(size=size)
