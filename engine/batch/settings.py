"""One style setup for a whole batch: what ``brushwork render`` takes, less the input and output.

A frozen dataclass of strings and numbers, so it pickles to any process (a Ray worker), and
:meth:`BatchSettings.render_argv` turns it back into ``render``'s own flags: a batch item runs
exactly the code a single ``brushwork render`` runs, and its output is the same file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import string
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from .. import params as params_mod
from ..errors import InputError

#: the placeholders an output pattern may use
PATTERN_FIELDS = ("stem", "name", "strategy", "suffix")
#: where the outputs go when ``-o`` names a folder
DEFAULT_PATTERN = "{stem}_{strategy}.png"
#: a clip's output beside the pictures' when the pattern ends in a picture format
CLIP_SUFFIX = ".mp4"
#: the mask-per-input files looked for, by the input's stem, in a mask folder
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".bmp")
#: the pixel results do not depend on these (where the files go, how loud, which device when
#: several are about the same): changing them re-renders nothing
NOT_HASHED = frozenset({"output", "clip_output", "device", "quiet"})
#: what only a clip's frames depend on (a new --crf re-renders the clips, not 200 photos), and
#: what only a picture's does (a clip refuses these, so they cannot change one)
CLIP_ONLY = frozenset({"temporal", "blend", "crf", "fps"})
PICTURE_ONLY = frozenset({"print_size", "dpi", "bit_depth", "allow_huge", "tile", "working_size"})


def _check_pattern(pattern: str, what: str) -> None:
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as exc:
        raise InputError(f"{what} '{pattern}' is not a valid pattern ({exc}).") from None
    unknown = sorted({n for n in names if n not in PATTERN_FIELDS})
    if unknown or "" in names:
        raise InputError(f"{what} '{pattern}' uses {{{', '.join(unknown) or ''}}}; a pattern may use "
                         + ", ".join("{" + f + "}" for f in PATTERN_FIELDS) + ".")


def _file_hash(path: str) -> str:
    from ..weights import sha256_of

    try:
        return sha256_of(Path(path))
    except OSError as exc:
        raise InputError(f"Cannot read {path}: {exc.strerror or exc}.") from None


def _source_hash(source: str) -> str:
    """A region's style from the right of ``=``: a file by its content, text and ``keep`` as they are."""
    if source.startswith("text:") or source.strip().lower() == "keep":
        return source
    return "sha256:" + _file_hash(source)


@dataclass(frozen=True)
class BatchSettings:
    """Everything ``brushwork render`` needs but the input; the same for every item of a batch."""

    #: style image files and their relative weights (empty: all 1)
    styles: tuple[str, ...] = ()
    style_weights: tuple[float, ...] = ()
    prompt: str | None = None
    source_prompt: str | None = None
    strategy: str = "universal"
    #: strategy parameters as ``render --set`` takes them: (("alpha", "0.8"), ...), validated
    #: against the strategy's declared Params
    params: tuple[tuple[str, str], ...] = ()
    size: int | None = None
    print_size: str | None = None
    dpi: float | None = None
    bit_depth: int = 8
    allow_huge: bool = False
    tile: int | None = None
    working_size: int | None = None
    #: regions by semantic group, as ``render --auto-region`` takes them: "sky=starry.jpg"
    auto_regions: tuple[str, ...] = ()
    #: a mask per input: ("masks/", "starry.jpg") paints ``masks/<input stem>.png`` with starry.jpg
    mask_regions: tuple[tuple[str, str], ...] = ()
    feather: float = 0.0
    gaps: str | None = None
    #: "on", "off" or None (render's default: protect when the face model is there)
    protect_faces: str | None = None
    seed: int = 0
    device: str = "auto"
    #: clips
    temporal: str = "on"
    blend: float | None = None
    crf: int | None = None
    fps: float | None = None
    #: where each output goes: {stem}, {name} (the input's file name), {strategy}, {suffix}
    output: str = "out/" + DEFAULT_PATTERN
    #: a clip's output (None: the picture pattern with a video ending)
    clip_output: str | None = None
    quiet: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        from ..registry import strategies

        strategy_cls = strategies.get(self.strategy)
        keys = [k for k, _ in self.params]
        params_mod.make(strategy_cls.Params, params_mod.parse_assignments([f"{k}={v}" for k, v in self.params]))
        if len(set(keys)) != len(keys):
            raise InputError(f"A parameter is set twice: {', '.join(sorted(k for k in set(keys) if keys.count(k) > 1))}.")
        if self.style_weights and len(self.style_weights) != len(self.styles):
            raise InputError(f"{len(self.style_weights)} style weights for {len(self.styles)} styles.")
        if not self.styles and not self.prompt and not self.auto_regions and not self.mask_regions:
            raise InputError("A batch needs a style: -s STYLE.jpg, --prompt, --auto-region or --mask-dir.")
        _check_pattern(self.output, "The output pattern")
        if self.clip_output is not None:
            _check_pattern(self.clip_output, "The clip output pattern")
        for folder, style in self.mask_regions:
            if not folder or not style:
                raise InputError(f"A mask folder needs a folder and a style, got '{folder}={style}'.")
        # the numbers are checked as render checks them, once for the batch, not per item
        from ..cli import check_render_numbers, make_parser

        check_render_numbers(make_parser().parse_args(self._argv("input.png", "out.png", ())))

    # ---------------------------------------------------------------- per item
    def output_for(self, input_path: str | Path, clip: bool = False) -> Path:
        """The output path of one input, from the pattern."""
        p = Path(input_path)
        pattern = self.clip_output if clip and self.clip_output else self.output
        if clip and not self.clip_output:
            out = Path(pattern.format(stem=p.stem, name=p.name, strategy=self.strategy, suffix=p.suffix))
            from ..video.writer import FORMATS

            return out if out.suffix.lower() in FORMATS else out.with_suffix(CLIP_SUFFIX)
        return Path(pattern.format(stem=p.stem, name=p.name, strategy=self.strategy, suffix=p.suffix))

    def masks_for(self, input_path: str | Path) -> tuple[tuple[Path, str], ...]:
        """Each mask folder's mask for this input (by its stem) with the folder's style; an
        InputError naming the folder when one has none."""
        stem = Path(input_path).stem
        found = []
        for folder, style in self.mask_regions:
            hits = [Path(folder) / (stem + s) for s in MASK_SUFFIXES if (Path(folder) / (stem + s)).is_file()]
            if not hits:
                raise InputError(f"No mask for {Path(input_path).name} in {folder} (looked for {stem}.png, "
                                 f"{stem}.jpg, ...).")
            found.append((hits[0], style))
        return tuple(found)

    def render_argv(self, input_path: str | Path, output: str | Path) -> list[str]:
        """``brushwork render``'s arguments for one input (mask per input resolved): a batch item
        is parsed by render's own parser, so it renders what that command would."""
        return self._argv(input_path, output, self.masks_for(input_path))

    def _argv(self, input_path, output, masks: tuple[tuple[Path, str], ...]) -> list[str]:
        argv = ["render", str(input_path), "-o", str(output), "--strategy", self.strategy, "--seed", str(self.seed),
                "--device", self.device, "--feather", repr(self.feather), "--bit-depth", str(self.bit_depth),
                "--temporal", self.temporal]
        for s in self.styles:
            argv += ["-s", s]
        if self.style_weights:
            argv += ["--style-weights", ",".join(repr(float(w)) for w in self.style_weights)]
        for k, v in self.params:
            argv += ["--set", f"{k}={v}"]
        for spec in self.auto_regions:
            argv += ["--auto-region", spec]
        for mask, style in masks:
            argv += ["--region", f"{mask}={style}"]
        for flag, value in (("--prompt", self.prompt), ("--source-prompt", self.source_prompt),
                            ("--size", self.size), ("--print", self.print_size), ("--dpi", self.dpi),
                            ("--tile", self.tile), ("--working-size", self.working_size), ("--gaps", self.gaps),
                            ("--protect-faces", self.protect_faces), ("--blend", self.blend), ("--crf", self.crf),
                            ("--fps", self.fps)):
            if value is not None:
                argv += [flag, str(value)]
        if self.allow_huge:
            argv.append("--allow-huge")
        if self.quiet:
            argv.append("-q")
        return argv

    # ---------------------------------------------------------------- identity
    def hashed_fields(self, kind: str | None = None) -> dict:
        """What decides the pixels of a ``kind`` of item ("picture", "clip"; None: both), with every
        file named replaced by its content's sha256 (a style moved or touched is the same style;
        one edited is not)."""
        skip = NOT_HASHED | {"picture": CLIP_ONLY, "clip": PICTURE_ONLY}.get(kind, frozenset())
        out = {}
        for f in dataclasses.fields(self):
            if f.name in skip:
                continue
            out[f.name] = getattr(self, f.name)
        out["styles"] = [_file_hash(s) for s in self.styles]
        out["auto_regions"] = [g.partition("=")[0] + "=" + _source_hash(g.partition("=")[2]) for g in self.auto_regions]
        # the masks themselves are each item's input (see BatchItem.input_hash); their style is the setting
        out["mask_regions"] = [_source_hash(style) for _, style in self.mask_regions]
        out["brushwork"] = __version__
        return out

    def settings_hash(self, kind: str | None = None) -> str:
        """A sha256 of :meth:`hashed_fields` for a ``kind`` of item: equal in every process and on
        every machine that sees the same style files."""
        text = json.dumps(self.hashed_fields(kind), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
