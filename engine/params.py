"""Strategy parameters, declared once.

A strategy's ``Params`` is a frozen dataclass whose fields are made with :func:`param`. The
CLI options (``--set key=value``), the editor's form and validation are all generated from
that declaration.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import InputError

#: the largest magnitude an int may have where its declaration gives no bound: a C int, what Qt's
#: spin boxes, torch's sizes and most libraries take
INT_LIMIT = 2**31 - 1
#: user values echoed in messages are cut to this many characters
SHOWN_CHARS = 60


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` for an error message: as typed (a string) or its repr, cut to ``limit`` characters."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    if len(text) <= limit:
        return text
    return f"{text[:limit - 3]}... ({len(text)} characters)"


def number(who: str, value: Any, kind: type = float, *, min: float | None = None, max: float | None = None,
           above: float | None = None, help: str = "") -> Any:
    """``value`` (a number, or a string as typed) as a finite ``kind`` (int or float) in range.

    The one rule for every number a user gives: NaN and infinities are refused, an int without a
    bound still fits ``INT_LIMIT``, ``min``/``max`` are inclusive and ``above`` is an exclusive
    minimum. Errors are InputErrors that start with ``who`` (``Parameter 'alpha'``, ``--feather``);
    ``help`` follows a value that is no number at all.
    """
    typed = None
    if isinstance(value, str):
        typed = value.strip()
        try:
            value = int(typed) if kind is int else float(typed)
        except ValueError:
            raise InputError(f"{who}: expected {kind.__name__}, got '{shown(typed)}'." + (f" {help}" if help else "")) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{who}: expected {kind.__name__}, got {shown(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{who}: {shown(typed or value)} is not a finite number.")
    if kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise InputError(f"{who}: expected a whole number, got {shown(value)}.")
            value = int(value)
        min = -INT_LIMIT if min is None else min
        max = INT_LIMIT if max is None else max
    elif kind is float:
        try:
            value = float(value)
        except OverflowError:  # an int past a float's range
            raise InputError(f"{who}: {shown(value)} is not a finite number.") from None
    shown_value = shown(typed if typed is not None else value)
    if above is not None and not value > above:
        raise InputError(f"{who}: {shown_value} must be above {above}.")
    if min is not None and value < min:
        raise InputError(f"{who}: {shown_value} is below the minimum {min}.")
    if max is not None and value > max:
        raise InputError(f"{who}: {shown_value} is above the maximum {max}.")
    return value


def param(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    step: float | None = None,
    choices: Sequence[Any] | None = None,
    label: str | None = None,
    advanced: bool = False,
    log: bool = False,
) -> Any:
    """A dataclass field carrying its range, step, choices and help text."""
    meta = dict(help=help, min=min, max=max, step=step, choices=tuple(choices) if choices else None,
                label=label, advanced=advanced, log=log)
    return field(default=default, metadata={"brushwork": meta})


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple | None = None
    label: str = ""
    advanced: bool = False
    log: bool = False

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["type"] = self.type.__name__
        return d


def specs(params_cls: type) -> list[ParamSpec]:
    hints = typing.get_type_hints(params_cls)
    out = []
    for f in dataclasses.fields(params_cls):
        meta = dict(f.metadata.get("brushwork", {"help": ""}))
        label = meta.pop("label", None) or f.name.replace("_", " ").capitalize()
        tp = hints[f.name]
        if typing.get_origin(tp) is typing.Literal:
            meta["choices"] = meta.get("choices") or typing.get_args(tp)
            tp = type(typing.get_args(tp)[0])
        out.append(ParamSpec(name=f.name, type=tp, default=f.default, label=label, **meta))
    return out


def _who(spec: ParamSpec) -> str:
    return f"Parameter '{spec.name}'"


def _coerce(spec: ParamSpec, value: Any) -> Any:
    tp = spec.type
    if tp in (int, float) and (isinstance(value, (str, int, float)) and not isinstance(value, bool)):
        return number(_who(spec), value, tp, min=spec.min, max=spec.max, help=spec.help)  # finite, in range
    if isinstance(value, str) and tp is not str:
        if tp is not bool or value.strip().lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
            raise InputError(f"{_who(spec)}: expected {tp.__name__}, got '{shown(value)}'. {spec.help}")
        value = value.strip().lower() in {"1", "true", "yes", "on"}
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise InputError(f"{_who(spec)}: expected {tp.__name__}, got {shown(value)}.")
    return value


def _check(spec: ParamSpec, value: Any) -> None:
    if spec.choices and value not in spec.choices:
        raise InputError(f"{_who(spec)}: '{shown(value)}' is not one of {', '.join(map(str, spec.choices))}.")
    if spec.type in (int, float) and not isinstance(value, bool):
        number(_who(spec), value, spec.type, min=spec.min, max=spec.max)  # finite, in range


def make(params_cls: type, values: Mapping[str, Any] | None = None) -> Any:
    """Build a validated Params instance from defaults plus ``values`` (strings are parsed)."""
    values = dict(values or {})
    by_name = {s.name: s for s in specs(params_cls)}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise InputError(f"Unknown parameter(s) {', '.join(shown(u) for u in unknown)}; known: {', '.join(by_name)}.")
    kwargs = {}
    for name, spec in by_name.items():
        value = _coerce(spec, values[name]) if name in values else spec.default
        _check(spec, value)
        kwargs[name] = value
    return params_cls(**kwargs)


def validate(params: Any) -> Any:
    """Check an existing Params instance against its declaration (ranges and choices)."""
    return make(type(params), {f.name: getattr(params, f.name) for f in dataclasses.fields(params)})


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """['steps=100', 'optimizer=adam'] -> {'steps': '100', ...}."""
    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"Expected key=value, got '{shown(item)}'.")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v
    return out
