"""``brushwork batch`` against one ``brushwork render`` process a picture, and (the farm half) on Ray.

    .venv/bin/python bench/batch.py [--pictures 20] [--size 512] [--threads 2] [--skip-single]

Twenty pictures at 512 px (crops and mirrors of the four public-domain samples, written to a
temporary folder), styled with ``universal`` and Van Gogh's Starry Night, faces not protected:

- **one process per picture**: ``python -m engine render`` for each, wall-clock per process
  (imports, nets, the style's statistics loaded every time: the cost a shell loop pays);
- **one batch process**: ``python -m engine batch`` over the folder, wall-clock of the whole
  process divided by the pictures (everything loaded once; the manifest written after each).

Both start with an empty style-statistics cache (BRUSHWORK_FEATURE_CACHE in a fresh folder),
so neither gains from a run before it. Prints seconds per picture both ways and the speed-up;
the Ray half (:func:`ray_half`) adds the farm on a local two-node cluster. Not a test: it prints.

Last run (2026-12-06, this 2-core CPU with other work at load 6.5-8, so wall-clock is stretched
and CPU time is the steadier figure): batch 4.67 s a picture (CPU 2.51 s), one process per
picture 10.03 s (CPU 5.39 s): 2.15x both ways.

The Ray half, last run (2026-12-06, load 8, ``--threads 1 --skip-single``: at load 7 the local
batch with 2 threads took 5.80 s a picture and with 1 thread 1.16 s, two threads fighting over busy
cores): two Ray nodes up in 12.8 s; the 20 pictures on them (two one-CPU workers) 0.95 s a picture,
19.0 s in all with joining and starting the workers, against 0.97 s (19.4 s) for the local batch,
every output identical (0/255); Ray's overhead per task, one picture at a time on one worker:
median 10 ms, max 253 ms. Two workers did not halve the time because the machine's two cores were
already busy with other work.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "resources" / "samples"
#: the public-domain samples beside the checkout (four photos); the bundled city alone without them
SHARED_SAMPLES = ROOT.parent / "shared" / "images" / "samples"
STYLE = SAMPLES / "style_vangogh_starry_night.jpg"
FLAGS = ["--strategy", "universal", "--protect-faces", "off", "-q"]


def make_pictures(folder: Path, n: int, size: int) -> list[Path]:
    """``n`` different 512 px pictures from the samples: each photo whole, mirrored, and cropped."""
    from PIL import Image, ImageOps

    photos = sorted(SHARED_SAMPLES.glob("content_*.jpg")) or sorted(SAMPLES.glob("content_*.jpg"))
    out = []
    for i in range(n):
        im = Image.open(photos[i % len(photos)]).convert("RGB")
        k = i // len(photos)
        if k % 2:
            im = ImageOps.mirror(im)
        if k >= 2:  # a centred crop, a little tighter each round (down to half the photo)
            f = max(0.5, 1 - 0.08 * (k // 2))
            w, h = im.size
            im = im.crop((round(w * (1 - f) / 2), round(h * (1 - f) / 2), round(w * (1 + f) / 2), round(h * (1 + f) / 2)))
        im.thumbnail((size, size), Image.LANCZOS)
        path = folder / f"picture_{i:02d}.png"
        im.save(path)
        out.append(path)
    return out


def _env(cache: Path, threads: int) -> dict:
    return {**os.environ, "BRUSHWORK_FEATURE_CACHE": str(cache), "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": str(threads), "BRUSHWORK_WEIGHTS_DIR": str(ROOT / "weights")}


def _cpu_of_children() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _run(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one ``python -m engine`` process (CPU: what a busy machine stretches least)."""
    start, cpu = time.perf_counter(), _cpu_of_children()
    done = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start, _cpu_of_children() - cpu


def one_process_per_picture(pictures: list[Path], out: Path, work: Path, threads: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per picture, one fresh ``render`` process each."""
    env = _env(work / "cache-single", threads)
    runs = [_run(["render", str(p), "-s", str(STYLE), *FLAGS, "-o", str(out / f"{p.stem}.png")], env)
            for p in pictures]
    return sum(w for w, _ in runs) / len(pictures), sum(c for _, c in runs) / len(pictures)


def one_batch(folder: Path, out: Path, work: Path, threads: int, n: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds per picture, one ``batch`` process over the folder."""
    env = _env(work / "cache-batch", threads)
    wall, cpu = _run(["batch", str(folder), "-s", str(STYLE), *FLAGS, "-o", str(out) + "/"], env)
    return wall / n, cpu / n


def ray_half(args: argparse.Namespace, folder: Path, work: Path, local_per_picture: float) -> None:
    """The same batch with ``--ray`` on a local two-node cluster (tests/ray_cluster.py: two
    ``ray start`` processes, one CPU each, so two workers of one thread) against the local batch's
    ``local_per_picture``; then Ray's overhead per task: one worker given one picture at a time,
    the driver's round trip less the worker's own render time (inputs and results through Ray)."""
    try:
        import ray
    except ImportError:
        print("ray: not installed (pip install 'brushwork[farm]'); the farm half is skipped")
        return
    sys.path.insert(0, str(ROOT / "tests"))
    from ray_cluster import TwoNodeCluster

    from engine import cli
    from engine.batch import farm
    from engine.batch.command import settings_from_args
    from engine.batch.inputs import expand_inputs

    env = _env(work / "cache-ray", 1)
    n = len(list(folder.iterdir()))
    nodes = TwoNodeCluster(env)
    with nodes as address:
        print(f"two Ray nodes up in {nodes.started_s:.1f} s")
        wall, _ = _run(["batch", str(folder), "-s", str(STYLE), *FLAGS, "-o", str(work / "out-ray") + "/",
                        "--ray", address], env)
        print(f"ray, two nodes x 1 CPU:  {wall / n:.2f} s a picture ({wall:.1f} s in all, joining and starting the "
              f"workers included; local batch {local_per_picture:.2f}): {local_per_picture * n / wall:.2f}x")
        import numpy as np
        from PIL import Image

        diffs = [np.abs(np.asarray(Image.open(p), np.int16) - np.asarray(Image.open(work / "out-ray" / p.name), np.int16)).max()
                 for p in sorted((work / "out-batch").glob("*.png"))]
        print(f"ray outputs against the local batch's: {len(diffs)} compared, largest difference {max(diffs)}/255")
        settings = settings_from_args(cli.make_parser().parse_args(
            ["batch", str(folder), "-s", str(STYLE), *FLAGS, "-o", str(work / "out-ray-tasks") + "/"]))
        items = expand_inputs([str(folder)], settings)
        ray.init(address=address, logging_level="WARNING", log_to_driver=False)
        try:
            pool = farm.Farm(ray, settings, workers=1)
            overheads = []
            for item in items:
                t = time.perf_counter()
                for _, refs in pool.run([("picture", item, ray.put(farm.Files.of([item.input])))]):
                    result, _ = ray.get(refs[0])
                overheads.append(time.perf_counter() - t - result.seconds)
            pool.close()
        finally:
            ray.shutdown()
        overheads.sort()
        print(f"ray overhead per task (round trip less the worker's render, {len(overheads)} tasks one at a time): "
              f"median {overheads[len(overheads) // 2] * 1000:.0f} ms, max {overheads[-1] * 1000:.0f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pictures", type=int, default=20)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-single", action="store_true", help="only the batch (and Ray) runs")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        pictures = make_pictures(work / "in", args.pictures, args.size)
        print(f"{len(pictures)} pictures at {args.size} px, universal, {args.threads} threads, load "
              f"{os.getloadavg()[0]:.1f}")
        n = len(pictures)
        batch, batch_cpu = one_batch(work / "in", work / "out-batch", work, args.threads, n)
        print(f"one batch process:       {batch:.2f} s a picture, CPU {batch_cpu:.2f} s ({batch * n:.1f} s in all)")
        if not args.skip_single:
            single, single_cpu = one_process_per_picture(pictures, work / "out-single", work, args.threads)
            print(f"one process per picture: {single:.2f} s a picture, CPU {single_cpu:.2f} s ({single * n:.1f} s in all)")
            print(f"speed-up: {single / batch:.2f}x wall-clock, {single_cpu / batch_cpu:.2f}x CPU")
        ray_half(args, work / "in", work, batch)
        print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
