"""Gatys and multi-scale on real VGG16 weights: what a user sees, at small sizes."""

from __future__ import annotations

import threading

import pytest
import torch

from engine import metrics, params
from engine.errors import Cancelled
from engine.images import resize_long_edge
from engine.job import StyleJob, StyleSource
from engine.registry import strategies
from engine.runner import run_job
from engine.strategy import Progress, RunContext

SIZE = 128


def make_job(content, styles, strategy, weights=None, **values):
    cls = strategies.get(strategy)
    weights = weights or [1.0] * len(styles)
    return StyleJob(content=content, strategy=strategy, params=params.make(cls.Params, values),
                    styles=tuple(StyleSource(image=s, weight=w) for s, w in zip(styles, weights)), size=SIZE)


@pytest.fixture(scope="module")
def baseline(content, style):
    small = resize_long_edge(content, SIZE)
    return metrics.style_distance(small, [style])


@pytest.mark.parametrize("strategy, values", [
    ("gatys", {"steps": 40}),
    ("multiscale", {"start_size": 64, "coarse_steps": 30, "fine_steps": 10}),
])
def test_style_distance_halves_and_content_stays(content, style, baseline, strategy, values):
    events = []
    result = run_job(make_job(content, [style], strategy, **values), on_event=events.append)
    assert result.image.shape[-1] == SIZE
    d_style = result.figures["style_distance"]
    assert d_style < 0.5 * baseline, (d_style, baseline)
    # recognisable: relu3_3 moves, but far less than to an unrelated picture
    assert result.figures["content_distance"] < 1.1
    previews = [e for e in events if isinstance(e, Progress) and e.preview is not None]
    assert previews and previews[-1].preview.shape == result.image.shape


def test_multiscale_previews_every_scale(content, style):
    job = make_job(content, [style], "multiscale", start_size=64, coarse_steps=3, fine_steps=2)
    stages = [e.stage for e in _events(job) if isinstance(e, Progress) and e.preview is not None]
    assert stages[0] == "instant start (universal)"  # the stylised start, then every scale
    assert len({s.split(" (")[0] for s in stages[1:]}) == 3  # 64, 90, 128


def _events(job):
    out = []
    run_job(job, on_event=out.append)
    return out


def test_seeded_cpu_run_is_reproducible(content, style):
    job = make_job(content, [style], "gatys", steps=5, init="noise")
    a, b = run_job(job).image, run_job(job).image
    assert torch.equal(a, b)
    c = run_job(job.with_(seed=1)).image
    assert not torch.equal(a, c)


def test_blended_styles_follow_their_weights(content, style, style2):
    near_a = run_job(make_job(content, [style, style2], "gatys", weights=[0.9, 0.1], steps=25)).image
    near_b = run_job(make_job(content, [style, style2], "gatys", weights=[0.1, 0.9], steps=25)).image
    assert metrics.style_distance(near_a, [style]) < metrics.style_distance(near_b, [style])
    assert metrics.style_distance(near_b, [style2]) < metrics.style_distance(near_a, [style2])


def test_cancel_stops_within_one_step(content, style):
    cancel = threading.Event()
    ctx = RunContext("cpu", cancel, preview_every=1)
    steps = []

    def on_event(e):
        if isinstance(e, Progress):
            steps.append(e.step)
            if e.step == 3:
                cancel.set()

    with pytest.raises(Cancelled):
        run_job(make_job(content, [style], "gatys", steps=50), ctx, on_event)
    assert steps == [0, 1, 2, 3]  # 0: the stylised start


def test_colour_preservation_keeps_content_chroma(content, style):
    from engine.colour import rgb_to_yiq

    job = make_job(content, [style], "gatys", steps=10, colour="luminance")
    out = run_job(job).image
    small = resize_long_edge(content, SIZE)
    chroma_err = (rgb_to_yiq(out)[:, 1:] - rgb_to_yiq(small)[:, 1:]).abs().mean()
    plain = run_job(job.with_(params=params.make(type(job.params), {"steps": 10}))).image
    plain_err = (rgb_to_yiq(plain)[:, 1:] - rgb_to_yiq(small)[:, 1:]).abs().mean()
    assert chroma_err < 0.5 * plain_err


def _objective(photo, style, dtype=None):
    """The gatys defaults' objective (VGG16, classic layers) for ``photo`` and one style."""
    from engine import features
    from engine.optimise import StyleObjective, StyleTerm, layers_for
    from engine.styletargets import blended_targets

    net = features.get("vgg16", torch.device("cpu"))
    layers, content_layer = layers_for("vgg16", "classic")
    terms = [StyleTerm(blended_targets(net, (StyleSource(image=style),), layers, tuple(photo.shape[-2:]), 1.0,
                                       "none", photo, photo.device))]
    return StyleObjective(net, photo, terms, layers, content_layer, 1.0, 20.0, 2.0, dtype=dtype)


def test_lbfgs_step_costs_one_evaluation_and_matches_the_plain_loop(content, style):
    """The evaluation cache halves the cost of a step without changing a single pixel."""
    from engine.optimise import optimise

    small = resize_long_edge(content, 64)
    objective = _objective(small, style)
    calls = 0

    def counted(x):
        nonlocal calls
        calls += 1
        return objective(x)

    steps = 8
    run = optimise(small, counted, RunContext("cpu"), steps)
    try:
        while True:
            next(run)
    except StopIteration as done:
        cached = done.value

    # the reference: one torch L-BFGS iteration per step, every closure call evaluated
    x = small.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        loss, _ = objective(x)
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    assert torch.equal(cached, x.detach().clamp(0, 1))
    assert calls <= steps + 2, calls  # uncached, every step costs at least two


def _loss_and_grad(objective, x):
    x = x.clone().requires_grad_(True)
    loss, _ = objective(x)
    loss.backward()
    return loss.item(), x.grad.flatten()


def test_bfloat16_loss_network_only_rounds_the_objective(content, style):
    """Reduced precision (engine.precision) keeps the loss and its descent direction."""
    from engine.precision import reduced_dtype

    assert reduced_dtype("cpu", "float32") is None
    small = resize_long_edge(content, SIZE)
    x = (small + 0.1 * torch.randn(small.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    exact = _loss_and_grad(_objective(small, style), x)
    rounded = _loss_and_grad(_objective(small, style, dtype=torch.bfloat16), x)
    assert abs(rounded[0] - exact[0]) < 0.02 * exact[0], (rounded[0], exact[0])
    assert torch.nn.functional.cosine_similarity(rounded[1], exact[1], dim=0) > 0.98


def test_bfloat16_run_stylises_like_float32(content, style, baseline, monkeypatch):
    """The bfloat16 path end to end, also on CPUs where "auto" would pick float32."""
    import engine.optimise

    monkeypatch.setattr(engine.optimise, "reduced_dtype", lambda device, precision: torch.bfloat16)
    result = run_job(make_job(content, [style], "gatys", steps=40))
    assert result.figures["style_distance"] < 0.5 * baseline
    assert result.figures["content_distance"] < 1.1


def test_coarse_scales_measure_what_the_output_measures():
    """A scale half the output's size drops the deepest style layer and takes content a block up."""
    from engine import features
    from engine.optimise import layers_at_scale, layers_for

    vgg = features.get("vgg16", torch.device("cpu"))
    classic = layers_for("vgg16", "classic")
    assert layers_at_scale(vgg, *classic, 1.0) == classic
    assert layers_at_scale(vgg, *classic, 1.3) == classic
    assert layers_at_scale(vgg, *classic, 512 / 362) == (classic[0][:-1], "relu3_3")  # sqrt(2): nearer a block up
    assert layers_at_scale(vgg, *classic, 2.0) == (classic[0][:-1], "relu3_3")
    assert layers_at_scale(vgg, *classic, 4.0) == (classic[0][:-2], "relu2_2")
    fine = layers_for("vgg16", "fine")
    assert layers_at_scale(vgg, *fine, 64.0) == (("relu1_1",), "relu1_2")  # never empty


def test_style_balance_weighs_the_style_by_the_photos_own_distance_from_it(content, style):
    """style_balance 1: the weight is per unit of the photo's own style loss (STYLE_GAP_REFERENCE
    = as given), so a painting far from the photo pulls no harder than a near one; 0: as given."""
    from engine.optimise import STYLE_GAP_REFERENCE, balanced_style_weight

    photo = resize_long_edge(content, 96)
    far, near = _objective(photo, style), _objective(photo, resize_long_edge(content, 128))
    gaps = []
    for objective in (far, near):
        with torch.no_grad():
            gap = objective.style_loss(objective.features(photo)).item()
        gaps.append(gap)
        assert balanced_style_weight(objective, photo, 40.0, 0.0) == 40.0
        assert balanced_style_weight(objective, photo, 40.0, 1.0) == pytest.approx(40.0 * STYLE_GAP_REFERENCE / gap)
        assert balanced_style_weight(objective, photo, 40.0, 0.5) == pytest.approx(
            40.0 * (STYLE_GAP_REFERENCE / gap) ** 0.5)
    assert gaps[0] > 3 * gaps[1]  # the painting is far from the photo, the photo's own larger copy near
    assert balanced_style_weight(far, photo, 40.0, 1.0) < balanced_style_weight(near, photo, 40.0, 1.0) / 3


def test_style_balance_reaches_the_optimisation(content, style, monkeypatch):
    """coarse_to_fine applies the balanced weight at every scale."""
    import engine.optimise as optimise

    seen = []
    real = optimise.balanced_style_weight
    monkeypatch.setattr(optimise, "balanced_style_weight",
                        lambda *a: seen.append(a[3]) or real(*a))
    job = make_job(resize_long_edge(content, 96), [style], "multiscale", start_size=64, coarse_steps=1,
                   fine_steps=1, style_balance=1.0, init="content")
    run_job(job)
    assert seen and all(b == 1.0 for b in seen)


def test_a_regions_gram_over_its_box_is_the_masked_gram_with_its_gradient(content):
    """The loss nets' channels-last features take engine.losses' own Gram (cells x channels, a
    region over its bounding box only): the same matrix and the same gradient to the picture as the
    textbook's channels x cells product over the whole mask."""
    from engine import features
    from engine.losses import gram

    net = features.get("vgg16")
    small = resize_long_edge(content, SIZE).contiguous(memory_format=torch.channels_last)
    h, w = small.shape[-2:]
    mask = torch.zeros(h, w)
    mask[h // 4: h // 2, w // 3:] = torch.linspace(0.2, 1.0, w - w // 3)  # a soft region in part of the picture
    box = (slice(h // 4, h // 2), slice(w // 3, w))
    target = torch.rand(64, 64, generator=torch.Generator().manual_seed(1))
    results = []
    for ours in (True, False):
        x = small.clone().requires_grad_()
        f = net(x, ["relu1_1"])["relu1_1"]
        assert f.is_contiguous(memory_format=torch.channels_last)
        if ours:
            g = gram(f, mask[box], box)
        else:  # the textbook product, written out
            cells = f.contiguous().reshape(64, h * w)
            g = (cells * mask.reshape(1, -1)) @ cells.T / mask.sum()
        (g - target).pow(2).sum().backward()
        results.append((g.detach(), x.grad))
    (g1, d1), (g2, d2) = results
    assert torch.allclose(g1, g2, rtol=1e-4, atol=1e-6)
    assert torch.allclose(d1, d2, rtol=1e-3, atol=1e-6 * float(d2.abs().max()))
    assert float(d1[..., : h // 4 - 8, :].abs().max()) == 0.0  # rows far above the region get no pull (receptive field: 1 conv)
