"""Plugins are found through entry points; a broken one is reported and skipped."""

from __future__ import annotations

import sys
import textwrap

import pytest

from engine import registry


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A package 'installed' on sys.path with a dist-info declaring two strategies, one broken."""
    pkg = tmp_path / "acme_style"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass
        from engine.params import param
        from engine.strategy import Strategy, Result

        @dataclass(frozen=True)
        class InvertParams:
            amount: float = param(1.0, min=0.0, max=1.0, help="How much to invert.")

        class InvertStrategy(Strategy):
            name = "acme-invert"
            title = "Acme invert"
            Params = InvertParams

            def run(self, job, ctx):
                yield Result(1 - job.content)
    '''))
    (pkg / "broken.py").write_text("raise ImportError('acme needs libfoo')\n")
    dist = tmp_path / "acme_style-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-style\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[brushwork.strategies]\nacme-invert = acme_style:InvertStrategy\nacme-broken = acme_style.broken:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = registry.Registry(registry.STRATEGIES, "strategy")
    yield reg
    sys.modules.pop("acme_style", None)


def test_third_party_strategy_is_discovered_next_to_builtins(third_party):
    names = third_party.names()
    assert "acme-invert" in names and "gatys" in names and "multiscale" in names


def test_broken_plugin_is_reported_and_skipped(third_party):
    third_party.names()
    broken = {b.name: b.error for b in third_party.broken}
    assert "acme-broken" in broken and "libfoo" in broken["acme-broken"]
    with pytest.raises(Exception, match="libfoo"):
        third_party.get("acme-broken")


def test_third_party_strategy_runs_through_the_engine(third_party, content, style, monkeypatch):
    from engine import params
    from engine.job import StyleJob, StyleSource
    from engine.runner import run_job

    monkeypatch.setattr(registry, "strategies", third_party)
    monkeypatch.setattr("engine.runner.strategies", third_party)
    cls = third_party.get("acme-invert")
    job = StyleJob(content=content, strategy="acme-invert", params=params.make(cls.Params), styles=(StyleSource(image=style),))
    out = run_job(job).image
    assert abs((out + content - 1).abs().max().item()) < 1e-6
