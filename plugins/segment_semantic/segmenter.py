"""The ``semantic`` segmenter: what is where in a photo (sky, buildings, plants, water, people...).

DeepLabV3+ trained on ADE20K labels every pixel with one of 150 classes; :mod:`.groups`
gathers them into the dozen groups an artist styles differently. The masks are soft (the
classes' softmax probabilities summed per group), snapped to the photo's edges at full
resolution, and a group smaller than ``min_area`` is left out.

The editor asks again whenever a panel opens or an option changes: the model's reading of a
photo (keyed by a hash of its pixels) and the last finished result are kept, so asking twice
costs a hash, not a model run.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import cv2
import numpy as np
import torch

from engine.errors import InputError
from engine.params import param
from engine.segmenter import Segment, Segmenter, refine_to_edges

from . import reading
from .groups import GROUPS, grouping_matrix
from .model import load_labels, load_model

#: below this short side (px) a photo is refused: enlarged to 513 px, a smaller one reads as
#: mush. Pixels in the same group as at 1024 px (bench/semantic.py --sections min_side), city /
#: palm beach: 35 / 73 % at 48 px, 75 / 93 % at 64 px, 92 / 96 % at 96 px
MIN_SIDE = 64
#: readings kept (photo hash, how, size), newest first, while they hold at most this many bytes:
#: a whole reading is 12.6 MB (513 x 513 x 12 groups, float32), tiles at 1024 px about 34 MB
READINGS_BYTES = 128 * 2**20


@dataclass(frozen=True)
class SemanticParams:
    # 1 % of a 1024 x 683 photo is 7,000 px, an 84 px square. On the bundled samples it keeps
    # the city's grass (1.4 %) and ground (1.8 %) and the astronaut's vehicles (1.5 %: the
    # shuttle model), and drops the flecks: the city's other (0.8 %), the beagle's animals
    # (0.6 %) and water (0.6 %) (bench/semantic.py --sections groups).
    min_area: float = param(0.01, min=0.0, max=0.5, step=0.005,
                            help="Groups covering less than this fraction of the picture are left out.")
    # 6 as the other segmenters: the palm beach's sky then follows the fronds (its edges correlate
    # with the photo's 0.35, 0.19 unsnapped); the city's hazy horizon, drawn as a straight line
    # by hand, moves the other way a little (sky IoU 0.9875 unsnapped, 0.9860 at 6).
    edge_radius: int = param(6, min=0, max=64, step=1,
                             help="Edge refinement radius (px at 1024 px); 0 keeps the model's blobby 513 px edges.")
    # How a photo larger than 513 px is read: whole, by measurement (bench/semantic.py, sections
    # reading, thin, segmentation; tiles at 1024 px; 2-core CPU shared, load 6-10):
    # - groups: tiles move a pixel to another group than the whole reading on average 35 % of
    #   the picture (40 photos: the 4 samples and 36 research photos at 1024 px; worst 86 %,
    #   32 photos over 10 %) and add 27 groups the whole picture has not (>= 1 % vs < 0.5 %);
    #   both: 15 % and 14. Looked at on the samples, those are tiles' mistakes: a window sees a
    #   piece of the scene (palm fronds read as buildings, a palm's foot as mountains, water in the sand).
    #   City sky IoU against the hand-made mask: whole 0.986, both 0.984, tiles 0.982.
    # - thin dark things against the sky (8 photos with poles, wires, masts, spires) kept out of
    #   the sky mask: whole 41 %, both 65 %, tiles 84 % at 1024 px; 39 / 64 / 83 % at 4000 px
    #   (tiles read at 1024 px either way, so only the edge snapping differs).
    # - cost: 1 model run for whole, 6 for tiles and 7 for both on a 3:2 photo; the city sample
    #   took 1.1 / 6.8 / 8.2 s at 1024 px and 4.7 / 10.5 / 11.5 s at 4000 px (whole / tiles /
    #   both; at 4000 px ~3.5 s go to resizing and snapping the edges whatever the reading).
    #   Asked again: 0.08 s at 1024 px, 0.53 s at 4000 px (a hash of the pixels and copies).
    # Whole is right most often and fastest; tiles or both are there for masts and wires.
    read: Literal["whole", "tiles", "both"] = param(
        "whole", help="How a photo larger than 513 px is read: whole (one 513 px look at the whole picture: "
                      "best context, fastest), tiles (overlapping 513 px windows at 'tile size': thinner "
                      "things survive, a window sees only part of the scene), both (their average).")
    tile_size: int = param(1024, min=513, max=4096, step=1,
                           help="Long edge (px) at which tiles read the photo (read = tiles or both); "
                                "each 513 px window costs ~0.5 s.", advanced=True)


class SemanticSegmenter(Segmenter):
    name = "semantic"
    title = "Sky, buildings, people... (semantic)"
    description = ("Finds what is in the photo (sky, buildings, plants, grass, water, mountains, ground, people, "
                   "animals, vehicles, interior) with an ADE20K model, one soft mask per group found.")
    Params = SemanticParams

    def compute(self, image: torch.Tensor, params: Any, inputs: Mapping[str, Any]) -> list[Segment]:
        p: SemanticParams = params
        h, w = image.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise InputError(f"The photo is too small for semantic groups ({w}x{h}); use at least {MIN_SIDE} px a side.")
        digest = _digest(image)
        key = (digest, p)
        with _lock:
            if _last_result and _last_result[0] == key:
                return list(_last_result[1])  # Segmenter._checked hands the caller copies
        segments = finish(_reading(image, digest, p.read, p.tile_size), image, p)
        with _lock:
            _last_result[:] = [key, segments]
        return list(segments)

    def groups(self, image: torch.Tensor, options: Mapping[str, Any] | Any | None = None) -> dict[str, Segment]:
        """The groups this photo has, by group name ("sky", "buildings"...), largest first.

        The CLI and the editor turn a group the artist names into a mask with
        ``engine.segmenter.pick_segment(seg.groups(image), "sky")``, which raises an InputError
        naming the groups the photo has when it has no sky.
        """
        return {s.file_stem: s for s in self.segment_named(image, options)}


#: mask values below this are cut to 0 and the rest rescaled (continuous at the cut)
MASK_TAIL = 0.04


def finish(probs: np.ndarray, image: torch.Tensor, p: SemanticParams) -> list[Segment]:
    """Segments from group probabilities at the working size: small groups out, edges snapped at full size.

    Largest first: the editor lists the regions in this order.
    """
    h, w = image.shape[-2:]
    coverage = probs.reshape(-1, probs.shape[-1]).mean(0)
    kept = [i for i in range(len(GROUPS)) if coverage[i] >= p.min_area] or [int(coverage.argmax())]
    # The left-out groups stay in as one 'rest' channel while the edges are snapped, so the
    # kept masks do not swallow their pixels when the filter renormalises.
    rest = probs[..., [i for i in range(len(GROUPS)) if i not in kept]].sum(-1, keepdims=True)
    work = np.concatenate([probs[..., kept], rest], -1)
    full = cv2.resize(work, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    masks = torch.from_numpy(np.ascontiguousarray(full.transpose(2, 0, 1)))
    radius = round(p.edge_radius * max(h, w) / 1024)
    masks = refine_to_edges(masks, image, radius) if radius > 0 else masks.clamp(0, 1)
    # Probabilities have faint tails far from their group (the city's sky reaches row 665 of 666 at
    # under 1 %), and a region's work is its mask's bounding box: trimmed at 4 %, the sky's box is
    # rows 0-217 (a third of the picture, was all of it), the buildings' 0.76, for 0.1 % of each
    # mask's weight; live edits with two semantic regions cost what painted ones do.
    masks = ((masks - MASK_TAIL) / (1 - MASK_TAIL)).clamp(0, 1)
    segments = sorted((Segment(masks[j].contiguous(), GROUPS[i].title, GROUPS[i].colour) for j, i in enumerate(kept)),
                      key=lambda s: -s.coverage)
    return [s for s in segments if s.coverage >= p.min_area] or segments[:1]  # a group that was mostly tail


# ---------------------------------------------------------------- the kept readings
_lock = threading.Lock()
_readings: OrderedDict[tuple, np.ndarray] = OrderedDict()
#: [key, segments] of the last finished result, or empty
_last_result: list = []


def _digest(image: torch.Tensor) -> str:
    """A hash of the photo's pixels and size (1x3xHxW float): the same photo, however it arrives, reads once."""
    pixels = image.detach().float().cpu().contiguous().numpy()
    h = hashlib.blake2b(digest_size=16)
    h.update(str(pixels.shape).encode())
    h.update(memoryview(pixels.reshape(-1)).cast("B"))
    return h.hexdigest()


def _reading(image: torch.Tensor, digest: str, how: str, tile_size: int) -> np.ndarray:
    """Group probabilities (h x w x groups, at the working size) for a photo, kept per photo."""
    key = (digest, how, tile_size if how != "whole" else 0)
    with _lock:
        if key in _readings:
            _readings.move_to_end(key)
            return _readings[key]
    model, grouping = load_model(), grouping_matrix(load_labels())
    rgb = np.ascontiguousarray(image[0].permute(1, 2, 0).numpy(), dtype=np.float32)
    probs = reading.read(model, rgb, grouping, how, tile_size)
    with _lock:
        _readings[key] = probs
        while len(_readings) > 1 and sum(r.nbytes for r in _readings.values()) > READINGS_BYTES:
            _readings.popitem(last=False)
    return probs


def clear_cache() -> None:
    """Forget every kept reading and result (tests; a changed model file)."""
    with _lock:
        _readings.clear()
        _last_result.clear()
