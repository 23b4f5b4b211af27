"""Face detection (engine.scene.faces): a contact sheet of the sample's faces, and the timing.

    .venv/bin/python bench/faces.py --sheet /tmp/faces      # every photo of bench/faces_sample.txt
    .venv/bin/python bench/faces.py [--threads 2] [--repeat 3]   # = bench/semantic.py --sections faces

The timing (seconds per photo at 512, 1024 and 4000 px, cold and cached) lives with the other
scene-understanding figures in bench/semantic.py; this script runs that section when not drawing.
The sheet draws each photo at 1024 px with its faces (box, key points, the ellipse's 0.5 line)
into PNGs of 20 photos, and prints the faces found per photo and per section of the list.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engine.images import load_image, resize_long_edge, tensor_to_pil
from engine.scene import faces

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"
CONTENT = SHARED / "train" / "content"


def sheet(out: str, size: int = 1024, cell: int = 320, per_sheet: int = 20) -> None:
    from PIL import Image, ImageDraw

    sections: dict[str, list[str]] = {}
    current = "all"
    for line in (ROOT / "bench" / "faces_sample.txt").read_text().splitlines():
        if line.startswith("# random") or line.startswith("# people"):
            current = line[2:].split(":")[0]
        elif line.strip() and not line.startswith("#"):
            sections.setdefault(current, []).append(line.strip())
    cells = []
    for section, names in sections.items():
        found_in = 0
        total = 0
        for name in names:
            image = load_image(CONTENT / name, long_edge=size)
            found = faces.detect_faces(image)
            total += len(found)
            found_in += bool(found)
            print(f"{section:7s} {name[:60]:60s} {len(found)} " + " ".join(f"{f.score:.2f}" for f in found))
            h, w = image.shape[-2:]
            scale = cell / max(h, w)
            small = (max(1, round(h * scale)), max(1, round(w * scale)))
            pic = tensor_to_pil(resize_long_edge(image, cell))
            overlay = Image.new("L", pic.size, 0)
            for f in found:
                ring = (f.ellipse(small) - 0.5).abs() < 0.08
                overlay.paste(255, mask=Image.fromarray((ring.numpy() * 255).astype("uint8")))
            pic.paste((255, 255, 0), mask=overlay)
            draw = ImageDraw.Draw(pic)
            for f in found:
                draw.rectangle([f.x0 * pic.width, f.y0 * pic.height, f.x1 * pic.width, f.y1 * pic.height], outline=(0, 255, 0))
                for x, y in f.keypoints:
                    draw.point([(x * pic.width, y * pic.height)], fill=(255, 0, 0))
                draw.text((f.x0 * pic.width, f.y1 * pic.height + 1), f"{f.score:.2f}", fill=(0, 255, 0))
            tile = Image.new("RGB", (cell, cell + 14), (30, 30, 30))
            tile.paste(pic, (0, 0))
            ImageDraw.Draw(tile).text((2, cell + 1), name[-52:], fill=(255, 255, 255))
            cells.append(tile)
        print(f"{section}: {len(names)} photos, {total} face(s) in {found_in} of them")
    cols = 5
    for first in range(0, len(cells), per_sheet):
        part = cells[first:first + per_sheet]
        board = Image.new("RGB", (cols * cell, -(-len(part) // cols) * (cell + 14)))
        for i, tile in enumerate(part):
            board.paste(tile, ((i % cols) * cell, (i // cols) * (cell + 14)))
        board.save(f"{out}_{first // per_sheet:02d}.png")
    print(f"sheets: {out}_*.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="512,1024,4000")
    ap.add_argument("--sheet", metavar="PREFIX", help="draw the sample's faces into PREFIX_NN.png instead of timing")
    args = ap.parse_args()
    if args.sheet:
        sheet(args.sheet)
        return
    import semantic  # bench/semantic.py, beside this file

    torch.set_num_threads(args.threads)
    semantic.section_faces(args)


if __name__ == "__main__":
    main()
