"""Scene understanding on the CPU: the semantic segmenter's speed and how it reads a large photo,
face detection, live edits with semantic regions, and regions and faces following a clip.

    .venv/bin/python bench/semantic.py [--sections segmentation,reading,groups,min_side] [--threads 2]

Each section is one function in SECTIONS (name -> function(args)); add a section by writing
its function and listing it there.

- segmentation: seconds for the semantic groups of the city sample at 512, 1024 and 4000 px
  (long edge; 4000 px is the 1024 px photo enlarged) for each way of reading it, then the
  same ask again (answered from the cache).
- reading: the large-photo decision (the ``read`` parameter), part 1: how far tiles and both
  move the groups away from the whole-picture reading on a few dozen photos, and the sky
  against the hand-made sky mask of the city.
- thin: part 2: whether thin dark things against the sky (poles, wires, masts, spires) stay
  out of the sky mask, and whether the open sky around them stays in it, at 1024 and 4000 px.
- groups: each group's coverage on the bundled samples (what ``min_area`` keeps and drops).
- min_side: how far a small photo's groups are from its 1024 px reading (``MIN_SIDE``).
- faces: detect_faces' seconds at 512, 1024 and 4000 px, cold and cached (``bench/faces.py``
  runs this section; it also draws the contact sheet).
- live: a live edit's latency (the editor's document builds the job, the live strategy renders)
  on the sample with two semantic regions, beside two painted ones, at 512 and 1024 px.
- tracking: a region given as a group on clips cut by a window panning over the city and the
  palm beach: each way of keeping its mask (every frame read, key frames + optical flow, flow
  only) against the true sky, frame to frame, and its cost a frame (``engine.video.scene_track``).
- face_tracking: the same for faces: detection every frame or on key frames, a missed face held.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from engine.images import load_image, load_mask, resize
from engine.registry import segmenters

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
TRAIN = ROOT.parent / "shared" / "images" / "train" / "content"  # research use only: never shipped
CITY = ROOT / "resources" / "samples" / "content_city_skyline.jpg"
CITY_SKY = ROOT / "tests" / "data" / "city_skyline_sky.png"
SAMPLE_PHOTOS = ("content_city_skyline", "content_landscape_palm_beach", "content_portrait_astronaut",
                 "content_animal_beagle")
#: photos with thin things against the sky: a flagpole, power poles, masts, a spire, towers
THIN = ("imagenet1k__n03355925_flagpole", "imagenet1k__n03976657_pole", "adain__imgs__content__sailboat",
        "c2lc__eiffel-tower", "c2lc__toronto-skyline", "c2lc__tower-sunset", "adain__imgs__content__golden_gate",
        "denoise__CSun_Hays80__lift_bridge_sun_bogybasqeljvmuuy")


def at_long_edge(image: torch.Tensor, long_edge: int) -> torch.Tensor:
    """The photo at a long edge: area-averaged when shrinking, bicubic when enlarging."""
    h, w = image.shape[-2:]
    s = long_edge / max(h, w)
    size = (max(1, round(h * s)), max(1, round(w * s)))
    if s >= 1:
        return torch.nn.functional.interpolate(image, size=size, mode="bicubic", align_corners=False).clamp(0, 1)
    return resize(image, size)


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


# ---------------------------------------------------------------- segmentation
def section_segmentation(args) -> None:
    seg = segmenters.get("semantic")()
    from plugins.segment_semantic import reading
    from plugins.segment_semantic.segmenter import clear_cache

    full = load_image(CITY)
    seg.segment_named(at_long_edge(full, 256))  # load the model once, untimed
    print(f"semantic segmentation of {CITY.name}, CPU, {args.threads} thread(s), best of {args.repeat}")
    print(f"{'size':>11s} {'read':>6s} {'windows':>7s} {'seconds':>8s} {'again':>7s}  groups")
    for size in (int(s) for s in args.sizes.split(",")):
        image = at_long_edge(full, size)
        for how in args.reads.split(","):
            best = float("inf")
            for _ in range(args.repeat):
                clear_cache()
                segs, dt = timed(seg.segment_named, image, {"read": how})
                best = min(best, dt)
            _, again = timed(seg.segment_named, image, {"read": how})
            n = reading.windows(tuple(image.shape[-2:]), how, 1024)
            names = ", ".join(f"{s.file_stem} {100 * s.coverage:.0f}%" for s in segs)
            print(f"{image.shape[-1]:5d}x{image.shape[-2]:<5d} {how:>6s} {n:7d} {best:8.2f} {again:7.3f}  {names}", flush=True)


# ---------------------------------------------------------------- reading
def _readings(model, grouping, image: torch.Tensor, tile_size: int) -> dict[str, np.ndarray]:
    """The three readings of one photo, the model run once per window (both = their average)."""
    from plugins.segment_semantic import reading

    rgb = np.ascontiguousarray(image[0].permute(1, 2, 0).numpy())
    coarse = reading.whole(model, rgb, grouping)
    out = {"whole": coarse}
    if max(rgb.shape[:2]) > reading.WINDOW:
        fine = reading.tiles(model, rgb, grouping, min(tile_size, max(rgb.shape[:2])))
        up = cv2.resize(coarse, (fine.shape[1], fine.shape[0]), interpolation=cv2.INTER_LINEAR).reshape(fine.shape)
        out.update(tiles=fine, both=0.5 * (up + fine))
    return out


def _label_map(segs, hw) -> tuple[np.ndarray, np.ndarray]:
    """(group name per pixel, sky mask) from finished segments."""
    names = np.array([s.file_stem for s in segs])
    stack = torch.stack([s.mask for s in segs]).numpy()
    sky = next((s.mask.numpy() for s in segs if s.file_stem == "sky"), np.zeros(hw, np.float32))
    return names[stack.argmax(0)], sky


def thin_and_open(image: torch.Tensor, sky_coarse: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thin, open) HxW bool masks near the sky (where the whole-picture reading's sky holds most of
    a window 1/16 of the long edge). thin: dark things a 15 px (at 1024) closing removes from the
    luminance (black-hat > 0.15): poles, wires, masts, spires. open: no structure within that
    window (neither hat over 0.05): plain sky. 'Near the sky' comes from the whole reading, so
    'open' leans its way a little; the thin pixels do not."""
    h, w = image.shape[-2:]
    lum = (0.299 * image[0, 0] + 0.587 * image[0, 1] + 0.114 * image[0, 2]).numpy().astype(np.float32)
    k = 2 * round(7 * max(h, w) / 1024) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    dark = cv2.morphologyEx(lum, cv2.MORPH_BLACKHAT, kernel)
    any_hat = np.maximum(dark, cv2.morphologyEx(lum, cv2.MORPH_TOPHAT, kernel))
    win = 2 * round(max(h, w) / 32) + 1
    around = cv2.blur(cv2.resize(sky_coarse, (w, h), interpolation=cv2.INTER_LINEAR), (win, win))
    quiet = cv2.dilate(any_hat, np.ones((win, win), np.uint8)) < 0.05
    return (dark > 0.15) & (around > 0.5), quiet & (around > 0.5)


def section_reading(args) -> None:
    from plugins.segment_semantic.groups import GROUPS, grouping_matrix
    from plugins.segment_semantic.model import load_labels, load_model
    from plugins.segment_semantic.segmenter import SemanticParams, finish

    model, grouping = load_model(), grouping_matrix(load_labels())
    params = SemanticParams(min_area=0.0)
    rng = random.Random(0)
    train = sorted(p for p in TRAIN.glob("*.jpg") if p.stem not in THIN)
    photos = [SAMPLES / f"{n}.jpg" for n in SAMPLE_PHOTOS] + rng.sample(train, args.photos)
    print(f"reading a photo at 1024 px: whole (one 513 px window) vs tiles / both (tiles at {args.tile_size} px), "
          f"{len(photos)} photos (4 samples + {args.photos} research photos enlarged), min_area 0")
    agree = {"tiles": [], "both": []}
    extra = {"tiles": 0, "both": 0}
    for path in photos:
        image = at_long_edge(load_image(path), 1024)
        reads = _readings(model, grouping, image, args.tile_size)
        maps = {how: _label_map(finish(r, image, params), tuple(image.shape[-2:]))[0] for how, r in reads.items()}
        whole_cov = reads["whole"].reshape(-1, len(GROUPS)).mean(0)
        for how in ("tiles", "both"):
            agree[how].append(float((maps[how] == maps["whole"]).mean()))
            cov = reads[how].reshape(-1, len(GROUPS)).mean(0)
            extra[how] += int(((cov >= 0.01) & (whole_cov < 0.005)).sum())  # a group only the tiles see
        if args.verbose:
            print(f"  {path.stem[:48]:48s} tiles {agree['tiles'][-1]:.3f} both {agree['both'][-1]:.3f}", flush=True)
    for how in ("tiles", "both"):
        a = np.array(agree[how])
        print(f"  {how:5s} vs whole: pixels in the same group: mean {100 * a.mean():.1f} %, "
              f"worst {100 * a.min():.1f} %, photos under 90 %: {int((a < 0.9).sum())}; "
              f"groups >= 1 % that the whole reading has under 0.5 %: {extra[how]}")

    city = at_long_edge(load_image(CITY), 1024)
    ref = load_mask(CITY_SKY).numpy() > 0.5
    reads = _readings(model, grouping, city, args.tile_size)
    line = []
    for how, r in reads.items():
        sky = _label_map(finish(r, city, params), tuple(city.shape[-2:]))[1] > 0.5
        line.append(f"{how} {float((sky & ref).sum() / (sky | ref).sum()):.4f}")
    print(f"  city sky IoU against the hand-made mask (1024 px): {', '.join(line)}")


def section_thin(args) -> None:
    from plugins.segment_semantic.groups import GROUPS, grouping_matrix
    from plugins.segment_semantic.model import load_labels, load_model
    from plugins.segment_semantic.segmenter import SemanticParams, finish

    model, grouping = load_model(), grouping_matrix(load_labels())
    params = SemanticParams(min_area=0.0)
    sky_i = [g.name for g in GROUPS].index("sky")
    print(f"thin dark things against the sky kept out of the sky mask (mask < 0.5) / open sky kept in it "
          f"(> 0.5), {len(THIN)} research photos enlarged, tiles at {args.tile_size} px")
    for size in (int(s) for s in args.sizes.split(",")):
        out = {how: [0, 0] for how in ("whole", "tiles", "both")}
        totals = [0, 0]
        for name in THIN:
            image = at_long_edge(load_image(TRAIN / f"{name}.jpg"), size)
            reads = _readings(model, grouping, image, args.tile_size)
            thin, open_sky = thin_and_open(image, reads["whole"][..., sky_i])
            totals[0] += int(thin.sum())
            totals[1] += int(open_sky.sum())
            line = []
            for how, r in reads.items():
                sky = _label_map(finish(r, image, params), tuple(image.shape[-2:]))[1]
                t, o = int((sky[thin] < 0.5).sum()), int((sky[open_sky] > 0.5).sum())
                out[how][0] += t
                out[how][1] += o
                line.append(f"{how} {100 * t / max(thin.sum(), 1):.0f} / {100 * o / max(open_sky.sum(), 1):.0f} %")
            if args.verbose:
                print(f"  {size} {name[:40]:40s} thin {int(thin.sum()):7d} px, open {int(open_sky.sum()):8d} px: "
                      + ", ".join(line), flush=True)
        print(f"  {size} px ({totals[0]} thin px, {totals[1]} open px): " + ", ".join(
            f"{how} {100 * t / max(totals[0], 1):.1f} / {100 * o / max(totals[1], 1):.1f} %" for how, (t, o) in out.items()),
            flush=True)


# ---------------------------------------------------------------- groups
def section_groups(args) -> None:
    seg = segmenters.get("semantic")()
    for name in SAMPLE_PHOTOS:
        segs = seg.segment_named(load_image(SAMPLES / f"{name}.jpg"), {"min_area": 0})
        print(f"{name:30s} " + ", ".join(f"{s.file_stem} {100 * s.coverage:.2f}%" for s in segs if s.coverage >= 0.001))


# ---------------------------------------------------------------- min_side
def section_min_side(args) -> None:
    seg = segmenters.get("semantic")()
    for name in SAMPLE_PHOTOS[:2]:
        full = load_image(SAMPLES / f"{name}.jpg")
        ref = seg.segment_named(full, {"min_area": 0})
        ref_map = np.array([s.file_stem for s in ref])[torch.stack([s.mask for s in ref]).argmax(0).numpy()]
        out = []
        for side in (16, 24, 32, 48, 64, 96, 128):
            small = at_long_edge(full, round(side * max(full.shape[-2:]) / min(full.shape[-2:])))
            segs = seg.segment_named(small, {"min_area": 0, "edge_radius": 0}) if min(small.shape[-2:]) >= 64 else None
            if segs is None:  # below MIN_SIDE: read it through the same steps without the guard
                from plugins.segment_semantic.segmenter import SemanticParams, _digest, _reading, finish

                segs = finish(_reading(small, _digest(small), "whole", 1024), small, SemanticParams(min_area=0, edge_radius=0))
            up = torch.nn.functional.interpolate(torch.stack([s.mask for s in segs])[None], size=full.shape[-2:], mode="bilinear")[0]
            m = np.array([s.file_stem for s in segs])[up.argmax(0).numpy()]
            out.append(f"{side}px {100 * float((m == ref_map).mean()):.0f}%")
        print(f"{name:30s} same group as at 1024 px, by short side: " + ", ".join(out), flush=True)


# ---------------------------------------------------------------- faces
#: the face timing's photos: the astronaut portrait and a group photo (volleyball players; research use)
FACE_TIMED = (SAMPLES / "content_portrait_astronaut.jpg", TRAIN / "imagen__imagen__n04540053_8946_volleyball.jpg")


def section_faces(args) -> None:
    """detect_faces' seconds per photo at each long edge: the cache cleared between repeats (the
    cold cost, as a new photo pays), then once more with it warm (the same photo asked again)."""
    from engine.images import resize_long_edge
    from engine.scene import faces

    print(f"detect_faces, CPU, {args.threads} torch thread(s), LiteRT {faces.litert.THREADS} thread(s), best of {args.repeat}")
    faces.detect_faces(load_image(FACE_TIMED[0], long_edge=256))  # load both models once, untimed
    for path in FACE_TIMED:
        if not path.exists():
            print(f"{path.name}: not here, skipped")
            continue
        full = load_image(path)
        for size in (int(s) for s in args.sizes.split(",")):
            image = resize_long_edge(full, size)
            best = float("inf")
            for _ in range(args.repeat):
                faces._cache.clear()
                found, dt = timed(faces.detect_faces, image)
                best = min(best, dt)
            _, cached = timed(faces.detect_faces, image)
            print(f"{path.name:48s} {size:5d} px: {best:6.3f} s, cached {cached:6.3f} s, {len(found)} face(s)", flush=True)


# ---------------------------------------------------------------- live
def section_live(args) -> None:
    """A live edit's latency on the bundled sample with two semantic regions (its sky and buildings,
    Starry Night and the Great Wave), beside the same edits with two painted regions (the sample's
    hand-made sky and the rest) in the same run: the editor's document builds the job as live mode
    does (editor.live: no preview, no figures) and the live strategy renders it. Edits: the alpha
    slider moved 8 times, then the sky's style switched twice. The photo's groups and faces are read
    once per photo (the editor reads them in the background when it opens), so an edit pays
    neither; their seconds are printed first."""
    import dataclasses
    import os
    import statistics
    import sys

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))  # the editor package, not bench/editor.py beside this file
    from PySide6.QtWidgets import QApplication

    from editor.conversions import tensor_to_mask
    from editor.document import Document
    from editor.live import instant_strategies
    from editor.sample import load_sample
    from engine import params as params_mod
    from engine.registry import strategies
    from engine.runner import run_job
    from engine.scene.faces import detect_faces

    app = QApplication.instance() or QApplication([])  # noqa: F841 - QImage masks want one
    doc = Document()
    doc.load_project(load_sample())
    content = doc.content_tensor()
    found, seg_s = timed(segmenters.get("semantic")().groups, content)
    doc.faces, face_s = timed(detect_faces, content)
    painted = load_mask(CITY_SKY)
    masks = {"semantic": (found["sky"].mask, found["buildings"].mask), "painted": (painted, 1 - painted)}
    name = instant_strategies()[0]
    cls = strategies.get(name)
    base = params_mod.make(cls.Params, {})
    base = dataclasses.replace(base, **{k: False for k in ("preview", "measure") if hasattr(base, k)})
    print(f"sample {content.shape[-1]}x{content.shape[-2]}: semantic groups {seg_s:.2f} s, faces {face_s:.2f} s "
          f"({len(doc.faces)}), once per photo; live strategy {name}, {args.threads} threads")

    def with_regions(kind: str) -> None:
        for region in list(doc.regions):
            doc.take_region(region)
        for mask, style in zip(masks[kind], ("Van Gogh: Starry Night", "Hokusai: Great Wave")):
            region = doc.new_region(None, tensor_to_mask(mask))
            region.style = style
            doc.insert_region(region)

    for size in (512, 1024):
        for kind in ("semantic", "painted"):
            with_regions(kind)
            params = base

            def edit() -> tuple[float, float]:
                t = time.perf_counter()
                job = doc.build_job(name, params, True, size=size)
                built = time.perf_counter() - t
                run_job(job)
                return built, time.perf_counter() - t

            _, first = edit()  # the masks and styles at this size: not an edit's cost
            builds, totals = [], []
            for k in range(10):
                if k < 8:
                    params = dataclasses.replace(base, alpha=round(1.0 - 0.05 * (k + 1), 2))
                else:
                    doc.regions[0].style = ("Monet: Water Lilies", "Van Gogh: Starry Night")[k % 2]
                b, t = edit()
                builds.append(b)
                totals.append(t)
            totals.sort()
            print(f"  {size:5d} px, {kind:8s} regions: first render {first:.2f} s; an edit median "
                  f"{statistics.median(totals):.3f} s, p95 {totals[min(len(totals) - 1, int(0.95 * len(totals)))]:.3f} s "
                  f"(building the job median {1000 * statistics.median(builds):.1f} ms), {len(totals)} edits", flush=True)


# ---------------------------------------------------------------- tracking (video)
#: the clips: (name, photo, long edge the photo is brought to, window w x h, first window's
#: top-left, its move per frame (px), and a square that crosses the window (side, start, move) or None)
CLIPS = (
    ("city pan", CITY, 1024, (512, 288), (0, 60), (8, 0), None),
    ("city tilt", CITY, 1024, (512, 288), (256, 0), (0, 8), None),
    ("city pan + a square crossing", CITY, 1024, (512, 288), (0, 60), (8, 0), (96, (0, 30), (12, 2))),
    ("palm beach tilt", SAMPLES / "content_landscape_palm_beach.jpg", 1024, (512, 288), (88, 0), (0, 10), None),
)
#: (name, key_every, key_mix): how a followed region's mask is kept on each frame
POLICIES = (("static (first frame's mask)", 0, 1.0), ("every frame", 1, 1.0), ("key 2 + flow", 2, 1.0),
            ("key 4 + flow", 4, 1.0), ("key 8 + flow", 8, 1.0), ("key 8 + flow, mix 0.5", 8, 0.5),
            ("flow only", 10**6, 1.0))


def pan_clip(photo: np.ndarray, window: tuple[int, int], at: tuple[int, int], move: tuple[int, int], frames: int,
             square=None) -> tuple[list[np.ndarray], list[tuple[int, int]], list[tuple[int, int, int] | None]]:
    """Frames cut by a window moving across ``photo`` (HxWx3 float), each window's top-left, and
    where a square of buildings crossing it is (x, y, side in the frame) or None."""
    w, h = window
    out, where, squares = [], [], []
    patch = photo[-200:-200 + square[0], 100:100 + square[0]].copy() if square else None
    for i in range(frames):
        x, y = at[0] + i * move[0], at[1] + i * move[1]
        frame = photo[y:y + h, x:x + w].copy()
        sq = None
        if square:
            side, (sx, sy), (mx, my) = square
            sx, sy = sx + i * mx, sy + i * my
            frame[sy:sy + side, sx:sx + side] = patch[: h - sy, : w - sx]
            sq = (sx, sy, side)
        out.append(frame)
        where.append((x, y))
        squares.append(sq)
    return out, where, squares


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def section_tracking(args) -> None:
    """Regions given as groups on a clip: how well each way of keeping the mask follows the sky,
    how much it flickers, and what it costs a frame (engine.video.scene_track's KEY_EVERY)."""
    from engine.job import Region, StyleJob, StyleSource
    from engine.video.scene_track import SceneFollow, SceneTrack
    from plugins.segment_semantic.segmenter import clear_cache

    seg = segmenters.get("semantic")()
    seg.groups(at_long_edge(load_image(CITY), 256))  # load the model once, untimed
    n = args.frames
    print(f"a 'sky' region on {n}-frame clips cut by a moving window (512x288 px, the render size); "
          f"IoU at mask > 0.5; frame to frame: IoU of each mask with the previous one moved by the window's "
          f"known move (the square's pixels left out); seconds a frame for the masks (segmenter + flow)")
    for name, path, edge, window, at, move, square in CLIPS:
        photo = at_long_edge(load_image(path), edge)
        rgb = np.ascontiguousarray(photo[0].permute(1, 2, 0).numpy())
        if path == CITY:
            truth_full = load_mask(CITY_SKY).numpy() > 0.5
        else:  # the still photo's own reading: what the clip's frames should agree with
            truth_full = seg.groups(photo)["sky"].mask.numpy() > 0.5
        frames, where, squares = pan_clip(rgb, window, at, move, n, square)
        truths = []
        for (x, y), sq in zip(where, squares):
            t = truth_full[y:y + window[1], x:x + window[0]].copy()
            if sq:
                t[sq[1]:sq[1] + sq[2], sq[0]:sq[0] + sq[2]] = False
            truths.append(t)
        first = seg.groups(_chw(frames[0]))
        job = StyleJob(content=_chw(frames[0]), strategy="universal", params=None,
                       regions=(Region(first["sky"].mask, StyleSource(image=_chw(frames[0])), name="sky"),))
        print(f"-- {name}: sky {100 * truths[0].mean():.0f} % of the first frame, {100 * truths[-1].mean():.0f} % of the last")
        print(f"   {'policy':30s} {'IoU mean':>8s} {'min':>6s} {'frame-to-frame mean':>19s} {'min':>6s} {'s/frame':>8s}")
        for policy, key_every, mix in POLICIES:
            clear_cache()  # every policy reads its key frames afresh
            track = SceneTrack(SceneFollow(groups=("sky",), key_every=key_every or 10**6, key_mix=mix), job)
            masks = []
            for frame in frames:
                if key_every == 0:  # static: the first frame's mask on every frame
                    masks.append(first["sky"].mask.numpy())
                    continue
                track.step(frame)
                masks.append(track.masks["sky"].copy())
            binary = [m > 0.5 for m in masks]
            ious = [_iou(b, t) for b, t in zip(binary, truths)]
            steady = []
            for i in range(1, n):
                dx, dy = move
                a, b = binary[i][: window[1] - dy, : window[0] - dx], binary[i - 1][dy:, dx:]
                keep = np.ones_like(a)
                for sq, (ox, oy) in ((squares[i], (0, 0)), (squares[i - 1], (dx, dy))):
                    if sq:  # the square, in this frame's pixels
                        keep[max(0, sq[1] - oy):max(0, sq[1] - oy + sq[2]), max(0, sq[0] - ox):max(0, sq[0] - ox + sq[2])] = False
                steady.append(_iou(a & keep, b & keep))
            cost = sum(track.seconds.values()) / n
            print(f"   {policy:30s} {np.mean(ious):8.3f} {np.min(ious):6.3f} {np.mean(steady):19.3f} {np.min(steady):6.3f} "
                  f"{cost:8.3f}", flush=True)


#: clips for faces: (name, photo, long edge, window w x h, first window's top-left, move per frame)
FACE_CLIPS = (
    ("astronaut pan", SAMPLES / "content_portrait_astronaut.jpg", 512, (384, 216), (0, 20), (6, 0)),
    ("volleyball pan (research photo)", TRAIN / "imagen__imagen__n04540053_8946_volleyball.jpg", 1024, (512, 512),
     (280, 140), (8, 0)),
    ("city pan (no face)", CITY, 1024, (512, 288), (0, 60), (8, 0)),
)
#: (name, detect every this many frames; the faces carried along the flow in between)
FACE_POLICIES = (("every frame", 1, 0, 1.0), ("every frame, hold 8", 1, 8, 1.0), ("every frame, hold 8, smooth", 1, 8, 0.5),
                 ("every 2 + flow, hold 8, smooth", 2, 8, 0.5), ("every 4 + flow", 4, 0, 1.0),
                 ("every 4 + flow, hold 8, smooth", 4, 8, 0.5), ("first frame + flow", 10**6, 0, 1.0),
                 ("default (every 4 while none)", None, 0, 0.0))


def _box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def section_face_tracking(args) -> None:
    """Faces on a clip (engine.video.scene_track's FACES_EVERY): found on every frame, or on key
    frames and moved along the flow in between. Truth: the faces found on the whole photo, moved
    with the window (those whose box lies inside it). Found: truth faces matched at box IoU > 0.5;
    extra: boxes matching none; jitter: how far a matched face's centre moves from one frame to the
    next beyond the window's own move (px)."""
    from engine.job import StyleJob
    from engine.scene import faces as face_mod
    from engine.video.scene_track import SceneFollow, SceneTrack

    face_mod.detect_faces(load_image(CITY, long_edge=256))  # load the models once, untimed
    n = args.frames
    for name, path, edge, window, at, move in FACE_CLIPS:
        if not path.exists():
            print(f"-- {name}: {path} not here, skipped")
            continue
        photo = at_long_edge(load_image(path), edge)
        h, w = photo.shape[-2:]
        truth_full = [(f.x0 * w, f.y0 * h, f.x1 * w, f.y1 * h) for f in face_mod.detect_faces(photo)]
        rgb = np.ascontiguousarray(photo[0].permute(1, 2, 0).numpy())
        frames, where, _ = pan_clip(rgb, window, at, move, n)
        ww, wh = window
        # per frame: (which face of the photo, its box in the frame) for the faces inside the window
        truths = [[(k, (b[0] - x, b[1] - y, b[2] - x, b[3] - y)) for k, b in enumerate(truth_full)
                   if b[0] >= x - 2 and b[1] >= y - 2 and b[2] <= x + ww + 2 and b[3] <= y + wh + 2] for x, y in where]
        print(f"-- {name}: {len(truth_full)} face(s) in the photo, {len(truths[0])} in the first frame, "
              f"{len(truths[-1])} in the last")
        print(f"   {'policy':32s} {'found':>7s} {'IoU':>6s} {'extra':>6s} {'jitter px':>9s} {'s/frame':>8s}")
        first = face_mod.detect_faces(_chw(frames[0]))
        job = StyleJob(content=_chw(frames[0]), strategy="universal", params=None, faces=first)
        for policy, every, hold, smooth in FACE_POLICIES:
            face_mod._cache.clear()
            follow = SceneFollow(faces=True) if every is None else SceneFollow(
                faces=True, faces_every=every, face_search_every=every, face_hold=hold, face_smooth=smooth)
            track = SceneTrack(follow, job)
            found = total = extra = 0
            ious, jitter, last = [], [], {}
            for i, frame in enumerate(frames):
                track.step(frame)
                boxes = [(f.x0 * ww, f.y0 * wh, f.x1 * ww, f.y1 * wh) for f in track.faces]
                matched = set()
                for k, t in truths[i]:
                    total += 1
                    best = max(range(len(boxes)), key=lambda j: _box_iou(boxes[j], t), default=None)
                    if best is None or _box_iou(boxes[best], t) <= 0.5:
                        last.pop(k, None)
                        continue
                    found += 1
                    matched.add(best)
                    ious.append(_box_iou(boxes[best], t))
                    c = ((boxes[best][0] + boxes[best][2]) / 2, (boxes[best][1] + boxes[best][3]) / 2)
                    if k in last:  # the picture moved by minus the window's move
                        jitter.append(float(np.hypot(c[0] - last[k][0] + move[0], c[1] - last[k][1] + move[1])))
                    last[k] = c
                extra += len(boxes) - len(matched)
            cost = sum(track.seconds.values()) / n
            print(f"   {policy:32s} {found:3d}/{total:<3d} {np.mean(ious) if ious else 0:6.3f} {extra:6d} "
                  f"{np.mean(jitter) if jitter else 0:9.2f} {cost:8.3f}", flush=True)


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float()


SECTIONS = {
    "segmentation": section_segmentation,
    "reading": section_reading,
    "thin": section_thin,
    "groups": section_groups,
    "min_side": section_min_side,
    "faces": section_faces,
    "live": section_live,
    "tracking": section_tracking,
    "face_tracking": section_face_tracking,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sections", default="segmentation", help=f"comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--sizes", default="512,1024,4000", help="segmentation, thin: long edges (px)")
    ap.add_argument("--reads", default="whole,tiles,both", help="segmentation: ways of reading")
    ap.add_argument("--photos", type=int, default=36, help="reading: research photos besides the 4 samples")
    ap.add_argument("--tile-size", type=int, default=1024, help="reading: the tiles' working long edge")
    ap.add_argument("--frames", type=int, default=24, help="tracking: frames per clip")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    for name in args.sections.split(","):
        if name not in SECTIONS:
            ap.error(f"unknown section '{name}'; known: {', '.join(SECTIONS)}")
        print(f"== {name}")
        SECTIONS[name](args)


if __name__ == "__main__":
    main()
