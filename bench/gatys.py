"""The optimisation strategies against the textbook run, on sample pairs, side by side.

    .venv/bin/python bench/gatys.py                 # the full run: two pairs at 512 px (about an hour on 2 cores)
    .venv/bin/python bench/gatys.py --quick         # the same rows at 128 px with a few steps (proves it runs)

For each pair: (a) the textbook run: Gatys on VGG16, float32, --textbook-steps L-BFGS iterations
from the photo; then the `gatys`, `multiscale` and `masked` strategies with today's defaults (new:
the stylised start) and with the defaults before it (old: from the photo, the longer schedules);
masked on a two-half region job (left: the pair's style, right: --right-style). For each row:
seconds, seconds to the first preview (the issue asks for the instant start within 1 s of Run at
512 px), and three figures (engine.metrics):

- gram: the fraction of the photo's Gram distance to the style that the picture closed,
  1 - style_distance(out) / style_distance(photo) (masked: each half against its own style
  under its own mask, averaged);
- colour: the fraction of the colour-distribution gap closed, 1 - d(out, style) / d(photo, style),
  d = engine.metrics.colour_distance, the style scaled with engine.images.scale_style (masked: each
  half against its own style);
- content: engine.metrics.content_distance to the photo (lower = more faithful).

It prints a table, checks the new multiscale defaults against the issue's targets (gram >= the
textbook's, colour >= 0.80, content <= the textbook's + 5%, time <= 1/6 of it) and saves a grid of
the pictures (one row per pair) under --out. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(ROOT.parent / "shared" / "weights"))

from engine import metrics, params  # noqa: E402
from engine.images import load_image, resize, save_image, scale_style  # noqa: E402
from engine.job import Region, StyleJob, StyleSource  # noqa: E402
from engine.registry import strategies  # noqa: E402
from engine.runner import run_job  # noqa: E402
from engine.strategy import Progress  # noqa: E402

PAIRS = [
    ("content_animal_beagle.jpg", "style_vangogh_starry_night.jpg"),
    ("content_landscape_palm_beach.jpg", "style_monet_water_lilies.jpg"),
]
#: the defaults before the stylised start (issue 14): from the photo, longer schedules
OLD_DEFAULTS = {
    "gatys": {"init": "content", "steps": 200, "content_weight": 1.0, "style_weight": 20.0, "content_layer": "preset"},
    "multiscale": {"init": "content", "start_size": 256, "scale_factor": 1.414, "coarse_steps": 80,
                   "fine_steps": 60, "content_weight": 1.5, "style_weight": 20.0, "content_layer": "preset"},
    "masked": {"init": "content", "start_size": 256, "scale_factor": 1.414, "coarse_steps": 100,
               "fine_steps": 30, "content_weight": 1.5, "style_weight": 20.0, "content_layer": "preset"},
}
TEXTBOOK = {"init": "content", "precision": "float32", "content_weight": 1.0, "style_weight": 20.0, "tv_weight": 2.0,
            "optimizer": "lbfgs", "layers": "classic", "content_layer": "preset", "net": "vgg16", "colour": "none"}
#: --quick: the same rows with schedules a few steps long
QUICK = {"gatys": {"steps": 4}, "multiscale": {"start_size": 64, "coarse_steps": 4, "fine_steps": 2},
         "masked": {"start_size": 64, "coarse_steps": 4, "fine_steps": 2}}


def closed(d: float, d0: float) -> float:
    return 1 - d / d0 if d0 > 0 else 0.0


def whole_figures(image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> tuple[float, float, float]:
    hw = tuple(image.shape[-2:])
    photo = resize(content, hw)
    gram = closed(metrics.style_distance(image, [style]), metrics.style_distance(photo, [style]))
    target = scale_style(style, hw)
    colour = closed(metrics.colour_distance(image, target), metrics.colour_distance(photo, target))
    return gram, colour, metrics.content_distance(image, content)


def halves_figures(image: torch.Tensor, content: torch.Tensor, styles: tuple[torch.Tensor, torch.Tensor],
                   masks: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float, float]:
    hw = tuple(image.shape[-2:])
    photo = resize(content, hw)
    w = hw[1]
    grams, colours = [], []
    for style, mask, cols in zip(styles, masks, (slice(0, w // 2), slice(w // 2, w))):
        grams.append(closed(metrics.style_distance(image, [style], mask=mask),
                            metrics.style_distance(photo, [style], mask=mask)))
        target = scale_style(style, hw)
        colours.append(closed(metrics.colour_distance(image[..., cols], target),
                              metrics.colour_distance(photo[..., cols], target)))
    return sum(grams) / 2, sum(colours) / 2, metrics.content_distance(image, content)


def job_for(strategy: str, values: dict, content: torch.Tensor, style: torch.Tensor, right: torch.Tensor,
            size: int) -> tuple[StyleJob, tuple | None]:
    P = strategies.get(strategy).Params
    p = params.make(P, values)
    if strategy != "masked":
        return StyleJob(content=content, strategy=strategy, params=p, styles=(StyleSource(image=style),),
                        size=size, device="cpu"), None
    h, w = content.shape[-2:]
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1
    job = StyleJob(content=content, strategy=strategy, params=p, size=size, device="cpu",
                   regions=(Region(left, StyleSource(image=style), name="left"),
                            Region(1 - left, StyleSource(image=right), name="right")))
    oh, ow = job.output_hw
    out_left = torch.zeros(oh, ow)
    out_left[:, : ow // 2] = 1
    return job, ((style, right), (out_left, 1 - out_left))


def grid(rows: list[list[tuple[str, torch.Tensor]]], path: Path, height: int = 256) -> None:
    """One row per pair: each picture scaled to ``height`` px, labelled underneath."""
    from PIL import Image, ImageDraw

    label_h = 16
    tiles = []
    for row in rows:
        tiles.append([(label, resize(img, (height, max(1, round(img.shape[-1] * height / img.shape[-2])))))
                      for label, img in row])
    width = max(sum(t.shape[-1] for _, t in row) + 4 * len(row) for row in tiles)
    canvas = Image.new("RGB", (width, len(tiles) * (height + label_h + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(tiles):
        x, y = 0, r * (height + label_h + 4)
        for label, t in row:
            px = (t[0].clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype("uint8")
            canvas.paste(Image.fromarray(px), (x, y))
            draw.text((x + 2, y + height + 2), label, fill="black")
            x += t.shape[-1] + 4
    canvas.save(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=None, help="long edge in px (512; --quick: 128)")
    ap.add_argument("--textbook-steps", type=int, default=None, help="L-BFGS iterations of the textbook run (300; --quick: 10)")
    ap.add_argument("--pairs", nargs="*", default=None, metavar="CONTENT:STYLE",
                    help="sample file names (in ../shared/images/samples or paths), default: beagle/Starry Night, "
                         "palm beach/Water Lilies")
    ap.add_argument("--right-style", default=str(SAMPLES / "style_hokusai_great_wave.jpg"),
                    help="the masked job's right-half style")
    ap.add_argument("--strategies", nargs="*", default=["gatys", "multiscale", "masked"])
    ap.add_argument("--quick", action="store_true", help="128 px and a few steps per row: proves the bench end to end")
    ap.add_argument("--out", default=None, help="where the pictures go (out/bench_gatys; --quick: out/bench_gatys_quick, "
                                                "so a quick run never overwrites a full run's pictures)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size = args.size or (128 if args.quick else 512)
    textbook_steps = args.textbook_steps or (10 if args.quick else 300)
    pairs = [tuple(p.split(":", 1)) for p in args.pairs] if args.pairs else PAIRS
    out = Path(args.out or ROOT / "out" / ("bench_gatys_quick" if args.quick else "bench_gatys"))
    out.mkdir(parents=True, exist_ok=True)
    right = load_image(args.right_style)

    def path_of(name: str) -> Path:
        return Path(name) if Path(name).exists() else SAMPLES / name

    table: list[tuple[str, str, float, float, float, float, float]] = []
    pictures: list[list[tuple[str, torch.Tensor]]] = []
    verdicts: list[str] = []
    for content_name, style_name in pairs:
        content, style = load_image(path_of(content_name)), load_image(path_of(style_name))
        pair = f"{Path(content_name).stem.replace('content_', '')} / {Path(style_name).stem.replace('style_', '')}"
        row_pics: list[tuple[str, torch.Tensor]] = [("photo", resize(content, (size, size))), ("style", style)]
        runs = [("textbook", "gatys", {**TEXTBOOK, "steps": textbook_steps})]
        for s in args.strategies:
            quick = QUICK[s] if args.quick else {}
            runs.append((f"{s} new defaults", s, dict(quick)))
            runs.append((f"{s} old defaults", s, {**OLD_DEFAULTS[s], **quick}))
        rows: dict[str, tuple[float, float, float, float]] = {}
        previews: dict[str, float] = {}
        for label, strategy, values in runs:
            job, halves = job_for(strategy, values, content, style, right, size)
            t = time.perf_counter()
            first: list[float] = []  # seconds from Run to the first preview

            def seen(event, t=t, first=first) -> None:
                if not first and isinstance(event, Progress) and event.preview is not None:
                    first.append(time.perf_counter() - t)

            result = run_job(job, on_event=seen)
            secs = time.perf_counter() - t
            previews[label] = first[0] if first else float("nan")
            img = result.image
            figs = halves_figures(img, content, *halves) if halves else whole_figures(img, content, style)
            rows[label] = (secs, *figs)
            table.append((pair, label, secs, previews[label], *figs))
            row_pics.append((label, img))
            save_image(img, out / f"{Path(content_name).stem}_{label.replace(' ', '_')}.png")
            print(f"  {pair}: {label} in {secs:.1f} s (gram {figs[0]:.3f}, colour {figs[1]:.3f}, "
                  f"content {figs[2]:.3f})", flush=True)
        row_pics[0] = ("photo", resize(content, tuple(img.shape[-2:])))
        pictures.append(row_pics)
        if "multiscale new defaults" in rows:
            tb, ms = rows["textbook"], rows["multiscale new defaults"]
            checks = [("gram >= textbook", ms[1] >= tb[1], f"{ms[1]:.3f} vs {tb[1]:.3f}"),
                      ("colour >= 0.80", ms[2] >= 0.80, f"{ms[2]:.3f}"),
                      ("content <= textbook + 5%", ms[3] <= 1.05 * tb[3], f"{ms[3]:.3f} vs {1.05 * tb[3]:.3f}"),
                      ("time <= textbook / 6", ms[0] <= tb[0] / 6, f"{ms[0]:.1f} s vs {tb[0] / 6:.1f} s")]
            verdicts.append(f"{pair}: multiscale new defaults vs textbook: " + "; ".join(
                f"{name} {'ok' if ok else 'MISSED'} ({text})" for name, ok, text in checks))

    print(f"\n{'pair':38s} {'run':24s} {'seconds':>8s} {'preview':>8s} {'gram':>6s} {'colour':>7s} {'content':>8s}"
          f"   (size {size}, textbook {textbook_steps} iterations, {torch.get_num_threads()} threads; preview: "
          "seconds from Run to the first preview)")
    for pair, label, secs, first, g, c, d in table:
        print(f"{pair:38s} {label:24s} {secs:8.1f} {first:8.2f} {g:6.3f} {c:7.3f} {d:8.3f}")
    print("\n(masked rows: a two-half region job, figures per half against its own style; not comparable to "
          "the whole-picture rows)")
    for v in verdicts:
        print(v)
    grid(pictures, out / "grid.png")
    print(f"\npictures and the side-by-side grid: {out / 'grid.png'}")


if __name__ == "__main__":
    main()
