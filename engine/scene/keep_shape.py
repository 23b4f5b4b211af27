"""Keep shape: inside a protected area the photo's structure survives the style.

The deep levels of a feed-forward stylisation (and the optimisation strategies' strokes) move a
portrait's small features: eyes and mouths smear along the painting's strokes, and the palette
step repaints the skin in the painting's colours. Protected areas are a face (``StyleJob.faces``,
each over its soft :meth:`Face.ellipse`, at :data:`FACE_KEEP_SHAPE` while ``protect_faces``) and a
region with a ``keep_shape`` amount (over its mask). There, after the strategy has painted:

- **structure**: the luminance between the fine and the coarse scale is the photo's (a band-pass
  swap). Below the fine scale the stylised picture's own marks stay (its brushwork); above the
  coarse scale its light and shade stay, moved :data:`TONE` of the way to the photo's;
- **colour**: the stylised chroma keeps its fine marks; its coarse part moves :data:`CHROMA` of
  the way to the photo's (see there for why).

The step is linear in the difference photo - picture, so it is one masked blend: where the
amount is 0 the picture is untouched (not recomputed: only the protected area's bounding box is
worked on), and with no face and no keep shape nothing is computed at all.

Why a band-pass swap and not the guided filter (He et al.) with the photo as guide: the filter
gives output locally linear in the photo with the stylisation's local colours, but where the
stylisation smeared a feature away its local variance is flat, the fitted slope is ~0 and the
output is the local mean: a smeared eye comes back as a blur. (bench/keep_shape.py: at full
amount its face-box SSIM, 0.70 median, is what the swap gives at ~0.85, but in the crops its
faces have no eyes where the swap's have them.) The swap writes the photo's band back whatever
the picture did there.

One place for every strategy: :func:`engine.runner.run_job` applies :func:`keep_shape` to every
preview and result (and so to live mode and every video frame), and the tiled print applies
:func:`keep_structure` per tile (engine.export), as ``keep_photo`` is applied.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..featurecache import photo_at

#: how much of a face's structure is kept while the job protects faces. bench/keep_shape.py, 12
#: portraits x 4 paintings, universal depth 5 at 512 px, luminance SSIM against the photo in the
#: face box (median / worst) and style distance inside the face (median): unprotected 0.35 / 0.25,
#: 0.76; at 0.5 0.57 / 0.42, 0.83; at 0.75 0.68 / 0.50, 0.88; at 1 0.75 / 0.56, 0.96. 0.75 keeps
#: the most while the face stays as painted as the strategy-level alternative, universal to depth
#: 3 inside the face (0.64 / 0.39, 0.89); below it a smeared eye still shows through
FACE_KEEP_SHAPE = 0.75
#: the fine scale, as a fraction of the picture's long edge (1 px at 512): marks finer than this
#: are the stylised picture's own brushwork and stay. Face-box SSIM at amount 1 (bench pairs): 0 px
#: 0.89 but the face is the photo's grain, no brushwork; 1 px 0.75; 2 px 0.60, the smear's edges back
FINE = 1 / 512
#: the coarse scale (8 px at 512; a face 40-280 px across there): structure between the two
#: scales is the photo's, light and shade above it the stylisation's. 16 px gave 0.756 to 8 px's
#: 0.748; 8 keeps more of the painting's shading, and a print's 64 px tile margin holds it to 4096 px
COARSE = 1 / 64
#: how far a protected area's coarse luminance moves to the photo's: a dark face stays darker than
#: a painting's pale palette makes it, a light one lighter under a dark palette. A face's mean
#: luminance, off the photo's by 0.10 on average at depth 5 (bench pairs; a dark-skinned boy under
#: Kandinsky 0.39 -> 0.50), is off by 0.066 at 0.5 and 0.048 at 0.75 (face amount 0.75); past
#: half the painting's own light and shade across the face fade
TONE = 0.5
#: how far its coarse chroma moves to the photo's. Looking at 12 portraits of several skin tones
#: under four paintings (universal, depth 5): at 0 a brown face under The Scream comes out orange
#: and under Kandinsky grey-blue or pale; at 1 the face is the photo's colour pasted into the
#: painting; at half the person's own skin tone is recognisable while the face still takes the
#: palette. The face's mean chroma (YIQ's I, Q) is off the photo's by 0.092 median / 0.29 worst
#: unprotected, 0.060 / 0.19 at 0.5, 0.028 / 0.09 at 1 (face amount 0.75)
CHROMA = 0.5


def _window_sums(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """Sums of ``x`` over 2 radius + 1 cells along ``dim`` (-1 or -2), zero past the edges."""
    k = 2 * radius + 1
    pad = (radius + 1, radius) if dim == -1 else (0, 0, radius + 1, radius)
    c = F.pad(x, pad).cumsum(dim)
    return c[..., k:] - c[..., :-k] if dim == -1 else c[..., k:, :] - c[..., :-k, :]


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of a 1xCxHxW ``x`` over a (2 radius + 1)^2 window, the window cut at the picture's edge.

    Running sums (a summed-area table, one axis at a time): the same work at any radius. At a
    face's crop (3 x 460 x 460, one thread) 2.9 ms where two 1-D average pools took 29 ms at the
    coarse radius; their difference 3e-8. (OpenCV's boxFilter does the same on NumPy arrays, on
    the CPU only; a preview or a print tile may be on a GPU.)"""
    if radius <= 0:
        return x
    h, w = x.shape[-2:]
    count = _window_sums(x.new_ones(1, 1, h, 1), radius, -2) * _window_sums(x.new_ones(1, 1, 1, w), radius, -1)
    return _window_sums(_window_sums(x, radius, -2), radius, -1) / count


def radii(long_edge: int, max_radius: int | None = None) -> tuple[int, int]:
    """The fine and coarse radii in px for a picture whose long edge is ``long_edge`` px (the
    whole picture's, for a tile), the coarse one at most ``max_radius`` (a tile's margin)."""
    fine = max(0, round(FINE * long_edge))
    coarse = max(fine + 1, round(COARSE * long_edge))
    if max_radius is not None:
        coarse = max(1, min(coarse, max_radius))
        fine = min(fine, coarse - 1)
    return fine, coarse


def _bounds(amount: torch.Tensor, reach: int) -> tuple[slice, slice] | None:
    """Rows and columns of ``amount`` (HxW) above 0, grown by ``reach``; None when all are 0."""
    rows = torch.nonzero(amount.amax(1) > 0)
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(amount.amax(0) > 0)
    h, w = amount.shape
    return (slice(max(0, int(rows[0]) - reach), min(h, int(rows[-1]) + 1 + reach)),
            slice(max(0, int(cols[0]) - reach), min(w, int(cols[-1]) + 1 + reach)))


def _luma(x: torch.Tensor) -> torch.Tensor:
    """YIQ's luminance row (engine.colour) of a 1x3xHxW picture, as 1x1xHxW."""
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def keep_structure(image: torch.Tensor, photo: torch.Tensor, amount: torch.Tensor, long_edge: int | None = None,
                   max_radius: int | None = None) -> torch.Tensor:
    """``image`` (1x3xHxW, stylised) with ``photo``'s structure (same size) kept by ``amount`` (HxW in [0, 1]).

    ``long_edge`` is the whole picture's when ``image`` is a tile of it (the scales follow the
    picture, not the tile); ``max_radius`` caps the coarse scale at what the tile's context holds.
    A new tensor; pixels whose amount is 0 are copied bit for bit.
    """
    amount = amount.reshape(amount.shape[-2:])
    fine, coarse = radii(long_edge or max(image.shape[-2:]), max_radius)
    box = _bounds(amount, coarse)
    out = image.clone()
    if box is None:
        return out
    ys, xs = box
    s = image[..., ys, xs].float()
    a = amount[ys, xs].to(s)[None, None]
    # In YIQ (engine.colour), with d = photo - picture: Y += fine(d_Y) - (1 - TONE) coarse(d_Y) and
    # IQ += CHROMA coarse(d_IQ). YIQ is linear and its inverse's luminance column is (1, 1, 1), so
    # that is, in RGB: CHROMA coarse(d) + fine(luma d) - (1 - TONE + CHROMA) luma(coarse d); the
    # same numbers (to 2e-7) without a round trip through YIQ, whose einsums cost more than the filters
    d = photo[..., ys, xs].to(s) - s
    coarse_d = box_mean(d, coarse)
    change = CHROMA * coarse_d + (box_mean(_luma(d), fine) - (1 - TONE + CHROMA) * _luma(coarse_d))
    kept = s.addcmul(change, a).clamp_(0, 1)
    # where the amount is 0 the box's margin keeps the picture exactly (0 x change can round)
    out[..., ys, xs] = torch.where(a > 0, kept, s).to(out.dtype)
    return out


def protects(job) -> bool:
    """Whether ``job`` keeps any shape: a face while it protects faces, or a region's keep_shape."""
    return bool(job.faces and job.protect_faces and FACE_KEEP_SHAPE > 0) or any(r.keep_shape > 0 for r in job.regions)


def protection(job, hw: tuple[int, int]) -> torch.Tensor | None:
    """HxW: how much of each pixel's structure is the photo's, at ``hw``; None when nothing is
    protected. May be shared with later calls: never modify it.

    Faces give their ellipse times :data:`FACE_KEEP_SHAPE`; regions their resized, feathered mask
    times their ``keep_shape``, shared where they overlap in proportion to their masks (as the
    regions share the pixel's style). Where a face and a region meet the larger amount holds."""
    if not protects(job):
        return None
    from ..regions import shaped_mask

    amount = None
    if any(r.keep_shape > 0 for r in job.regions):
        scale = max(hw) / max(job.output_hw)
        masks = [shaped_mask(r.mask, hw, r.feather * scale) for r in job.regions]
        cover = torch.stack(masks).sum(0).clamp_min(1.0)
        amount = sum(m * r.keep_shape for r, m in zip(job.regions, masks) if r.keep_shape > 0) / cover
    if job.faces and job.protect_faces and FACE_KEEP_SHAPE > 0:
        key = (tuple(job.faces), tuple(hw), FACE_KEEP_SHAPE)
        try:
            faces = _faces_amount(*key)
        except TypeError:  # unhashable: a face whose key points came in as lists (from JSON)
            faces = _faces_amount.__wrapped__(*key)
        amount = faces if amount is None else torch.maximum(amount, faces)
    return amount


@functools.lru_cache(maxsize=8)
def _faces_amount(faces: tuple, hw: tuple[int, int], amount: float) -> torch.Tensor:
    """The faces' ellipses times ``amount``, the larger where they overlap; kept (never modify it):
    live mode renders the same faces at the same size edit after edit, and a 1024 px ellipse is a
    million square roots (Faces are frozen, so they key the cache)."""
    out = torch.zeros(hw)
    for face in faces:
        out = torch.maximum(out, face.ellipse(hw) * amount)
    return out


def keep_shape(job, image: torch.Tensor) -> torch.Tensor:
    """``image`` (1x3xHxW) with the photo's structure wherever ``job`` protects it; ``image``
    itself (the same tensor, nothing computed) when the job protects nothing."""
    if not protects(job):
        return image
    hw = tuple(image.shape[-2:])
    amount = protection(job, hw)  # type: ignore[arg-type]
    assert amount is not None
    photo = photo_at(job.content, hw)  # type: ignore[arg-type]
    return keep_structure(image, photo.to(image), amount)
