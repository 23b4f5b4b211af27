"""The bundled sample (``resources/samples/sample.json``): a project ready to render.

Kept as loose files plus a small JSON description rather than a ``.brushwork`` zip so the
images stay reviewable in the repository and their provenance sits beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.errors import InputError
from engine.images import load_image, load_mask
from engine.project import Project, ProjectRegion, ProjectStyle

from .resources import resource_dir


def sample_dir() -> Path:
    return resource_dir() / "samples"


def load_sample(folder: Path | None = None) -> Project:
    folder = folder or sample_dir()
    try:
        spec = json.loads((folder / "sample.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"The bundled sample is missing or damaged ({exc}); reinstall Brushwork.") from exc
    content = load_image(folder / spec["content"])
    styles = tuple(ProjectStyle(s["name"], image=load_image(folder / s["image"]), active=bool(s.get("active", False)))
                   for s in spec.get("styles", []))
    regions = tuple(ProjectRegion(r["name"], load_mask(folder / r["mask"]), colour=r.get("colour", "#3c8ce0"),
                                  style=r.get("style", ""), strength=float(r.get("strength", 1.0)))
                    for r in spec.get("regions", []))
    return Project(content=content, content_name=spec["content"], styles=styles, regions=regions,
                   strategy=spec.get("strategy", "gatys"), params=spec.get("params", {}),
                   size=spec.get("size", 512), gaps=spec.get("gaps", "content"))
