"""The segmenter API: plugins that split an image into soft region masks.

Segmenters are the second plugin kind (entry-point group ``brushwork.segmenters``). The
artist gets masks to paint styles into instead of drawing every region by hand; the CLI's
``brushwork segment`` and the editor both go through :meth:`Segmenter.segment`, so every
segmenter is checked the same way (mask count, size, range, coverage) before anyone sees it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import torch
from PIL import Image

from . import params as params_mod
from .errors import InputError
from .images import atomic_write


class Segmenter:
    """Base class. Subclasses set the class attributes and implement :meth:`compute`."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: a frozen dataclass declared with :func:`engine.params.param`
    Params: ClassVar[type]
    #: option names that carry data (a scribble file or array), not parameters; passed through as-is
    inputs: ClassVar[tuple[str, ...]] = ()

    def compute(self, image: torch.Tensor, params: Any, inputs: Mapping[str, Any]) -> list[torch.Tensor]:
        """Soft masks (HxW float in [0,1]) for a 1x3xHxW image; implemented by each plugin."""
        raise NotImplementedError  # pragma: no cover - interface

    def params(self, options: Mapping[str, Any] | Any | None = None) -> Any:
        """A validated Params from a Params instance or a mapping (CLI strings are parsed)."""
        if options is not None and isinstance(options, self.Params):
            return params_mod.validate(options)
        values = {k: v for k, v in dict(options or {}).items() if k not in self.inputs}
        return params_mod.make(self.Params, values)

    def segment(self, image: torch.Tensor, options: Mapping[str, Any] | Any | None = None) -> list[torch.Tensor]:
        """HxW soft masks for ``image`` (1x3xHxW float in [0,1]), at the image's size.

        ``options`` holds parameter values (strings are parsed) and this segmenter's ``inputs``.
        """
        if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[:2] != (1, 3):
            raise InputError(f"A segmenter takes a 1x3xHxW image, got {tuple(getattr(image, 'shape', ()))}.")
        if min(image.shape[-2:]) < 16:
            raise InputError(f"The image is too small to segment ({image.shape[-1]}x{image.shape[-2]}); use at least 16x16.")
        inputs = {k: v for k, v in dict(options or {}).items() if k in self.inputs} if isinstance(options, Mapping) else {}
        p = self.params(options)
        with torch.no_grad():
            image = image.detach().float().cpu().clamp(0, 1)
        masks = self.compute(image, p, inputs)
        return self._checked(masks, tuple(image.shape[-2:]))

    def _checked(self, masks: list[torch.Tensor], hw: tuple[int, int]) -> list[torch.Tensor]:
        """Every plugin's output obeys the same contract; a violation is a plugin bug, said plainly."""
        if not masks:
            raise RuntimeError(f"Segmenter '{self.name}' returned no masks.")
        out = []
        for i, m in enumerate(masks):
            if m.dim() != 2 or tuple(m.shape) != hw:
                raise RuntimeError(f"Segmenter '{self.name}' returned mask {i} of shape {tuple(m.shape)}, expected {hw}.")
            if not torch.isfinite(m).all():
                raise RuntimeError(f"Segmenter '{self.name}' returned mask {i} with NaN or infinite values.")
            out.append(m.float().clamp(0, 1).contiguous())
        return out

    def segment_to_dir(self, image: torch.Tensor, options: Mapping[str, Any] | Any | None,
                       out_dir: str | os.PathLike) -> list[Path]:
        """Segment and write ``region_1.png`` ... (8-bit grey, white = in the region) into ``out_dir``.

        All masks are computed before the first file is written, and each file is written
        atomically, so a failure leaves no partial mask behind.
        """
        out = Path(out_dir)
        if out.exists() and not out.is_dir():
            raise InputError(f"Output for masks must be a folder, but {out} is a file.")
        masks = self.segment(image, options)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for i, m in enumerate(masks, start=1):
            im = Image.fromarray((m.numpy() * 255.0 + 0.5).astype(np.uint8), "L")
            written.append(atomic_write(out / f"region_{i}.png", lambda tmp, im=im: im.save(tmp, format="PNG")))
        return written

    @classmethod
    def describe(cls) -> dict:
        return {
            "name": cls.name,
            "title": cls.title,
            "description": cls.description,
            "inputs": list(cls.inputs),
            "params": [s.to_json() for s in params_mod.specs(cls.Params)],
        }


# ---------------------------------------------------------------- shared finishing steps
def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    return torch.nn.functional.avg_pool2d(x, 2 * r + 1, stride=1, padding=r, count_include_pad=False)


def refine_to_edges(masks: torch.Tensor, image: torch.Tensor, radius: int = 8, eps: float = 1e-3) -> torch.Tensor:
    """Snap KxHxW soft masks to the image's own edges (guided filter, He et al. 2010, grey guide).

    Segmenters decide at a coarse grid; this makes a boundary follow the skyline or the
    hair line at full resolution. The result is renormalised so the masks sum to 1 per pixel.
    """
    guide = (0.299 * image[:, 0:1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:3]).float()
    p = masks[None].float()
    mean_i, mean_p = _box(guide, radius), _box(p, radius)
    var_i = _box(guide * guide, radius) - mean_i**2
    a = (_box(guide * p, radius) - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    q = (_box(a, radius) * guide + _box(b, radius))[0].clamp(0, 1)
    return q / q.sum(0, keepdim=True).clamp_min(1e-6)


def remove_islands(labels: torch.Tensor, min_pixels: int, anchors: torch.Tensor | None = None) -> torch.Tensor:
    """Merge connected pieces smaller than ``min_pixels`` into the label that surrounds them most.

    With ``anchors`` (HxW, same label values, -1 = none) a piece is kept only if it holds an
    anchor of its own label, whatever its size: a region is where its strokes reach.
    Works on a coarse HxW integer grid, where plain flood fill is fast enough.
    """
    lab = labels.clone().numpy()
    anc = anchors.numpy() if anchors is not None else None
    h, w = lab.shape
    seen = np.zeros((h, w), dtype=bool)
    for y0 in range(h):
        for x0 in range(w):
            if seen[y0, x0]:
                continue
            k = lab[y0, x0]
            stack, piece, border = [(y0, x0)], [], {}
            seen[y0, x0] = True
            while stack:
                y, x = stack.pop()
                piece.append((y, x))
                for yy, xx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                    if 0 <= yy < h and 0 <= xx < w:
                        if lab[yy, xx] == k:
                            if not seen[yy, xx]:
                                seen[yy, xx] = True
                                stack.append((yy, xx))
                        else:
                            border[lab[yy, xx]] = border.get(lab[yy, xx], 0) + 1
            if anc is not None:
                merge = not any(anc[y, x] == k for y, x in piece)
            else:
                merge = len(piece) < min_pixels
            if merge and border:
                new = max(border, key=border.get)
                for y, x in piece:
                    lab[y, x] = new
    return torch.from_numpy(lab)
