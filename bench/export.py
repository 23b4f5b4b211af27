"""Print-size export on the CPU: seconds and peak RSS per size, side by side.

    .venv/bin/python bench/export.py                 # AdaIN fast at 2000/4000/6000 px + multiscale at 3000 px
    .venv/bin/python bench/export.py --quick         # smaller sizes, to check the bench itself
    .venv/bin/python bench/export.py --only layers   # layered export (two regions) beside the flat one, 6000 px

Each export runs in its own process, so each peak RSS (ru_maxrss) is that size's alone. The
target: AdaIN at 6000x4000 within 3 GB, and peak RSS nearly flat across the sizes, because
only one tile and a band of rows are ever held in floats. The layered rows (engine.layers: the
photo, two regions each rendered in its own style over the whole picture, the render) also give
tracemalloc's peak (numpy's arrays; torch's tiles are outside it): a layered export should hold
one full-size picture more than the flat one (a region's own render beside the render), whatever
the number of layers.

Last layered run (2026-12-06, `--only layers`, 2 threads, load average 7-10 from other work, so
the seconds are stretched; a layered export renders three times: the job and each region's style
over the whole picture):

    strategy           size             method tiles  tile  seconds peak RSS MB  file MB traced MB
    adain flat    6000x4002  tiled-feedforward    15  1536    322.9        3435     15.6       552
    adain .psd    6000x4002  tiled-feedforward     0     0    787.5        4065    166.0       625
    adain .ora    6000x4002  tiled-feedforward     0     0    523.1        4081     83.2       625
    adain .tif    6000x4002  tiled-feedforward     0     0    472.3        4261    117.6       699

numpy's peak grows by 73 MB over the flat export (one 6000x4002 8-bit picture: 72 MB) for PSD and
ORA, 147 MB for TIFF (tifffile's strip buffers); peak RSS by 0.6-0.8 GB (torch's allocator after
three tiled renders), not by the 4 layers' 384 MB of pixels with alpha (768 MB at 16 bits).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "images" / "samples"
CONTENT = SAMPLES / "content_animal_beagle.jpg"
STYLE = SAMPLES / "style_vangogh_starry_night.jpg"
STYLE2 = SAMPLES / "style_hokusai_great_wave.jpg"


def one(strategy: str, long_edge: int, sets: list[str], working: int | None, refine_steps: int,
        tile: int | None, threads: int, layers: str | None = None) -> dict:
    """Run one export in this process; report seconds, peak RSS and what the exporter chose.

    ``layers`` (a suffix: .psd, .ora, .tif): a two-region job (top and bottom halves, each its own
    style) exported as layers; "flat" the same job as one picture, for comparison."""
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    from engine import params as params_mod
    from engine.export import ExportOptions, export
    from engine.images import load_image
    from engine.job import StyleJob, StyleSource
    from engine.registry import strategies

    cls = strategies.get(strategy)
    job = StyleJob(content=load_image(CONTENT), strategy=strategy,
                   params=params_mod.make(cls.Params, params_mod.parse_assignments(sets)),
                   styles=(StyleSource(image=load_image(STYLE), name="style"),), size=long_edge, device="cpu")
    if layers:
        from engine.job import Region

        top = torch.zeros(job.content.shape[-2:])
        top[: top.shape[0] // 2] = 1
        job = job.with_(styles=(), regions=(Region(top, job.styles[0], name="top", feather=8),
                                            Region(1 - top, StyleSource(image=load_image(STYLE2)), name="bottom")))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    options = ExportOptions(dpi=300, working_size=working, refine_steps=refine_steps, tile=tile)
    with tempfile.TemporaryDirectory() as tmp:
        import tracemalloc

        tracemalloc.start()
        start = time.perf_counter()
        if layers and layers != "flat":
            from engine.layers import export_layers

            out = Path(tmp) / f"out{layers}"
            report = export_layers(job, out, options)
            method = report.method
            tiles = tile_size = 0
        else:
            out = Path(tmp) / "out.png"
            report = export(job, out, options)
            method, tiles, tile_size = report.method, report.tiles, report.tile_size
        seconds = time.perf_counter() - start
        traced_peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        size_mb = out.stat().st_size / 1e6
    return {"strategy": strategy + (f" {layers}" if layers else ""), "size": f"{report.width}x{report.height}",
            "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_after_load_mb": rss_before, "method": method, "tiles": tiles, "traced_peak_mb": traced_peak,
            "tile": tile_size, "working": getattr(report, "working_size", None), "file_mb": size_mb}


def trained_decoder() -> str:
    """'trained' when Brushwork's AdaIN decoder is installed, else 'reconstruction' (same cost)."""
    sys.path.insert(0, str(ROOT))
    from engine import weights

    try:
        return "trained" if weights.is_available("adain/decoder-fast") else "reconstruction"
    except Exception:
        return "reconstruction"


def spawn(args: list[str]) -> dict:
    r = subprocess.run([sys.executable, __file__, "--one", json.dumps(args)], capture_output=True, text=True,
                       cwd=ROOT)
    if r.returncode != 0:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="800/1600/2400 px and multiscale at 1200 px")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-multiscale", action="store_true")
    ap.add_argument("--only", choices=["adain", "multiscale", "layers"], help="run one strategy's rows only")
    args = ap.parse_args()
    if args.one:
        a = json.loads(args.one)
        print(json.dumps(one(a["strategy"], a["size"], a["sets"], a.get("working"), a.get("refine", 10),
                             a.get("tile"), a["threads"], a.get("layers"))))
        return
    sizes = (800, 1600, 2400) if args.quick else (2000, 4000, 6000)
    decoder = trained_decoder()
    runs = [dict(strategy="adain", size=s, sets=["encoder=fast", "preview=false", f"decoder={decoder}"],
                 threads=args.threads) for s in sizes]
    if not args.skip_multiscale:
        runs.append(dict(strategy="multiscale", size=1200 if args.quick else 3000,
                         sets=["net=distilled16x", "start_size=128", "coarse_steps=60", "fine_steps=15",
                               "optimizer=adam"],
                         working=512, refine=6, threads=args.threads))
    big = sizes[-1]
    adain = ["encoder=fast", "preview=false", f"decoder={decoder}"]
    # tiles of 1536 px, so every size goes the print's way (a free machine renders 6000 px in one pass)
    runs += [dict(strategy="adain", size=big, sets=adain, threads=args.threads, layers=kind, tile=1536)
             for kind in ("flat", ".psd", ".ora", ".tif")]
    if args.only:
        runs = [r for r in runs if (r.get("layers") is not None) == (args.only == "layers")
                and (args.only == "layers" or r["strategy"] == args.only)]
    print(f"CPU, {args.threads} threads, {os.cpu_count()} cores visible; load average {os.getloadavg()[0]:.1f}; "
          f"content {CONTENT.name}, style {STYLE.name}; AdaIN decoder: {decoder}")
    print(f"{'strategy':12s} {'size':>10s} {'method':>18s} {'tiles':>5s} {'tile':>5s} {'seconds':>8s} "
          f"{'peak RSS MB':>11s} {'file MB':>8s} {'traced MB':>9s}")
    for run in runs:
        r = spawn(run)  # type: ignore[arg-type]
        if "error" in r:
            print(f"{run['strategy']:12s} {run['size']:>10d}  failed: {r['error']}")
            continue
        extra = f"  (working size {r['working']} px)" if r["working"] else ""
        print(f"{r['strategy']:12s} {r['size']:>10s} {r['method']:>18s} {r['tiles']:>5d} {r['tile']:>5d} "
              f"{r['seconds']:>8.1f} {r['peak_rss_mb']:>11.0f} {r['file_mb']:>8.1f} {r['traced_peak_mb']:>9.0f}{extra}",
              flush=True)


if __name__ == "__main__":
    main()
