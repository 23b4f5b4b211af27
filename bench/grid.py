"""The grid figure of the instant strategies, before and after issue 27, in one run.

    .venv/bin/python bench/grid.py [--threads 2] [--size 512] [--pairs 10] [--before-rev REV]

For the bundled sample (the city with Kandinsky's Composition VII) and the pairs listed in
bench/grid_pairs.txt (photos and paintings from ../shared/images/train, drawn with a fixed seed
by --regenerate), each strategy renders at --size twice:

- before: every decoder upsampling by nearest neighbour, and AdaIN's decoder as committed at
  --before-rev (read with ``git show``);
- after: the code and weights as they are (``--adain-decoder FILE`` puts a candidate AdaIN
  decoder, e.g. a ``brushwork train adain`` snapshot, in place of the shipped one).

Per output: the grid figure (engine.metrics.grid_by_period at 2, 4 and 8 px; 1 = no lattice, the
photos themselves score 1.00-1.05), Gram = share of the photo's VGG16 Gram distance to the
painting closed, colour = share of its RGB sliced-Wasserstein distance closed, content = relu3_3
distance to the photo, SSIM and LPIPS against the photo, and the render's seconds. Then per
strategy the median and worst grid figure and the mean of the others, before | after. 100 %
crops (before | after) of each output go to --out. Not a test: it prints.

Photos whose own grid figure at --size is above 1.05 are not drawn: most training photos are
256-384 px JPEGs, whose 8 px blocks survive enlarging by a whole ratio (up to 1.4), and a lattice
already in the photo cannot judge the decoder.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TRAIN = ROOT.parent / "shared" / "images" / "train"
PAIRS_FILE = Path(__file__).with_name("grid_pairs.txt")
os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(ROOT.parent / "shared" / "weights"))

from engine import metrics, params  # noqa: E402
from engine.distilled import DistilledDecoder  # noqa: E402
from engine.images import load_image, resize_long_edge, save_image, scale_style  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.registry import strategies  # noqa: E402
from engine.runner import run_job  # noqa: E402

SAMPLE = (ROOT / "resources" / "samples" / "content_city_skyline.jpg",
          ROOT / "resources" / "samples" / "style_kandinsky_composition_vii.jpg")
STRATEGIES = ("adain", "universal")
#: the grid figure a photo may have to be drawn (see the module docstring)
CLEAN_PHOTO = 1.05
SEED = 27
#: the commit before issue 27 changed the decoders (nearest upsampling, the 750-step AdaIN decoder)
BEFORE_REV = "dd1ce85"


def draw_pairs(n: int, size: int, seed: int = SEED) -> list[tuple[str, str]]:
    """``n`` (photo, painting) names from the training folders, photos with no lattice of their own."""
    rng = random.Random(seed)
    photos = sorted(p.name for p in (TRAIN / "content").iterdir())
    paintings = sorted(p.name for p in (TRAIN / "style").iterdir())
    pairs: list[tuple[str, str]] = []
    while len(pairs) < n:
        photo, painting = rng.choice(photos), rng.choice(paintings)
        if metrics.grid(resize_long_edge(load_image(TRAIN / "content" / photo), size)) <= CLEAN_PHOTO:
            pairs.append((photo, painting))
    return pairs


def pairs_list(n: int, size: int, regenerate: bool) -> list[tuple[Path, Path]]:
    if regenerate or not PAIRS_FILE.exists():
        lines = [f"{c}\t{s}" for c, s in draw_pairs(n, size)]
        PAIRS_FILE.write_text(f"# bench/grid.py --regenerate: seed {SEED}, photos with grid <= {CLEAN_PHOTO} at "
                              f"{size} px; names under ../shared/images/train/{{content,style}}\n"
                              + "\n".join(lines) + "\n")
    rows = [line.split("\t") for line in PAIRS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    return [SAMPLE] + [(TRAIN / "content" / c, TRAIN / "style" / s) for c, s in rows[:n]]


class Before:
    """Puts the decoders as they were before issue 27 in place of today's, and back."""

    def __init__(self, rev: str) -> None:
        from safetensors.torch import load_file

        blob = subprocess.run(["git", "show", f"{rev}:weights/trained/adain-decoder-fast.safetensors"],
                              cwd=ROOT, check=True, capture_output=True).stdout
        with tempfile.NamedTemporaryFile(suffix=".safetensors") as fh:
            fh.write(blob)
            fh.flush()
            self.adain = DistilledDecoder(4, load_file(fh.name), "nearest").eval().requires_grad_(False)
        self.saved: dict = {}

    def __enter__(self) -> "Before":
        import plugins.adain as adain
        import plugins.universal as universal

        for key, (enc, dec) in universal._nets.items():
            self.saved[("u", key)] = dec.upsample
            dec.upsample = "nearest"
        for key in [k for k in adain._nets if k[1] == "trained"]:
            self.saved[("a", key)] = adain._nets[key]
            adain._nets[key] = self.adain.to(key[2] if key[2] != "cpu" else "cpu")
        return self

    def __exit__(self, *exc) -> None:
        import plugins.adain as adain
        import plugins.universal as universal

        for (kind, key), value in self.saved.items():
            if kind == "u":
                universal._nets[key][1].upsample = value
            else:
                adain._nets[key] = value
        self.saved.clear()


def render(name: str, content: torch.Tensor, style: torch.Tensor, size: int) -> tuple[torch.Tensor, float]:
    cls = strategies.get(name)
    j = StyleJob(content=content, strategy=name, params=params.make(cls.Params, {"preview": False}),
                 styles=(StyleSource(image=style),), size=size)
    t = time.perf_counter()
    img = run_job(j).image
    return img, time.perf_counter() - t


def warm(size: int) -> None:
    """Load every net (so Before can swap them) and leave the first render's cost out of the seconds."""
    c, s = load_image(SAMPLE[0], long_edge=128), load_image(SAMPLE[1], long_edge=128)
    for name in STRATEGIES:
        render(name, c, s, 128)


def figures(img: torch.Tensor, photo: torch.Tensor, ref: torch.Tensor, g0: float, c0: float) -> dict[str, float]:
    g = metrics.grid_by_period(img)
    return {"g2": g[2], "g4": g[4], "g8": g[8], "grid": max(g.values()),
            "gram": 1 - metrics.style_distance(img, [ref]) / g0,
            "colour": 1 - metrics.colour_distance(img, ref) / c0,
            "content": metrics.content_distance(img, photo),
            "ssim": metrics.ssim(img, photo), "lpips": metrics.lpips_distance(img, photo)}


def crop(img: torch.Tensor, side: int = 160) -> torch.Tensor:
    h, w = img.shape[-2:]
    y, x = max(0, h // 3 - side // 2), max(0, w // 2 - side // 2)
    return img[..., y:y + side, x:x + side]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--regenerate", action="store_true", help="draw bench/grid_pairs.txt again (seed 27)")
    ap.add_argument("--before-rev", default=BEFORE_REV)
    ap.add_argument("--adain-decoder", help="a candidate AdaIN fast decoder file for the 'after' column")
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_grid"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = pairs_list(args.pairs, args.size, args.regenerate)
    warm(args.size)
    if args.adain_decoder:
        import plugins.adain as adain
        from safetensors.torch import load_file

        from engine.distilled import file_upsample

        for key in [k for k in adain._nets if k[1] == "trained"]:
            adain._nets[key] = DistilledDecoder(4, load_file(args.adain_decoder), file_upsample(args.adain_decoder)
                                                ).eval().requires_grad_(False).to(key[2])
    before = Before(args.before_rev)
    print(f"cpu, {torch.get_num_threads()} threads, {args.size} px, {len(pairs)} pairs (the sample first); "
          f"before = nearest upsampling + AdaIN decoder at {args.before_rev}", flush=True)
    head = f"{'grid 2/4/8':>17s} {'gram':>5s} {'col':>5s} {'cont':>5s} {'ssim':>5s} {'lpips':>5s} {'s':>5s}"
    print(f"\n{'pair':40s} {'strategy':9s} {'photo':>5s} | before {head} | after {head}")
    rows: dict[str, list[tuple[dict, dict]]] = {n: [] for n in args.strategies}
    for k, (cpath, spath) in enumerate(pairs):
        content, style = load_image(cpath), load_image(spath)
        photo = resize_long_edge(content, args.size)
        ref = scale_style(style, tuple(photo.shape[-2:]))
        g0, c0 = metrics.style_distance(photo, [ref]), metrics.colour_distance(photo, ref)
        label = f"{cpath.stem[-18:]} x {spath.stem[-18:]}"
        for name in args.strategies:
            with before:
                old, t_old = render(name, content, style, args.size)
            new, t_new = render(name, content, style, args.size)
            a, b = figures(old, photo, ref, g0, c0), figures(new, photo, ref, g0, c0)
            a["s"], b["s"] = t_old, t_new
            rows[name].append((a, b))

            def cells(f: dict) -> str:
                return (f"{f['g2']:5.3f} {f['g4']:5.3f} {f['g8']:5.3f} {f['gram']:5.3f} {f['colour']:5.3f} "
                        f"{f['content']:5.3f} {f['ssim']:5.3f} {f['lpips']:5.3f} {f['s']:5.2f}")

            print(f"{label:40s} {name:9s} {metrics.grid(photo):5.3f} |        {cells(a)} |       {cells(b)}",
                  flush=True)
            save_image(torch.cat([crop(old), crop(new)], -1), out / f"{k:02d}_{name}_before_after.png")
    print(f"\n{'strategy':9s} {'':14s} {'grid median':>11s} {'worst':>6s} {'gram':>6s} {'colour':>6s} "
          f"{'content':>7s} {'ssim':>5s} {'lpips':>5s} {'s median':>8s}")
    for name in args.strategies:
        for i, when in enumerate(("before", "after")):
            fs = [r[i] for r in rows[name]]
            print(f"{name:9s} {when:14s} {statistics.median(f['grid'] for f in fs):11.3f} "
                  f"{max(f['grid'] for f in fs):6.3f} {statistics.mean(f['gram'] for f in fs):6.3f} "
                  f"{statistics.mean(f['colour'] for f in fs):6.3f} {statistics.mean(f['content'] for f in fs):7.3f} "
                  f"{statistics.mean(f['ssim'] for f in fs):5.3f} {statistics.mean(f['lpips'] for f in fs):5.3f} "
                  f"{statistics.median(f['s'] for f in fs):8.3f}")
        fs = rows[name]
        worse = [k for k, (a, b) in enumerate(fs) if b["gram"] < a["gram"] - 0.005 or b["colour"] < a["colour"] - 0.005]
        print(f"{name:9s} pairs whose Gram or colour fell by more than 0.005: {worse or 'none'}")
    print(f"target: grid <= 1.07 at 2, 4 and 8 px after; 100 % crops (before | after): {out}")


if __name__ == "__main__":
    main()
