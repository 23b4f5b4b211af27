"""Faces found in a photo, as soft ellipses every strategy can honour.

A :class:`Face` is stored in fractions of the photo's width and height, so one detection serves
every size the photo is rendered at (a 512 px preview, a 1024 px live picture, a tiled print)
and survives a project's save and load unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Face:
    """A face's box (x0, y0, x1, y1 in [0, 1] of the photo's width/height), score and key points."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    #: BlazeFace's six key points (eyes, nose tip, mouth, ears) as (x, y) fractions; may be empty
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def box_px(self, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels of an image ``hw`` = (height, width), clipped to it."""
        h, w = hw
        return (max(0, int(self.x0 * w)), max(0, int(self.y0 * h)),
                min(w, int(round(self.x1 * w))), min(h, int(round(self.y1 * h))))

    def ellipse(self, hw: tuple[int, int], grow: tuple[float, float] = (1.15, 1.45), soft: float = 0.25) -> torch.Tensor:
        """A soft elliptical mask (HxW in [0, 1]) over the whole face.

        BlazeFace's box runs from the brows to the mouth and cheek to cheek; the head reaches
        further, most of all up (forehead) and down (chin), hence the taller ``grow``. The edge
        falls from 1 to 0 over the outer ``soft`` of the radius (a smoothstep), so a protected
        face blends into the rest of the picture without a seam.
        """
        h, w = hw
        cx, cy = self.centre
        cy -= 0.08 * (self.y1 - self.y0)  # the box sits low on the head: centre the ellipse on it
        rx = max(0.5 * (self.x1 - self.x0) * grow[0], 1.0 / w)
        ry = max(0.5 * (self.y1 - self.y0) * grow[1], 1.0 / h)
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w
        r = (((xs[None, :] - cx) / rx) ** 2 + ((ys[:, None] - cy) / ry) ** 2).sqrt()
        t = ((1.0 - r) / max(soft, 1e-6)).clamp(0, 1)
        return t * t * (3 - 2 * t)
