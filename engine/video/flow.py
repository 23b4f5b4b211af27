"""Optical flow between consecutive input frames, warping, and where the flow can be trusted.

Flow is OpenCV's DIS (dense inverse search, no weights). ``flow(a, b)`` gives, for each pixel
``x`` of ``a``, where it went in ``b``: ``a(x) ~ b(x + flow(x))``. To bring the previous frame's
output onto the current frame, warp it by the *current -> previous* flow.

Reliability (Ruder et al. 2016): a pixel is occluded (or disoccluded) where the forward and the
backward flow disagree, on motion boundaries (large flow gradients), and where its source lies
outside the previous frame (what a pan brings in at the edge).
"""

from __future__ import annotations

import cv2
import numpy as np

#: DIS preset: medium is ~17 ms a flow at 512x288 on one core and exact on a 2 px pan (fast: 1.88 px)
PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM


def gray(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 (uint8, or float in [0, 1]) -> HxW uint8 luminance."""
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


class Flow:
    """A DIS estimator kept between frames (its buffers are reused)."""

    def __init__(self, preset: int = PRESET) -> None:
        self.dis = cv2.DISOpticalFlow_create(preset)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """HxWx2 float32 flow from gray ``a`` to gray ``b``."""
        return self.dis.calc(a, b, None)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (HxWxC float32) sampled at ``x + flow(x)``: the previous output brought onto the
    current frame when ``flow`` is current -> previous. Bilinear, edges replicated."""
    h, w = flow.shape[:2]
    xs, ys = _grid(h, w)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def reliable(back: np.ndarray, fwd: np.ndarray, soften: int = 2) -> np.ndarray:
    """HxW float32 in [0, 1]: 1 where the current frame's pixel is seen in the previous one.

    ``back`` is current -> previous, ``fwd`` previous -> current. Occluded: the round trip does not
    come back, ``|fwd(x + back(x)) + back(x)|^2 > 0.01 (|fwd_w|^2 + |back|^2) + 0.5``; motion
    boundary: ``|grad back|^2 > 0.01 |back|^2 + 0.002``; off-frame: ``x + back(x)`` leaves the
    picture. The bad set is grown by ``soften`` px and the edge feathered."""
    h, w = back.shape[:2]
    xs, ys = _grid(h, w)
    sx, sy = xs + back[..., 0], ys + back[..., 1]
    fwd_w = cv2.remap(fwd, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = ((fwd_w + back) ** 2).sum(-1)
    occluded = round_trip > 0.01 * ((fwd_w ** 2).sum(-1) + (back ** 2).sum(-1)) + 0.5
    gu = np.stack(np.gradient(back[..., 0]), -1)
    gv = np.stack(np.gradient(back[..., 1]), -1)
    boundary = (gu ** 2).sum(-1) + (gv ** 2).sum(-1) > 0.01 * (back ** 2).sum(-1) + 0.002 * 4
    outside = (sx < 0) | (sx > w - 1) | (sy < 0) | (sy > h - 1)
    bad = (occluded | boundary | outside).astype(np.uint8)
    if soften > 0:
        k = 2 * soften + 1
        bad = cv2.dilate(bad, np.ones((k, k), np.uint8))
        good = 1.0 - bad.astype(np.float32)
        return cv2.blur(good, (k, k))
    return 1.0 - bad.astype(np.float32)
