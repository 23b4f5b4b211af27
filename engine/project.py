"""The ``.brushwork`` project file: one zip holding everything needed to reopen a session.

Layout (version 1)::

    manifest.json          format name + version, names, params, region settings, figures
    content.png            the content image (lossless)
    styles/<i>.png         style images (text styles live in the manifest only)
    masks/<i>.png          one 8-bit greyscale mask per region, content-sized
    results/<i>.png        kept results
    segments/<i>.png       the photo's semantic groups (sky, buildings, ...), kept so reopening
                           a project never waits on the segmenter; faces live in the manifest

Qt-free so the CLI and scripts can read and write projects too. Everything is checked on
load: the manifest against one declared schema (types, ranges, finite numbers), every entry
within a size limit before it is inflated; a damaged or foreign file raises :class:`ProjectError`
naming the file and the field, never a half-built project. Saving is atomic, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from . import params as params_mod
from .errors import BrushworkError, InputError
from .images import atomic_write, check_pixels, max_pixels, pil_to_tensor, tensor_to_pil
from .scene.faces import Face

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
    keep_shape: float = 0.0


@dataclass(frozen=True, eq=False)
class ProjectSegment:
    """One semantic group found in the content (``sky``, ``buildings``...): its soft mask and colour."""

    name: str
    mask: torch.Tensor
    colour: str = "#808080"


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
    #: what is in the content, computed once per photo (engine.scene): faces and semantic groups
    faces: tuple[Face, ...] = ()
    protect_faces: bool = True
    segments: tuple[ProjectSegment, ...] = ()


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
        "protect_faces": project.protect_faces,
        "faces": [{"box": [f.x0, f.y0, f.x1, f.y1], "score": f.score, "keypoints": [list(p) for p in f.keypoints]}
                  for f in project.faces],
        "segments": [],
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
                 "strength": r.strength, "feather": r.feather, "visible": r.visible, "keep_shape": r.keep_shape}
        files[entry["mask"]] = _png_bytes(mask_to_pil(r.mask))
        manifest["regions"].append(entry)
    for i, k in enumerate(project.results):
        entry = {"name": k.name, "image": f"results/{i}.png", "strategy": k.strategy,
                 "params": dict(k.params), "figures": dict(k.figures), "seconds": k.seconds}
        files[entry["image"]] = _png_bytes(tensor_to_pil(k.image))
        manifest["results"].append(entry)
    for i, g in enumerate(project.segments):
        entry = {"name": g.name, "colour": g.colour, "mask": f"segments/{i}.png"}
        files[entry["mask"]] = _png_bytes(mask_to_pil(g.mask))
        manifest["segments"].append(entry)

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr("manifest.json", json.dumps(manifest, indent=2, allow_nan=False),
                        compress_type=zipfile.ZIP_DEFLATED)
            for name, data in files.items():  # PNGs are compressed already
                zf.writestr(name, data, compress_type=zipfile.ZIP_STORED)

    try:
        return atomic_write(path, write)
    except (TypeError, ValueError) as exc:  # a param value JSON cannot hold (an object, NaN)
        raise ProjectError(f"Could not save '{path.name}': {exc}.") from exc


# ---------------------------------------------------------------- the manifest's schema
# Every key the manifest may hold, declared once: its JSON type, its default when missing, whether
# it may be null, and its range. A manifest is checked against these tables in full before any
# picture is decoded, so a bad file is refused whole (the editor then keeps the open document).
_REQUIRED = object()
#: the manifest is JSON text of a few KB (a project with 500 regions and results is ~150 KB)
MANIFEST_LIMIT = 4 << 20
#: the longest string the manifest may hold (names, prompts, paths)
TEXT_LIMIT = 1 << 16
INT_MAX = params_mod.INT_LIMIT  # what the editor's spin boxes and torch.manual_seed take


@dataclass(frozen=True)
class Key:
    """One manifest key: type, default (``_REQUIRED`` when it must be there), nullability, range."""

    name: str
    kind: type
    default: Any = _REQUIRED
    null: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None


TOP_KEYS = (
    Key("version", int, min=1), Key("content", str, None, null=True), Key("content_name", str, ""),
    Key("strategy", str, "gatys"), Key("params", dict, {}), Key("size", int, 512, null=True, min=16, max=16384),
    Key("seed", int, 0, min=0, max=INT_MAX), Key("gaps", str, "content", choices=("content", "global")),
    Key("clip", dict, None, null=True), Key("styles", list), Key("regions", list), Key("results", list, [], null=True),
    Key("faces", list, []), Key("protect_faces", bool, True), Key("segments", list, []),
)
STYLE_KEYS = (Key("name", str), Key("image", str, None, null=True), Key("text", str, None, null=True),
              Key("weight", float, 1.0, min=0.0, max=1000.0), Key("active", bool, True))
REGION_KEYS = (Key("name", str), Key("mask", str), Key("colour", str, "#e0503c"), Key("style", str, ""),
               Key("strength", float, 1.0, min=0.0, max=1.0), Key("feather", float, 0.0, min=0.0, max=1000.0),
               Key("visible", bool, True), Key("keep_shape", float, 0.0, min=0.0, max=1.0))
RESULT_KEYS = (Key("name", str, ""), Key("image", str), Key("strategy", str, ""), Key("params", dict, {}),
               Key("figures", dict, {}), Key("seconds", float, 0.0, min=0.0, max=1e9))
CLIP_KEYS = (Key("path", str, ""), Key("frame", int, 0, min=0, max=INT_MAX))
FACE_KEYS = (Key("box", list), Key("score", float, 1.0, min=0.0, max=1.0), Key("keypoints", list, []))
SEGMENT_KEYS = (Key("name", str), Key("colour", str, "#808080"), Key("mask", str))


def _value(v: Any, key: Key, where: str) -> Any:
    """``v`` checked against ``key``; a ProjectError that names the key and the file otherwise."""
    if v is None:
        if key.null:
            return None
        raise ProjectError(f"{where}: '{key.name}' is null; it must be {_kind_name(key.kind)}.")
    if key.kind is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)
    if key.kind is int and isinstance(v, float) and v.is_integer() and abs(v) <= INT_MAX:
        v = int(v)
    if not isinstance(v, key.kind) or (key.kind in (int, float) and isinstance(v, bool)):
        raise ProjectError(f"{where}: '{key.name}' must be {_kind_name(key.kind)}, not {_show(v)}.")
    if isinstance(v, str) and len(v) > TEXT_LIMIT:
        raise ProjectError(f"{where}: '{key.name}' is {len(v)} characters long (at most {TEXT_LIMIT}).")
    if key.kind is float and not math.isfinite(v):
        raise ProjectError(f"{where}: '{key.name}' must be a finite number, not {v}.")
    if (key.min is not None and v < key.min) or (key.max is not None and v > key.max):
        raise ProjectError(f"{where}: '{key.name}' is {v}; it must be between {_num(key.min)} and {_num(key.max)}.")
    if key.choices is not None and v not in key.choices:
        raise ProjectError(f"{where}: '{key.name}' is {_show(v)}; it must be one of {', '.join(key.choices)}.")
    return v


def _read(d: Any, keys: tuple[Key, ...], where: str) -> dict[str, Any]:
    """The keys of one manifest part, each checked and defaulted; unknown keys are ignored
    (a later minor version may add some)."""
    if not isinstance(d, dict):
        raise ProjectError(f"{where} must be an object, not {_show(d)}.")
    out = {}
    for key in keys:
        if key.name not in d:
            if key.default is _REQUIRED:
                raise ProjectError(f"{where}: '{key.name}' is missing from the manifest.")
            out[key.name] = key.default
        else:
            out[key.name] = _value(d[key.name], key, where)
    return out


def _kind_name(kind: type) -> str:
    return {str: "text", int: "a whole number", float: "a number", bool: "true or false", list: "a list",
            dict: "an object"}.get(kind, kind.__name__)


def _show(v: Any) -> str:
    """A value as a message can show it: its type, and its start when it is short text or a number."""
    if isinstance(v, (bool, int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v if len(v) <= 40 else v[:40] + "…")
    return {list: "a list", dict: "an object"}.get(type(v), type(v).__name__)


def _num(x: float | None) -> str:
    return "any" if x is None else f"{x:g}"


def _scalars(d: dict, where: str) -> dict[str, Any]:
    """A mapping of names to JSON scalars (parameter values, figures), each finite."""
    out = {}
    for k, v in d.items():
        if not isinstance(v, (str, int, float, bool)) and v is not None:
            raise ProjectError(f"{where}: '{k}' must be a plain value, not {_show(v)}.")
        if isinstance(v, float) and not math.isfinite(v):
            raise ProjectError(f"{where}: '{k}' must be a finite number, not {v}.")
        if isinstance(v, str) and len(v) > TEXT_LIMIT:
            raise ProjectError(f"{where}: '{k}' is {len(v)} characters long (at most {TEXT_LIMIT}).")
        out[k] = v
    return out


def _strategy_params(params: dict, where: str) -> dict[str, dict[str, Any]]:
    """Per strategy, its saved values; those of an installed strategy are checked against its
    declaration (types, ranges, choices), so the editor's form can always show them."""
    from .registry import strategies

    out = {}
    for name, values in params.items():
        here = f"{where}: the parameters of '{name}'"
        if not isinstance(values, dict):
            raise ProjectError(f"{here} must be an object, not {_show(values)}.")
        values = _scalars(values, here)
        try:
            cls = strategies.get(name) if name in strategies.names() else None
        except BrushworkError:  # a plugin that fails to load: keep its values as they are
            cls = None
        if cls is not None:
            known = {s.name for s in params_mod.specs(cls.Params)}
            try:
                checked = params_mod.make(cls.Params, {k: v for k, v in values.items() if k in known})
            except InputError as exc:
                raise ProjectError(f"{here}: {exc}") from None
            # values the strategy no longer declares are dropped: nothing could show or use them
            values = {k: getattr(checked, k) for k in values if k in known}
        out[name] = values
    return out


def _face(d: Any, where: str) -> dict[str, Any]:
    f = _read(d, FACE_KEYS, where)
    box = f["box"]
    if len(box) != 4 or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                and -1.0 <= x <= 2.0 for x in box) or box[0] >= box[2] or box[1] >= box[3]:
        raise ProjectError(f"{where}: 'box' must be four numbers x0 < x1, y0 < y1 (fractions of the picture).")
    kps = f["keypoints"]
    if len(kps) > 16 or not all(isinstance(p, list) and len(p) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in p) for p in kps):
        raise ProjectError(f"{where}: 'keypoints' must be a list of [x, y] pairs.")
    return dict(box=tuple(float(x) for x in box), score=f["score"], keypoints=tuple((float(x), float(y)) for x, y in kps))


def parse_manifest(manifest: Any, label: str) -> dict[str, Any]:
    """The whole manifest checked against the schema above, before any picture is decoded."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ProjectError(f"'{label}' is not a Brushwork project (manifest format is {_show(found) if found is not None else None}).")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ProjectError(f"'{label}': the project version {_show(version)} is invalid.")
    if version > VERSION:
        raise ProjectError(f"'{label}' was saved by a newer Brushwork (project version {version}; this one reads up "
                           f"to {VERSION}). Update Brushwork to open it.")
    top = _read(manifest, TOP_KEYS, f"'{label}'")
    clip = top["clip"] or {}
    try:
        top["clip"] = _read(clip, CLIP_KEYS, f"'{label}': clip")
    except ProjectError:
        raise ProjectError(f"'{label}': 'clip' must name a path and a frame number.") from None
    top["params"] = _strategy_params(top["params"], f"'{label}'")
    top["styles"] = [_read(s, STYLE_KEYS, f"'{label}': style {i + 1}") for i, s in enumerate(top["styles"])]
    for i, s in enumerate(top["styles"]):
        if not s["image"] and s["text"] is None:
            raise ProjectError(f"'{label}': style {i + 1} ('{s['name']}') has neither an image nor a text prompt.")
    top["regions"] = [_read(r, REGION_KEYS, f"'{label}': region {i + 1}") for i, r in enumerate(top["regions"])]
    results = []
    for i, k in enumerate(top["results"] or []):
        where = f"'{label}': result {i + 1}"
        k = _read(k, RESULT_KEYS, where)
        k["params"] = _scalars(k["params"], f"{where}: params")
        figures = _scalars(k["figures"], f"{where}: figures")
        bad = [n for n, v in figures.items() if not isinstance(v, (int, float)) or isinstance(v, bool)]
        if bad:
            raise ProjectError(f"{where}: figure '{bad[0]}' must be a number, not {_show(figures[bad[0]])}.")
        k["figures"] = {n: float(v) for n, v in figures.items()}
        results.append(k)
    top["results"] = results
    top["faces"] = [_face(f, f"'{label}': face {i + 1}") for i, f in enumerate(top["faces"])]
    top["segments"] = [_read(g, SEGMENT_KEYS, f"'{label}': segment {i + 1}") for i, g in enumerate(top["segments"])]
    return top


# ---------------------------------------------------------------- reading
def _member(zf: zipfile.ZipFile, member: str, limit: int, where: str) -> bytes:
    """One entry's bytes, refused past ``limit`` before it is inflated.

    The central directory's declared size is checked first; zipfile then stops inflating at
    that size, so a bomb that lies about it cannot run past the limit either.
    """
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise ProjectError(f"{where}: '{member}' is listed in the manifest but missing from the file.") from None
    if info.file_size > limit:
        raise ProjectError(f"{where}: '{member}' would inflate to {info.file_size / 2**20:.0f} MB, more than a "
                           f"project entry may ({limit / 2**20:.0f} MB); the file is damaged or not a real project.")
    try:
        with zf.open(info) as fh:
            data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:  # CRC errors, truncation
        raise ProjectError(f"{where}: '{member}' is damaged ({exc}).") from None
    if len(data) > limit:
        raise ProjectError(f"{where}: '{member}' is larger than a project entry may be ({limit / 2**20:.0f} MB).")
    return data


def _picture_limit() -> int:
    """Bytes a picture entry may inflate to: a 16-bit RGBA PNG of the most pixels Brushwork opens,
    plus its framing (a PNG is never larger than its raw pixels by more than a fraction)."""
    limit = max_pixels()
    return (8 * limit if limit is not None else 1 << 34) + (1 << 20)


def _read_image(zf: zipfile.ZipFile, member: str, mode: str, where: str) -> Image.Image:
    if not member or len(member) > 1024:
        raise ProjectError(f"{where}: the picture's entry name {_show(member)} is not valid.")
    data = _member(zf, member, _picture_limit(), where)
    try:
        im = Image.open(io.BytesIO(data))
        check_pixels(Path(member), im.width, im.height)
        im.load()
    except InputError as exc:
        raise ProjectError(f"{where}: {exc}") from None
    except Exception as exc:
        raise ProjectError(f"{where}: '{member}' is not a readable image ({exc}).") from None
    return im.convert(mode)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a project may hold")


def _mask(zf: zipfile.ZipFile, member: str, where: str, content: torch.Tensor | None, name: str) -> torch.Tensor:
    im = _read_image(zf, member, "L", where)
    mask = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0)
    if content is not None and tuple(mask.shape) != tuple(content.shape[-2:]):
        raise ProjectError(f"{where} ('{name}'): the mask is {mask.shape[1]}x{mask.shape[0]} but the content is "
                           f"{content.shape[-1]}x{content.shape[-2]}.")
    return mask


def load_project(path: str | Path) -> Project:
    """Read a project, checking every part; raises :class:`ProjectError` on anything wrong.

    All or nothing: the manifest is checked in full against its schema, every entry is read
    within its size limit, and only then is a :class:`Project` built.
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise ProjectError(f"No project file at '{path}'.")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ProjectError(f"'{label}' is not a Brushwork project (not a zip archive, or it is damaged).") from None
    with zf:
        if "manifest.json" not in zf.namelist():
            raise ProjectError(f"'{label}' has no manifest.json; it is not a Brushwork project.")
        raw = _member(zf, "manifest.json", MANIFEST_LIMIT, f"'{label}'")
        try:
            manifest = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except RecursionError:
            raise ProjectError(f"'{label}': manifest.json is damaged (nested too deeply).") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProjectError(f"'{label}': manifest.json is damaged ({exc}).") from None
        m = parse_manifest(manifest, label)

        content = pil_to_tensor(_read_image(zf, m["content"], "RGB", f"'{label}'")) if m["content"] else None
        styles = tuple(
            ProjectStyle(s["name"], image=pil_to_tensor(_read_image(zf, s["image"], "RGB", f"'{label}': style {i + 1}")),
                         weight=s["weight"], active=s["active"]) if s["image"]
            else ProjectStyle(s["name"], text=s["text"], weight=s["weight"], active=s["active"])
            for i, s in enumerate(m["styles"]))
        regions = tuple(
            ProjectRegion(r["name"], _mask(zf, r["mask"], f"'{label}': region {i + 1}", content, r["name"]),
                          colour=r["colour"], style=r["style"], strength=r["strength"], feather=r["feather"],
                          visible=r["visible"], keep_shape=r["keep_shape"])
            for i, r in enumerate(m["regions"]))
        results = tuple(
            KeptResult(k["name"] or f"result {i + 1}",
                       pil_to_tensor(_read_image(zf, k["image"], "RGB", f"'{label}': result {i + 1}")),
                       strategy=k["strategy"], params=k["params"], figures=k["figures"], seconds=k["seconds"])
            for i, k in enumerate(m["results"]))
        segments = tuple(
            ProjectSegment(g["name"], _mask(zf, g["mask"], f"'{label}': segment {i + 1}", content, g["name"]),
                           colour=g["colour"])
            for i, g in enumerate(m["segments"]))
        faces = tuple(Face(*f["box"], score=f["score"], keypoints=f["keypoints"]) for f in m["faces"])
        return Project(content=content, content_name=m["content_name"], styles=styles, regions=regions,
                       strategy=m["strategy"], params=m["params"], results=results, size=m["size"], seed=m["seed"],
                       gaps=m["gaps"], clip=m["clip"]["path"], clip_frame=m["clip"]["frame"],
                       faces=faces, protect_faces=m["protect_faces"], segments=segments)
