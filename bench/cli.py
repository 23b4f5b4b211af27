"""The command line's own time: ``brushwork render`` of the sample with universal, in fresh processes.

    .venv/bin/python bench/cli.py [--sizes 512 1024] [--repeats 3] [--against ../old-checkout]

Each run is a new process (imports, nets, styles cold) rendering the bundled city with its sky
region (Van Gogh) over the rest (Kandinsky), and the bench reads the seconds the CLI itself reports
("wrote ... in X s": from the job to the written file, imports excluded). Two cases per size:
``cold`` with an empty style-statistics cache (engine.featurecache.DiskStore), ``warm`` with the
one the previous run filled, as a second render with the same styles finds it. ``--against DIR``
runs another checkout's engine the same way, interleaved (old, new, old, new ...), as this shared
machine's speed drifts. Then one more run at the largest size, in process, says where its time
went (universal's stages, the style statistics, writing the file). Not a test: it prints.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "samples"


def render_args(size: int, out: Path) -> list[str]:
    return ["render", str(SAMPLE / "content_city_skyline.jpg"), "-s", str(SAMPLE / "style_kandinsky_composition_vii.jpg"),
            "--region", f"{SAMPLE / 'city_sky_mask.png'}={SAMPLE / 'style_vangogh_starry_night.jpg'}",
            "--strategy", "universal", "--size", str(size), "-q", "-o", str(out)]


def run(tree: Path, size: int, cache: Path, out: Path, threads: int) -> tuple[float, str]:
    """The seconds one fresh ``brushwork render`` reports, and how it rendered (one pass or tiles)."""
    env = {**os.environ, "BRUSHWORK_FEATURE_CACHE": str(cache), "PYTHONPATH": str(tree),
           "OMP_NUM_THREADS": str(threads), "BRUSHWORK_WEIGHTS_DIR": str(ROOT / "weights")}
    done = subprocess.run([sys.executable, "-m", "engine", *render_args(size, out)], cwd=tree, env=env,
                          capture_output=True, text=True)
    m = re.search(r"wrote .*?(\[[^\]]*\])? in ([\d.]+) s", done.stdout)
    if done.returncode != 0 or m is None:
        raise SystemExit(f"render failed in {tree}:\n{done.stdout}\n{done.stderr}")
    return float(m.group(2)), (m.group(1) or "[one pass]")


def where_the_time_went(size: int, threads: int) -> dict[str, float]:
    """One in-process render at ``size`` (styles cold) with universal's stages timed."""
    from collections import defaultdict

    from stage_timer import time_calls

    import torch

    torch.set_num_threads(threads)
    os.environ["BRUSHWORK_FEATURE_CACHE"] = "off"
    sys.path.insert(0, str(ROOT))
    import engine.export as export
    import plugins.universal as universal
    from engine import cli

    seconds: dict[str, float] = defaultdict(float)

    def wrap(owner, name: str, label: str) -> None:
        time_calls(seconds, owner, name, label)

    wrap(universal.UniversalStrategy, "style_colouring", "style statistics")  # encoders on the styles, eigh
    for name, label in (("encode", "encoders (photo and levels)"), ("decode", "decoders"),
                        ("take_palette", "palette"), ("nets", "loading nets")):
        wrap(universal, name, label)
    wrap(universal.UniversalStrategy, "regional", "regional transforms")
    wrap(universal.UniversalStrategy, "render", "render")
    wrap(export, "write_image", "writing the file")
    wrap(export, "export", "total")
    with tempfile.TemporaryDirectory() as d:
        cli.main(render_args(size, Path(d) / "out.png"))
    # the style statistics' encoders are inside 'encoders' too: count them once
    return dict(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--against", help="another checkout to run interleaved (e.g. the commit before a change)")
    ap.add_argument("--child-stages", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_stages:
        print(json.dumps(where_the_time_went(args.child_stages, args.threads)))
        return
    trees = [("this", ROOT)] + ([("against", Path(args.against).resolve())] if args.against else [])
    load = os.getloadavg()[0]
    print(f"brushwork render, universal, the sample with its sky region; fresh process each; {args.threads} threads;"
          f" load {load:.1f} on {os.cpu_count()} cores (a busy machine stretches every figure)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for size in args.sizes:
            times: dict[tuple[str, str], list[float]] = {}
            how: dict[str, str] = {}
            for rep in range(args.repeats):
                for label, tree in (trees if rep % 2 == 0 else trees[::-1]):
                    cache = tmp / f"cache-{label}-{size}-{rep}"
                    for case in ("cold", "warm"):  # warm: the cache the cold run just filled
                        seconds, method = run(tree, size, cache, tmp / f"{label}.png", args.threads)
                        times.setdefault((label, case), []).append(seconds)
                        how[label] = method
            for (label, case), ts in times.items():
                print(f"{size:5d} px {label:8s} {case:4s} median {statistics.median(ts):6.2f} s  "
                      f"({', '.join(f'{t:.2f}' for t in ts)}) {how[label]}")
    size = max(args.sizes)
    child = subprocess.run([sys.executable, __file__, "--child-stages", str(size), "--threads", str(args.threads)],
                           capture_output=True, text=True, cwd=ROOT)
    try:
        stages = json.loads(child.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        print(f"(where the time went: the in-process run failed)\n{child.stderr[-2000:]}")
        return
    total = stages.pop("total", 0.0) or 1e-9
    stages.pop("render", None)
    parts = ", ".join(f"{k} {v:.2f} s ({v / total:.0%})" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))
    print(f"where {size} px went (styles cold, {total:.2f} s; the style statistics include their encoders): {parts}")


if __name__ == "__main__":
    main()
