"""Numbers are finite or refused (issue 31): NaN, infinities and integers past what their use can
take are a clear InputError naming the parameter or flag (exit 2), never a black picture written
over the previous file, never a traceback. Every CLI case fails before anything renders."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import cli
from engine import params as params_mod
from engine.errors import InputError
from engine.params import param
from engine.registry import segmenters, strategies
from engine.video import parse_position
from engine.video.reader import check_fps


# ---------------------------------------------------------------- every declared parameter
def _numeric_params():
    """(kind, plugin name, Params class, spec) for every int/float parameter of every registered plugin."""
    out = []
    for kind, registry in (("strategy", strategies), ("segmenter", segmenters)):
        for name, cls in registry.all().items():
            for spec in params_mod.specs(cls.Params):
                if spec.type in (int, float) and not spec.choices:
                    out.append(pytest.param(cls.Params, spec, id=f"{kind}-{name}-{spec.name}"))
    return out


NUMERIC = _numeric_params()
NON_FINITE = ["nan", "inf", "-inf", " NaN ", "Infinity", "1e400", float("nan"), float("inf"), float("-inf")]


def test_plugins_declare_numeric_params():
    """The property below runs over something: the built-ins alone have dozens of numbers."""
    assert len(NUMERIC) > 30
    assert not strategies.broken and not segmenters.broken


@pytest.mark.parametrize("params_cls, spec", NUMERIC)
def test_every_numeric_param_refuses_nan_inf_and_huge(params_cls, spec):
    """make() (the CLI's --set, the editor's form, presets, projects) and validate() (a Params built in
    code) refuse every non-finite value and a huge int, naming the parameter."""
    bad = [*NON_FINITE, 10**30, -(10**30), str(10**30)] + ([1e30, 2**31] if spec.type is int else [])
    for value in bad:
        with pytest.raises(InputError, match=f"^Parameter '{spec.name}': ") as info:
            params_mod.make(params_cls, {spec.name: value})
        if isinstance(value, float) and not math.isfinite(value):
            assert "not a finite number" in str(info.value)
    for value in (float("nan"), float("inf"), 10**30):
        built = dataclasses.replace(params_cls(), **{spec.name: value})
        with pytest.raises(InputError, match=f"^Parameter '{spec.name}': "):
            params_mod.validate(built)
    # the default (and a plain in-range string) still pass
    assert getattr(params_mod.make(params_cls, {spec.name: str(spec.default)}), spec.name) == spec.default


def test_nan_message_is_specific():
    with pytest.raises(InputError) as info:
        params_mod.make(strategies.get("adain").Params, {"alpha": "nan"})
    assert str(info.value) == "Parameter 'alpha': nan is not a finite number."


@dataclass(frozen=True)
class Unbounded:
    """A plugin's parameters with no declared range: finiteness and the int bound still hold."""

    amount: float = param(1.0, help="Any finite number.")
    count: int = param(3, help="Any int a C int holds.")


@pytest.mark.parametrize("name, value", [
    ("amount", "nan"), ("amount", float("inf")), ("amount", "-inf"), ("amount", 10**400),
    ("count", 10**30), ("count", "99999999999999999999"), ("count", 2**31), ("count", -(2**31)), ("count", 1e300),
])
def test_params_without_a_range_still_refuse(name, value):
    with pytest.raises(InputError, match=f"^Parameter '{name}': "):
        params_mod.make(Unbounded, {name: value})


def test_params_without_a_range_take_big_finite_values():
    p = params_mod.make(Unbounded, {"amount": "1e300", "count": str(2**31 - 1)})
    assert (p.amount, p.count) == (1e300, 2**31 - 1)


def test_a_declared_bound_past_the_int_limit_is_honoured():
    @dataclass(frozen=True)
    class Wide:
        seed: int = param(0, min=0, max=2**63 - 1, help="A 64-bit seed.")

    assert params_mod.make(Wide, {"seed": str(2**40)}).seed == 2**40
    with pytest.raises(InputError, match="Parameter 'seed'"):
        params_mod.make(Wide, {"seed": 2**63})


def test_long_values_are_shortened_in_messages():
    long = "9" * 100_000
    for values in ({"alpha": "x" * 100_000}, {"alpha": long}, {"y" * 100_000: "1"}):
        with pytest.raises(InputError) as info:
            params_mod.make(strategies.get("adain").Params, values)
        assert len(str(info.value)) < 400 and "(100000 characters)" in str(info.value)
    with pytest.raises(InputError) as info:
        params_mod.parse_assignments(["z" * 100_000])
    assert len(str(info.value)) < 200


# ---------------------------------------------------------------- clip positions and frame rates
@pytest.mark.parametrize("text, fragment", [
    ("nans", "A clip position: nan is not a finite number."),
    ("infs", "A clip position: inf is not a finite number."),
    ("1e308s", "A clip position: 1e308 is above the maximum"),
    ("99999999999999999999999", "A clip position: 99999999999999999999999 is above the maximum"),
    ("99999999999:00:00", "is above the maximum"),
    ("-1s", "must not be negative"),
])
def test_clip_positions_are_finite_and_bounded(text, fragment):
    with pytest.raises(InputError, match="^A clip position") as info:
        parse_position(text)
    assert fragment in str(info.value)


def test_a_clip_position_error_names_its_flag():
    with pytest.raises(InputError, match="^--end: nan is not a finite number"):
        parse_position("nans", "--end")


def test_good_clip_positions_still_parse():
    assert parse_position("12").frames == 12
    assert parse_position("1.5s").seconds == 1.5
    assert parse_position("1:02:03").seconds == 3723


@pytest.mark.parametrize("fps", [float("nan"), float("inf"), 0, 0.0, -24, 1e308, "nan"])
def test_fps_is_finite_and_positive(fps):
    with pytest.raises(InputError, match="^--fps: "):
        check_fps(fps)


def test_good_fps():
    assert check_fps(None) is None and check_fps(23.976) == 23.976 and check_fps(1000) == 1000


# ---------------------------------------------------------------- the command line
PREVIOUS = b"previous render: must survive"


@pytest.fixture()
def files(tmp_path) -> dict[str, Path]:
    """A 64x48 content, a 32 px style, a half mask, a folder of two frames, and previous outputs."""
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    (d / "frames").mkdir(parents=True)
    content = Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8))
    content.save(d / "content.png")
    for i in (1, 2):
        content.save(d / "frames" / f"frame_{i:04d}.png")
    Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(d / "style.png")
    mask = np.zeros((48, 64), np.uint8)
    mask[:24] = 255
    Image.fromarray(mask).save(d / "mask.png")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("out.png", "out.mp4"):
        (out / name).write_bytes(PREVIOUS)
    return {"content": d / "content.png", "style": d / "style.png", "mask": d / "mask.png",
            "frames": d / "frames", "out": out}


def untouched(files) -> bool:
    return (sorted(p.name for p in files["out"].iterdir()) == ["out.mp4", "out.png"]
            and all((files["out"] / n).read_bytes() == PREVIOUS for n in ("out.png", "out.mp4")))


def run(files, capsys, *extra: str, content: str = "content", out: str = "out.png") -> tuple[int, str]:
    args = ["render", str(files[content]), "-s", str(files["style"]), "-q", "-o", str(files["out"] / out)]
    code = cli.main([*args, *[a.format(**{k: str(v) for k, v in files.items()}) for a in extra]])
    return code, capsys.readouterr().err


IMAGE_CASES = [
    (["--strategy", "adain", "--set", "alpha=nan"], "Parameter 'alpha': nan is not a finite number."),
    (["--strategy", "universal", "--set", "alpha=nan"], "Parameter 'alpha': nan is not a finite number."),
    (["--strategy", "adain", "-s", "{style}", "--style-weights", "nan,1"], "--style-weights: nan is not a finite number."),
    (["--strategy", "multiscale", "--set", "style_weight=nan"], "Parameter 'style_weight': nan is not a finite number."),
    (["--strategy", "multiscale", "--set", "init_alpha=nan"], "Parameter 'init_alpha': nan is not a finite number."),
    (["--strategy", "universal", "--set", "style_scale=nan"], "Parameter 'style_scale': nan is not a finite number."),
    (["--strategy", "adain", "--set", "style_scale=nan"], "Parameter 'style_scale': nan is not a finite number."),
    (["--strategy", "multiscale", "--set", "style_scale=nan"], "Parameter 'style_scale': nan is not a finite number."),
    (["--strategy", "multiscale", "--set", "scale_factor=nan"], "Parameter 'scale_factor': nan is not a finite number."),
    (["--strategy", "multiscale", "--set", "lr=nan"], "Parameter 'lr': nan is not a finite number."),
    (["--strategy", "universal", "--region", "{mask}={style}", "--feather", "nan"], "--feather: nan is not a finite number."),
    (["--strategy", "universal", "--region", "{mask}={style}", "--feather", "1e308"], "--feather: 1e+308 is above the maximum"),
    (["--strategy", "universal", "--region", "{mask}={style}", "--feather", "-50"], "--feather: -50.0 is below the minimum 0"),
    (["--strategy", "adain", "--seed", "99999999999999999999999"], "--seed: 99999999999999999999999 is above the maximum"),
    (["--strategy", "adain", "--seed", "-1"], "--seed: -1 is below the minimum 0"),
    (["--strategy", "adain", "--style-weights", "inf"], "--style-weights: inf is not a finite number."),
    (["--strategy", "adain", "-s", "{style}", "--style-weights", "1e308,1e308"], "--style-weights: 1e+308 is above"),
    (["--strategy", "adain", "--size", "99999999999999999999"], "--size: 99999999999999999999 is above the maximum"),
]


@pytest.mark.parametrize("extra, message", IMAGE_CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_cli_refuses_bad_numbers_and_keeps_the_previous_file(files, capsys, extra, message):
    code, err = run(files, capsys, *extra)
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert untouched(files)


@pytest.mark.parametrize("extra, message", [
    (["--start", "nans"], "--start: nan is not a finite number."),
    (["--start", "1e308s"], "--start: 1e308 is above the maximum"),
    (["--end", "infs"], "--end: inf is not a finite number."),
    (["--fps", "nan"], "--fps: nan is not a finite number."),
    (["--fps", "0"], "--fps: 0.0 must be above 0."),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_cli_refuses_bad_clip_numbers(files, capsys, extra, message):
    code, err = run(files, capsys, "--strategy", "adain", *extra, content="frames", out="out.mp4")
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert untouched(files)


@pytest.mark.parametrize("value", ["x" * 100_000, "7" * 100_000], ids=["text", "digits"])
def test_cli_shortens_a_huge_set_value(files, capsys, value):
    code, err = run(files, capsys, "--strategy", "adain", "--set", "alpha=" + value)
    assert code == 2 and "Parameter 'alpha'" in err and "(100000 characters)" in err
    assert len(err) < 400
    assert untouched(files)


def test_segment_refuses_a_nan_parameter(files, capsys, tmp_path):
    masks = tmp_path / "masks"
    code = cli.main(["segment", str(files["content"]), "--method", "clusters", "--set", "colour_weight=nan",
                     "-o", str(masks)])
    err = capsys.readouterr().err
    assert code == 2 and "Parameter 'colour_weight': nan is not a finite number." in err
    assert not masks.exists()


@pytest.mark.parametrize("field, value", [("feather", float("nan")), ("feather", 1e308), ("feather", -50.0),
                                          ("strength", float("nan")), ("keep_shape", float("inf"))])
def test_a_region_built_in_code_refuses_non_finite_and_out_of_range_numbers(field, value):
    """The editor and scripts build Regions directly (no CLI flag in between)."""
    import torch

    from engine.errors import InputError
    from engine.job import Region, StyleSource

    with pytest.raises(InputError, match=f"Region 'r': {field.replace('_', ' ')}"):
        Region(mask=torch.ones(8, 8), style=StyleSource(text="ink"), name="r", **{field: value})
