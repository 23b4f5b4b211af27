"""Universal (multi-level WCT) beside AdaIN (fast decoder), in one run.

    .venv/bin/python bench/universal.py [--threads 2] [--pairs 4] [--eval-size 512]

(1) Seconds at 512 and 1024 px, warm (nets loaded, style statistics cached, content encoded: what
    the editor sees when alpha moves) median of --repeats, and cold (caches cleared); and the
    256 px preview, warm.
(2) Per pair at --eval-size: seconds (warm), Gram figure = fraction of the photo's VGG16 Gram
    distance to the style closed (higher = more stylised), colour figure = fraction of the
    photo's sliced Wasserstein RGB distance to the painting closed, content = relative relu3_3
    distance to the photo (lower = more of the photo kept).
(3) eigh of a 128x128 feature covariance in float32 vs float64 (time and worst eigenvalue error).
A grid (photo | adain | universal | style) per pair goes to --out. Not a test: it prints.
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
from engine.registry import strategies  # noqa: E402
from engine.runner import run_job  # noqa: E402

PAIRS = [
    ("content_animal_beagle.jpg", "style_vangogh_starry_night.jpg"),
    ("content_city_skyline.jpg", "style_hokusai_great_wave.jpg"),
    ("content_landscape_palm_beach.jpg", "style_munch_the_scream.jpg"),
    ("content_portrait_astronaut.jpg", "style_kandinsky_composition_vii.jpg"),
    ("content_animal_beagle.jpg", "style_seurat_grande_jatte.jpg"),
    ("content_city_skyline.jpg", "style_turner_shipwreck_minotaur.jpg"),
]
STRATEGIES = ("universal", "adain")


def job(name: str, content, style, size, **values) -> StyleJob:
    cls = strategies.get(name)
    return StyleJob(content=content, strategy=name, params=params.make(cls.Params, {"preview": False, **values}),
                    styles=(StyleSource(image=style),), size=size)


def timed(j: StyleJob) -> float:
    t = time.perf_counter()
    run_job(j)
    return time.perf_counter() - t


def clear(name: str) -> None:
    cls = strategies.get(name)
    cls.cache.clear()
    cls.contents.clear()


def speed(content, style, repeats: int) -> list[tuple[str, int, float, float]]:
    rows = []
    for name in STRATEGIES:
        for size in (256, 512, 1024):
            clear(name)
            cold = timed(job(name, content, style, size))
            warm = statistics.median(timed(job(name, content, style, size, alpha=0.5 + 0.01 * i)) for i in range(repeats))
            rows.append((name, size, warm, cold))
    return rows


def eigh_precision(content) -> tuple[float, float, float]:
    from plugins.universal import encode, nets
    from plugins.universal.wct import moments

    dev = torch.device("cpu")
    with torch.no_grad():
        cov = moments(encode(nets(5, dev)[0], resize_long_edge(content, 512), dev)).cov
    out = []
    for dtype in (torch.float32, torch.float64):
        m = cov.to(dtype)
        t = time.perf_counter()
        for _ in range(20):
            e = torch.linalg.eigh(m)[0]
        out.append(((time.perf_counter() - t) / 20, e.double()))
    err = float(((out[0][1] - out[1][1]).abs() / out[1][1].abs().max()).max())
    return out[0][0], out[1][0], err


def quality(pairs, size: int, out: Path) -> list[dict]:
    rows = []
    out.mkdir(parents=True, exist_ok=True)
    for cname, sname in pairs:
        content, style = load_image(SAMPLES / cname), load_image(SAMPLES / sname)
        photo = resize_long_edge(content, size)
        hw = tuple(photo.shape[-2:])
        ref = scale_style(style, hw)
        g0, c0 = metrics.style_distance(photo, [ref]), metrics.colour_distance(photo, ref)
        row = {"pair": f"{cname[8:-4]} x {sname[6:-4]}"}
        images = []
        for name in STRATEGIES:
            run_job(job(name, content, style, size))  # warm
            t = time.perf_counter()
            img = run_job(job(name, content, style, size, alpha=strategies.get(name).Params().alpha)).image
            secs = time.perf_counter() - t
            row[name] = dict(s=secs, gram=1 - metrics.style_distance(img, [ref]) / g0,
                             colour=1 - metrics.colour_distance(img, ref) / c0,
                             content=metrics.content_distance(img, photo))
            images.append(img)
        rows.append(row)
        save_image(torch.cat([photo, images[1], images[0], resize(ref, hw)], -1), out / f"{cname[8:-4]}__{sname[6:-4]}.png")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--eval-size", type=int, default=512)
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_universal"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    content, style = load_image(SAMPLES / PAIRS[0][0]), load_image(SAMPLES / PAIRS[0][1])
    print(f"cpu, {torch.get_num_threads()} threads", flush=True)

    print(f"\n{'strategy':10s} {'size':>5s} {'warm s':>7s} {'cold s':>7s}   (targets universal: 256 preview <= 0.3, 512 <= 0.5, 1024 <= 2.0)")
    for name, size, warm, cold in speed(content, style, args.repeats):
        print(f"{name:10s} {size:5d} {warm:7.3f} {cold:7.3f}", flush=True)

    t32, t64, err = eigh_precision(content)
    print(f"\neigh 128x128 (level 5 content covariance): float32 {1e3 * t32:.2f} ms, float64 {1e3 * t64:.2f} ms, "
          f"float32 worst eigenvalue error {err:.1e} of the largest")

    q = quality(PAIRS[: args.pairs], args.eval_size, Path(args.out))
    print(f"\nat {args.eval_size} px: seconds (warm), Gram gap closed, colour gap closed, content distance")
    print(f"{'pair':34s} | {'univ s':>6s} {'gram':>5s} {'colour':>6s} {'content':>7s} | {'adain s':>7s} {'gram':>5s} {'colour':>6s} {'content':>7s}")
    for r in q:
        u, a = r["universal"], r["adain"]
        print(f"{r['pair']:34s} | {u['s']:6.3f} {u['gram']:5.2f} {u['colour']:6.2f} {u['content']:7.3f} | "
              f"{a['s']:7.3f} {a['gram']:5.2f} {a['colour']:6.2f} {a['content']:7.3f}")
    mean = {n: {k: statistics.mean(r[n][k] for r in q) for k in ("s", "gram", "colour", "content")} for n in STRATEGIES}
    u, a = mean["universal"], mean["adain"]
    print(f"{'mean':34s} | {u['s']:6.3f} {u['gram']:5.2f} {u['colour']:6.2f} {u['content']:7.3f} | "
          f"{a['s']:7.3f} {a['gram']:5.2f} {a['colour']:6.2f} {a['content']:7.3f}")
    print(f"targets: colour >= 0.85 ({u['colour']:.2f}), gram >= adain's ({u['gram']:.2f} vs {a['gram']:.2f}), "
          f"content <= 1.2x adain's ({u['content'] / a['content']:.2f}x)")
    print(f"grids (photo | adain | universal | style): {args.out}")


if __name__ == "__main__":
    main()
