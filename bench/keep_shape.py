"""Keep shape (engine/scene/keep_shape.py): how much of a face's structure survives, what it costs.

    .venv/bin/python bench/keep_shape.py [--size 512] [--pairs 48] [--out /tmp/keep_shape]

Twelve portraits of several skin tones from ../shared/images/train/content (research use only:
read from there, never copied into the project), each with a face box set by hand, under four
paintings, universal at depth 5 (the smear this is for) and AdaIN. Per pair:

- luminance SSIM (11 px gaussian window) against the photo inside the face box, and the style
  distance (metrics.style_distance's Gram figure) inside the face's ellipse and outside it;
- for: no protection; the engine's step at FACE_KEEP_SHAPE and at other amounts; the guided
  filter (He et al.) with the photo as guide, the alternative the step was weighed against; and
  the strategy-level alternatives: universal at depth 3 or AdaIN at alpha 0.5 inside the face.

Medians and worsts over the pairs are printed; a sheet of face crops per painting goes to --out.
Last, the step's time at 1024 px beside a universal render's, interleaved (the machine is shared;
--pairs 0 times only). Not a test: it prints.

Last run (48 pairs, 512 px; SSIM median / worst, style distance inside the face median / worst,
outside median):

    universal depth 5                 0.354 / 0.249   0.761 / 3.37   0.518
    + keep shape 0.75 (default)       0.679 / 0.498   0.881 / 5.24   0.519
    + keep shape 0.5 / 1.0            0.571 / 0.748   0.829 / 0.960
    + guided filter r8 (amount 1)     0.702 / 0.500   0.902 / 2.71   0.520  (blurred, eyeless faces)
    depth 3 inside the face           0.636 / 0.385   0.887 / 6.22   0.520
    adain                             0.498 / 0.279   0.928 / 2.74   0.565
    adain + keep shape 0.75           0.739 / 0.481   1.008 / 5.78   0.565
    adain alpha 0.5 inside the face   0.605 / 0.467   0.992 / 3.00   0.566

Time at 1024 px, 2 threads on the shared 2-core machine (load ~2.8): universal render median
1.6 s; the step 4.0 ms for a face over 3 % of the picture, 11.1 ms over 19 % (one thread: 6.2 and
19.0 ms beside a 2.7 s render).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "images"
os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(ROOT.parent / "shared" / "weights"))

from engine import features, params  # noqa: E402
from engine.images import load_image, resize, resize_long_edge, save_image  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.losses import gram  # noqa: E402
from engine.metrics import STYLE_LAYERS, _fit  # noqa: E402
from engine.registry import strategies  # noqa: E402
from engine.runner import run_job  # noqa: E402
from engine.scene import keep_shape as ks  # noqa: E402
from engine.scene.faces import Face  # noqa: E402

C = "train/content/"
#: name: (photo under ../shared/images, face box (x0, y0, x1, y1) read off the photo by eye:
#: brows to below the mouth, cheek to cheek, as BlazeFace's box runs)
PORTRAITS = {
    "astronaut": ("samples/content_portrait_astronaut.jpg", (0.36, 0.165, 0.52, 0.31)),
    "nithin": (C + "adain__imgs__content__nithin.jpg", (0.30, 0.27, 0.72, 0.62)),
    "ishank": (C + "adain__imgs__content__ishank.jpg", (0.32, 0.34, 0.68, 0.64)),
    "songhan": (C + "adain__imgs__content__songhan.jpg", (0.33, 0.32, 0.71, 0.60)),
    "hat": (C + "imagen__imagen__n03124170_1312_hat_with_a_wide_brim.jpg", (0.37, 0.19, 0.64, 0.36)),
    "sunglasses": (C + "imagen__imagen__n04356056_8231_sunglasses.jpg", (0.28, 0.30, 0.82, 0.82)),
    "soldier": (C + "imagenet1k__n03763968_military_uniform.jpg", (0.23, 0.42, 0.56, 0.70)),
    "woman": (C + "denoise__CSet5__woman.jpg", (0.20, 0.27, 0.68, 0.53)),
    "brad": (C + "adain__imgs__content__brad_pitt.jpg", (0.25, 0.35, 0.70, 0.70)),
    "lipstick": (C + "imagen__imagen__n03676483_939_lipstick.jpg", (0.06, 0.28, 0.48, 0.78)),
    "bowtie": (C + "imagenet1k__n02883205_bow_tie.jpg", (0.15, 0.22, 0.23, 0.34)),
    "nepal": (C + "imagen__imagen__n00007846_160891_person.jpg", (0.43, 0.43, 0.55, 0.57)),
}
STYLES = {
    "scream": "samples/style_munch_the_scream.jpg",
    "matisse": "train/style/adain__imgs__styles__woman_with_hat_matisse.jpg",
    "starry": "samples/style_vangogh_starry_night.jpg",
    "kandinsky": "samples/style_kandinsky_composition_vii.jpg",
}
AMOUNTS = (0.5, 0.6, 0.75, 0.9, 1.0)
DEFAULT = f"+ keep shape {ks.FACE_KEEP_SHAPE} (default)"


def make_job(content, style, strategy: str, size: int, **values) -> StyleJob:
    cls = strategies.get(strategy)
    return StyleJob(content=content, strategy=strategy, params=params.make(cls.Params, {"preview": False, **values}),
                    styles=(StyleSource(image=style),), size=size)


def luma(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def face_ssim(image: torch.Tensor, photo: torch.Tensor, face: Face) -> float:
    """Mean luminance SSIM (11 px gaussian window, sigma 1.5; Wang et al.) inside the face box."""
    a, b = luma(image), luma(photo)
    x = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-x**2 / 4.5)
    w = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    blur = lambda t: F.conv2d(F.pad(t, (5, 5, 5, 5), mode="reflect"), w)  # noqa: E731
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
    ssim = (2 * ma * mb + 1e-4) * (2 * cov + 9e-4) / ((ma**2 + mb**2 + 1e-4) * (va + vb + 9e-4))
    x0, y0, x1, y1 = face.box_px(tuple(image.shape[-2:]))
    return float(ssim[..., y0:y1, x0:x1].mean())


_grams: dict[str, dict] = {}


@torch.no_grad()
def style_distances(image: torch.Tensor, style: torch.Tensor, key: str, inside: torch.Tensor) -> tuple[float, float]:
    """metrics.style_distance inside and outside the soft mask ``inside``, one VGG16 pass for both."""
    net = features.get("vgg16", torch.device("cpu"))
    if key not in _grams:
        t = net(_fit(style), STYLE_LAYERS)
        _grams[key] = {l: gram(t[l]) for l in STYLE_LAYERS}
    f = net(_fit(image), STYLE_LAYERS)
    out = []
    for m in (inside, 1 - inside):
        d = 0.0
        for l in STYLE_LAYERS:
            mm = F.interpolate(m[None, None], size=f[l].shape[-2:], mode="bilinear")
            d += ((gram(f[l], mm) - _grams[key][l]).norm() / _grams[key][l].norm()).item()
        out.append(d / len(STYLE_LAYERS))
    return out[0], out[1]


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter, grey guide (1x1xHxW), per channel of ``src``."""
    m = lambda t: ks.box_mean(t, r)  # noqa: E731
    mi, mp = m(guide), m(src)
    a = (m(guide * src) - mi * mp) / (m(guide * guide) - mi * mi + eps)
    return m(a) * guide + m(mp - a * mi)


def summary(name: str, rows: list[tuple[float, float, float]]) -> str:
    ss, din, dout = zip(*rows)
    med = statistics.median
    return (f"{name:34s} SSIM median {med(ss):.3f} worst {min(ss):.3f} | style inside median {med(din):.3f} "
            f"worst {max(din):.3f} | outside median {med(dout):.3f} worst {max(dout):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=len(PORTRAITS) * len(STYLES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/keep_shape"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    styles = {k: load_image(SHARED / p, long_edge=1024) for k, p in STYLES.items()}
    results: dict[str, list] = {}
    crops: dict[str, list] = {k: [] for k in STYLES}
    pairs = [(n, s) for n in PORTRAITS for s in STYLES][: a.pairs]
    for n, s in pairs:
        path, box = PORTRAITS[n]
        photo = resize_long_edge(load_image(SHARED / path), a.size)
        hw = tuple(photo.shape[-2:])
        face = Face(*box)
        ellipse = face.ellipse(hw)
        inside = ellipse[None, None]
        u5 = run_job(make_job(photo, styles[s], "universal", a.size)).image
        u3 = run_job(make_job(photo, styles[s], "universal", a.size, depth=3)).image
        ad = run_job(make_job(photo, styles[s], "adain", a.size)).image
        ad_half = run_job(make_job(photo, styles[s], "adain", a.size, alpha=0.5)).image
        kept = ks.keep_structure(u5, photo, ellipse * ks.FACE_KEEP_SHAPE)
        variants = {
            "universal depth 5": u5,
            DEFAULT: kept,
            **{f"+ keep shape {x}": ks.keep_structure(u5, photo, ellipse * x) for x in AMOUNTS if x != ks.FACE_KEEP_SHAPE},
            "+ guided filter r8 eps1e-3": torch.lerp(u5, guided_filter(luma(photo), u5, 8, 1e-3).clamp(0, 1), inside),
            "depth 3 inside the face": torch.lerp(u5, u3, inside),
            "adain": ad,
            f"adain + keep shape {ks.FACE_KEEP_SHAPE}": ks.keep_structure(ad, photo, ellipse * ks.FACE_KEEP_SHAPE),
            "adain alpha 0.5 inside the face": torch.lerp(ad, ad_half, inside),
        }
        for name, image in variants.items():
            results.setdefault(name, []).append((face_ssim(image, photo, face), *style_distances(image, styles[s], s, ellipse)))
        print(f"{n} x {s}: SSIM {results['universal depth 5'][-1][0]:.2f} -> {results[DEFAULT][-1][0]:.2f}", flush=True)
        x0, y0, x1, y1 = face.box_px(hw)
        side = int(1.9 * max(x1 - x0, y1 - y0))
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2 - (y1 - y0) // 8
        cy0, cx0 = max(0, min(hw[0] - side, cy - side // 2)), max(0, min(hw[1] - side, cx - side // 2))
        crops[s].append(torch.cat([resize(t[..., cy0:cy0 + side, cx0:cx0 + side], (192, 192))
                                   for t in (photo, u5, kept, variants["depth 3 inside the face"])], -1))
    if pairs:
        print(f"\n{len(pairs)} pairs at {a.size} px (universal defaults: alpha 0.6, palette 1; adain alpha 1)")
        for name, rows in results.items():
            print(summary(name, rows))
        for s, rows in crops.items():
            if rows:
                save_image(torch.cat(rows, -2), a.out / f"faces_{s}.png")
        print(f"sheets (photo | depth 5 | kept | depth 3 inside) in {a.out}")

    # the step's cost at 1024 px beside a render's, interleaved; a small face and a large one
    for name in ("astronaut", "nithin"):
        path, box = PORTRAITS[name]
        photo = resize_long_edge(load_image(SHARED / path), 1024)
        job = make_job(photo, styles["scream"], "universal", 1024).with_(faces=(Face(*box),))
        plain = job.with_(protect_faces=False)
        image = run_job(plain).image
        renders, steps = [], []
        for _ in range(7):
            t = time.perf_counter()
            run_job(plain)
            renders.append(time.perf_counter() - t)
            t = time.perf_counter()
            ks.keep_shape(job, image)
            steps.append(time.perf_counter() - t)
        area = float((ks.protection(job, tuple(image.shape[-2:])) > 0).float().mean())
        print(f"1024 px, {a.threads} thread(s), a face over {100 * area:.0f} % of the picture: universal render "
              f"median {statistics.median(renders):.3f} s, keep shape median {1000 * statistics.median(steps):.1f} ms "
              f"(its first call, the ellipse and the photo not yet kept: {1000 * steps[0]:.1f} ms)")


if __name__ == "__main__":
    main()
