"""``brushwork``: the engine, headless, for batch work and scripts.

Sub-commands: strategies, render, segment, weights; plugins add more through the
``brushwork.commands`` entry-point group (``register_cli(subparsers)``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from . import params as params_mod
from .errors import BrushworkError, Cancelled, InputError
from .registry import commands, segmenters, strategies


def _mirror_default() -> str | None:
    return os.environ.get("BRUSHWORK_WEIGHTS_MIRROR")


# ---------------------------------------------------------------- strategies
def cmd_strategies(args: argparse.Namespace) -> int:
    items = strategies.all()
    if args.json:
        out = {"strategies": [cls.describe() for cls in items.values()],
               "broken": [b.__dict__ for b in strategies.broken]}
        print(json.dumps(out, indent=2, default=str))
        return 0
    for name, cls in items.items():
        print(f"{name:12s} {cls.title}  [{', '.join(sorted(cls.style_sources))}"
              f"{', regions' if cls.honours_regions else ''}]")
        for s in params_mod.specs(cls.Params):
            rng = f" {s.choices}" if s.choices else (f" [{s.min}..{s.max}]" if s.min is not None else "")
            print(f"    {s.name}={s.default}{rng}  {s.help}")
    for b in strategies.broken:
        print(f"! plugin '{b.name}' ({b.target}) failed to load: {b.error}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- render
def parse_print_size(text: str, dpi: float) -> tuple[int, int]:
    """'50x33cm' at 300 DPI -> (width_px, height_px)."""
    from .export import parse_print_size as parse

    return parse(text, dpi)


#: --feather's largest radius (px); the editor's box stops at 200
MAX_FEATHER = 1000.0
#: --seed's range: what both torch.manual_seed and numpy's seeding take
MAX_SEED = 2**32 - 1
#: --style-weights are relative (0.7,0.3 is 7:3); past this one style simply wins, and sums stay finite
MAX_STYLE_WEIGHT = 1e6


def _parse_weights(text: str | None, n: int) -> list[float]:
    if not text:
        return [1.0] * n
    try:
        ws = [float(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"--style-weights expects numbers like 0.7,0.3, got '{params_mod.shown(text)}'.") from None
    ws = [params_mod.number("--style-weights", w, float, min=0, max=MAX_STYLE_WEIGHT) for w in ws]
    if len(ws) != n:
        raise InputError(f"--style-weights gives {len(ws)} weights for {n} styles.")
    return ws


def check_render_numbers(args: argparse.Namespace) -> None:
    """render's numeric flags, before anything is loaded: finite and in range, or an InputError
    naming the flag (params.number is the rule)."""
    from .video.reader import check_fps

    number = params_mod.number
    args.feather = number("--feather", args.feather, float, min=0, max=MAX_FEATHER)
    args.seed = number("--seed", args.seed, int, min=0, max=MAX_SEED)
    for flag, name in (("--size", "size"), ("--tile", "tile"), ("--working-size", "working_size"),
                       ("--preview-every", "preview_every"), ("--crf", "crf")):
        if getattr(args, name) is not None:
            setattr(args, name, number(flag, getattr(args, name), int))
    args.fps = check_fps(args.fps)


def _region_style(source: str, flag: str, spec: str):
    """A region's style from the right of ``=``: an image file or ``text:PROMPT``."""
    from .images import load_image
    from .job import StyleSource

    if source.startswith("text:"):
        return StyleSource(text=source[5:], name=source[5:])
    if not source:
        raise InputError(f"{flag} expects a style after '=', got '{spec}'.")
    return StyleSource(image=load_image(source), name=Path(source).stem)


#: --auto-region's style that keeps the photo inside the group (a region of strength 0)
KEEP = "keep"


def auto_region_groups(args: argparse.Namespace) -> tuple[str, ...]:
    """The semantic group each --auto-region names, in order (the regions build_job makes after --region's)."""
    groups = []
    for spec in args.auto_region or []:
        group, sep, _ = spec.partition("=")
        if not sep or not group.strip():
            raise InputError(f"--auto-region expects GROUP=STYLE.jpg, GROUP=text:PROMPT or GROUP=keep "
                             f"(GROUP: sky, buildings, people...), got '{spec}'.")
        groups.append(group.strip().lower())
    return tuple(groups)


def auto_regions(args: argparse.Namespace, content) -> list:
    """Regions cut from the photo's semantic groups (``--auto-region sky=starry.jpg``), named after them.

    The photo is segmented once, whatever the number of groups. ``GROUP=keep`` keeps the photo
    there: a region of strength 0, which every strategy leaves unstyled and engine.regions fills
    with the photo's own pixels (gaps content or global); its style is the photo itself, never used.
    """
    from .job import Region, StyleSource
    from .segmenter import pick_segment

    groups = auto_region_groups(args)
    if not groups:
        return []
    found = segmenters.get("semantic")().groups(content)
    regions = []
    for spec, group in zip(args.auto_region, groups):
        source = spec.partition("=")[2]
        try:
            segment = pick_segment(found, group)
        except InputError as exc:
            raise InputError(f"--auto-region {group}: {exc}") from None
        if source.strip().lower() == KEEP:
            style, strength = StyleSource(image=content, name="photo"), 0.0
        else:
            style, strength = _region_style(source, "--auto-region", spec), 1.0
        regions.append(Region(mask=segment.mask, style=style, strength=strength, name=segment.file_stem,
                              feather=args.feather))
    return regions


def find_faces(args: argparse.Namespace, content) -> tuple | None:
    """The faces to protect in ``content`` (found once per photo), or None when not protecting them.

    ``--protect-faces off``: None. A missing face model (or runtime) is an error when
    ``--protect-faces on`` was asked for, and under the default a warning, the render going on
    without protection."""
    from .errors import WeightsError

    if args.protect_faces == "off":
        return None
    from .scene.faces import detect_faces

    try:
        return detect_faces(content)
    except WeightsError as exc:
        if args.protect_faces == "on":
            raise WeightsError(f"--protect-faces on: {exc}") from None
        print(f"warning: rendering without face protection: {exc} (--protect-faces off silences this)",
              file=sys.stderr)
        return None


def build_job(args: argparse.Namespace, content=None):
    """A StyleJob from render's arguments (all inputs are checked before anything runs);
    ``content`` replaces loading args.content (a clip's first frame)."""
    from .images import load_image, load_mask
    from .job import Region, StyleJob, StyleSource

    strategy_cls = strategies.get(args.strategy)
    p = params_mod.make(strategy_cls.Params, params_mod.parse_assignments(args.set or []))
    content = load_image(args.content) if content is None else content
    weights = _parse_weights(args.style_weights, len(args.style or []))
    styles = [StyleSource(image=load_image(s), weight=w, name=Path(s).stem) for s, w in zip(args.style or [], weights)]
    if args.prompt:
        styles.append(StyleSource(text=args.prompt, name="prompt"))
    regions = []
    for spec in args.region or []:
        if "=" not in spec:
            raise InputError(f"--region expects MASK.png=STYLE.jpg or MASK.png=text:PROMPT, got '{spec}'.")
        mask_path, source = spec.split("=", 1)
        regions.append(Region(mask=load_mask(mask_path), style=_region_style(source, "--region", spec),
                              name=Path(mask_path).stem, feather=args.feather))
    regions += auto_regions(args, content)
    gaps = args.gaps
    if gaps is None:
        # whole-picture styles with only kept regions (-s starry.jpg --auto-region people=keep):
        # the styles go everywhere but there; otherwise what lies outside every region is the photo
        only_kept = bool(regions) and all(r.strength == 0 for r in regions)
        gaps = "global" if styles and only_kept else "content"
    faces = find_faces(args, content)
    size = args.size
    if args.print_size:
        w, h = parse_print_size(args.print_size, 300 if args.dpi is None else args.dpi)
        size = max(w, h)
    metadata = {"source_prompt": args.source_prompt} if args.source_prompt else {}
    return StyleJob(content=content, strategy=args.strategy, params=p, styles=tuple(styles), regions=tuple(regions),
                    size=size, gaps=gaps, seed=args.seed, device=args.device, metadata=metadata,
                    faces=faces or (), protect_faces=faces is not None)


def render_image(args: argparse.Namespace, on_event=None):
    """render's picture path, without the bar and the message: what ``brushwork render`` and
    every picture of a batch (engine.batch) run. Returns the ExportReport."""
    import dataclasses

    from .export import ExportOptions, check_dpi, check_output, export
    from .images import tensor_to_pil
    from .runner import check_job, resolve_device
    from .strategy import Progress, RunContext

    layers = getattr(args, "layers", None)
    if layers:
        from .layers import layers_format

        layers_format(layers)
    out = Path(args.output) if args.output else None
    if out is not None and out.suffix.lower() not in {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}:
        video = {".mp4", ".mov", ".mkv", ".webm", ".m4v"}
        hint = " (a video output needs a video input)" if out.suffix.lower() in video else ""
        raise InputError(f"Unknown output format '{out.suffix}': use .png, .jpg, .tif or .webp{hint}.")
    if args.dpi is not None:
        check_dpi(args.dpi)
    options = ExportOptions(dpi=args.dpi if args.dpi is not None else (300.0 if args.print_size else None),
                            bit_depth=args.bit_depth, tile=args.tile, working_size=args.working_size,
                            allow_huge=args.allow_huge)
    job = build_job(args)
    check_job(job)
    if out is not None:
        check_output(job.output_hw, out, options)  # before anything is written or run
    preview_dir = Path(args.preview_dir) if args.preview_dir else None
    if preview_dir:
        preview_dir.mkdir(parents=True, exist_ok=True)
    elif getattr(job.params, "preview", False):
        # a quick low-resolution picture is for a person watching: with nowhere to show it, it is
        # only time (a 256 px universal preview: a second render, its styles encoded at that size too)
        job = job.with_(params=dataclasses.replace(job.params, preview=False))
    ctx = RunContext(resolve_device(job.device), preview_every=args.preview_every)

    def events(e) -> None:
        if preview_dir and isinstance(e, Progress) and e.preview is not None:
            tensor_to_pil(e.preview).save(preview_dir / f"preview_{e.step:05d}.png")
        if on_event is not None:
            on_event(e)

    if layers:  # the layers (engine.layers) and, with -o, the flat picture from the same render
        from .layers import export_layers

        return export_layers(job, layers, options, ctx, events, flat_path=out)
    # Every size goes through the export path: one pass when it fits, tiles when it does not.
    return export(job, out, options, ctx, events)


def cmd_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .strategy import Progress
    from .video import is_video_input

    check_render_numbers(args)
    if not args.output and not args.layers:
        raise InputError("render needs -o OUT (the flat picture), --layers OUT.ora|.tif|.psd, or both.")
    if is_video_input(args.content):
        if args.layers:
            raise InputError("--layers is for pictures; a clip renders to -o OUT.mp4 (or a frames folder).")
        return cmd_render_video(args)
    bars = []  # made at the first step, once every input has been checked

    def on_event(e) -> None:
        if isinstance(e, Progress):
            if not bars:
                bars.append(tqdm(total=None, unit="step", desc=args.strategy, disable=args.quiet, dynamic_ncols=True))
            bar = bars[0]
            bar.total = e.total
            bar.n = e.step
            if e.losses:
                bar.set_postfix({k: f"{v:.3g}" for k, v in e.losses.items()}, refresh=False)
            if e.stage:
                bar.set_description(f"{args.strategy} {e.stage}", refresh=False)
            bar.refresh()

    try:
        report = render_image(args, on_event)
    finally:
        for bar in bars:
            bar.close()
    if args.layers:
        also = f" and {args.output}" if args.output else ""
        print(f"wrote {report.path} ({report.width}x{report.height}; layers bottom to top: {', '.join(report.layers)})"
              f"{also} in {report.seconds:.1f} s")
        return 0
    out = args.output
    figs = ", ".join(f"{k} {v:.3f}" for k, v in report.figures.items())
    how = "" if report.method == "single" else f" [{report.method}: {report.tiles} tiles of {report.tile_size} px]"
    print(f"wrote {out} ({report.width}x{report.height}){how} in {report.seconds:.1f} s" + (f"; {figs}" if figs else ""))
    return 0


def clip_setup(args: argparse.Namespace):
    """render's clip arguments as (job, VideoOptions, RunContext), checked: what render_clip runs,
    and what a render farm's worker renders a chunk of a clip with (engine.video.chunks)."""
    from .runner import resolve_device
    from .strategy import RunContext
    from .video import VideoOptions, open_clip, parse_position
    from .video.render import _tensor
    from .video.scene_track import SceneFollow
    from .video.writer import check_video_output

    for flag, name in ((args.print_size, "--print"), (args.tile, "--tile"), (args.working_size, "--working-size"),
                       (args.preview_dir, "--preview-dir")):
        if flag:
            raise InputError(f"{name} is for still images; a clip renders at --size frame by frame.")
    if args.bit_depth != 8:
        raise InputError("--bit-depth 16 is for still images; video is written 8-bit.")
    options = VideoOptions(temporal=args.temporal == "on", crf=args.crf, fps=args.fps,
                           start=parse_position(args.start, "--start") if args.start else None,
                           end=parse_position(args.end, "--end") if args.end else None)
    if args.blend is not None:
        if not 0 <= args.blend < 1:
            raise InputError(f"--blend must be in [0, 1), got {args.blend}.")
        options.blend = args.blend
    check_video_output(args.output, args.crf)
    clip = open_clip(args.content, args.fps)
    try:
        first = next(clip.frames(), None)  # the first frame stands in as the job's content (regions are checked on it)
        if first is None:
            raise InputError(f"{args.content} has no frames; nothing to render.")
        job = build_job(args, content=_tensor(first.rgb))
    finally:
        clip.close()
    # regions given as groups and the faces follow the picture; --region masks stay where they are
    options.scene = SceneFollow(groups=("",) * len(args.region or []) + auto_region_groups(args),
                                faces=job.protect_faces)
    return job, options, RunContext(resolve_device(job.device))


def render_clip(args: argparse.Namespace, on_event=None):
    """render with a clip (a video file or a folder of frames) as the content, without the bar
    and the message: what ``brushwork render`` and every clip of a batch run. Returns the VideoReport."""
    from .video import render_video

    job, options, ctx = clip_setup(args)
    return render_video(job, args.content, args.output, options, ctx, on_event)


def cmd_render_video(args: argparse.Namespace) -> int:
    """render with a clip (a video file or a folder of frames) as the content."""
    from tqdm import tqdm

    from .video import FrameDone

    bars = []  # made at the first frame, once the clip and every input have been checked

    def on_event(e) -> None:
        if isinstance(e, FrameDone):
            if not bars:
                bars.append(tqdm(total=e.total, unit="frame", disable=args.quiet, dynamic_ncols=True,
                                 desc=f"{args.strategy} {'temporal' if args.temporal == 'on' else 'per-frame'}"))
            bar = bars[0]
            if e.total and bar.total != e.total:
                bar.total = e.total
            bar.update(1)

    try:
        report = render_clip(args, on_event)
    finally:
        for bar in bars:
            bar.close()
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {args.output} ({report.frames} frames, {report.width}x{report.height}, {report.fps:.3g} fps, "
          f"audio {report.audio}, temporal {'on' if report.temporal else 'off'}) in {report.seconds:.1f} s "
          f"({report.frames / max(report.seconds, 1e-9):.2f} frames/s)")
    return 0


# ---------------------------------------------------------------- segment
def cmd_segment(args: argparse.Namespace) -> int:
    """Write one mask PNG per segment (``sky.png``..., or ``region_1.png``... for unnamed ones) and
    print each file with the share of the picture it covers; ``--group`` keeps only those named."""
    from .images import load_image
    from .segmenter import mask_folder, pick_segment, write_segments

    seg_cls = segmenters.get(args.method)
    out = mask_folder(args.output)
    image = load_image(args.image)
    options = params_mod.parse_assignments(args.set or [])
    if args.n is not None:
        options["n"] = str(args.n)
    if args.scribbles:
        options["scribbles"] = args.scribbles
    segments = seg_cls().segment_named(image, options)
    if args.group:
        segments = [pick_segment(segments, name) for name in args.group]
    for path, seg in zip(write_segments(segments, out), segments):
        print(f"{path}  {100 * seg.coverage:.1f}%")
    return 0


# ---------------------------------------------------------------- weights
def cmd_weights_status(args: argparse.Namespace) -> int:
    from . import weights

    bad = 0
    for name, entry in weights.load_manifest().items():
        state, path = weights.status(name, args.weights_dir)
        if state != "present" and not entry.optional:
            bad += 1
        tag = " (optional)" if entry.optional else ""
        print(f"{state:8s} {name:28s}{tag} {path or ''}")
        for other in weights.corrupt_copies(name, args.weights_dir):
            if other != path:  # passed over for a good copy: say so, it would be used where that one is gone
                print(f"{'':8s} {'':28s} skipped a corrupt copy (sha256 does not match): {other}; delete or re-fetch it")
    if bad:
        print(f"{bad} required file(s) missing or corrupt: run `brushwork weights fetch --mirror DIR` "
              "(or without --mirror when online).", file=sys.stderr)
    return 1 if bad else 0


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import weights

    bars: dict[str, tqdm] = {}

    def progress(name: str, done: int, total: int) -> None:
        bar = bars.get(name) or bars.setdefault(name, tqdm(total=total or None, unit="B", unit_scale=True, desc=name))
        bar.n = done
        bar.refresh()
        if total and done >= total:
            bar.close()

    mirror = args.mirror or _mirror_default()
    results = weights.fetch(args.names or None, mirror=mirror, target=args.target,
                            include_optional=args.all, progress=progress)
    for b in bars.values():
        b.close()
    for name, outcome in results:
        print(f"{name:28s} {outcome}")
    return 0


# ---------------------------------------------------------------- export-model
def exportable() -> list[str]:
    """Strategies whose networks export to ONNX (they define ``export_onnx``)."""
    return [name for name, cls in strategies.all().items() if callable(getattr(cls, "export_onnx", None))]


def cmd_export_model(args: argparse.Namespace) -> int:
    from . import onnxmodels

    if args.format != "onnx":
        raise InputError(f"Unknown model format '{args.format}'; only onnx is supported.")
    if args.strategy not in exportable():
        raise InputError(f"'{args.strategy}' has no networks to export; these do: {', '.join(exportable()) or 'none'}.")
    onnxmodels.require()
    onnxmodels.require("onnx")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cls = strategies.get(args.strategy)
    p = params_mod.make(cls.Params, params_mod.parse_assignments(args.set or []))
    manifest = cls().export_onnx(Path(args.output), args.int8, p)
    print(f"{'net':10s} {'file':22s} {'max diff':>9s} {'mean diff':>10s}   "
          f"(against PyTorch, {onnxmodels.CHECK_EDGE} px sample)")
    for n in manifest["nets"]:
        rows = [(n["file"], n["float32"])] + ([(n["int8"]["file"], n["int8"])] if "int8" in n else [])
        for file, d in rows:
            rel = "" if n["role"] != "encoder" else f"  (relative {d['max_rel_diff']:.1e})"
            print(f"{n['name']:10s} {file:22s} {d['max_abs_diff']:9.2e} {d['mean_abs_diff']:10.2e}{rel}")
    print(f"wrote {len(manifest['nets'])} nets and {onnxmodels.MANIFEST} to {args.output}")
    return 0


# ---------------------------------------------------------------- main
def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brushwork", description="Neural style transfer, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("strategies", help="list strategies and their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_strategies)

    p = sub.add_parser("render", help="stylise an image or a clip",
                       description="Stylise CONTENT (an image, a video, or a folder of numbered frames) and write OUT "
                                   "atomically. Clips go to .mp4/.mov/.mkv (H.264) or .webm (VP9), or a folder name "
                                   "for numbered PNG frames; the frame rate and the audio are kept.")
    p.add_argument("content", help="image, video file (.mp4, .mov, .mkv, .webm, ...) or folder of numbered frames")
    p.add_argument("-s", "--style", action="append", help="style image (repeatable)")
    p.add_argument("--style-weights", help="comma-separated weights, one per --style")
    p.add_argument("--prompt", help="text style (strategies that take text)")
    p.add_argument("--source-prompt", help="what the content is, for text-guided strategies (default 'a photo')")
    p.add_argument("--region", action="append", help="MASK.png=STYLE.jpg or MASK.png=text:PROMPT (repeatable)")
    p.add_argument("--auto-region", action="append", metavar="GROUP=STYLE",
                   help="a region found in the photo: GROUP=STYLE.jpg, GROUP=text:PROMPT, or GROUP=keep to keep "
                        "the photo there (GROUP: sky, buildings, plants, grass, water, mountains, ground, people, "
                        "animals, vehicles, interior, other); follows the picture in a clip (repeatable)")
    p.add_argument("--feather", type=float, default=0.0, help="feather radius of region masks in pixels")
    p.add_argument("--gaps", choices=["content", "global"], default=None,
                   help="what pixels outside every region get: the content or the global style (default: "
                        "content, or global when every region is GROUP=keep and there are global styles)")
    p.add_argument("--protect-faces", choices=["on", "off"], default=None,
                   help="keep the faces found in the photo (each frame of a clip) recognisable (default on; "
                        "on: a missing face model is an error, not a warning)")
    p.add_argument("--strategy", default="gatys")
    p.add_argument("--size", type=int, help="long edge of the output in pixels (default: the content's)")
    p.add_argument("--print", dest="print_size", help="print size, e.g. 50x33cm or 20x13in (with --dpi)")
    p.add_argument("--dpi", type=float, help="DPI written into the file (and used by --print; default 300)")
    p.add_argument("--allow-huge", action="store_true",
                   help="export past the 250-megapixel output limit (disk space is still checked)")
    p.add_argument("--bit-depth", type=int, choices=[8, 16], default=8, help="16 for 16-bit PNG/TIFF")
    p.add_argument("--tile", type=int, help="tile size in px for large renders (default: from free memory)")
    p.add_argument("--working-size", type=int,
                   help="optimisation strategies past what fits: long edge of the pass before tiled refinement")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="strategy parameter (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--preview-dir", help="write previews here as they arrive")
    p.add_argument("--preview-every", type=int, default=10)
    v = p.add_argument_group("video", "for a clip as CONTENT")
    v.add_argument("--temporal", choices=["on", "off"], default="on",
                   help="on: blend each frame with the previous output along the optical flow (no flicker); "
                        "off: every frame on its own")
    v.add_argument("--blend", type=float, help="temporal: weight of the previous output where the flow holds "
                                               "(default 0.8; higher is steadier, lower follows each frame)")
    v.add_argument("--start", help="first frame: a frame number (12) or a time (1.5s, 0:01.5)")
    v.add_argument("--end", help="where to stop (exclusive): a frame number or a time")
    v.add_argument("--crf", type=int, help="video quality: lower is better (H.264 default 18, VP9 31)")
    v.add_argument("--fps", type=float, help="frame rate of a folder of frames (default 24)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-o", "--output", help="the flat picture (or clip); optional with --layers")
    p.add_argument("--layers", metavar="OUT.ora|OUT.tif|OUT.psd",
                   help="also (or only) write the photo, each region, the render and the kept results as named "
                        "layers: OpenRaster (Krita, MyPaint), PSD (Photoshop, Affinity, GIMP) or TIFF pages (GIMP)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("segment", help="split an image into region masks")
    p.add_argument("image")
    p.add_argument("--method", default="clusters")
    p.add_argument("-n", type=int, help="number of regions (clusters)")
    p.add_argument("--scribbles", help="scribble PNG: one colour per region, transparent or black elsewhere")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--group", action="append", metavar="NAME",
                   help="write only this segment (semantic: sky, buildings, plants, grass, water, mountains, ground, "
                        "people, animals, vehicles, interior, other); repeat for more")
    p.add_argument("-o", "--output", required=True, help="folder for the mask PNGs")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("weights", help="weight files: status and fetch")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    w = wsub.add_parser("status", help="present / missing / corrupt for each file")
    w.add_argument("--weights-dir")
    w.set_defaults(func=cmd_weights_status)
    w = wsub.add_parser("fetch", help="copy from a mirror or download, verifying sha256")
    w.add_argument("names", nargs="*")
    w.add_argument("--mirror", help="a local folder holding the files (e.g. ../shared/weights)")
    w.add_argument("--target", help="where to put them (default: the project's weights/ or the user cache)")
    w.add_argument("--all", action="store_true", help="optional files too")
    w.set_defaults(func=cmd_weights_fetch)

    p = sub.add_parser("export-model", help="write an instant strategy's networks as ONNX",
                       description="Export a strategy's networks (adain, universal) as ONNX with dynamic height "
                                   "and width, and a manifest.json saying how to chain them; each file is checked "
                                   "against PyTorch on a bundled sample.")
    p.add_argument("strategy", help="a strategy with networks: adain or universal (or a plugin's)")
    p.add_argument("--format", default="onnx", help="onnx (the only one)")
    p.add_argument("--int8", action="store_true", help="also write statically quantised INT8 copies (*.int8.onnx)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="strategy parameter picking the nets, e.g. adain's encoder=vgg16 or decoder=reconstruction")
    p.add_argument("--threads", type=int, default=0, help="torch and onnxruntime CPU threads (0: torch's default)")
    p.add_argument("-o", "--output", required=True, help="folder to write the .onnx files and manifest.json into")
    p.set_defaults(func=cmd_export_model)

    from .batch.command import register as register_batch

    register_batch(sub)

    for name, register in commands.all().items():
        register(sub)
    for b in commands.broken:
        print(f"! command plugin '{b.name}' failed to load: {b.error}", file=sys.stderr)
    return parser


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, like Ctrl+C's KeyboardInterrupt: every
    cleanup that runs for Ctrl+C (temporary files and folders removed, a previous file kept) runs."""

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(f"Stopped by {self.name}")


#: the signals that stop a command like Ctrl+C does (the shell's exit code is 128 + the number)
STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def _stop_on_signals():
    """Make SIGTERM and SIGHUP raise :class:`Stopped` (main thread only); returns a function that
    puts the previous handlers back. A second signal while the first one's cleanup runs is ignored."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    stopping: list[int] = []

    def handler(signum, frame) -> None:
        if stopping:
            return
        stopping.append(signum)
        raise Stopped(signum)

    previous = {}
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:  # Windows has no SIGHUP
            continue
        try:
            previous[sig] = signal.signal(sig, handler)
        except (OSError, ValueError):
            pass

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)

    return restore


def main(argv: Sequence[str] | None = None) -> int:
    restore = _stop_on_signals()
    try:
        try:
            args = make_parser().parse_args(argv)
            return args.func(args) or 0
        except Cancelled:
            print("cancelled; nothing written", file=sys.stderr)
            return 130
        except Stopped as exc:
            print(f"Stopped by {exc.name}; nothing was written (a previous file there is unchanged).", file=sys.stderr)
            return 128 + exc.signum
        except KeyboardInterrupt:
            print("interrupted; nothing written", file=sys.stderr)
            return 130
        except BrushworkError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    finally:
        restore()


if __name__ == "__main__":
    raise SystemExit(main())
