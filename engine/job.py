"""What a job is: the data handed from the editor or CLI to a strategy, across threads.

All frozen. Tensors inside are treated as read-only by everyone who holds a job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from .errors import InputError


@dataclass(frozen=True, eq=False)
class PreviousFrame:
    """A video frame's link to the one before it, for the optimisation strategies (Ruder et al.
    2016): the previous output warped onto this frame along the input's optical flow, where the
    flow holds (``weight``, HxW in [0, 1]). The optimisation starts there and a temporal loss
    keeps it; it then runs ``steps`` steps at the output size only."""

    image: torch.Tensor
    weight: torch.Tensor
    temporal_weight: float = 50.0
    steps: int = 10


@dataclass(frozen=True, eq=False)
class StyleSource:
    """A style: an image (1x3xHxW in [0,1]) or a text prompt, with a blending weight."""

    image: torch.Tensor | None = None
    text: str | None = None
    weight: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        if (self.image is None) == (self.text is None):
            raise InputError("A style is either an image or a text prompt, not both or neither.")
        if self.text is not None and not self.text.strip():
            raise InputError("A text style needs a prompt; it is empty.")
        if self.image is not None and (self.image.dim() != 4 or self.image.shape[:2] != (1, 3)):
            raise InputError(f"A style image must be 1x3xHxW, got {tuple(self.image.shape)}.")
        if self.weight < 0:
            raise InputError(f"Style weight must be >= 0, got {self.weight}.")

    @property
    def kind(self) -> Literal["image", "text"]:
        return "image" if self.image is not None else "text"

    def key(self) -> str:
        """Content hash: equal styles share cached features."""
        if self.text is not None:
            return "text:" + self.text
        img = self.image.contiguous()
        return "image:" + hashlib.sha1(img.numpy().tobytes()).hexdigest() + str(tuple(img.shape))


@dataclass(frozen=True, eq=False)
class Region:
    """A soft mask (HxW, float in [0,1], any size) and the style painted into it."""

    mask: torch.Tensor
    style: StyleSource
    strength: float = 1.0
    feather: float = 0.0
    name: str = ""
    #: how much of the photo's structure survives inside the region (0 = the style's own, 1 = the
    #: photo's edges and shapes under the style's palette and brushwork); see engine.scene.keep_shape
    keep_shape: float = 0.0

    def __post_init__(self) -> None:
        if self.mask.dim() != 2:
            raise InputError(f"Region '{self.name}': a mask must be a 2-D HxW array, got shape {tuple(self.mask.shape)}.")
        if not torch.is_floating_point(self.mask):
            raise InputError(f"Region '{self.name}': a mask must hold floats in [0, 1], got {self.mask.dtype}.")
        if not (0.0 <= self.strength <= 1.0):
            raise InputError(f"Region '{self.name}': strength must be in [0, 1], got {self.strength}.")
        if not (0.0 <= self.feather <= 1000.0):  # also refuses NaN
            raise InputError(f"Region '{self.name}': feather must be between 0 and 1000 px, got {self.feather}.")
        if not (0.0 <= self.keep_shape <= 1.0):
            raise InputError(f"Region '{self.name}': keep shape must be in [0, 1], got {self.keep_shape}.")


#: how far a mask's aspect ratio may differ from the content's (rounding when it was made at another size)
MASK_ASPECT_TOLERANCE = 0.02


def _check_mask_fits(region: Region, content_hw: tuple[int, int]) -> None:
    """A mask is stretched onto the content: refuse one of another shape, or one that covers nothing."""
    mh, mw = region.mask.shape
    ch, cw = content_hw
    if abs((mw / mh) / (cw / ch) - 1) > MASK_ASPECT_TOLERANCE:
        raise InputError(f"Region '{region.name}': the mask is {mw}x{mh} px but the content is {cw}x{ch} px "
                         "(another aspect ratio); make the mask from this picture (e.g. `brushwork segment`).")
    if float(region.mask.max()) <= 0:
        raise InputError(f"Region '{region.name}': the mask is empty (all black, or fully transparent); paint the "
                         "region white where its style goes.")


@dataclass(frozen=True, eq=False)
class StyleJob:
    """Everything a strategy needs for one render."""

    content: torch.Tensor
    strategy: str
    params: Any
    styles: tuple[StyleSource, ...] = ()
    regions: tuple[Region, ...] = ()
    #: long edge of the output in pixels; None keeps the content's size
    size: int | None = None
    #: what pixels outside every region get: the content, or the job's global styles
    gaps: Literal["content", "global"] = "content"
    seed: int = 0
    device: str = "auto"
    metadata: dict = field(default_factory=dict)
    #: video, optimisation strategies: the previous frame's output warped onto this one
    previous: PreviousFrame | None = None
    #: faces found in the content (engine.scene.faces.Face, in fractions of its size); detected once
    #: per photo by whoever builds the job (the editor keeps them with the photo), never per render
    faces: tuple[Any, ...] = ()
    #: keep the faces' shape (engine.scene.keep_shape); has no effect when ``faces`` is empty
    protect_faces: bool = True

    def __post_init__(self) -> None:
        if self.content.dim() != 4 or self.content.shape[:2] != (1, 3):
            raise InputError(f"The content image must be 1x3xHxW, got {tuple(self.content.shape)}.")
        if min(self.content.shape[-2:]) < 16:
            raise InputError(f"The content image is too small ({self.content.shape[-1]}x{self.content.shape[-2]}); use at least 16x16.")
        if self.size is not None and self.size < 16:
            raise InputError(f"Output size must be at least 16 px, got {self.size}.")
        if self.gaps not in ("content", "global"):
            raise InputError(f"gaps must be 'content' or 'global', got {self.gaps!r}.")
        for r in self.regions:
            _check_mask_fits(r, tuple(self.content.shape[-2:]))

    @property
    def output_hw(self) -> tuple[int, int]:
        from .images import size_for_long_edge

        h, w = self.content.shape[-2:]
        return (h, w) if self.size is None else size_for_long_edge(h, w, self.size)

    def image_styles(self) -> tuple[StyleSource, ...]:
        return tuple(s for s in self.styles if s.kind == "image")

    def with_(self, **changes: Any) -> "StyleJob":
        return replace(self, **changes)
