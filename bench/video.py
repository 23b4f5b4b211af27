"""Video: speed and temporal consistency of the instant strategies on two made clips.

    .venv/bin/python bench/video.py [--threads 2] [--size 512] [--frames 24] [--quick] [--profile]

Clips (made here from a real photo, H.264 at CRF 10): ``pan`` moves the crop window 3 px a
frame (at 512 px; scaled with --size); ``occluder`` adds a red square crossing the panning
photo diagonally (occlusions and disocclusions at its edges). Per clip and strategy (universal,
adain), with temporal on and off, each rendered through engine.video.render_video to an .mp4:

- fps: frames / wall seconds of the whole loop (decode, stylise, flow, blend, encode);
- temporal error: mean abs difference (0-255) between each output frame and the previous one
  warped by the *input's* DIS flow, on the pixels the flow check keeps (not occluded);
- style and content: engine.metrics.style_distance (to the style) and content_distance (to the
  input frame), averaged over every 4th frame, and temporal on's over per-frame's (ratio).

Targets (issue 17): temporal error on <= 0.5 x off, at a style figure within 10% of off's;
universal and adain at >= 5 fps at 512 px. A strip (input / off / on, six frames) per clip and
strategy goes to --out. --quick: 128 px, 8 frames, to prove it runs. --profile: CPU ms a frame
per stage of universal's pan (encoders, decoders, WCT, palette, flow, blend; the rest is decoding
and encoding the clip). Not a test: it prints.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import engine  # noqa: E402,F401  (before torch: its OpenMP policy, engine.openmp, as the product runs)
import torch  # noqa: E402
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(ROOT.parent / "shared" / "weights"))

import av  # noqa: E402
from PIL import Image  # noqa: E402

from engine import metrics, params  # noqa: E402
from engine.images import load_image  # noqa: E402
from engine.job import StyleJob, StyleSource  # noqa: E402
from engine.registry import strategies  # noqa: E402
from engine.video import FrameDone, VideoOptions, render_video  # noqa: E402
from engine.video.temporal import Motion, temporal_error  # noqa: E402

CONTENT = "content_city_skyline.jpg"
STYLE = "style_vangogh_starry_night.jpg"
STRATEGIES = ("universal", "adain")
FPS = 24


def make_frames(photo: Path, n: int, long_edge: int, occluder: bool) -> list[np.ndarray]:
    """``n`` 16:9 crops of ``photo`` panning right (3 px a frame at 512 px), with a red square
    moving down-left across them when ``occluder``."""
    w = long_edge - long_edge % 2
    h = round(w * 9 / 16 / 2) * 2
    step = max(1, round(3 * long_edge / 512))
    im = Image.open(photo).convert("RGB")
    k = max((h + 8) / im.height, (w + step * n + 8) / im.width)
    arr = np.asarray(im.resize((round(im.width * k), round(im.height * k)), Image.LANCZOS))
    frames = []
    side = h // 4
    for i in range(n):
        f = arr[4:4 + h, i * step:i * step + w].copy()
        if occluder:
            x = round(w * 0.75 - i * 2.5 * step)
            y = round(h * 0.15 + i * 1.5 * step)
            f[max(0, y):y + side, max(0, x):x + side] = (220, 30, 40)
        frames.append(np.ascontiguousarray(f))
    return frames


def write_clip(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"crf": "10"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, FPS)
            for p in s.encode(vf):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def read_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(c.streams.video[0])]


def make_job(name: str, style: torch.Tensor, first: np.ndarray) -> StyleJob:
    cls = strategies.get(name)
    content = torch.from_numpy(first).permute(2, 0, 1)[None].float() / 255
    return StyleJob(content=content, strategy=name, params=params.make(cls.Params, {}), styles=(StyleSource(image=style),))


def run(name: str, style, clip: Path, temporal: bool, tmp: Path) -> tuple[list[np.ndarray], float]:
    frames: list[np.ndarray] = []

    def on_event(e) -> None:
        if isinstance(e, FrameDone):
            frames.append(e.image)

    first = read_frames(clip)[0]
    t = time.perf_counter()
    render_video(make_job(name, style, first), clip, tmp / f"{name}_{temporal}.mp4", VideoOptions(temporal=temporal),
                 on_event=on_event)
    return frames, time.perf_counter() - t


def temporal_errors(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> float:
    motion = Motion(scale=1.0)  # the figure's flow at the full size, whatever the renders used
    motion.step(inputs[0])
    errs = []
    for a_out, b_in, b_out in zip(outputs, inputs[1:], outputs[1:]):
        m = motion.step(b_in)
        errs.append(temporal_error(a_out.astype(np.float32) / 255, b_out.astype(np.float32) / 255, m))
    return float(np.nanmean(errs))


def figures(inputs, outputs, style) -> tuple[float, float]:
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    picks = range(0, len(outputs), 4)
    s = [metrics.style_distance(t(outputs[i]), [style]) for i in picks]
    c = [metrics.content_distance(t(outputs[i]), t(inputs[i])) for i in picks]
    return float(np.mean(s)), float(np.mean(c))


def strip(inputs, off, on, path: Path) -> None:
    idx = np.linspace(0, len(inputs) - 1, min(6, len(inputs))).round().astype(int)
    rows = [np.concatenate([np.pad(r[i], ((2, 2), (2, 2), (0, 0))) for i in idx], 1) for r in (inputs, off, on)]
    Image.fromarray(np.concatenate(rows, 0)).save(path)


def where_time_goes(name: str, style, clip: Path, frames: int) -> None:
    """CPU ms a frame per stage of ``name``'s temporal-on render of ``clip`` (process time: the
    machine is shared, and wall time stretches with the load; torch's own threads included). The
    flow runs in line here, so no stage's figure holds another's; runs after the timed ones."""
    import plugins.universal as U
    from engine.video import render as R, temporal as T

    spent: dict[str, list[float]] = {}

    def timed(owner, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        def wrapper(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                spent.setdefault(label, []).append(time.process_time() - t)
        setattr(owner, attr, wrapper)

    for owner, attr, label in ((U, "encode", "encoders"), (U, "decode", "decoders"), (U, "take_palette", "palette"),
                               (U, "moments", "content moments"), (U, "transform", "WCT transforms (eigh)"),
                               (U, "apply", "WCT apply"), (T.Motion, "step", "flow (DIS, half size)"),
                               (T, "restore_detail", "blend: detail"), (T.TemporalBlender, "steady", "blend: colour")):
        timed(owner, attr, label)
    class Inline:  # the flow in line, not beside the nets: process time would count it twice
        def submit(self, fn, *a):
            done = fn(*a)
            return type("Done", (), {"result": lambda _: done})()

    R._flow_thread = Inline()
    first = read_frames(clip)[0]
    t = time.process_time()
    with tempfile.TemporaryDirectory() as d:
        render_video(make_job(name, style, first), clip, Path(d) / "p.mp4", VideoOptions(temporal=True))
    total = (time.process_time() - t) / frames * 1000
    print(f"\nwhere a {name} frame's CPU time goes (ms a frame, {os.getloadavg()[0]:.1f} load): total {total:.0f}")
    for label, ts in sorted(spent.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {label:24s} {sum(ts) / frames * 1000:7.1f}")
    print(f"  {'other (decode, encode, ...)':24s} {total - sum(map(sum, spent.values())) / frames * 1000:7.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--quick", action="store_true", help="128 px, 8 frames")
    ap.add_argument("--out", default=str(ROOT / "out" / "bench_video"))
    ap.add_argument("--profile", action="store_true", help="also print where universal's frame time goes (pan clip)")
    args = ap.parse_args()
    if args.quick:
        args.size, args.frames = 128, 8
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    style = load_image(SAMPLES / STYLE)
    names = [n for n in args.strategies.split(",") if n]
    print(f"cpu, {torch.get_num_threads()} threads; {args.frames} frames at {args.size} px; {CONTENT} x {STYLE}", flush=True)
    print(f"\n{'clip':9s} {'strategy':10s} {'fps off':>7s} {'fps on':>7s} {'terr off':>8s} {'terr on':>8s} {'ratio':>6s} "
          f"{'style off':>9s} {'style on':>8s} {'ratio':>6s} {'cont off':>8s} {'cont on':>8s}")
    failures = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for clip_name, occ in (("pan", False), ("occluder", True)):
            clip = tmp / f"{clip_name}.mp4"
            write_clip(clip, make_frames(SAMPLES / CONTENT, args.frames, args.size, occ))
            inputs = read_frames(clip)
            for name in names:
                run(name, style, clip, False, tmp)  # warm-up pass (loads, caches); not timed
                off, t_off = run(name, style, clip, False, tmp)
                on, t_on = run(name, style, clip, True, tmp)
                e_off, e_on = temporal_errors(inputs, off), temporal_errors(inputs, on)
                (s_off, c_off), (s_on, c_on) = figures(inputs, off, style), figures(inputs, on, style)
                fps_off, fps_on = len(off) / t_off, len(on) / t_on
                print(f"{clip_name:9s} {name:10s} {fps_off:7.2f} {fps_on:7.2f} {e_off:8.2f} {e_on:8.2f} {e_on / e_off:6.2f} "
                      f"{s_off:9.3f} {s_on:8.3f} {s_on / s_off:6.3f} {c_off:8.3f} {c_on:8.3f}", flush=True)
                strip(inputs, off, on, out / f"{clip_name}_{name}.png")
                if e_on > 0.5 * e_off:
                    failures.append(f"{clip_name}/{name}: temporal error ratio {e_on / e_off:.2f} > 0.5")
                if abs(s_on / s_off - 1) > 0.10:
                    failures.append(f"{clip_name}/{name}: style figure {s_on / s_off:.3f} of per-frame's, off by > 10%")
                if args.size >= 512 and fps_on < 5:
                    failures.append(f"{clip_name}/{name}: {fps_on:.2f} fps at {args.size} px < 5")
        if args.profile and "universal" in names:
            where_time_goes("universal", style, tmp / "pan.mp4", args.frames)
    print(f"\nstrips (input / per-frame / temporal) in {out}")
    print("targets: " + ("all met" if not failures else "; ".join(failures)))


if __name__ == "__main__":
    main()
