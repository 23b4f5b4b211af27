"""Params are declared once; parsing and validation come from the declaration."""

from __future__ import annotations

import pytest

from engine import params
from engine.errors import InputError
from engine.registry import strategies


def test_strings_are_parsed_to_declared_types():
    P = strategies.get("gatys").Params
    p = params.make(P, {"steps": "25", "style_weight": "5", "optimizer": "adam"})
    assert (p.steps, p.style_weight, p.optimizer) == (25, 5.0, "adam")


@pytest.mark.parametrize("values, fragment", [
    ({"steps": "abc"}, "expected int"),
    ({"steps": "0"}, "below the minimum"),
    ({"optimizer": "sgd"}, "not one of"),
    ({"stpes": "3"}, "Unknown parameter"),
])
def test_bad_values_give_clear_errors(values, fragment):
    with pytest.raises(InputError, match=fragment):
        params.make(strategies.get("gatys").Params, values)


def test_every_builtin_declares_help_and_ranges():
    for name, cls in strategies.all().items():
        for spec in params.specs(cls.Params):
            assert spec.help, f"{name}.{spec.name} has no help text"
            if spec.type in (int, float) and not spec.choices:
                assert spec.min is not None and spec.max is not None, f"{name}.{spec.name} has no range"
