"""The figures against the photo (issue 27): SSIM and LPIPS, and that Compare shows them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import metrics, params, weights
from engine.images import load_image, resize_long_edge
from engine.job import StyleJob, StyleSource
from engine.registry import strategies
from engine.runner import run_job

from conftest import sample_path

SIZE = 256


@pytest.fixture(scope="module")
def photo():
    return resize_long_edge(load_image(sample_path("content_city_skyline.jpg")), SIZE)


@pytest.fixture(scope="module")
def painting():
    return load_image(sample_path("style_kandinsky_composition_vii.jpg"))


def blurred(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, 1)


def stylised(photo: torch.Tensor, painting: torch.Tensor, **values) -> StyleJob:
    cls = strategies.get("adain")
    return StyleJob(content=photo, strategy="adain", params=params.make(cls.Params, {"preview": False, **values}),
                    styles=(StyleSource(image=painting),), size=SIZE)


def test_lpips_is_the_packages_model_on_the_projects_vgg16():
    """The learned heads are the wheel's own (vgg.pth), the backbone the mirror's VGG16 (no download)."""
    import os

    import lpips

    net = metrics.lpips_net()
    vgg = weights.load_state("vgg16")
    assert torch.equal(net.net.slice1[0].weight, vgg["features.0.weight"])
    assert torch.equal(net.net.slice5._modules["28"].weight, vgg["features.28.weight"])
    heads = torch.load(os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "vgg.pth"),
                       map_location="cpu", weights_only=True)
    assert torch.equal(net.lin0.model[1].weight, heads["lin0.model.1.weight"])


def test_lpips_behaves_as_the_reference(photo, painting):
    """Identical pictures 0; a stylised picture far above a slightly blurred one."""
    assert metrics.lpips_distance(photo, photo) == pytest.approx(0.0, abs=1e-6)
    blur = metrics.lpips_distance(blurred(photo), photo)
    styl = metrics.lpips_distance(run_job(stylised(photo, painting)).image, photo)
    assert 0 < blur < 0.25  # a 3x3 box blur at 256 px: about 0.18
    assert styl > 2 * blur and styl > 0.4, (blur, styl)


def reference_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Wang et al.'s SSIM written with scipy, as scikit-image computes it (Gaussian sigma 1.5,
    truncated at 3.5 sigma, population covariances, the border cropped)."""
    from scipy.ndimage import gaussian_filter

    out = []
    for c in range(3):
        x, y = a[0, c].double().numpy(), b[0, c].double().numpy()
        f = lambda t: gaussian_filter(t, 1.5, truncate=3.5)  # noqa: E731
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
        s = ((2 * mx * my + 1e-4) * (2 * sxy + 9e-4)) / ((mx * mx + my * my + 1e-4) * (sxx + syy + 9e-4))
        out.append(s[5:-5, 5:-5].mean())
    return float(np.mean(out))


def test_ssim_matches_the_reference(photo, painting):
    assert metrics.ssim(photo, photo) == pytest.approx(1.0, abs=1e-6)
    for other in (blurred(photo), run_job(stylised(photo, painting)).image):
        assert metrics.ssim(other, photo) == pytest.approx(reference_ssim(other, photo), abs=1e-3)
    assert metrics.ssim(run_job(stylised(photo, painting)).image, photo) < metrics.ssim(blurred(photo), photo)


def test_compare_shows_ssim_and_lpips(qtbot, photo, painting):
    """A comparison asks the instant strategies for their figures, and each cell shows SSIM and LPIPS."""
    from editor.compare import CompareCell, Variant, figures_caption, measured
    from editor.document import ResultEntry

    v = measured(Variant("AdaIN", "adain", {"alpha": 0.9}))
    assert v.values == {"alpha": 0.9, "measure": True}
    assert measured(Variant("Gatys", "gatys", {})).values == {}  # measures always
    result = run_job(stylised(photo, painting, **v.values))
    assert {"ssim", "lpips", "style_distance", "content_distance"} <= set(result.figures)
    entry = ResultEntry("AdaIN #1", result.image, "adain", dict(v.values), dict(result.figures), result.seconds)
    cell = CompareCell(v)
    qtbot.addWidget(cell)
    cell.set_result(entry)
    text = cell.caption.text()
    assert f"SSIM {result.figures['ssim']:.3f}" in text and f"LPIPS {result.figures['lpips']:.3f}" in text
    assert text == figures_caption(entry)


def test_figures_measure_against_the_photo_and_painting_as_they_are_now():
    """The references' features are kept between results, but an edited photo or a new painting is
    measured afresh, and the kept ones never hold a picture alive."""
    import gc
    import weakref

    torch.manual_seed(3)
    photo, painting = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 80, 80)
    result = (photo * 0.8 + 0.1).clamp(0, 1)
    first = metrics.figures(result, photo, [painting])
    assert metrics.figures(result, photo, [painting]) == first
    photo.mul_(0.5)  # edited in place: the content distance must follow
    assert metrics.figures(result, photo, [painting])["content_distance"] != first["content_distance"]
    assert metrics.figures(result, photo, [painting.flip(-1).contiguous() * 0.5])["style_distance"] != first["style_distance"]
    gone = weakref.ref(painting)
    del painting
    gc.collect()
    assert gone() is None
