"""Gatys vs multi-scale at 512 px, side by side: time and the final style / content figures.

    .venv/bin/python bench/gatys.py [--size 512] [--plain-steps 200]

(a) plain single-scale Gatys: VGG16, L-BFGS, init from content, --plain-steps steps, float32 (the
textbook reference); (b) the `gatys` defaults; (c) the `multiscale` defaults; (d) (c) in float32.
(b) and (c) run the loss network in bfloat16 where the CPU has it natively (engine.precision), so
(b) against (a) is what precision alone buys, (c) against (b) and (d) against (a) what
coarse-to-fine adds. Figures are engine.metrics (VGG16): style = relative Gram distance to the
style (lower = more stylised), content = relative relu3_3 distance to the photo (lower = more
faithful). Not a test: it prints.
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

from engine import params  # noqa: E402
from engine.images import load_image, save_image  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.precision import reduced_dtype  # noqa: E402
from engine.registry import strategies  # noqa: E402
from engine.runner import run_job  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--plain-steps", type=int, default=200)
    ap.add_argument("--content", default=str(SAMPLES / "content_animal_beagle.jpg"))
    ap.add_argument("--style", default=str(SAMPLES / "style_vangogh_starry_night.jpg"))
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_gatys"))
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    content, style = load_image(args.content), load_image(args.style)
    runs = [
        ("plain gatys (vgg16, lbfgs, content, float32)", "gatys", {"steps": args.plain_steps, "precision": "float32"}),
        ("gatys defaults", "gatys", {}),
        ("multiscale defaults", "multiscale", {}),
        ("multiscale defaults, float32", "multiscale", {"precision": "float32"}),
    ]
    rows = []
    Path(args.out).mkdir(parents=True, exist_ok=True)
    done: dict[tuple[str, object], tuple[float, float, float]] = {}
    for label, strategy, values in runs:
        P = strategies.get(strategy).Params
        job = StyleJob(content=content, strategy=strategy, params=params.make(P, values),
                       styles=(StyleSource(image=style),), size=args.size)
        if (strategy, job.params) in done:  # the defaults are the plain run: same figures, no second half hour
            rows.append((label + " (= plain)", *done[(strategy, job.params)]))
            continue
        t = time.perf_counter()
        result = run_job(job)
        secs = time.perf_counter() - t
        save_image(result.image, Path(args.out) / f"{strategy}_{len(rows)}.png")
        done[(strategy, job.params)] = (secs, result.figures["style_distance"], result.figures["content_distance"])
        rows.append((label, *done[(strategy, job.params)]))
        print(f"  done: {label} in {secs:.1f} s", flush=True)
    print(f"\n{'run':44s} {'seconds':>8s} {'style':>7s} {'content':>8s}   (size {args.size}, {torch.get_num_threads()} threads)")
    for label, secs, s, c in rows:
        print(f"{label:44s} {secs:8.1f} {s:7.3f} {c:8.3f}")
    plain, defaults, ms, ms32 = rows
    print(f"\nmultiscale / plain time: {ms[1] / plain[1]:.2f} (target <= 0.33); "
          f"style {ms[2]:.3f} vs {plain[2]:.3f} (target <=), content {ms[3]:.3f} vs {plain[3]:.3f} (target <=)")
    dtype = reduced_dtype(torch.device("cpu")) or torch.float32
    print(f"gatys defaults / plain time: {defaults[1] / plain[1]:.2f} (precision alone: the defaults' loss network "
          f"runs in {dtype}); multiscale / gatys defaults: {ms[1] / defaults[1]:.2f} (what coarse-to-fine adds); "
          f"multiscale / plain, both float32: {ms32[1] / plain[1]:.2f}")


if __name__ == "__main__":
    main()
