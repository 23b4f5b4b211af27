"""Reading and writing images as float tensors, with errors a user understands."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from .errors import InputError

#: Image files larger than this are refused before decoding (decompression bombs).
MAX_PIXELS = 30000 * 30000


def load_pil(path: str | os.PathLike, mode: str = "RGB") -> Image.Image:
    """Open and fully decode an image, turning every Pillow failure into an InputError."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"Image not found: {p}")
    if p.is_dir():
        raise InputError(f"Expected an image file but got a folder: {p}")
    try:
        with Image.open(p) as im:
            if im.width * im.height > MAX_PIXELS:
                raise InputError(f"Image is too large to open ({im.width}x{im.height}): {p}")
            im.load()
            return im.convert(mode)
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"Cannot read image {p}: the file is corrupt or not an image ({exc}).") from exc


def pil_to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL RGB -> 1x3xHxW float32 in [0, 1]."""
    arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """1x3xHxW (or 3xHxW) float in [0, 1] -> 8-bit PIL RGB."""
    if t.dim() == 4:
        t = t[0]
    arr = (t.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """Load an RGB image as 1x3xHxW float32 in [0, 1]."""
    return pil_to_tensor(load_pil(path))


def load_mask(path: str | os.PathLike) -> torch.Tensor:
    """Load a mask image as HxW float in [0, 1] (the luminance; alpha is used when present)."""
    p = Path(path)
    im = load_pil(p, mode="RGBA") if _has_alpha(p) else load_pil(p, mode="L")
    if im.mode == "RGBA":
        alpha = np.asarray(im.getchannel("A"), dtype=np.float32) / 255.0
        if alpha.min() < 1.0:
            return torch.from_numpy(alpha)
        im = im.convert("L")
    return torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)


def _has_alpha(p: Path) -> bool:
    try:
        with Image.open(p) as im:
            return "A" in im.getbands()
    except Exception:  # the real load reports the error
        return False


def size_for_long_edge(h: int, w: int, long_edge: int) -> tuple[int, int]:
    """(h, w) scaled so that the longer side is ``long_edge``, keeping the aspect ratio."""
    if long_edge <= 0:
        raise InputError(f"Size must be a positive number of pixels, got {long_edge}.")
    scale = long_edge / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a 1xCxHxW tensor; antialiased when shrinking so downscaled styles keep their texture."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    shrinking = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    return F.interpolate(t, size=size, mode="bicubic", align_corners=False, antialias=shrinking).clamp(0, 1)


def resize_long_edge(t: torch.Tensor, long_edge: int) -> torch.Tensor:
    return resize(t, size_for_long_edge(t.shape[-2], t.shape[-1], long_edge))


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(tmp_path)`` and move the result into place only if it succeeded.

    A failed or cancelled render therefore never leaves a partial file at ``path``.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=dest.suffix or ".tmp", dir=dest.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest


def save_image(t: torch.Tensor, path: str | os.PathLike, dpi: float | None = None, quality: int = 95) -> Path:
    """Write an 8-bit image atomically; the format follows the file extension."""
    dest = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}.get(
        dest.suffix.lower()
    )
    if fmt is None:
        raise InputError(f"Unknown output format '{dest.suffix}': use .png, .jpg, .tif or .webp.")
    im = tensor_to_pil(t)
    kwargs: dict = {}
    if dpi:
        kwargs["dpi"] = (dpi, dpi)
    if fmt == "JPEG":
        kwargs["quality"] = quality
    return atomic_write(dest, lambda tmp: im.save(tmp, format=fmt, **kwargs))


def style_size(style: torch.Tensor, out_hw: tuple[int, int], scale: float = 1.0) -> tuple[int, int]:
    """The size that puts a style image's long edge at ``scale`` x the output's long edge.

    Brush strokes then keep the same size relative to the picture at every output size.
    """
    return size_for_long_edge(style.shape[-2], style.shape[-1], max(16, round(max(out_hw) * scale)))


def scale_style(style: torch.Tensor, out_hw: tuple[int, int], scale: float = 1.0) -> torch.Tensor:
    return resize(style, style_size(style, out_hw, scale))
