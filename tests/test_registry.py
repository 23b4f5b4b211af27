"""Plugins are found through entry points; a broken one is reported and skipped."""

from __future__ import annotations

import sys
import textwrap

import pytest

from engine import params as params_mod
from engine import registry
from engine.feedforward import FeedForwardStrategy
from engine.images import resize_long_edge
from engine.job import StyleJob, StyleSource
from engine.strategy import Result, RunContext


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


def test_a_feed_forward_plugin_whose_render_predates_check_still_runs(content, style):
    """render(job, p, out_hw, device) without the ``check`` argument (cancelled between stages
    only) keeps working: the base class passes ``check`` only to a render that takes it."""
    adain = registry.strategies.get("adain")

    class OldStyle(FeedForwardStrategy):
        name = "old-style"
        Params = adain.Params

        def render(self, job, p, out_hw, device):
            return adain().render(job, p, out_hw, device)

    p = params_mod.make(adain.Params, {"preview": False})
    job = StyleJob(content=resize_long_edge(content, 96), strategy="adain", params=p,
                   styles=(StyleSource(image=resize_long_edge(style, 96)),), size=96, device="cpu")
    events = list(OldStyle().run(job, RunContext("cpu")))
    assert isinstance(events[-1], Result) and tuple(events[-1].image.shape[-2:]) == job.output_hw
