"""The batch job file: TOML (read with the standard library's tomllib), one style setup and its inputs.

The schema (README "Batches"); every key but ``inputs`` and ``output`` is optional, and a
relative path is relative to the job file's folder, not to where the command runs::

    inputs = ["photos/", "more/*.jpg", "clips/walk.mp4"]   # files, folders, globs
    output = "out/{stem}_{strategy}.png"                   # a folder ("out/") or a pattern
    clip_output = "out/{stem}.mp4"
    report = "out/report.json"
    strategy = "universal"
    styles = ["starry.jpg", "wave.jpg"]
    style_weights = [0.7, 0.3]
    prompt = "an oil painting"           # strategies that take text
    source_prompt = "a photo"
    size = 1024                          # or print = "50x33cm" with dpi = 300
    dpi = 300
    bit_depth = 8
    allow_huge = false
    tile = 512
    working_size = 768
    feather = 0.0
    gaps = "content"                     # or "global"
    protect_faces = true                 # false; leave out for render's default
    seed = 0
    device = "auto"

    [params]                             # render --set
    alpha = 0.8

    [auto_regions]                       # render --auto-region GROUP=STYLE
    sky = "starry.jpg"
    people = "keep"

    [masks]                              # a mask per input: FOLDER/<input stem>.png painted with STYLE
    "masks/" = "wave.jpg"

    [video]                              # clips
    temporal = true
    blend = 0.8
    crf = 18
    fps = 24
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .settings import BatchSettings

TOP = {"inputs": list, "output": str, "clip_output": str, "report": str, "strategy": str, "styles": list,
       "style_weights": list, "prompt": str, "source_prompt": str, "size": int, "print": str, "dpi": (int, float),
       "bit_depth": int, "allow_huge": bool, "tile": int, "working_size": int, "feather": (int, float),
       "gaps": str, "protect_faces": bool, "seed": int, "device": str,
       "params": dict, "auto_regions": dict, "masks": dict, "video": dict}
VIDEO = {"temporal": bool, "blend": (int, float), "crf": int, "fps": (int, float)}
#: the TOML type names a user reads in an error
_TYPE_NAMES = {list: "a list", str: "a string", int: "a whole number", bool: "true or false", dict: "a table",
               (int, float): "a number"}


def is_job_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".toml"


@dataclass(frozen=True)
class Job:
    settings: BatchSettings
    #: inputs as paths the command can open (made absolute against the job file's folder)
    inputs: tuple[str, ...]
    report: str | None


def _check(table: dict, schema: dict, where: str) -> None:
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(schema)}.")
    for key, kind in schema.items():
        if key in table:
            value = table[key]
            bad = isinstance(value, bool) and kind in (int, (int, float))
            if bad or not isinstance(value, kind):
                raise InputError(f"{where}: '{key}' must be {_TYPE_NAMES[kind]}, got {value!r}.")


def _style(base: Path, source: str) -> str:
    """A style on the right of ``=``: a file relative to the job file; ``text:`` and ``keep`` as they are."""
    if source.startswith("text:") or source.strip().lower() == "keep":
        return source
    return str(base / source)


def load_job(path: str | Path) -> Job:
    """Read and check a job file; every problem is an InputError naming the file and the key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"Job file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read the job file {path}: {exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}.") from None
    where = str(path)
    _check(data, TOP, where)
    _check(data.get("video", {}), VIDEO, f"{where} [video]")
    for key in ("inputs", "output"):
        if key not in data:
            raise InputError(f"{where}: '{key}' is missing (inputs = [\"photos/\"], output = \"out/\").")
    if not data["inputs"] or not all(isinstance(i, str) for i in data["inputs"]):
        raise InputError(f"{where}: 'inputs' must be a list of files, folders or globs, got {data['inputs']!r}.")
    for key in ("styles", "style_weights"):
        kind = str if key == "styles" else (int, float)
        if not all(isinstance(v, kind) and not isinstance(v, bool) for v in data.get(key, [])):
            raise InputError(f"{where}: '{key}' must be a list of {'files' if kind is str else 'numbers'}.")
    for table in ("auto_regions", "masks"):
        if not all(isinstance(v, str) for v in data.get(table, {}).values()):
            raise InputError(f"{where} [{table}]: every value must be a style file, text:PROMPT or keep.")
    base = path.resolve().parent
    video = data.get("video", {})
    from .command import output_pattern

    output = output_pattern(str(base / data["output"]) + ("/" if data["output"].endswith("/") else ""))
    protect = data.get("protect_faces")
    settings = BatchSettings(
        styles=tuple(str(base / s) for s in data.get("styles", [])),
        style_weights=tuple(float(w) for w in data.get("style_weights", [])),
        prompt=data.get("prompt"), source_prompt=data.get("source_prompt"),
        strategy=data.get("strategy", "universal"),
        params=tuple((k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in data.get("params", {}).items()),
        size=data.get("size"), print_size=data.get("print"), dpi=data.get("dpi"), bit_depth=data.get("bit_depth", 8),
        allow_huge=data.get("allow_huge", False), tile=data.get("tile"), working_size=data.get("working_size"),
        auto_regions=tuple(f"{g}={_style(base, s)}" for g, s in data.get("auto_regions", {}).items()),
        mask_regions=tuple((str(base / f), _style(base, s)) for f, s in data.get("masks", {}).items()),
        feather=float(data.get("feather", 0.0)), gaps=data.get("gaps"),
        protect_faces=None if protect is None else ("on" if protect else "off"),
        seed=data.get("seed", 0), device=data.get("device", "auto"),
        temporal="on" if video.get("temporal", True) else "off", blend=video.get("blend"), crf=video.get("crf"),
        fps=video.get("fps"), output=output,
        clip_output=str(base / data["clip_output"]) if "clip_output" in data else None)
    inputs = tuple(str(base / i) for i in data["inputs"])
    report = str(base / data["report"]) if "report" in data else None
    return Job(settings, inputs, report)
