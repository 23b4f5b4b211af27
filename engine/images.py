"""Reading and writing images as float tensors, with errors a user understands."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError, OutputError

#: Images with more pixels than this are refused before decoding (a decompression bomb, or a
#: picture that would not fit in memory as floats); the environment variable raises it (0: no limit).
MAX_PIXELS_ENV = "BRUSHWORK_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 200_000_000
# Our own check (check_pixels) replaces Pillow's, which raises a bare DecompressionBombError.
Image.MAX_IMAGE_PIXELS = None


class ImageTooLargeError(InputError):
    """An image's header declares more pixels than Brushwork opens by default."""

    def __init__(self, path: Path, width: int, height: int, limit: int) -> None:
        self.path, self.width, self.height, self.limit = path, width, height, limit
        mp = width * height / 1e6
        super().__init__(
            f"Image {path} is {width}x{height} px ({mp:.0f} megapixels), more than the {limit / 1e6:.0f}-megapixel "
            f"limit (decoding it needs about {width * height * 3 / 1e9:.1f} GB of memory). If you trust the file, allow it "
            f"with the environment variable {MAX_PIXELS_ENV}={width * height} (0 for no limit), or downscale it first.")


def max_pixels() -> int | None:
    """The pixel limit for opening images (None: no limit), from BRUSHWORK_MAX_IMAGE_PIXELS."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(text))
    except ValueError:
        raise InputError(f"{MAX_PIXELS_ENV} must be a number of pixels (0 for no limit), got '{text}'.") from None
    return None if value <= 0 else value


def check_pixels(path: Path, width: int, height: int) -> None:
    """Raise ImageTooLargeError before decoding an image past the limit."""
    limit = max_pixels()
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(path, width, height, limit)


def _flatten(im: Image.Image, mode: str) -> Image.Image:
    """``im`` in ``mode`` as a user sees it: 16-bit scaled (not clipped) to 8, transparency over white."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray((arr / top * 255.0 + 0.5).clip(0, 255).astype(np.uint8), "L")
    if mode == "RGB" and (im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert(mode)


@contextmanager
def _opened(path: str | os.PathLike) -> Iterator[Image.Image]:
    """An image opened (header read, not decoded), every Pillow failure an InputError naming the file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"Image not found: {p}")
    if p.is_dir():
        raise InputError(f"Expected an image file but got a folder: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"Cannot read image {p}: the file is empty (0 bytes).")
    try:
        with Image.open(p) as im:
            yield im
    except InputError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"Cannot read image {p}: the file is corrupt or not an image ({exc}).") from exc


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the header alone: what the editor asks about before decoding."""
    with _opened(path) as im:
        return im.size


def load_pil(path: str | os.PathLike, mode: str = "RGB", long_edge: int | None = None) -> Image.Image:
    """Open and fully decode an image, turning every Pillow failure into an InputError.

    With ``long_edge`` the picture is downscaled to it (JPEGs decode at a reduced scale) and the
    pixel limit is waived: the user chose to open a large image smaller.
    """
    with _opened(path) as im:
        if long_edge is None:
            check_pixels(Path(path), im.width, im.height)
        else:
            h, w = size_for_long_edge(im.height, im.width, long_edge)
            im.draft(im.mode if im.mode in ("RGB", "L", "CMYK") else None, (w, h))
        im.load()
        out = _flatten(ImageOps.exif_transpose(im), mode)
        if long_edge is not None and max(out.size) > long_edge:
            h, w = size_for_long_edge(out.height, out.width, long_edge)
            out = out.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return out


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


def load_image(path: str | os.PathLike, long_edge: int | None = None) -> torch.Tensor:
    """Load an RGB image as 1x3xHxW float32 in [0, 1] (downscaled to ``long_edge`` when given)."""
    return pil_to_tensor(load_pil(path, long_edge=long_edge))


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
    The file gets the mode any new file of the user's would (0666 less the umask; an existing
    file keeps its own), not the temp file's 0600. An OS failure (an unwritable folder, a full
    disk) is an OutputError naming the file; the previous file, if any, is untouched.
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=dest.suffix or ".tmp", dir=dest.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write {dest}: {exc.strerror or exc}. Choose another folder; nothing was written.") from exc
    try:  # from the temp file's creation on, anything (an error, Ctrl+C, SIGTERM via the CLI) removes it
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, _file_mode(dest))
        os.replace(tmp, dest)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise OutputError(f"Cannot write {dest}: {exc.strerror or exc}. Free some disk space or choose another "
                              "folder; nothing was written (a previous file there is unchanged).") from exc
        raise
    return dest


def _file_mode(dest: Path) -> int:
    """The permission bits ``dest`` should get: its own when it exists, else 0666 less the umask."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask alone must set it)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


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


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad the bottom/right so H and W divide by ``multiple`` (an encoder's total pooling);
    returns (padded, (h, w)). Replicate where the picture is too small to reflect."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)
