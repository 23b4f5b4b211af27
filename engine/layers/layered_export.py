"""Render a job and write it as layers (OpenRaster, layered TIFF or PSD), at any size.

The render runs once, through the same path as a flat export (one pass or tiles); the flat file
can be written from it too (the CLI's ``-o`` beside ``--layers``). Then each region's own
picture is rendered as its layer is written (see stack.own_render_job), one at a time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..errors import InputError
from ..export import (MAX_OUTPUT_PIXELS, ExportOptions, HugeOutputError, check_output, check_room, render_picture,
                      srgb_profile, write_image)
from ..images import atomic_write
from ..job import StyleJob
from ..strategy import Event, Progress, RunContext
from .ora import write_ora
from .psd import write_psd
from .stack import Layer, LayerStack, PictureRows, ResizedRows, own_render_job, region_mask_rows, region_name
from .tiff import write_tiff

WRITERS = {".ora": write_ora, ".tif": write_tiff, ".tiff": write_tiff, ".psd": write_psd}


@dataclass(frozen=True, eq=False)
class KeptPicture:
    """A kept result (the editor's Compare / Kept results) to carry as a hidden layer."""

    name: str
    image: torch.Tensor  # 1x3xhxw in [0, 1], any size: enlarged to the stack's


@dataclass(frozen=True)
class LayersReport:
    path: Path
    width: int
    height: int
    #: layer names, bottom to top
    layers: tuple[str, ...]
    #: how the render was made ("single", "tiled-feedforward", "tiled-refine")
    method: str
    seconds: float
    figures: dict


def layers_format(path: str | Path) -> str:
    """The layered format for ``path``'s extension, or a clear error."""
    suffix = Path(path).suffix.lower()
    if suffix not in WRITERS:
        raise InputError(f"Layers are written as .ora (OpenRaster: Krita, GIMP 3, MyPaint), .psd (Photoshop, "
                         f"Affinity, GIMP, Krita) or .tif (pages as layers: GIMP); got '{suffix or path}'.")
    return suffix


def check_layers_output(out_hw: tuple[int, int], path: str | Path, options: ExportOptions, n_layers: int) -> None:
    """Before any work: a known format, the pixel limit, and room for every layer (uncompressed, with alpha)."""
    layers_format(path)
    h, w = out_hw
    if h * w > MAX_OUTPUT_PIXELS and not options.allow_huge:
        raise HugeOutputError(f"The layers would be {w}x{h} px ({h * w / 1e6:,.0f} megapixels) each: more than the "
                              f"{MAX_OUTPUT_PIXELS / 1e6:.0f}-megapixel limit. Choose a smaller --size or --print, "
                              "or pass --allow-huge if you mean it.")
    sample = 2 if options.bit_depth == 16 else 1
    check_room(path, (n_layers + 1) * h * w * 4 * sample + 65536)


def count_layers(job: StyleJob, kept: tuple[KeptPicture, ...] = ()) -> int:
    return 2 + len(job.regions) + len(kept)


def build_stack(job: StyleJob, render: np.ndarray, options: ExportOptions, ctx: RunContext | None,
                on_event: Callable[[Event], None] | None, kept: tuple[KeptPicture, ...] = ()) -> LayerStack:
    """The stack over ``render`` (the job's full-size picture, HxWx3 uint8/uint16); see engine.layers.stack."""
    h, w = render.shape[:2]
    out_hw = (h, w)
    flat = PictureRows(render)
    total = count_layers(job, kept)

    def announce(i: int, name: str) -> None:
        if ctx is not None:
            ctx.check()  # a cancel between layers: the writer stops, atomic_write removes the partial file
        if on_event is not None:
            on_event(Progress(step=i, total=total, stage=f"layer {i + 1}/{total}: {name}"))

    def photo():
        announce(0, "Photo")
        return ResizedRows.of(job.content, out_hw), None

    def region_opener(i: int):
        region = job.regions[i]
        name = region_name(region, i)

        def open_region():
            announce(1 + i, name)
            own = own_render_job(job, region)
            if region.strength == 0:
                pixels = ResizedRows.of(job.content, out_hw)  # a region that keeps the photo
            elif own is None:
                pixels = flat  # the region's part of the render
            else:
                def staged(e: Event) -> None:
                    if isinstance(e, Progress) and on_event is not None:
                        on_event(Progress(e.step, e.total, f"layer {2 + i}/{total}: {name}: {e.stage}".rstrip(": ")))

                pixels = PictureRows(render_picture(own, options, ctx, staged).pixels)
            return pixels, region_mask_rows(region, out_hw, job.output_hw)

        return open_region

    def the_render():
        announce(1 + len(job.regions), "Render")
        return flat, None

    def kept_opener(i: int, picture: KeptPicture):
        def open_kept():
            announce(2 + len(job.regions) + i, picture.name)
            return ResizedRows.of(picture.image, out_hw), None

        return open_kept

    layers = [Layer("Photo", "photo", photo)]
    layers += [Layer(region_name(r, i), "region", region_opener(i)) for i, r in enumerate(job.regions)]
    layers.append(Layer("Render", "render", the_render))
    layers += [Layer(k.name or f"Kept {i + 1}", "kept", kept_opener(i, k), visible=False) for i, k in enumerate(kept)]
    return LayerStack(h, w, tuple(layers), flat)


def export_layers(job: StyleJob, path: str | Path, options: ExportOptions = ExportOptions(),
                  ctx: RunContext | None = None, on_event: Callable[[Event], None] | None = None,
                  kept: tuple[KeptPicture, ...] = (), flat_path: str | Path | None = None,
                  render: np.ndarray | None = None) -> LayersReport:
    """Render ``job`` (or take its finished ``render``, HxWx3 at ``options.bit_depth``) and write its layers
    to ``path``; ``flat_path`` also gets the flat picture. Atomic: a failure or cancel leaves no file."""
    from ..runner import check_job, resolve_device

    start = time.perf_counter()
    path = Path(path)
    writer = WRITERS[layers_format(path)]
    check_job(job)
    check_layers_output(job.output_hw, path, options, count_layers(job, kept))
    if flat_path is not None:
        check_output(job.output_hw, flat_path, options)
    if ctx is None:
        ctx = RunContext(resolve_device(job.device))
    method, figures = "given", {}
    if render is not None and tuple(render.shape[:2]) != tuple(job.output_hw):
        raise InputError(f"The render is {render.shape[1]}x{render.shape[0]} px but the job's output is "
                         f"{job.output_hw[1]}x{job.output_hw[0]} px; render again at this size.")
    if render is None:
        picture = render_picture(job, options, ctx, on_event)
        render, method, figures = picture.pixels, picture.method, dict(picture.figures)
    if flat_path is not None:
        write_image(render, flat_path, options.dpi, options.icc, options.quality)
    stack = build_stack(job, render, options, ctx, on_event, kept)
    icc = srgb_profile() if options.icc else None
    atomic_write(path, lambda tmp: writer(stack, tmp, options.bit_depth, options.dpi, icc))
    return LayersReport(path, stack.width, stack.height, tuple(l.name for l in stack.layers), method,
                        time.perf_counter() - start, figures)


__all__ = ["export_layers", "build_stack", "KeptPicture", "LayersReport", "layers_format", "check_layers_output",
           "WRITERS"]
