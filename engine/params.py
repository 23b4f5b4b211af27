"""Strategy parameters, declared once.

A strategy's ``Params`` is a frozen dataclass whose fields are made with :func:`param`. The
CLI options (``--set key=value``), the editor's form and validation are all generated from
that declaration.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .errors import InputError


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


def _coerce(spec: ParamSpec, value: Any) -> Any:
    tp = spec.type
    if isinstance(value, str) and tp is not str:
        text = value.strip()
        try:
            if tp is bool:
                low = text.lower()
                if low not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                    raise ValueError
                value = low in {"1", "true", "yes", "on"}
            elif tp is int:
                value = int(text)
            elif tp is float:
                value = float(text)
        except ValueError:
            raise InputError(f"Parameter '{spec.name}': expected {tp.__name__}, got '{value}'. {spec.help}") from None
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise InputError(f"Parameter '{spec.name}': expected {tp.__name__}, got {value!r}.")
    return value


def _check(spec: ParamSpec, value: Any) -> None:
    if spec.choices and value not in spec.choices:
        raise InputError(f"Parameter '{spec.name}': '{value}' is not one of {', '.join(map(str, spec.choices))}.")
    if spec.min is not None and value < spec.min:
        raise InputError(f"Parameter '{spec.name}': {value} is below the minimum {spec.min}.")
    if spec.max is not None and value > spec.max:
        raise InputError(f"Parameter '{spec.name}': {value} is above the maximum {spec.max}.")


def make(params_cls: type, values: Mapping[str, Any] | None = None) -> Any:
    """Build a validated Params instance from defaults plus ``values`` (strings are parsed)."""
    values = dict(values or {})
    by_name = {s.name: s for s in specs(params_cls)}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise InputError(f"Unknown parameter(s) {', '.join(unknown)}; known: {', '.join(by_name)}.")
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
            raise InputError(f"Expected key=value, got '{item}'.")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v
    return out
