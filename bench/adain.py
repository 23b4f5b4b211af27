"""AdaIN, side by side in one run: speed per encoder, and the trained vs reconstruction decoder.

    .venv/bin/python bench/adain.py [--threads 2] [--pairs 4] [--eval-size 512]

(1) Seconds per image at 512 and 1024 px (long edge) for each encoder, warm (nets loaded,
    style statistics cached: what the editor sees when alpha or a weight changes), median of
    --repeats runs, and the cold first run that also encodes the style. vgg16 has no trained
    decoder without a GPU session; it is timed with an untrained decoder of the same shape
    (speed does not depend on the weights). On a GPU, also images per second at 512 px.
(2) Style and content figures (engine.metrics, VGG16) of AdaIN through the trained `fast`
    decoder and through the reconstruction decoder4, on --pairs sample pairs at --eval-size:
    style = relative Gram distance to the style image as encoded (lower = more stylised),
    content = relative relu3_3 distance to the photo. "closed" is how much of the distance
    each closes, from two starting points: the photo itself, and the photo as the
    reconstruction decoder renders it (alpha 0; this removes the decoder's own blur, which
    alone moves relu5_1 Grams a lot). Ratio = trained closed / reconstruction closed.
    A grid (photo | reconstruction | trained | style) per pair goes to --out.
Not a test: it prints.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(ROOT.parent / "shared" / "weights"))

from engine import metrics, params  # noqa: E402
from engine.images import load_image, resize, resize_long_edge, save_image, scale_style  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.runner import run_job  # noqa: E402
from plugins import adain as adain_plugin  # noqa: E402
from plugins.adain import AdaINParams, AdaINStrategy  # noqa: E402
from plugins.adain.model import decoder_kind, load_decoder  # noqa: E402

PAIRS = [
    ("content_animal_beagle.jpg", "style_vangogh_starry_night.jpg"),
    ("content_city_skyline.jpg", "style_hokusai_great_wave.jpg"),
    ("content_landscape_palm_beach.jpg", "style_munch_the_scream.jpg"),
    ("content_portrait_astronaut.jpg", "style_kandinsky_composition_vii.jpg"),
    ("content_animal_beagle.jpg", "style_seurat_grande_jatte.jpg"),
    ("content_city_skyline.jpg", "style_turner_shipwreck_minotaur.jpg"),
]


def job(content, style, size, **values) -> StyleJob:
    return StyleJob(content=content, strategy="adain", params=params.make(AdaINParams, values),
                    styles=(StyleSource(image=style),), size=size)


def timed(j: StyleJob, device: str) -> float:
    t = time.perf_counter()
    run_job(j.with_(device=device))
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def speed(content, style, device: str, repeats: int) -> list[tuple[str, int, float, float]]:
    rows = []
    for encoder in ("fast", "vgg16"):
        label = encoder
        if decoder_kind(encoder) is None:
            # timing only: an untrained decoder of the right shape stands in
            adain_plugin._nets[(encoder, "trained", str(torch.device(device)))] = (
                load_decoder(encoder, prefer="random").to(device).requires_grad_(False))
            label += " (untrained decoder)"
        for size in (512, 1024):
            AdaINStrategy.cache.clear()
            j = job(content, style, size, encoder=encoder, preview=False)
            cold = timed(j, device)
            warm = statistics.median(timed(j.with_(params=params.make(AdaINParams, {
                "encoder": encoder, "preview": False, "alpha": 0.9 + 0.01 * i})), device) for i in range(repeats))
            rows.append((label, size, warm, cold))
    return rows


def gpu_throughput(content, style, n: int = 20) -> float:
    j = job(content, style, 512, preview=False).with_(device="cuda")
    run_job(j)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        run_job(j)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def quality(pairs, size: int, out: Path) -> list[dict]:
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for cname, sname in pairs:
        content, style = load_image(SAMPLES / cname), load_image(SAMPLES / sname)
        photo = resize_long_edge(content, size)
        hw = tuple(photo.shape[-2:])
        ref = scale_style(style, hw)
        start = run_job(job(content, style, size, alpha=0.0, decoder="reconstruction", preview=False)).image
        recon = run_job(job(content, style, size, decoder="reconstruction", preview=False)).image
        trained = run_job(job(content, style, size, preview=False)).image
        d = {k: metrics.style_distance(v, [ref]) for k, v in
             (("photo", photo), ("start", start), ("recon", recon), ("trained", trained))}
        c = {k: metrics.content_distance(v, photo) for k, v in (("recon", recon), ("trained", trained))}
        rows.append(dict(pair=f"{cname[8:-4]} x {sname[6:-4]}", d=d, c=c))
        save_image(torch.cat([photo, recon, trained, resize(ref, hw)], -1),
                   out / f"{cname[8:-4]}__{sname[6:-4]}.png")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--eval-size", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_adain"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    content = load_image(SAMPLES / PAIRS[0][0])
    style = load_image(SAMPLES / PAIRS[0][1])
    print(f"fast decoder in use: {decoder_kind('fast')}; device {args.device}, {torch.get_num_threads()} threads", flush=True)

    rows = speed(content, style, args.device, args.repeats)
    print(f"\n{'encoder':28s} {'size':>5s} {'warm s':>7s} {'cold s':>7s}   (warm: style cached; target fast@1024 <= 0.8 s)")
    for label, size, warm, cold in rows:
        print(f"{label:28s} {size:5d} {warm:7.3f} {cold:7.3f}")
    if args.device == "cuda" and torch.cuda.is_available():
        print(f"\nGPU throughput, fast, 512 px: {gpu_throughput(content, style):.1f} images/s")

    q = quality(PAIRS[: args.pairs], args.eval_size, Path(args.out))
    print(f"\nstyle distance (lower = closer to the style) and content distance at {args.eval_size} px")
    print(f"{'pair':42s} {'photo':>6s} {'alpha0':>6s} {'recon':>6s} {'trained':>7s} | {'c.recon':>7s} {'c.train':>7s}")
    for r in q:
        d, c = r["d"], r["c"]
        print(f"{r['pair']:42s} {d['photo']:6.3f} {d['start']:6.3f} {d['recon']:6.3f} {d['trained']:7.3f} | "
              f"{c['recon']:7.3f} {c['trained']:7.3f}")
    for base, label in (("start", "from the alpha-0 reconstruction"), ("photo", "from the photo")):
        closed_r = sum(r["d"][base] - r["d"]["recon"] for r in q)
        closed_t = sum(r["d"][base] - r["d"]["trained"] for r in q)
        ratio = closed_t / closed_r if closed_r > 0 else float("inf")
        print(f"closed {label:34s}: recon {closed_r:6.3f}  trained {closed_t:6.3f}  ratio {ratio:5.2f} (target >= 2.5)")
    print(f"grids (photo | reconstruction decoder | trained decoder | style): {args.out}")


if __name__ == "__main__":
    main()
