"""The stylised (warm) start of the optimisation strategies, on real weights at small sizes: the
first preview is the instant result, regions keep apart, a cancel leaves nothing, the palette holds."""

from __future__ import annotations

import threading

import pytest
import torch

from engine import metrics, params
from engine.errors import Cancelled
from engine.export import ExportOptions, export
from engine.images import resize, scale_style
from engine.job import Region, StyleJob, StyleSource
from engine.registry import strategies
from engine.runner import run_job
from engine.strategy import Progress, Result, RunContext

SIZE = 128


def make_job(content, style, strategy, size=SIZE, **values):
    cls = strategies.get(strategy)
    return StyleJob(content=content, strategy=strategy, params=params.make(cls.Params, values),
                    styles=(StyleSource(image=style),), size=size, device="cpu")


def instant(job, name, hw, **values):
    """The instant strategy's own render of ``job`` at ``hw``, called directly."""
    cls = strategies.get(name)
    own = {s.name for s in params.specs(cls.Params)}
    p = params.make(cls.Params, {k: v for k, v in {"alpha": 1.0, "depth": 3, **values}.items() if k in own})
    return cls().render(job.with_(strategy=name, params=p), p, hw, torch.device("cpu"))


def events_of(job, ctx=None):
    out: list = []
    run_job(job, ctx, out.append)
    return out


@pytest.mark.parametrize("strategy, values, start", [
    ("gatys", {"steps": 2}, "universal"),
    ("gatys", {"steps": 2, "init_strategy": "adain"}, "adain"),
    ("multiscale", {"start_size": 64, "coarse_steps": 2, "fine_steps": 1}, "universal"),
])
def test_first_preview_is_the_instant_result(content, style, strategy, values, start):
    job = make_job(content, style, strategy, **values)
    events = events_of(job)
    first = events[0]
    assert isinstance(first, Progress) and first.step == 0 and first.preview is not None
    assert first.stage == f"instant start ({start})"
    # at the output size, multiscale's too (shrunk for its first scale; a render at the first scale,
    # upsampled, was a blurred start for the last)
    assert first.preview.shape[-2:] == job.output_hw
    assert torch.allclose(first.preview, instant(job, start, job.output_hw), atol=1e-6)
    # the stages the job panel shows: the start, then each scale, the last one refining
    stages = list(dict.fromkeys(e.stage for e in events if isinstance(e, Progress)))
    assert stages[0] == f"instant start ({start})" and "refining" in stages[-1]
    assert isinstance(events[-1], Result) and events[-1].image.shape[-2:] == job.output_hw


def test_masked_warm_start_keeps_two_regions_apart(style, style2):
    from engine.images import load_image, resize_long_edge
    from conftest import sample_path
    from plugins.masked import blended_job

    content = resize_long_edge(load_image(sample_path("content_city_skyline.jpg")), 160)
    h, w = content.shape[-2:]
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1
    cls = strategies.get("masked")
    job = StyleJob(content=content, strategy="masked", device="cpu",
                   params=params.make(cls.Params, {"start_size": 112, "coarse_steps": 20, "fine_steps": 10}),
                   regions=(Region(left, StyleSource(image=style), name="left"),
                            Region(1 - left, StyleSource(image=style2), name="right")))
    events = events_of(job)
    first = events[0]
    assert first.stage == "instant start (universal)"
    # the regional instant result for the same (feathered) regions, at the output size
    assert torch.allclose(first.preview, instant(blended_job(job, job.params.blend), "universal", job.output_hw),
                          atol=1e-6)
    out = events[-1].image
    for own, other, mask in ((style, style2, left), (style2, style, 1 - left)):
        d_own = metrics.style_distance(out, [own], mask=mask)
        d_other = metrics.style_distance(out, [other], mask=mask)
        assert d_own < d_other, (d_own, d_other)
        assert d_own < 0.6 * metrics.style_distance(content, [own], mask=mask)


def test_a_cancelled_warm_start_leaves_nothing_behind(content, style, tmp_path):
    job = make_job(content, style, "gatys", steps=50)
    # cancelled as the instant start arrives: no optimisation step, no result
    cancel = threading.Event()
    seen: list = []

    def on_event(e):
        seen.append(e)
        cancel.set()

    with pytest.raises(Cancelled):
        run_job(job, RunContext("cpu", cancel), on_event)
    assert len(seen) == 1 and seen[0].step == 0 and not any(isinstance(e, Result) for e in seen)
    # cancelled before it starts: not even the instant render runs
    before = RunContext("cpu")
    before.cancel()
    with pytest.raises(Cancelled):
        events_of(job, before)
    # an export cancelled at the instant start writes no file (nor a temporary one)
    cancel2 = threading.Event()
    with pytest.raises(Cancelled):
        export(job, tmp_path / "out.png", ExportOptions(), RunContext("cpu", cancel2),
               on_event=lambda e: cancel2.set())
    assert list(tmp_path.iterdir()) == []


def gap_closed(image, content, style):
    hw = tuple(image.shape[-2:])
    target = scale_style(style, hw)
    return 1 - metrics.colour_distance(image, target) / metrics.colour_distance(resize(content, hw), target)


def test_the_palette_holds(content, style):
    """The stylised start carries the painting's palette and the optimisation keeps it; from the
    photo the same steps leave the photo's colours."""
    steps = 15
    warm = run_job(make_job(content, style, "gatys", steps=steps)).image
    cold = run_job(make_job(content, style, "gatys", steps=steps, init="content")).image
    g_warm, g_cold = gap_closed(warm, content, style), gap_closed(cold, content, style)
    print(f"colour gap closed: stylised {g_warm:.3f}, content {g_cold:.3f}")
    assert g_warm > 0.7 and g_warm > g_cold + 0.3, (g_warm, g_cold)
