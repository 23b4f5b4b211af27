"""The textbook run's figures on a broad, fixed sample of pairs (issue 27): computed once, kept as a table.

    .venv/bin/python bench/textbook.py --regenerate      # draw bench/sweep_pairs.txt (seed 2027, 30 pairs)
    nice .venv/bin/python bench/textbook.py --threads 1  # fill bench/textbook_table.tsv, pair by pair
    nice .venv/bin/python bench/textbook.py --shard 1/2  # (and --shard 0/2 beside it: one process a core)

The textbook run is Gatys on VGG16, float32, 300 L-BFGS iterations from the photo, 512 px (bench/gatys.py's
TEXTBOOK): 7-9 minutes a pair on this CPU, so the table is filled in the background across sessions. Each
finished pair is appended at once (a stopped run loses only the pair in progress) and a re-run skips the
pairs already in the table. Both wall and CPU seconds are kept: the machine is often shared, and the
strategies' time target (1/6 of the textbook's) is read against CPU seconds on a busy machine.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gatys import ROOT, TEXTBOOK, job_for, whole_figures  # noqa: E402

from engine.images import load_image, save_image  # noqa: E402
from engine.runner import run_job  # noqa: E402

TRAIN = ROOT.parent / "shared" / "images" / "train"
PAIRS_FILE = Path(__file__).with_name("sweep_pairs.txt")
TABLE = Path(__file__).with_name("textbook_table.tsv")
COLUMNS = ("content", "style", "wall_s", "cpu_s", "gram", "colour", "content_distance")
SEED, COUNT = 2027, 30


def draw_pairs(seed: int = SEED, count: int = COUNT) -> list[tuple[str, str]]:
    """``count`` photo/painting pairs drawn uniformly from the training folders (no file twice)."""
    rng = random.Random(seed)
    photos = sorted(p.name for p in (TRAIN / "content").iterdir())
    paintings = sorted(p.name for p in (TRAIN / "style").iterdir())
    return list(zip(rng.sample(photos, count), rng.sample(paintings, count)))


def read_pairs(path: Path = PAIRS_FILE) -> list[tuple[str, str]]:
    rows = [line.split("\t") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(c, s) for c, s in rows]


def read_table(path: Path = TABLE) -> dict[tuple[str, str], dict[str, float]]:
    """(content, style) -> the textbook's figures, for the pairs already run."""
    if not path.exists():
        return {}
    out = {}
    for line in path.read_text().splitlines()[1:]:
        cells = line.split("\t")
        out[(cells[0], cells[1])] = {k: float(v) for k, v in zip(COLUMNS[2:], cells[2:])}
    return out


def run_pair(strategy: str, values: dict, content_name: str, style_name: str, size: int):
    """One training pair through ``strategy``: (picture, wall s, CPU s, gram, colour, content)."""
    content = load_image(TRAIN / "content" / content_name)
    style = load_image(TRAIN / "style" / style_name)
    job, _ = job_for(strategy, values, content, style, style, size)
    wall, cpu = time.perf_counter(), time.process_time()
    image = run_job(job).image
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return (image, wall, cpu, *whole_figures(image, content, style))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regenerate", action="store_true", help=f"draw {PAIRS_FILE.name} afresh (seed {SEED})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--limit", type=int, default=0, help="stop after this many new pairs (0: all)")
    ap.add_argument("--shard", default="0/1", help="K/N: run only the pairs whose index is K modulo N, so N "
                    "processes (one a core) can share the table")
    ap.add_argument("--reverse", action="store_true", help="take the pairs from the end of the list (a second "
                    "process on the same shard meets the first in the middle)")
    ap.add_argument("--out", default=str(ROOT / "out" / "textbook"), help="the textbook pictures (not committed)")
    ap.add_argument("--table", default=str(TABLE), help="where the figures go (a quick trial: elsewhere)")
    args = ap.parse_args()
    if args.regenerate:
        pairs = draw_pairs()
        PAIRS_FILE.write_text(f"# bench/textbook.py --regenerate: seed {SEED}, {COUNT} pairs; names under "
                              "../shared/images/train/{content,style}\n" + "".join(f"{c}\t{s}\n" for c, s in pairs))
        print(f"{len(pairs)} pairs in {PAIRS_FILE}")
        return
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = Path(args.table)
    if not table.exists():
        table.write_text("\t".join(COLUMNS) + "\n")
    new = 0
    k, n = (int(v) for v in args.shard.split("/"))
    order = list(enumerate(read_pairs()))
    for index, (content_name, style_name) in reversed(order) if args.reverse else order:
        # the table read afresh before each pair: another process may have finished it meanwhile
        if index % n != k or (content_name, style_name) in read_table(table):
            continue
        image, wall, cpu, gram, colour, dist = run_pair("gatys", {**TEXTBOOK, "steps": args.steps}, content_name,
                                                       style_name, args.size)
        save_image(image, out / f"{Path(content_name).stem}__{Path(style_name).stem}.png")
        with table.open("a") as f:  # one short write in append mode: shards never interleave within a line
            f.write(f"{content_name}\t{style_name}\t{wall:.1f}\t{cpu:.1f}\t{gram:.4f}\t{colour:.4f}\t{dist:.4f}\n")
        print(f"{content_name} / {style_name}: {wall:.0f} s wall, {cpu:.0f} s CPU, gram {gram:.3f}, "
              f"colour {colour:.3f}, content {dist:.3f}", flush=True)
        new += 1
        if args.limit and new >= args.limit:
            break


if __name__ == "__main__":
    main()
