"""``brushwork render`` with regions found in the photo (``--auto-region GROUP=STYLE``) and faces
protected (``--protect-faces``), on the real ADE20K and BlazeFace models: each group takes its own
style, ``GROUP=keep`` keeps the photo, a group the photo lacks is a clear exit 2 naming those it has,
and in a clip a group's region follows the picture as the camera moves."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import weights
from engine.cli import build_job, main, make_parser
from engine.images import load_image, load_mask, resize
from engine.registry import segmenters

from conftest import sample_path

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "resources" / "samples" / "content_city_skyline.jpg"
#: the city's sky drawn by hand (the horizon), the clip test's ground truth
CITY_SKY = ROOT / "tests" / "data" / "city_skyline_sky.png"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def astronaut() -> Path:
    return sample_path("content_portrait_astronaut.jpg")


def render(tmp_path: Path, *args: str, name: str = "out.png") -> tuple[int, Path]:
    out = tmp_path / name
    return main(["render", *args, "-q", "-o", str(out)]), out


def picture(path: Path) -> torch.Tensor:
    return load_image(path)


def groups_at(image: torch.Tensor) -> dict:
    return segmenters.get("semantic")().groups(image)


# ---------------------------------------------------------------- groups as regions
def test_each_group_takes_its_own_style(tmp_path, style_path, style2_path):
    """sky=Starry Night, buildings=Great Wave: inside each group's mask the picture's texture
    statistics (VGG Gram, engine.metrics.style_distance) are nearer its own style than the other's."""
    from engine.metrics import style_distance

    rc, out = render(tmp_path, str(CITY), "--auto-region", f"sky={style_path}", "--auto-region",
                     f"buildings={style2_path}", "--strategy", "universal", "--size", "256", "--protect-faces", "off")
    assert rc == 0
    image = picture(out)
    found = groups_at(resize(load_image(CITY), tuple(image.shape[-2:])))
    starry, wave = load_image(style_path), load_image(style2_path)
    for group, own, other in (("sky", starry, wave), ("buildings", wave, starry)):
        mask = (found[group].mask > 0.5).float()
        near, far = style_distance(image, [own], mask=mask), style_distance(image, [other], mask=mask)
        assert near < 0.9 * far, (group, near, far)


def test_region_names_are_the_group_names_and_feather_applies(city_args):
    job = build_job(city_args)
    assert [r.name for r in job.regions] == ["sky", "buildings"]
    assert [r.feather for r in job.regions] == [6.0, 6.0]
    assert all(r.strength == 1.0 for r in job.regions)


@pytest.fixture
def city_args(style_path, style2_path):
    return make_parser().parse_args(["render", str(CITY), "--auto-region", f"Sky={style_path}", "--auto-region",
                                     f"buildings={style2_path}", "--feather", "6", "--strategy", "universal",
                                     "--protect-faces", "off", "-o", "x.png"])


@pytest.mark.parametrize("styles", [["-s", "STYLE"], ["--auto-region", "interior=STYLE"]],
                         ids=["global style around", "a styled group beside"])
def test_keep_keeps_the_photo_inside_the_group(tmp_path, astronaut, style_path, styles):
    """people=keep: the astronaut's pixels are the photo's own inside the people mask (the global
    style or the interior's style around them)."""
    styles = [s.replace("STYLE", str(style_path)) for s in styles]
    rc, out = render(tmp_path, str(astronaut), *styles, "--auto-region", "people=keep", "--strategy", "universal",
                     "--size", "256", "--protect-faces", "off")
    assert rc == 0
    image = picture(out)
    photo = resize(load_image(astronaut), tuple(image.shape[-2:]))
    people = groups_at(photo)["people"].mask
    inside, outside = people > 0.95, people < 0.05
    diff = (image - photo).abs().mean(1)[0]
    assert inside.float().mean() > 0.1  # the astronaut: 36 % people, 15 % of it over 0.95
    assert float(diff[inside].mean()) < 3 / 255, "the kept group is not the photo"
    assert float(diff[outside].mean()) > 20 / 255, "the rest is not styled"


@pytest.mark.parametrize("group", ["water", "moon"], ids=["a group the photo lacks", "no such group"])
def test_a_group_the_photo_lacks_names_those_it_has(tmp_path, astronaut, style_path, capsys, group):
    rc, out = render(tmp_path, str(astronaut), "--auto-region", f"{group}={style_path}", "--strategy", "universal",
                     "--size", "128", "--protect-faces", "off")
    err = capsys.readouterr().err
    assert rc == 2
    assert f"'{group}'" in err and "people" in err and "interior" in err, err
    assert not out.exists()


def test_a_bad_auto_region_is_a_clear_error(tmp_path, astronaut, capsys):
    rc, _ = render(tmp_path, str(astronaut), "--auto-region", "people", "--strategy", "universal")
    assert rc == 2
    assert "--auto-region expects GROUP=STYLE.jpg" in capsys.readouterr().err


def test_the_photo_is_segmented_once(tmp_path, style_path, style2_path, monkeypatch, city_args):
    cls = segmenters.get("semantic")
    calls = []
    real = cls.segment_named
    monkeypatch.setattr(cls, "segment_named", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    build_job(city_args)
    assert len(calls) == 1


# ---------------------------------------------------------------- faces
def face_args(path: Path, *flags: str):
    return make_parser().parse_args(["render", str(path), "-s", str(path), "--strategy", "universal", "--size", "128",
                                     *flags, "-o", "x.png"])


def test_protect_faces_fills_the_jobs_faces(astronaut):
    on = build_job(face_args(astronaut))
    assert on.protect_faces and len(on.faces) == 1
    off = build_job(face_args(astronaut, "--protect-faces", "off"))
    assert not off.protect_faces and off.faces == ()


@pytest.mark.skipif(importlib.util.find_spec("engine.scene.keep_shape") is None,
                    reason="engine.scene.keep_shape has not landed yet (the job's fields are tested above)")
def test_protect_faces_changes_the_picture_only_around_the_face(tmp_path, astronaut, style_path):
    args = [str(astronaut), "-s", str(style_path), "--strategy", "universal", "--size", "256"]
    rc_on, on = render(tmp_path, *args, "--protect-faces", "on", name="on.png")
    rc_off, off = render(tmp_path, *args, "--protect-faces", "off", name="off.png")
    assert rc_on == rc_off == 0
    a, b = picture(on), picture(off)
    face = build_job(face_args(astronaut)).faces[0]
    near = face.ellipse(tuple(a.shape[-2:]), grow=(1.6, 1.9)) > 0
    diff = (a - b).abs().mean(1)[0]
    assert float(diff[near].mean()) > 4 / 255
    assert float(diff[~near].mean()) < 1 / 255


@pytest.fixture
def faces_missing(monkeypatch):
    """The face models' files cannot be found (every other weight can)."""
    from engine.errors import WeightsError
    from engine.scene import faces

    real = weights.locate

    def locate(name, *a, **k):
        if name.startswith("face/"):
            raise WeightsError(f"Missing weight file for '{name}'.")
        return real(name, *a, **k)

    monkeypatch.setattr(weights, "locate", locate)
    monkeypatch.setattr(faces, "_cache", type(faces._cache)())


def test_a_missing_face_model_warns_by_default_and_fails_when_asked_for(tmp_path, astronaut, style_path, capsys,
                                                                        faces_missing):
    args = [str(astronaut), "-s", str(style_path), "--strategy", "universal", "--size", "96"]
    rc, out = render(tmp_path, *args)
    err = capsys.readouterr().err
    assert rc == 0 and out.exists()
    assert err.count("warning: rendering without face protection") == 1 and "face/" in err
    rc, out = render(tmp_path, *args, "--protect-faces", "on", name="on.png")
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert "--protect-faces on" in err and "face/" in err
    rc, out = render(tmp_path, *args, "--protect-faces", "off", name="off.png")
    assert rc == 0 and "warning" not in capsys.readouterr().err


# ---------------------------------------------------------------- clips
#: the clip: a 512x288 window tilting down the 1024 px city by 16 px a frame, written at 256x144,
#: so the horizon climbs from 69 % of the frame to 8 %
FRAMES, WINDOW, STEP, SIDE = 12, (512, 288), 16, 256


def tilt_frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The frames (uint8) and each frame's true sky (the hand-made mask cut by the same window)."""
    photo = np.asarray(Image.open(CITY).convert("RGB"))
    sky = load_mask(CITY_SKY).numpy()
    frames, truths = [], []
    w, h = WINDOW
    small = (SIDE, SIDE * h // w)
    for i in range(FRAMES):
        y, x = i * STEP, 256
        frames.append(np.asarray(Image.fromarray(photo[y:y + h, x:x + w]).resize(small, Image.BICUBIC)))
        cut = Image.fromarray((sky[y:y + h, x:x + w] * 255).astype(np.uint8)).resize(small, Image.BILINEAR)
        truths.append(np.asarray(cut) > 127)
    return frames, truths


def test_a_sky_region_follows_the_sky_as_the_camera_tilts(tmp_path, style_path, monkeypatch):
    """Each frame's sky mask (over 0.5, as the strategy got it) against the frame's true sky: under
    5 % of the frame is on the wrong side. Measured: 1.5-2.9 % with the default key frames, 0.9-3.4 %
    segmenting every frame (the model's horizon sits 2-4 rows from the hand-drawn one); the first
    frame's mask left in place is 7 % wrong on the second frame and 63 % on the last. (IoU would
    punish that fixed offset more as the sky shrinks to 8 % of the frame.) Rendered to PNG frames
    with temporal off, the picture outside the region is the frame's own (gaps=content): the true
    sky is styled, and what is styled beyond it is a band at the horizon, never the buildings."""
    from engine.video import render as video_render

    frames, truths = tilt_frames()
    src = tmp_path / "clip"
    src.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(src / f"{i:03d}.png")
    masks = []
    real = video_render.run_job

    def run_job(job, *a, **k):
        masks.append(resize(job.regions[0].mask[None, None], tuple(job.content.shape[-2:]))[0, 0].numpy())
        return real(job, *a, **k)

    monkeypatch.setattr(video_render, "run_job", run_job)
    rc = main(["render", str(src), "--auto-region", f"sky={style_path}", "--strategy", "universal",
               "--temporal", "off", "--protect-faces", "off", "-q", "-o", str(tmp_path / "out")])
    assert rc == 0
    outs = sorted((tmp_path / "out").glob("*.png"))
    assert len(outs) == len(masks) == FRAMES
    wrong = [float(((m > 0.5) ^ truth).mean()) for m, truth in zip(masks, truths)]
    assert max(wrong) < 0.05, [round(v, 3) for v in wrong]
    for f, o, truth in zip(frames, outs, truths):
        styled = np.abs(np.asarray(Image.open(o).convert("RGB")).astype(np.int16) - f).max(-1) > 8
        assert (styled & truth).sum() > 0.97 * truth.sum()  # the sky is styled
        assert (styled & ~truth).mean() < 0.08  # 0.04-0.05 measured: the soft edge along the horizon


def test_faces_follow_the_clip(tmp_path, astronaut, style_path, monkeypatch):
    """A 256x144 window panning 8 px a frame across the astronaut: each frame's job carries the face
    where it is in that frame (box IoU over 0.6 against the face found on the whole photo, moved with
    the window; a face left at the first frame's place falls to 0.55 on the fifth frame);
    ``--protect-faces off`` carries none."""
    from engine.scene.faces import detect_faces
    from engine.video import render as video_render

    photo = np.asarray(Image.open(astronaut).convert("RGB"))
    (whole,) = detect_faces(load_image(astronaut))
    h, w = photo.shape[:2]
    src = tmp_path / "clip"
    src.mkdir()
    window = (256, 144)
    starts = [(8 * i, 40) for i in range(8)]
    for i, (x, y) in enumerate(starts):
        Image.fromarray(photo[y:y + window[1], x:x + window[0]]).save(src / f"{i:03d}.png")
    seen = []
    real = video_render.run_job
    monkeypatch.setattr(video_render, "run_job", lambda job, *a, **k: seen.append(job) or real(job, *a, **k))

    def box(face, x, y):  # the whole photo's face in the window's pixels
        return (face.x0 * w - x, face.y0 * h - y, face.x1 * w - x, face.y1 * h - y)

    def iou(a, b):
        ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        return ix * iy / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy)

    rc = main(["render", str(src), "-s", str(style_path), "--strategy", "universal", "--temporal", "off",
               "-q", "-o", str(tmp_path / "out")])
    assert rc == 0 and len(seen) == len(starts)
    for job, (x, y) in zip(seen, starts):
        assert job.protect_faces and len(job.faces) == 1
        f = job.faces[0]
        found = (f.x0 * window[0], f.y0 * window[1], f.x1 * window[0], f.y1 * window[1])
        assert iou(found, box(whole, x, y)) > 0.6, (x, found, box(whole, x, y))
    seen.clear()
    rc = main(["render", str(src), "-s", str(style_path), "--strategy", "universal", "--temporal", "off",
               "--protect-faces", "off", "-q", "-o", str(tmp_path / "off")])
    assert rc == 0 and all(job.faces == () and not job.protect_faces for job in seen)
