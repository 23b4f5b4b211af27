"""How a photo of any size is read by a model that sees 513 x 513 pixels at a time.

``whole``: the picture shrunk (aspect kept, padded) into one window: every pixel is judged
with the whole scene as context, but a 4000 px photo's mast is under a pixel wide there.
``tiles``: the picture at a larger working size, covered by overlapping windows blended with
ramps (no seams): thin things keep their width, but a window sees a part of the scene only.
``both``: the average of the two, at the tiles' working size. The default and its figures
are in :mod:`.segmenter`.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

from .model import WINDOW, run_window

How = Literal["whole", "tiles", "both"]
#: neighbouring tiles share at least this many pixels (a quarter window): the blend ramps over it
OVERLAP = 128


def resize_long_edge(rgb: np.ndarray, long_edge: int) -> np.ndarray:
    """HxWxC float32 at a new long edge, aspect kept (area averaging when shrinking)."""
    h, w = rgb.shape[:2]
    s = long_edge / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if size == (w, h):
        return rgb
    out = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out if out.ndim == 3 else out[..., None]


def grouped(model, rgb: np.ndarray, grouping: np.ndarray) -> np.ndarray:
    """Group probabilities (h x w x G) for one window: class probabilities summed per group."""
    probs = run_window(model, rgb)
    return (probs.reshape(-1, probs.shape[-1]) @ grouping).reshape(*probs.shape[:2], grouping.shape[1])


def whole(model, rgb: np.ndarray, grouping: np.ndarray) -> np.ndarray:
    """The whole picture in one window (long edge 513): h x w x G group probabilities."""
    return grouped(model, resize_long_edge(rgb, WINDOW), grouping)


def starts(length: int) -> list[int]:
    """Where the windows along one axis begin: evenly spread, neighbours overlapping >= OVERLAP."""
    if length <= WINDOW:
        return [0]
    n = math.ceil((length - OVERLAP) / (WINDOW - OVERLAP))
    return [round(i * (length - WINDOW) / (n - 1)) for i in range(n)]


def _ramp(length: int, rise_start: bool, rise_end: bool) -> np.ndarray:
    """Blend weight along a window: rises over OVERLAP px on a side that a neighbour shares."""
    i = np.arange(length, dtype=np.float32) + 0.5
    w = np.ones(length, dtype=np.float32)
    if rise_start:
        w = np.minimum(w, i / OVERLAP)
    if rise_end:
        w = np.minimum(w, (length - i) / OVERLAP)
    return np.maximum(w, 1e-3)


def tiles(model, rgb: np.ndarray, grouping: np.ndarray, long_edge: int) -> np.ndarray:
    """The picture at ``long_edge`` covered by overlapping windows: H x W x G group probabilities."""
    work = resize_long_edge(rgb, long_edge)
    h, w = work.shape[:2]
    acc = np.zeros((h, w, grouping.shape[1]), dtype=np.float32)
    total = np.zeros((h, w, 1), dtype=np.float32)
    ys, xs = starts(h), starts(w)
    for y in ys:
        for x in xs:
            win = work[y:y + WINDOW, x:x + WINDOW]
            wh, ww = win.shape[:2]
            weight = np.outer(_ramp(wh, y > 0, y + wh < h), _ramp(ww, x > 0, x + ww < w))[..., None]
            acc[y:y + wh, x:x + ww] += grouped(model, win, grouping) * weight
            total[y:y + wh, x:x + ww] += weight
    return acc / total


def windows(hw: tuple[int, int], how: How, long_edge: int) -> int:
    """How many model runs reading an h x w photo takes (what it costs: ~0.5 s each on 2 cores)."""
    long_edge = min(long_edge, max(hw))
    if how == "whole" or long_edge <= WINDOW:
        return 1
    s = long_edge / max(hw)
    tiled = len(starts(round(hw[0] * s))) * len(starts(round(hw[1] * s)))
    return {"tiles": tiled, "both": 1 + tiled}[how]


def read(model, rgb: np.ndarray, grouping: np.ndarray, how: How, long_edge: int) -> np.ndarray:
    """Group probabilities for an HxWx3 RGB photo in [0, 1], at the working size ``how`` implies.

    A photo whose long edge is at most 513 px is read whole whatever ``how`` says: one window
    already holds every pixel. Tiles never read a photo larger than it is.
    """
    long_edge = min(long_edge, max(rgb.shape[:2]))
    if how == "whole" or long_edge <= WINDOW:
        return whole(model, rgb, grouping)
    fine = tiles(model, rgb, grouping, long_edge)
    if how == "tiles":
        return fine
    coarse = cv2.resize(whole(model, rgb, grouping), (fine.shape[1], fine.shape[0]), interpolation=cv2.INTER_LINEAR)
    return 0.5 * (coarse.reshape(fine.shape) + fine)
