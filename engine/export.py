"""Print-size export: any strategy, any size, with memory that stays flat as the size grows.

Three ways to a file, chosen by what fits:

- **single**: the size fits one pass of the strategy: run it and write the result.
- **tiled feed-forward** (strategies with ``tileable = True`` and a ``tile_renderer``): every
  tile is measured first so statistics that must be global (AdaIN's content mean/std) are the
  whole picture's; then every tile is rendered with those totals and feather-blended.
- **tiled refinement** (optimisation strategies): the strategy runs coarse-to-fine up to a
  working size that fits; the result is upsampled and each full-size tile is optimised against
  the global Gram targets computed at working scale, anchored to the upsampled result (so the
  stroke scale stays the working result's), then feather-blended.

Files carry their DPI and an sRGB ICC profile; PNG and TIFF can be 16-bit; every write is
atomic, so a failed or cancelled export leaves no file behind.
"""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
import torch

from .errors import InputError, OutputError
from .images import atomic_write
from .job import StyleJob
from .scene.keep_shape import keep_structure
from .strategy import Event, Progress, RunContext
from .tiling import (PixelSource, StripBlender, TileSource, choose_tile_size, fits_one_pass, free_memory,
                     plan_tiles, to_hwc)

# ---------------------------------------------------------------- print sizing

_PRINT_RE = re.compile(r"^\s*([\d.]+)\s*x\s*([\d.]+)\s*(cm|mm|in|inch)?\s*$")
_PER_INCH = {"cm": 2.54, "mm": 25.4, "in": 1.0, "inch": 1.0}


def print_pixels(width: float, height: float, unit: str, dpi: float) -> tuple[int, int]:
    """A print's physical size at ``dpi`` -> (width_px, height_px)."""
    if unit not in _PER_INCH:
        raise InputError(f"Unknown print unit '{unit}'; use cm, mm or in.")
    check_dpi(dpi)
    if width <= 0 or height <= 0:
        raise InputError(f"A print needs a positive size, got {width}x{height}{unit}.")
    per = _PER_INCH[unit]
    return max(1, round(width / per * dpi)), max(1, round(height / per * dpi))


#: the DPI a file may carry: past this no printer resolves it, and PNG/TIFF fields overflow far beyond
MAX_DPI = 10_000


def check_dpi(dpi: float) -> float:
    """``dpi``, or an InputError when it is not a positive, finite resolution up to MAX_DPI."""
    if not (isinstance(dpi, (int, float)) and math.isfinite(dpi) and 0 < dpi <= MAX_DPI):
        raise InputError(f"DPI must be a number between 1 and {MAX_DPI}, got {dpi}. Printers use 150 to 600 (300 is usual).")
    return float(dpi)


def parse_print_size(text: str, dpi: float) -> tuple[int, int]:
    """'50x33cm' at 300 DPI -> (5906, 3898) pixels; the unit defaults to cm."""
    m = _PRINT_RE.match(text)
    if not m:
        raise InputError(f"--print expects WIDTHxHEIGHT with cm, mm or in (e.g. 50x33cm), got '{text}'.")
    try:
        w, h = float(m.group(1)), float(m.group(2))
    except ValueError:
        raise InputError(f"--print expects numbers like 50x33cm, got '{text}'.") from None
    return print_pixels(w, h, m.group(3) or "cm", dpi)


# ---------------------------------------------------------------- writing files

_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The ICC profile that says 'these numbers are sRGB', so print drivers do not guess.

    Built once: its header carries a creation time, and one run's files should carry equal bytes."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def file_format(path: str | Path, bit_depth: int = 8) -> str:
    """The format for ``path`` (from its extension), checked against the bit depth."""
    suffix = Path(path).suffix.lower()
    fmt = _FORMATS.get(suffix)
    if fmt is None:
        raise InputError(f"Unknown output format '{suffix}': use .png, .jpg, .tif or .webp.")
    if bit_depth not in (8, 16):
        raise InputError(f"Bit depth must be 8 or 16, got {bit_depth}.")
    if bit_depth == 16 and fmt not in ("PNG", "TIFF"):
        raise InputError(f"{fmt} holds 8 bits per channel; use .png or .tif for a 16-bit export.")
    return fmt


def quantise(image: torch.Tensor, bit_depth: int = 8) -> np.ndarray:
    """1x3xHxW float in [0, 1] -> HxWx3 uint8/uint16."""
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    top = float(np.iinfo(dtype).max)
    arr = to_hwc(image.clamp(0, 1))
    return (arr * top + 0.5).astype(dtype)


def _write_png16(path: Path, pixels: np.ndarray, dpi: float | None, icc: bytes | None) -> None:
    """16-bit RGB PNG, compressed strip by strip (Pillow cannot write 48-bit PNG)."""
    from .png import strips_of, write_png_strips

    h, w, _ = pixels.shape
    with open(path, "wb") as f:
        write_png_strips(f, strips_of(pixels), w, h, 3, 16, dpi, icc)


def _write_tiff16(path: Path, pixels: np.ndarray, dpi: float | None, icc: bytes | None) -> None:
    """16-bit RGB TIFF (deflate strips, DPI and ICC tags) through tifffile; Pillow cannot write 48-bit TIFF."""
    import tifffile

    h, w, _ = pixels.shape
    with tifffile.TiffWriter(path) as tif:
        tif.write(pixels, photometric="rgb", compression="zlib", compressionargs={"level": 6},
                  rowsperstrip=max(1, min(h, (1 << 20) // (w * 6))), resolution=(dpi or 72.0, dpi or 72.0),
                  resolutionunit="INCH", iccprofile=icc, metadata=None)


def write_image(pixels: np.ndarray, path: str | Path, dpi: float | None = None, icc: bool = True,
                quality: int = 95) -> Path:
    """Write an HxWx3 uint8/uint16 picture atomically, with DPI and an sRGB profile where the format has room."""
    bit_depth = 16 if pixels.dtype == np.uint16 else 8
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"Pixels must be uint8 or uint16, got {pixels.dtype}.")
    fmt = file_format(path, bit_depth)
    profile = srgb_profile() if icc else None
    if bit_depth == 16:
        writer = _write_png16 if fmt == "PNG" else _write_tiff16
        return atomic_write(path, lambda tmp: writer(tmp, pixels, dpi, profile))

    def save(tmp: Path) -> None:
        from PIL import Image

        im = Image.fromarray(pixels, "RGB")
        kwargs: dict = {}
        if profile:
            kwargs["icc_profile"] = profile
        if dpi and fmt != "WEBP":
            kwargs["dpi"] = (dpi, dpi)
        if fmt in ("JPEG", "WEBP"):
            kwargs["quality"] = quality
        if fmt == "TIFF":
            kwargs["compression"] = "tiff_deflate"
        im.save(tmp, format=fmt, **kwargs)

    return atomic_write(path, save)


# ---------------------------------------------------------------- options and report


@dataclass(frozen=True)
class ExportOptions:
    """How to export; every field has a sensible default, the tile size comes from free memory."""

    dpi: float | None = None
    bit_depth: Literal[8, 16] = 8
    icc: bool = True
    quality: int = 95
    #: tile side in px (None: chosen from the device's free memory)
    tile: int | None = None
    overlap: int = 64
    #: None: tile only when the size does not fit one pass; True/False forces it
    tiled: bool | None = None
    #: optimisation path: long edge of the coarse-to-fine pass (None: what fits)
    working_size: int | None = None
    #: optimisation path: optimiser steps per full-size tile
    refine_steps: int = 10
    #: export past MAX_OUTPUT_PIXELS (the CLI's --allow-huge; the editor asks first)
    allow_huge: bool = False

    def __post_init__(self) -> None:
        if self.dpi is not None:
            check_dpi(self.dpi)


# ---------------------------------------------------------------- size, memory and disk before starting

#: outputs past this many pixels are refused unless ExportOptions.allow_huge (CLI: --allow-huge);
#: 250 MP is a 2 m wide print at 300 DPI
MAX_OUTPUT_PIXELS = 250_000_000


class HugeOutputError(InputError):
    """The output would be past MAX_OUTPUT_PIXELS and allow_huge was not given."""


@dataclass(frozen=True)
class OutputEstimate:
    """What an export will cost, known before it starts."""

    width: int
    height: int
    #: upper bound of the file's size (uncompressed for PNG/TIFF; JPEG/WebP at about 1 byte a pixel)
    file_bytes: int
    #: the output picture held in memory while it is blended and written (twice: array and encoder)
    memory_bytes: int

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def describe(self) -> str:
        return (f"{self.width}x{self.height} px ({self.megapixels:,.0f} megapixels), a file of up to "
                f"{self.file_bytes / 1e9:,.1f} GB, at least {self.memory_bytes / 1e9:,.1f} GB of memory")


def estimate_output(out_hw: tuple[int, int], path: str | Path, bit_depth: int = 8) -> OutputEstimate:
    """The output's pixels, file size and memory, from its size and format alone."""
    h, w = out_hw
    fmt = file_format(path, bit_depth)
    sample = 2 if bit_depth == 16 else 1
    per_pixel = 3 * sample if fmt in ("PNG", "TIFF") else 1
    return OutputEstimate(w, h, w * h * per_pixel + 65536, 2 * w * h * 3 * sample)


def _existing_folder(path: Path) -> Path:
    """The nearest folder of ``path`` that exists (atomic_write creates the rest)."""
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    return folder


def check_output(out_hw: tuple[int, int], path: str | Path, options: "ExportOptions") -> OutputEstimate:
    """Refuse, before any work, an output past MAX_OUTPUT_PIXELS (unless allowed) or one the disk cannot hold.

    The CLI, the editor's export dialog and :func:`export` all ask here."""
    path = Path(path)
    est = estimate_output(out_hw, path, options.bit_depth)
    if est.width * est.height > MAX_OUTPUT_PIXELS and not options.allow_huge:
        raise HugeOutputError(f"The output would be {est.describe()}: more than the {MAX_OUTPUT_PIXELS / 1e6:.0f}-megapixel "
                         "limit. Choose a smaller --size or --print, or pass --allow-huge if you mean it.")
    check_room(path, est.file_bytes)
    return est


def check_room(path: str | Path, file_bytes: int) -> None:
    """Refuse, before any work, a file its folder cannot take: not a folder, not writable, or short of disk."""
    import os
    import shutil

    path = Path(path)
    folder = _existing_folder(path.resolve())
    if not folder.is_dir():
        raise OutputError(f"Cannot write {path}: {folder} is a file, not a folder. Choose another output folder.")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"Cannot write {path}: the folder {folder} is not writable. Choose another output folder.")
    free = shutil.disk_usage(folder).free
    if free < file_bytes:
        raise OutputError(f"Not enough disk space for {path}: the file may take {file_bytes / 1e6:,.0f} MB and "
                          f"{folder} has {free / 1e6:,.0f} MB free. Free some space or choose another folder.")


@dataclass(frozen=True)
class ExportReport:
    path: Path
    width: int
    height: int
    #: "single", "tiled-feedforward" or "tiled-refine"
    method: str
    tiles: int
    tile_size: int
    working_size: int | None
    seconds: float
    figures: dict


#: peak bytes per pixel of one optimisation step (forward + backward + Adam), per loss net; the
#: distilled figure is measured (bench/export.py: 2.5 GB peak with 840 px tiles), the VGGs scaled from it
REFINE_BYTES_PER_PIXEL = {"vgg16": 8000, "vgg19": 9000, "distilled16x": 2700}
#: L-BFGS keeps 50 steps of history (two 3-channel float vectors per step), and the evaluation
#: cache of engine.optimise three more pictures (the point, its gradient, the step's start)
LBFGS_BYTES_PER_PIXEL = (2 * 50 + 3) * 3 * 4


def refine_bytes_per_pixel(params) -> int:
    """What one pixel of an optimisation tile costs with this job's loss net and optimiser."""
    net = getattr(params, "net", "vgg16")
    extra = LBFGS_BYTES_PER_PIXEL if getattr(params, "optimizer", "lbfgs") == "lbfgs" else 0
    return REFINE_BYTES_PER_PIXEL.get(net, 8000) + extra
#: the CPU caps the working size: past this an optimisation pass takes far too long there
WORKING_CAP = {"cpu": 1024, "cuda": 2048}
REFINE_MARGIN = 32


def _forward(on_event: Callable[[Event], None] | None, event: Event) -> None:
    if on_event is not None:
        on_event(event)


def _tile_progress(on_event, step: int, total: int, stage: str) -> None:
    _forward(on_event, Progress(step=step, total=total, stage=stage))


@dataclass(frozen=True)
class Picture:
    """A job rendered at its full output size: HxWx3 uint8/uint16 (options.bit_depth) and how it was made."""

    pixels: np.ndarray
    method: str
    tiles: int
    tile_size: int
    working_size: int | None
    figures: dict


def export(job: StyleJob, path: str | Path, options: ExportOptions = ExportOptions(), ctx: RunContext | None = None,
           on_event: Callable[[Event], None] | None = None) -> ExportReport:
    """Render ``job`` at its full output size and write it to ``path``; the one path for every size."""
    from .runner import check_job

    start = time.perf_counter()
    fmt_path = Path(path)
    check_job(job)
    check_output(job.output_hw, fmt_path, options)
    picture = render_picture(job, options, ctx, on_event)
    write_image(picture.pixels, fmt_path, options.dpi, options.icc, options.quality)
    h, w = picture.pixels.shape[:2]
    return ExportReport(fmt_path, w, h, picture.method, picture.tiles, picture.tile_size, picture.working_size,
                        time.perf_counter() - start, dict(picture.figures))


def render_picture(job: StyleJob, options: ExportOptions = ExportOptions(), ctx: RunContext | None = None,
                   on_event: Callable[[Event], None] | None = None) -> Picture:
    """``job`` at its full output size, in one pass when it fits, else tiled (the module's docstring)."""
    from .runner import check_job, oom_as_device_error, resolve_device

    strategy_cls = check_job(job)
    if ctx is None:
        ctx = RunContext(resolve_device(job.device))
    torch.manual_seed(job.seed)
    out_h, out_w = job.output_hw
    tileable = bool(getattr(strategy_cls, "tileable", False)) and hasattr(strategy_cls, "tile_renderer")
    oom = (f"Out of memory on {ctx.device} while exporting {out_w}x{out_h}: set a smaller tile size "
           "or working size; nothing was written.")
    with oom_as_device_error(ctx.device, oom):
        if options.tiled is False:
            return _single(job, options, ctx, on_event)
        if tileable:
            renderer = strategy_cls().tile_renderer(job, ctx)
            tile = _tile_side(ctx.device, renderer.bytes_per_pixel, renderer.margin, options, renderer.multiple)
            # one pass whenever the picture fits the free memory (a --tile asks for tiles past it)
            one_pass = (fits_one_pass((out_h, out_w), renderer.bytes_per_pixel, ctx.device) if options.tile is None
                        else out_h <= tile and out_w <= tile)
            if options.tiled is None and one_pass:
                return _single(job, options, ctx, on_event)
            return _feedforward(job, renderer, tile, options, ctx, on_event)
        working = working_size(job, ctx.device, options)
        if options.tiled is None and max(out_h, out_w) <= working:
            return _single(job, options, ctx, on_event)
        return _refine(job, working, options, ctx, on_event)


def _tile_side(device: torch.device, bytes_per_pixel: int, margin: int, options: ExportOptions,
               multiple: int = 8) -> int:
    """The box side of a tile whose context (box + 2 margins) fits the memory budget."""
    if options.tile is not None:
        return choose_tile_size(device, bytes_per_pixel, options.tile)
    ctx_side = choose_tile_size(device, bytes_per_pixel, None, multiple)
    return max(2 * options.overlap + multiple, (ctx_side - 2 * margin) // multiple * multiple)


def _overlap(tile: int, options: ExportOptions) -> int:
    """The asked-for overlap, narrowed for small tiles (a user's --tile 128 must not fail on the default)."""
    return max(0, min(options.overlap, tile // 4))


def working_size(job: StyleJob, device: torch.device, options: ExportOptions = ExportOptions()) -> int:
    """Long edge of the optimisation pass: the user's choice, else what the memory budget and device allow."""
    if options.working_size is not None:
        if options.working_size < 64:
            raise InputError(f"Working size must be at least 64 px, got {options.working_size}.")
        return options.working_size
    budget = free_memory(device) // 4
    h, w = job.output_hw
    aspect = min(h, w) / max(h, w)
    fits = int(math.sqrt(budget / refine_bytes_per_pixel(job.params) / aspect))
    return max(256, min(WORKING_CAP.get(device.type, 1024), fits))


def _single(job, options, ctx, on_event) -> Picture:
    from .runner import run_job

    result = run_job(job, ctx, on_event)
    h, w = result.image.shape[-2:]
    return Picture(quantise(result.image, options.bit_depth), "single", 1, max(h, w), None, dict(result.figures))


def _feedforward(job, renderer, tile: int, options, ctx, on_event) -> Picture:
    """Measure every tile, then render every tile with the totals; a renderer with ``stages``
    (universal: one per level) does that once per stage, each stage reading the picture the one
    before it blended (held at 16 bits, the only full-size picture in memory)."""
    dev = ctx.device
    out_h, out_w = job.output_hw
    layout = plan_tiles(out_h, out_w, tile, _overlap(tile, options), renderer.margin, renderer.multiple)
    stages = list(getattr(renderer, "stages", None) or [renderer])
    photo = TileSource(job.content, (out_h, out_w))
    source: TileSource | PixelSource = photo
    keep = _photo_outside_regions(job, tuple(job.content.shape[-2:]), (out_h, out_w))
    shape = _shape_protected(job, (out_h, out_w))
    n = len(layout.tiles)
    steps = 2 * n * len(stages)
    picture = None
    with torch.no_grad():
        for s, stage in enumerate(stages):
            last = s == len(stages) - 1
            done = 2 * n * s
            name = f"{stage.stage}: " if len(stages) > 1 else ""
            totals: dict[str, torch.Tensor] = {}
            for t in layout.tiles:
                ctx.check()
                sums = stage.measure(source.crop(t.context).to(dev), t.interior.within(t.context), t.context)
                for k, v in sums.items():
                    totals[k] = totals[k] + v if k in totals else v
                _tile_progress(on_event, done + t.index + 1, steps, f"{name}measuring tile {t.index + 1}/{n}")
            bits16 = options.bit_depth == 16 or not last
            out = np.empty((out_h, out_w, 3), np.uint16 if bits16 else np.uint8)
            blender = StripBlender(out, min(tile, out_h))
            for t in layout.tiles:
                ctx.check()
                tile_px = source.crop(t.context).to(dev)
                img = stage.render(tile_px, totals, t.context)
                if last and (keep is not None or shape is not None):
                    own = (tile_px if s == 0 else photo.crop(t.context)).to(img)
                    if shape is not None:
                        img = keep_structure(img, own, shape.crop(t.context).clamp(0, 1), max(out_h, out_w),
                                             renderer.margin)
                    if keep is not None:
                        img = torch.lerp(img, own, keep.crop(t.context).to(img).clamp(0, 1))
                b = t.box.within(t.context)
                blender.add(t, to_hwc(img[..., b.y0:b.y1, b.x0:b.x1]))
                _tile_progress(on_event, done + n + t.index + 1, steps, f"{name}rendering tile {t.index + 1}/{n}")
            picture = blender.close()
            if not last:
                source = PixelSource(picture)
    ctx.check()
    return Picture(picture, "tiled-feedforward", n, tile, None, {})


# ---------------------------------------------------------------- optimisation path


def _grams_by_tile(net, source: TileSource, layers: Sequence[str], masks: Sequence[TileSource | None],
                   tile: int, dev, ctx: RunContext) -> list[dict[str, torch.Tensor]]:
    """Gram matrices of a picture as large as the print, one per mask (None = everywhere), tile by tile."""
    import torch.nn.functional as F

    from .features import tap_block
    from .tiling import cell_slice, plan_tiles

    h, w = source.out_hw
    layout = plan_tiles(h, w, max(tile, 2 * 16 + 1), 0, REFINE_MARGIN, 16)
    sums: list[dict[str, torch.Tensor]] = [{} for _ in masks]
    weights: list[dict[str, float]] = [{} for _ in masks]
    for t in layout.tiles:
        ctx.check()
        px = source.crop(t.context).to(dev)
        ms = [None if m is None else m.crop(t.context).to(dev) for m in masks]
        with torch.no_grad():
            feats = net(px, layers)
        for layer in layers:
            f = feats[layer][0]
            stride = 2 ** (tap_block(layer) - 1)
            inside = t.interior.within(t.context)
            ys = cell_slice(inside.y0, inside.y1, t.context.h, stride, f.shape[-2])
            xs = cell_slice(inside.x0, inside.x1, t.context.w, stride, f.shape[-1])
            cells = f[:, ys, xs].reshape(f.shape[0], -1)
            for k, m in enumerate(ms):
                if m is None:
                    g, n = cells @ cells.T, float(cells.shape[1])
                else:
                    wk = F.adaptive_avg_pool2d(m, f.shape[-2:])[0, 0][ys, xs].reshape(1, -1)
                    g, n = (cells * wk) @ cells.T, float(wk.sum())
                sums[k][layer] = sums[k][layer] + g if layer in sums[k] else g
                weights[k][layer] = weights[k].get(layer, 0.0) + n
    return [{l: s[l] / max(wt[l], 1e-6) for l in layers} for s, wt in zip(sums, weights)]


def _refine_targets(job: StyleJob, net, working: torch.Tensor, style_layers: Sequence[str], dev,
                    out_hw: tuple[int, int], tile: int, ctx: RunContext) -> list:
    """Style terms measured at the print's own scale, so strokes keep their size relative to the picture.

    (Measured at the working size, they asked each print pixel for the texture of a working
    pixel: a print at 3x the working size grew strokes a third the size, a fine coloured
    speckle.) An image style gives its Grams with the style scaled to the print; a text region,
    or a gap without a global style, gives the working result's own, read from it upsampled to
    the print (nothing is invented there). For regions each term carries its region's weight
    map at working size; tiles crop it.
    """
    from .colour import match_histogram
    from .images import resize, style_size
    from .losses import blended_grams
    from .optimise import StyleTerm
    from .regions import region_masks

    p = job.params
    scale, colour = getattr(p, "style_scale", 1.0), getattr(p, "colour", "none")
    photo = resize(job.content, tuple(working.shape[-2:]))

    def image_grams(styles) -> dict[str, torch.Tensor]:
        per_style = []
        for s in styles:
            img = match_histogram(s.image, photo) if colour == "histogram" else s.image
            source = TileSource(img, style_size(img, out_hw, scale))  # as scale_style, never whole in memory
            per_style.append(_grams_by_tile(net, source, style_layers, [None], tile, dev, ctx)[0])
        return blended_grams(per_style, [s.weight for s in styles])

    def own_grams(masks: list[torch.Tensor | None]) -> list[dict[str, torch.Tensor]]:
        sources = [None if m is None else TileSource(m[None, None].float(), out_hw) for m in masks]
        return _grams_by_tile(net, TileSource(working, out_hw), style_layers, sources, tile, dev, ctx)

    styles = job.image_styles()
    if not job.regions:
        grams = image_grams(styles) if styles and len(styles) == len(job.styles) else own_grams([None])[0]
        return [StyleTerm(grams)]
    rm = region_masks(job, tuple(working.shape[-2:]))
    maps = list(rm.weights) + [rm.gap]
    sources = [r.style for r in job.regions] + [None]  # None: the gap
    kept = [(m, s) for m, s in zip(maps, sources) if float(m.sum()) >= 1.0]
    grams: list[dict[str, torch.Tensor] | None] = []
    for m, s in kept:
        if s is not None and s.image is not None:
            grams.append(image_grams([s]))
        elif s is None and job.gaps == "global" and styles:
            grams.append(image_grams(styles))
        else:
            grams.append(None)
    missing = [i for i, g in enumerate(grams) if g is None]
    for i, g in zip(missing, own_grams([kept[i][0] for i in missing]) if missing else []):
        grams[i] = g
    return [StyleTerm(g, mask=m, weight=float(m.mean())) for (m, _), g in zip(kept, grams)]


def _refine(job: StyleJob, working: int, options, ctx, on_event) -> Picture:
    from . import features
    from .colour import preserve
    from .optimise import StyleObjective, StyleTerm, layers_for, optimise
    from .precision import reduced_dtype
    from .runner import run_job

    dev = ctx.device
    out_h, out_w = job.output_hw
    p = job.params

    def on_working(e: Event) -> None:
        if isinstance(e, Progress):
            _forward(on_event, Progress(e.step, e.total, f"working size {working} px: {e.stage}".rstrip(": "),
                                        e.preview, e.losses))

    result = run_job(job.with_(size=working), ctx, on_working)
    work_img = result.image.detach().float().cpu()
    net_name = getattr(p, "net", "vgg16")
    net = features.get(net_name, dev)
    style_layers, content_layer = layers_for(net_name, getattr(p, "layers", "classic"))
    tile = _tile_side(dev, refine_bytes_per_pixel(p), REFINE_MARGIN, options, 8)
    _tile_progress(on_event, 0, 1, "measuring the styles at the print's scale")  # a pass over each style at print size
    terms = _refine_targets(job, net, work_img, style_layers, dev, (out_h, out_w), tile, ctx)
    layout = plan_tiles(out_h, out_w, tile, _overlap(tile, options), REFINE_MARGIN, 1)
    upsampled = TileSource(work_img, (out_h, out_w))
    luminance = getattr(p, "colour", "none") == "luminance"
    keep = _photo_outside_regions(job, tuple(work_img.shape[-2:]), (out_h, out_w))
    shape = _shape_protected(job, (out_h, out_w))
    photo = TileSource(job.content, (out_h, out_w)) if luminance or keep is not None or shape is not None else None
    masks = [TileSource(t.mask[None, None].float(), (out_h, out_w)) if t.mask is not None else None for t in terms]
    out = np.empty((out_h, out_w, 3), np.uint16 if options.bit_depth == 16 else np.uint8)
    blender = StripBlender(out, min(tile, out_h))
    n = len(layout.tiles)
    steps = options.refine_steps
    optimizer = getattr(p, "optimizer", "lbfgs")
    dtype = reduced_dtype(dev, getattr(p, "precision", "float32"))
    for t in layout.tiles:
        ctx.check()
        blender.flush_above(t.box.y0)
        known_px, known = blender.peek(t.context)
        x0 = upsampled.crop(t.context).to(dev)
        photo_tile = photo.crop(t.context).to(dev) if photo is not None else None
        if keep is not None and photo_tile is not None:
            kept = keep.crop(t.context).to(dev).clamp(0, 1)
            x0 = torch.lerp(x0, photo_tile, kept)
        x0 = _from_neighbours(x0, known_px, known).to(dev)
        tile_terms = [StyleTerm(term.grams, None if m is None else m.crop(t.context)[0, 0].to(dev), term.weight)
                      for term, m in zip(terms, masks)]
        tile_terms = [tt for tt in tile_terms if tt.mask is None or float(tt.mask.sum()) > 0.5] or tile_terms[:1]
        objective = StyleObjective(net, x0, tile_terms, style_layers, content_layer,
                                   getattr(p, "content_weight", 1.0), getattr(p, "style_weight", 20.0),
                                   getattr(p, "tv_weight", 2.0), dtype=dtype)
        x = x0
        if steps > 0:
            # Pixels the neighbours already refined stay as they are: this tile continues their
            # brush marks instead of painting its own over them (which the cross-fade would blur).
            held = _Held(objective, x0, torch.from_numpy(known)[None, None].to(x0))
            run = optimise(x0, held, _Quiet(ctx), steps, optimizer, getattr(p, "lr", 0.02))
            try:
                while True:
                    next(run)
            except StopIteration as stop:
                x = held.compose(stop.value)
        if shape is not None and photo_tile is not None:
            x = keep_structure(x, photo_tile, shape.crop(t.context).clamp(0, 1), max(out_h, out_w), REFINE_MARGIN)
        if keep is not None and photo_tile is not None:
            x = torch.lerp(x, photo_tile, kept)
        if luminance and photo_tile is not None:
            x = preserve("luminance", x, photo_tile)
        b = t.box.within(t.context)
        blender.add(t, to_hwc(x[..., b.y0:b.y1, b.x0:b.x1]))
        _tile_progress(on_event, t.index + 1, n, f"refining tile {t.index + 1}/{n}")
    ctx.check()
    return Picture(blender.close(), "tiled-refine", n, tile, working, dict(result.figures))


def _photo_outside_regions(job: StyleJob, mask_hw: tuple[int, int], out_hw: tuple[int, int]) -> TileSource | None:
    """Where a regions job keeps the photo (``gaps="content"``), measured at ``mask_hw`` and read
    per tile (``regions.outside_regions``, as every single-pass render keeps it).

    Those pixels come from the full-resolution photo, not from an upsampled result, which would
    print them soft."""
    from .regions import outside_regions

    keep = outside_regions(job, mask_hw)
    return None if keep is None else TileSource(keep[None, None], out_hw)


#: long edge the protected areas are measured at for a print, read per tile (resized bicubically):
#: a face's ellipse and a feathered mask are smooth, and a 6000 px photo's full-size map is 144 MB
SHAPE_MASK_EDGE = 2048


def _shape_protected(job: StyleJob, out_hw: tuple[int, int]) -> TileSource | None:
    """Where the print keeps the photo's structure (faces, regions' keep shape), read per tile
    (``scene.keep_shape.protection``, as every single-pass render keeps it); None when nowhere."""
    from .images import size_for_long_edge
    from .scene.keep_shape import protection

    h, w = job.content.shape[-2:]
    amount = protection(job, size_for_long_edge(h, w, min(max(h, w), SHAPE_MASK_EDGE)))
    return None if amount is None else TileSource(amount[None, None], out_hw)


def _from_neighbours(start: torch.Tensor, known_pixels: np.ndarray, known: np.ndarray) -> torch.Tensor:
    """A tile's starting image: its neighbours' refined pixels where they exist, else the upsampled result.

    Independently optimised tiles grow different brush marks in their overlap and the cross-fade
    averages them into a soft band; starting from what is already there, they agree."""
    if not known.any():
        return start
    px = torch.from_numpy(known_pixels).permute(2, 0, 1)[None].to(start)
    mask = torch.from_numpy(known)[None, None].to(start)
    return torch.where(mask > 0, px, start)


class _Held:
    """An objective over the free pixels only: ``held`` ones keep their value from ``start``."""

    def __init__(self, objective, start: torch.Tensor, held: torch.Tensor) -> None:
        self.objective, self.start, self.free = objective, start.detach(), 1.0 - held.float()

    def compose(self, x: torch.Tensor) -> torch.Tensor:
        return self.free * x + (1 - self.free) * self.start

    def __call__(self, x: torch.Tensor):
        return self.objective(self.compose(x))


class _Quiet(RunContext):
    """The export's context without previews: a tile's optimiser steps must not send full images."""

    def __init__(self, outer: RunContext) -> None:
        super().__init__(outer.device, outer.cancel_event, preview_every=1 << 30)

    def wants_preview(self, step: int, total: int) -> bool:
        return False


__all__ = [
    "print_pixels", "parse_print_size", "srgb_profile", "file_format", "quantise", "write_image",
    "ExportOptions", "ExportReport", "Picture", "export", "render_picture", "working_size",
]
