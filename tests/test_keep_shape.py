"""Keep shape: a protected face (or a region's keep_shape) keeps the photo's structure under the style.

The astronaut portrait under The Scream: universal's deepest levels smear her eyes and mouth.
With her face protected the luminance SSIM against the photo inside her face box must rise
clearly, while every pixel outside the protected area stays exactly as it was; with protection
off (or no face) the engine computes nothing and the picture is bit-identical; a tiled print
keeps the face as the single pass does.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine import params
from engine.export import ExportOptions, export
from engine.images import load_image, resize
from engine.job import Region, StyleJob, StyleSource
from engine.registry import strategies
from engine.runner import run_job
from engine.scene.faces import Face
from engine.scene.keep_shape import box_mean, keep_shape, protection
from engine.strategy import Progress

from conftest import sample_path

#: her face box, read off the 512 px photo: cheek to cheek x 184-266 px, brows to below the mouth y 84-159 px
ASTRONAUT_FACE = Face(0.36, 0.165, 0.52, 0.31)
SIZE = 384


@pytest.fixture(scope="module")
def portrait() -> torch.Tensor:
    return load_image(sample_path("content_portrait_astronaut.jpg"))


@pytest.fixture(scope="module")
def scream() -> torch.Tensor:
    return load_image(sample_path("style_munch_the_scream.jpg"), long_edge=512)


def make_job(content, style, strategy: str = "universal", **changes) -> StyleJob:
    cls = strategies.get(strategy)
    return StyleJob(content=content, strategy=strategy, params=params.make(cls.Params, {}),
                    styles=(StyleSource(image=style),), size=SIZE).with_(**changes)


def luma(x: torch.Tensor) -> torch.Tensor:
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def face_ssim(image: torch.Tensor, photo: torch.Tensor, face: Face = ASTRONAUT_FACE) -> float:
    """Mean luminance SSIM (11 px gaussian window, sigma 1.5) inside the face box, against the photo."""
    hw = tuple(image.shape[-2:])
    a, b = luma(image), luma(resize(photo, hw))
    x = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-x**2 / 4.5)
    w = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    blur = lambda t: F.conv2d(F.pad(t, (5, 5, 5, 5), mode="reflect"), w)  # noqa: E731
    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma**2, blur(b * b) - mb**2, blur(a * b) - ma * mb
    c1, c2 = 0.01**2, 0.03**2
    ssim = (2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    x0, y0, x1, y1 = face.box_px(hw)
    return float(ssim[..., y0:y1, x0:x1].mean())


def rendered(job: StyleJob) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The job's result and its previews."""
    events: list = []
    image = run_job(job, on_event=events.append).image
    return image, [e.preview for e in events if isinstance(e, Progress) and e.preview is not None]


@pytest.fixture(scope="module")
def unprotected(portrait, scream) -> tuple[torch.Tensor, list[torch.Tensor]]:
    return rendered(make_job(portrait, scream))


def test_a_protected_face_keeps_its_shape_and_nothing_else_changes(portrait, scream, unprotected):
    job = make_job(portrait, scream, faces=(ASTRONAUT_FACE,))
    image, previews = rendered(job)
    plain, plain_previews = unprotected
    before, after = face_ssim(plain, portrait), face_ssim(image, portrait)
    assert after > before + 0.15, (before, after)  # 0.33 -> 0.71 when written
    untouched = protection(job, job.output_hw) == 0
    assert untouched.float().mean() > 0.9
    assert torch.equal(image[..., untouched], plain[..., untouched])
    # the previews go through the same step
    assert previews and len(previews) == len(plain_previews)
    for kept, free in zip(previews, plain_previews):
        keep = protection(job, tuple(kept.shape[-2:])) == 0
        assert not torch.equal(kept, free)
        assert torch.equal(kept[..., keep], free[..., keep])


def test_a_regions_keep_shape_keeps_its_shape(portrait, scream):
    h, w = portrait.shape[-2:]
    head = torch.zeros(h, w)
    head[int(0.08 * h):int(0.40 * h), int(0.28 * w):int(0.62 * w)] = 1
    region = Region(mask=head, style=StyleSource(image=scream), feather=8)
    plain = make_job(portrait, scream, regions=(region,), gaps="global")
    kept = plain.with_(regions=(Region(mask=head, style=StyleSource(image=scream), feather=8, keep_shape=1.0),))
    a, b = run_job(plain).image, run_job(kept).image
    before, after = face_ssim(a, portrait), face_ssim(b, portrait)
    assert after > before + 0.15, (before, after)  # 0.40 -> 0.84 when written (0.67 at half)
    untouched = protection(kept, kept.output_hw) == 0
    assert untouched.float().mean() > 0.7
    assert torch.equal(a[..., untouched], b[..., untouched])
    half = kept.with_(regions=(Region(mask=head, style=StyleSource(image=scream), feather=8, keep_shape=0.5),))
    assert before < face_ssim(run_job(half).image, portrait) < after  # the amount is an amount


def test_protection_off_or_no_face_is_bit_identical(portrait, scream, unprotected):
    off = make_job(portrait, scream, faces=(ASTRONAUT_FACE,), protect_faces=False)
    assert torch.equal(run_job(off).image, unprotected[0])
    image = torch.rand(1, 3, 64, 64)
    for job in (off, make_job(portrait, scream)):
        assert protection(job, (64, 64)) is None
        assert keep_shape(job, image) is image  # nothing computed


def test_a_tiled_print_keeps_the_face(portrait, scream, tmp_path):
    job = make_job(portrait, scream, "adain", faces=(ASTRONAUT_FACE,))
    single = run_job(job).image
    plain = run_job(job.with_(protect_faces=False)).image
    report = export(job, tmp_path / "print.png", ExportOptions(tile=160, overlap=32, tiled=True))
    assert report.tiles > 1
    printed = load_image(tmp_path / "print.png")
    assert face_ssim(printed, portrait) > face_ssim(plain, portrait) + 0.1
    x0, y0, x1, y1 = ASTRONAUT_FACE.box_px(job.output_hw)
    inside = (printed - single)[..., y0:y1, x0:x1].abs().mean()
    assert inside <= 0.01, float(inside)  # 0.002 when written; 0.067 from the unprotected single pass


def test_box_mean_is_the_mean_over_the_window_cut_at_the_edge():
    x = torch.rand(1, 3, 37, 53) * 2 - 1
    for radius in (1, 4, 20):
        window = F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)
        assert torch.allclose(box_mean(x, radius), window, atol=1e-5)


def test_an_optimisation_print_keeps_the_face_too(portrait, scream, tmp_path):
    """The refinement path: the working-size pass keeps the face, and each print-size tile keeps it
    again after its steps (which would smear it back: without that, 0.60 here)."""
    cls = strategies.get("gatys")
    job = StyleJob(content=portrait, strategy="gatys", params=params.make(cls.Params, {"net": "distilled16x", "steps": 5}),
                   styles=(StyleSource(image=scream),), size=SIZE, faces=(ASTRONAUT_FACE,))
    options = ExportOptions(tiled=True, working_size=192, tile=128, overlap=32, refine_steps=10)
    figures = []
    for protect in (False, True):
        report = export(job.with_(protect_faces=protect), tmp_path / f"{protect}.png", options)
        assert report.method == "tiled-refine" and report.tiles > 1
        figures.append(face_ssim(load_image(tmp_path / f"{protect}.png"), portrait))
    assert figures[1] > figures[0] + 0.25, figures  # 0.43 -> 0.75 when written
