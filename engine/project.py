"""The ``.brushwork`` project file: one zip holding everything needed to reopen a session.

Layout (version 1)::

    manifest.json          format name + version, names, params, region settings, figures
    content.png            the content image (lossless)
    styles/<i>.png         style images (text styles live in the manifest only)
    masks/<i>.png          one 8-bit greyscale mask per region, content-sized
    results/<i>.png        kept results

Qt-free so the CLI and scripts can read and write projects too. Everything is checked on
load: a damaged or foreign file raises :class:`ProjectError` with what is wrong, never a
half-built project. Saving is atomic, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from .errors import InputError
from .images import atomic_write, check_pixels, pil_to_tensor, tensor_to_pil

FORMAT = "brushwork-project"
VERSION = 1
SUFFIX = ".brushwork"


class ProjectError(InputError):
    """A project file could not be read: not a project, damaged, or from a newer Brushwork."""


@dataclass(frozen=True, eq=False)
class ProjectStyle:
    """A style in the library: an image (1x3xHxW) or a text prompt."""

    name: str
    image: torch.Tensor | None = None
    text: str | None = None
    weight: float = 1.0
    #: used as a global style (for the whole picture or the gaps between regions)
    active: bool = True


@dataclass(frozen=True, eq=False)
class ProjectRegion:
    """A painted region: its mask (HxW float in [0,1], content-sized) and what it is styled with."""

    name: str
    mask: torch.Tensor
    colour: str = "#e0503c"
    #: the name of a style in the library ("" = none assigned yet)
    style: str = ""
    strength: float = 1.0
    feather: float = 0.0
    visible: bool = True


@dataclass(frozen=True, eq=False)
class KeptResult:
    """A result the user chose to keep, with what made it."""

    name: str
    image: torch.Tensor
    strategy: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    figures: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True, eq=False)
class Project:
    content: torch.Tensor | None = None
    content_name: str = ""
    styles: tuple[ProjectStyle, ...] = ()
    regions: tuple[ProjectRegion, ...] = ()
    strategy: str = "gatys"
    #: per strategy: the parameter values last set for it (JSON-able)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    results: tuple[KeptResult, ...] = ()
    #: job settings: long edge of the output, seed, gaps
    size: int | None = 512
    seed: int = 0
    gaps: str = "content"
    #: a project painted on a clip: the clip's path (the clip itself is not copied in) and the frame
    #: the content is; "" for a photo
    clip: str = ""
    clip_frame: int = 0


# ---------------------------------------------------------------- writing
def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def mask_to_pil(mask: torch.Tensor) -> Image.Image:
    arr = (mask.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(arr)  # 2-D uint8 -> mode "L"


def save_project(project: Project, path: str | Path) -> Path:
    """Write ``project`` to ``path`` atomically (the old file survives a failed save)."""
    path = Path(path)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "content": "content.png" if project.content is not None else None,
        "content_name": project.content_name,
        "strategy": project.strategy,
        "params": {k: dict(v) for k, v in project.params.items()},
        "size": project.size,
        "seed": project.seed,
        "gaps": project.gaps,
        "clip": {"path": project.clip, "frame": project.clip_frame} if project.clip else None,
        "styles": [],
        "regions": [],
        "results": [],
    }
    files: dict[str, bytes] = {}
    if project.content is not None:
        files["content.png"] = _png_bytes(tensor_to_pil(project.content))
    for i, s in enumerate(project.styles):
        entry: dict[str, Any] = {"name": s.name, "weight": s.weight, "active": s.active}
        if s.image is not None:
            entry["image"] = f"styles/{i}.png"
            files[entry["image"]] = _png_bytes(tensor_to_pil(s.image))
        else:
            entry["text"] = s.text
        manifest["styles"].append(entry)
    for i, r in enumerate(project.regions):
        entry = {"name": r.name, "mask": f"masks/{i}.png", "colour": r.colour, "style": r.style,
                 "strength": r.strength, "feather": r.feather, "visible": r.visible}
        files[entry["mask"]] = _png_bytes(mask_to_pil(r.mask))
        manifest["regions"].append(entry)
    for i, k in enumerate(project.results):
        entry = {"name": k.name, "image": f"results/{i}.png", "strategy": k.strategy,
                 "params": dict(k.params), "figures": dict(k.figures), "seconds": k.seconds}
        files[entry["image"]] = _png_bytes(tensor_to_pil(k.image))
        manifest["results"].append(entry)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2), compress_type=zipfile.ZIP_DEFLATED)
            for name, data in files.items():  # PNGs are compressed already
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)

    try:
        return atomic_write(path, write)
    except TypeError as exc:  # a param value JSON cannot hold
        raise ProjectError(f"Could not save '{path.name}': {exc}.") from exc


# ---------------------------------------------------------------- reading
def _need(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in d:
        raise ProjectError(f"{where}: '{key}' is missing from the manifest.")
    if not isinstance(d[key], kind):
        raise ProjectError(f"{where}: '{key}' has the wrong type ({type(d[key]).__name__}).")
    return d[key]


def _read_image(zf: zipfile.ZipFile, member: str, mode: str, where: str) -> Image.Image:
    try:
        data = zf.read(member)
    except KeyError:
        raise ProjectError(f"{where}: '{member}' is listed in the manifest but missing from the file.") from None
    except (zipfile.BadZipFile, OSError) as exc:  # CRC errors and truncated members
        raise ProjectError(f"{where}: '{member}' is damaged ({exc}).") from None
    try:
        im = Image.open(io.BytesIO(data))
        check_pixels(Path(member), im.width, im.height)
        im.load()
    except InputError as exc:
        raise ProjectError(f"{where}: {exc}") from None
    except Exception as exc:
        raise ProjectError(f"{where}: '{member}' is not a readable image ({exc}).") from None
    return im.convert(mode)


def load_project(path: str | Path) -> Project:
    """Read a project, checking every part; raises :class:`ProjectError` on anything wrong."""
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise ProjectError(f"No project file at '{path}'.")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise ProjectError(f"'{label}' is not a Brushwork project (not a zip archive, or it is damaged).") from None
    with zf:
        try:
            manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
        except KeyError:
            raise ProjectError(f"'{label}' has no manifest.json; it is not a Brushwork project.") from None
        except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
            raise ProjectError(f"'{label}': manifest.json is damaged ({exc}).") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ProjectError(f"'{label}' is not a Brushwork project (manifest format is {manifest.get('format') if isinstance(manifest, dict) else None!r}).")
        version = manifest.get("version")
        if not isinstance(version, int) or version < 1:
            raise ProjectError(f"'{label}': the project version {version!r} is invalid.")
        if version > VERSION:
            raise ProjectError(f"'{label}' was saved by a newer Brushwork (project version {version}; this one reads up to {VERSION}). Update Brushwork to open it.")

        content = None
        if manifest.get("content"):
            content = pil_to_tensor(_read_image(zf, manifest["content"], "RGB", label))
        styles = []
        for i, s in enumerate(_need(manifest, "styles", list, label)):
            where = f"{label}: style {i + 1}"
            if not isinstance(s, dict):
                raise ProjectError(f"{where} is not an object.")
            name = _need(s, "name", str, where)
            if s.get("image"):
                styles.append(ProjectStyle(name, image=pil_to_tensor(_read_image(zf, s["image"], "RGB", where)),
                                           weight=float(s.get("weight", 1.0)), active=bool(s.get("active", True))))
            elif isinstance(s.get("text"), str):
                styles.append(ProjectStyle(name, text=s["text"], weight=float(s.get("weight", 1.0)),
                                           active=bool(s.get("active", True))))
            else:
                raise ProjectError(f"{where} ('{name}') has neither an image nor a text prompt.")
        regions = []
        for i, r in enumerate(_need(manifest, "regions", list, label)):
            where = f"{label}: region {i + 1}"
            if not isinstance(r, dict):
                raise ProjectError(f"{where} is not an object.")
            name = _need(r, "name", str, where)
            im = _read_image(zf, _need(r, "mask", str, where), "L", where)
            mask = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
            if content is not None and tuple(mask.shape) != tuple(content.shape[-2:]):
                raise ProjectError(f"{where} ('{name}'): the mask is {mask.shape[1]}x{mask.shape[0]} but the content is "
                                   f"{content.shape[-1]}x{content.shape[-2]}.")
            regions.append(ProjectRegion(name, mask, colour=str(r.get("colour", "#e0503c")), style=str(r.get("style", "")),
                                         strength=float(r.get("strength", 1.0)), feather=float(r.get("feather", 0.0)),
                                         visible=bool(r.get("visible", True))))
        results = []
        for i, k in enumerate(manifest.get("results", []) or []):
            where = f"{label}: result {i + 1}"
            results.append(KeptResult(str(k.get("name", f"result {i + 1}")),
                                      pil_to_tensor(_read_image(zf, _need(k, "image", str, where), "RGB", where)),
                                      strategy=str(k.get("strategy", "")), params=dict(k.get("params", {})),
                                      figures={a: float(b) for a, b in dict(k.get("figures", {})).items()},
                                      seconds=float(k.get("seconds", 0.0))))
        params = manifest.get("params", {})
        if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
            raise ProjectError(f"{label}: 'params' must map strategy names to parameter values.")
        size = manifest.get("size", 512)
        clip = manifest.get("clip") or {}
        if not isinstance(clip, dict) or not isinstance(clip.get("path", ""), str) \
                or not isinstance(clip.get("frame", 0), int):
            raise ProjectError(f"{label}: 'clip' must name a path and a frame number.")
        return Project(content=content, content_name=str(manifest.get("content_name", "")), styles=tuple(styles),
                       regions=tuple(regions), strategy=str(manifest.get("strategy", "gatys")), params=params,
                       results=tuple(results), size=int(size) if size else None, seed=int(manifest.get("seed", 0)),
                       gaps=str(manifest.get("gaps", "content")), clip=clip.get("path", ""),
                       clip_frame=max(0, clip.get("frame", 0)))
