"""Seconds per optimisation step of the `clip` strategy, on the CPU (or --device).

    .venv/bin/python bench/clip.py [--sizes 256 512] [--steps 3] [--crops 32] [--no-vit] [--threads 2]
                                   [--compare-steps 40]

Two models, both with random weights written as open_clip ``local-dir:`` folders so the
strategy loads them through its real path: the tiny test model, and ViT-B-32's own architecture
(the default model's shapes, so the real per-step cost, without the real weights; its random
checkpoint is ~600 MB in a temporary folder). The first step is warm-up and not counted.
Then the three canvases (network, pyramid, pixels) on the tiny model at 128 px: the directional
losses reached, how far the picture moved (VGG16 content distance) and how speckled the change is
(TV of output - content). Random weights say nothing about how the pictures look. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(ROOT.parent / "shared" / "weights"))

from engine.images import load_image, resize  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.losses import tv_loss  # noqa: E402
from engine.params import make  # noqa: E402
from engine.runner import run_job  # noqa: E402
from engine.strategy import Progress, RunContext  # noqa: E402
from plugins.clip import ClipParams  # noqa: E402
from plugins.clip.tiny import builtin_config, write_random_model  # noqa: E402


def seconds_per_step(model: str, content: torch.Tensor, size: int, steps: int, crops: int, device: str,
                     net: str, canvas: str = "network") -> tuple[float, float]:
    """(seconds per step after the first, seconds of setup + first step) for one render."""
    stamps: list[float] = []
    params = make(ClipParams, {"model": model, "steps": steps, "crops": crops, "net": net, "canvas": canvas})
    job = StyleJob(content=content, strategy="clip", params=params, styles=(StyleSource(text="oil painting with thick impasto"),),
                   size=size, device=device)
    start = time.perf_counter()
    run_job(job, RunContext(device, preview_every=10**6),
            lambda e: stamps.append(time.perf_counter()) if isinstance(e, Progress) else None)
    per_step = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    return per_step, stamps[0] - start


def compare_canvases(model: str, content: torch.Tensor, steps: int, crops: int, device: str) -> None:
    print(f"\ncanvases on the tiny model, 128 px, {steps} steps, {crops} crops: first -> mean of last 5 steps")
    print(f"{'canvas':8s} {'global':>15s} {'patch':>15s} {'content dist':>12s} {'TV(change)':>11s} {'s/step':>7s}")
    for canvas in ("network", "pyramid", "pixels"):
        events: list[Progress] = []
        params = make(ClipParams, {"model": model, "steps": steps, "crops": crops, "canvas": canvas})
        job = StyleJob(content=content, strategy="clip", params=params,
                       styles=(StyleSource(text="oil painting with thick impasto"),), size=128, device=device)
        t = time.perf_counter()
        result = run_job(job, RunContext(device, preview_every=10**6), lambda e: events.append(e) if isinstance(e, Progress) else None)
        secs = (time.perf_counter() - t) / steps
        change = result.image - resize(content, tuple(result.image.shape[-2:]))
        first, last = events[0].losses, events[-5:]

        def tail(key: str) -> float:
            return sum(e.losses[key] for e in last) / len(last)

        print(f"{canvas:8s} {first['global']:6.3f} -> {tail('global'):5.3f} {first['patch']:6.3f} -> {tail('patch'):5.3f} "
              f"{result.figures['content_distance']:12.3f} {tv_loss(change).item():11.5f} {secs:7.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--steps", type=int, default=3, help="steps per run; the first is warm-up")
    ap.add_argument("--crops", type=int, default=32, help="patch crops per step (the strategy's default is 32)")
    ap.add_argument("--net", default="vgg16", help="content loss net: vgg16 or distilled16x")
    ap.add_argument("--no-vit", action="store_true", help="skip ViT-B-32 (random weights)")
    ap.add_argument("--compare-steps", type=int, default=40, help="steps of the canvas comparison (0 skips it)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--content", default=str(SAMPLES / "content_animal_beagle.jpg"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    content = load_image(args.content)
    print(f"clip strategy, {args.crops} crops/step, content net {args.net}, device {args.device}, "
          f"{torch.get_num_threads()} threads; seconds per step (after a warm-up step)")
    with tempfile.TemporaryDirectory(prefix="brushwork-clip-bench-") as tmp:
        models = [("tiny (2+2 layers, 64 px)", write_random_model(Path(tmp) / "tiny"))]
        if not args.no_vit:
            models.append(("ViT-B-32 shapes, random", write_random_model(Path(tmp) / "vitb32", config=builtin_config("ViT-B-32"))))
        print(f"{'model':28s} {'size':>5s} {'s/step':>8s} {'setup+1st s':>12s}")
        for label, model in models:
            for size in args.sizes:
                per_step, first = seconds_per_step(model, content, size, args.steps, args.crops, args.device, args.net)
                print(f"{label:28s} {size:5d} {per_step:8.2f} {first:12.2f}", flush=True)
        if args.compare_steps:
            compare_canvases(models[0][1], content, args.compare_steps, 16, args.device)


if __name__ == "__main__":
    main()
