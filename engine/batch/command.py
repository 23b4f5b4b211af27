"""``brushwork batch``: one style setup over a folder, files, globs or a TOML job file.

The folder form takes ``render``'s own flags (the same argparse actions, so the two never
drift apart) plus the batch's: ``-o`` a folder or an output pattern, ``--mask-dir``, ``--report``
and ``--ray``. Exit code 0 only when nothing failed; 130 after Ctrl+C, with the manifest
naming every output that is whole.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from .settings import DEFAULT_PATTERN, BatchSettings

#: render's flags a batch takes (what settings_from_args reads); not its input and output (the
#: batch's own), previews (for one picture), --start/--end (for one clip), nor a flag render gains
#: later until BatchSettings carries it
TAKEN = ("style", "style_weights", "prompt", "source_prompt", "auto_region", "feather", "gaps", "protect_faces",
         "strategy", "size", "print_size", "dpi", "allow_huge", "bit_depth", "tile", "working_size", "set", "seed",
         "device", "temporal", "blend", "crf", "fps", "quiet")
#: the extra that brings Ray
FARM_EXTRA = "brushwork[farm]"


def output_pattern(output: str) -> str:
    """``-o out/`` (or an existing folder) -> ``out/{stem}_{strategy}.png``; a pattern as it is."""
    if "{" in output:
        return output
    if output.endswith(("/", "\\")) or Path(output).is_dir() or not Path(output).suffix:
        return str(Path(output) / DEFAULT_PATTERN)
    raise InputError(f"-o {output}: give a folder (out/) or a pattern with {{stem}} (out/{{stem}}_{{strategy}}.png); "
                     "one file cannot hold a batch.")


def _mask_dir(spec: str) -> tuple[str, str]:
    folder, sep, style = spec.partition("=")
    if not sep or not folder or not style:
        raise InputError(f"--mask-dir expects FOLDER=STYLE.jpg (a mask per input, by its name), got '{spec}'.")
    return folder, style


def settings_from_args(args: argparse.Namespace) -> BatchSettings:
    """The batch's settings from render's flags as parsed."""
    weights = ()
    if args.style_weights:
        from ..cli import _parse_weights

        weights = tuple(_parse_weights(args.style_weights, len(args.style or [])))
    from ..params import parse_assignments

    return BatchSettings(
        styles=tuple(args.style or ()), style_weights=weights, prompt=args.prompt, source_prompt=args.source_prompt,
        strategy=args.strategy, params=tuple(parse_assignments(args.set or []).items()), size=args.size,
        print_size=args.print_size, dpi=args.dpi, bit_depth=args.bit_depth, allow_huge=args.allow_huge,
        tile=args.tile, working_size=args.working_size, auto_regions=tuple(args.auto_region or ()),
        mask_regions=tuple(_mask_dir(s) for s in args.mask_dir or ()), feather=args.feather, gaps=args.gaps,
        protect_faces=args.protect_faces, seed=args.seed, device=args.device, temporal=args.temporal,
        blend=args.blend, crf=args.crf, fps=args.fps, output=output_pattern(args.output),
        clip_output=args.clip_output)


def register(sub) -> None:
    """Add ``batch`` to the ``brushwork`` sub-commands (after ``render``, whose flags it takes)."""
    p = sub.add_parser("batch", help="one style setup over many pictures and clips, resumable",
                       description="Render a folder, files or globs (pictures and clips) with one style setup, "
                                   "or a TOML job file. Re-running skips what is done and current.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="a job file (.toml), or pictures, clips, folders, globs")
    p.add_argument("-o", "--output", default=None,
                   help="a folder (out/) or a pattern: {stem}, {name}, {strategy}, {suffix} (out/{stem}_{strategy}.png)")
    p.add_argument("--clip-output", help="pattern for clips (default: the output pattern ending in .mp4)")
    p.add_argument("--mask-dir", action="append", metavar="FOLDER=STYLE",
                   help="a mask per input: FOLDER/<input's stem>.png painted with STYLE (repeatable)")
    p.add_argument("--report", help="write done / skipped / failed with reasons as JSON here")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help=f"render on a Ray cluster (ADDRESS, 'auto'; none: a private local one); needs {FARM_EXTRA}")
    render = sub.choices["render"]
    group = p.add_argument_group("style setup", "as brushwork render takes them")
    taken = [a for a in render._actions if a.dest in TAKEN]
    for action in taken:  # argparse has no public way to share actions between sub-commands
        group._add_action(action)
    # with a job file these come from the file; only where and how loud the run is come from the command
    style_flags = tuple((a.dest, a.default, a.option_strings[-1]) for a in taken
                        if a.dest not in ("quiet", "device"))
    p.set_defaults(func=cmd_batch, style_flags=style_flags + (("output", None, "-o"), ("clip_output", None, "--clip-output"),
                                                               ("mask_dir", None, "--mask-dir")))


def _executor(args: argparse.Namespace):
    from .run import local_executor

    if args.ray is None:
        return local_executor
    try:
        from . import farm
    except ImportError as exc:
        raise InputError(f"--ray needs Ray: pip install '{FARM_EXTRA}' ({exc}).") from None
    return farm.make_executor(args.ray)


def cmd_batch(args: argparse.Namespace) -> int:
    from .inputs import expand_inputs
    from .jobfile import is_job_file, load_job
    from .progress import BatchBars
    from .run import run_batch, write_report

    if len(args.inputs) == 1 and is_job_file(args.inputs[0]):
        given = [flag for dest, default, flag in args.style_flags if getattr(args, dest) != default]
        if given:
            raise InputError(f"{', '.join(given)}: with a job file the style setup and outputs come from the file "
                             f"(only -q, --device, --report and --ray apply); put them in {args.inputs[0]}.")
        job = load_job(args.inputs[0])
        settings, specs, report_path = job.settings, job.inputs, args.report or job.report
        if args.device != "auto":
            import dataclasses

            settings = dataclasses.replace(settings, device=args.device)
    else:
        if args.output is None:
            raise InputError("-o is needed: a folder (out/) or a pattern (out/{stem}_{strategy}.png).")
        settings, specs, report_path = settings_from_args(args), args.inputs, args.report
    items = expand_inputs(specs, settings)
    executor = _executor(args)
    bars = BatchBars(quiet=args.quiet)
    try:
        report = run_batch(settings, items, executor, bars)
    except KeyboardInterrupt as exc:
        bars.close()
        from ..cli import Stopped

        print(f"{'stopped by ' + exc.name if isinstance(exc, Stopped) else 'interrupted'}: the finished outputs "
              "are kept and nothing partial was written; the same command resumes.", file=sys.stderr)
        return 128 + exc.signum if isinstance(exc, Stopped) else 130
    finally:
        bars.close()
    print(report.summary())
    if report_path:
        write_report(report, report_path)
        print(f"report: {report_path}")
    return 0 if report.ok else 1
