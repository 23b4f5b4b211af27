"""Time the segmenters on the CPU at 512 and 1024 px (long edge) and report scribble accuracy.

    .venv/bin/python bench/regions.py [--threads 2] [--repeat 2]

Prints one line per (method, size): best wall time over the repeats, and for scribbles the
IoU of the sky mask against the hand-made reference in tests/data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from engine.images import load_image, load_mask, resize_long_edge
from engine.registry import segmenters

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT.parent / "shared" / "images" / "samples" / "content_city_skyline.jpg"
DATA = ROOT / "tests" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--sizes", default="512,1024")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    full = load_image(CITY)
    reference = load_mask(DATA / "city_skyline_sky.png")
    print(f"segmenters on {CITY.name}, CPU, {args.threads} thread(s), best of {args.repeat}")
    segmenters.get("clusters")().segment(resize_long_edge(full, 128), {"n": 2})  # load VGG16 once, untimed
    for size in (int(s) for s in args.sizes.split(",")):
        image = resize_long_edge(full, size)
        ref = torch.nn.functional.interpolate(reference[None, None], size=image.shape[-2:], mode="bilinear")[0, 0] > 0.5
        for method, options in (("clusters", {"n": 4}), ("scribbles", {"scribbles": str(DATA / "city_skyline_scribbles.png")})):
            seg = segmenters.get(method)()
            best, masks = float("inf"), []
            for _ in range(args.repeat):
                t = time.perf_counter()
                masks = seg.segment(image, options)
                best = min(best, time.perf_counter() - t)
            extra = ""
            if method == "scribbles":
                sky = masks[0] > 0.5
                extra = f"  sky IoU {float((sky & ref).sum()) / float((sky | ref).sum()):.3f}"
            print(f"{method:10s} {image.shape[-1]:5d}x{image.shape[-2]:<5d} {best:7.2f} s  {len(masks)} masks{extra}")


if __name__ == "__main__":
    main()
