"""Face detection on the real BlazeFace models and real photos (engine.scene.faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine import weights
from engine.errors import WeightsError
from engine.images import load_image, resize_long_edge
from engine.scene import faces, litert
from engine.scene.faces import Face, detect_faces

from conftest import SHARED, sample_path

pytestmark = pytest.mark.skipif(not litert.runtime_available(), reason="the LiteRT runtime (ai-edge-litert) is not installed")

#: the astronaut's head in sample content_portrait_astronaut.jpg (512 x 512), hair to chin and ear
#: to ear, read off the picture: x 150-300 px, y 15-190 px
ASTRONAUT_HEAD = (150 / 512, 15 / 512, 300 / 512, 190 / 512)
#: five people in a lab (341 x 256), heads 3-7 % of its width: where each visible face is, read off
#: the picture (x0, y0, x1, y1 fractions); a woman in red at the right edge is visible but not found
LAB = SHARED / "images" / "train" / "content" / "imagenet1k__n03630383_lab_coat.jpg"
LAB_HEADS = [(0.05, 0.19, 0.10, 0.28), (0.16, 0.17, 0.25, 0.30), (0.39, 0.13, 0.49, 0.27),
             (0.72, 0.08, 0.82, 0.23), (0.87, 0.16, 0.95, 0.27)]
#: a man in sunglasses, his face filling the frame (344 x 256): short range scores it 0.92, full range 0.55
CLOSE_UP = SHARED / "images" / "train" / "content" / "imagen__imagen__n04356056_8231_sunglasses.jpg"
#: two men at a lectern, faces about 6 % of the photo wide (a group photo, 384 x 256)
TWO_MEN = SHARED / "images" / "train" / "content" / "stytr__content__000000000202.jpg"


@pytest.fixture(autouse=True)
def fresh_cache():
    faces._cache.clear()
    yield
    faces._cache.clear()


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return load_image(sample_path("content_portrait_astronaut.jpg"))


def _photo(path: Path) -> torch.Tensor:
    if not path.exists():
        pytest.skip(f"{path.name} not found in {path.parent}")
    return load_image(path)


def test_astronaut_has_one_face_inside_her_head(astronaut):
    found = detect_faces(astronaut)
    assert len(found) == 1, found
    face = found[0]
    x0, y0, x1, y1 = ASTRONAUT_HEAD
    cx, cy = face.centre
    assert x0 < cx < x1 and y0 < cy < y1, (face, ASTRONAUT_HEAD)
    assert 0.1 < face.x1 - face.x0 < 0.3 and face.score > faces.SHORT_RANGE.min_score
    (rx, ry), (lx, ly), nose, (mx, my) = face.keypoints[:4]
    assert len(face.keypoints) == 6 and rx < lx and max(ry, ly) < nose[1] < my  # eyes above the nose above the mouth
    assert all(face.x0 < x < face.x1 and face.y0 < y < face.y1 for x, y in face.keypoints[:4])


@pytest.mark.parametrize("name", ["content_city_skyline.jpg", "style_kandinsky_composition_vii.jpg",
                                  "style_vangogh_starry_night.jpg", "content_animal_beagle.jpg"])
def test_no_faces_without_people(name):
    assert detect_faces(load_image(sample_path(name), long_edge=1024)) == ()


@pytest.mark.parametrize("which", ["astronaut", "two men"])
def test_faces_survive_a_resize(which, astronaut):
    photo = astronaut if which == "astronaut" else _photo(TWO_MEN)
    at = {size: detect_faces(resize_long_edge(photo, size)) for size in (512, 1024)}
    assert len(at[512]) == len(at[1024]) == (1 if which == "astronaut" else 2)
    for small in at[512]:
        big = min(at[1024], key=lambda f: abs(f.centre[0] - small.centre[0]) + abs(f.centre[1] - small.centre[1]))
        a = np.array([small.x0, small.y0, small.x1, small.y1])
        b = np.array([big.x0, big.y0, big.x1, big.y1])
        assert np.abs(a - b).max() < 0.02, (small, big)  # 2 % of the photo; the faces are 6-20 % wide


def test_a_close_up_is_found():
    """A face filling the frame is short range's: full range alone misses it."""
    (face,) = detect_faces(_photo(CLOSE_UP))
    assert face.x1 - face.x0 > 0.4 and 0.4 < face.centre[0] < 0.6


def test_small_faces_in_a_group_photo():
    """Faces a few percent of the photo wide are the tiles' (full range on the whole photo misses them)."""
    found = detect_faces(resize_long_edge(_photo(LAB), 1024))
    assert len(found) >= 3, found
    for face in found:
        cx, cy = face.centre
        assert any(x0 < cx < x1 and y0 < cy < y1 for x0, y0, x1, y1 in LAB_HEADS), face


def test_faces_stay_put_on_a_wider_photo(astronaut):
    """The letterbox is undone: the astronaut on the left of a photo half as wide again has her face
    at the same pixels (its x fractions scaled by 512 / 768), not shifted by the padding."""
    wide = torch.cat([astronaut, torch.full((1, 3, 512, 256), 0.5)], dim=3)
    (alone,), (in_wide,) = detect_faces(astronaut), detect_faces(wide)
    assert abs(in_wide.x0 * 768 - alone.x0 * 512) < 6 and abs(in_wide.x1 * 768 - alone.x1 * 512) < 6
    assert abs(in_wide.y0 - alone.y0) * 512 < 6 and abs(in_wide.y1 - alone.y1) * 512 < 6


def test_ellipse_covers_the_face_and_fades_to_nothing(astronaut):
    face = detect_faces(astronaut)[0]
    hw = (300, 400)  # another size than the photo's: the face is in fractions
    mask = face.ellipse(hw)
    assert mask.shape == hw and float(mask.min()) >= 0 and float(mask.max()) <= 1
    cx, cy = face.centre
    assert float(mask[int(cy * hw[0]), int(cx * hw[1])]) == 1.0
    for x, y in face.keypoints[:4]:  # eyes, nose tip, mouth
        assert float(mask[int(y * hw[0]), int(x * hw[1])]) == 1.0
    assert float(mask[-1, -1]) == 0.0 and float(mask[0, -1]) == 0.0
    assert float(mask[int(cy * hw[0]), int(min(1.0, face.x1 + (face.x1 - face.x0)) * hw[1]) - 1]) == 0.0  # a face's width to the side


def test_small_photo_has_no_faces_and_a_wrong_shape_is_refused(astronaut, monkeypatch):
    monkeypatch.setattr(faces, "find", lambda *a, **k: pytest.fail("a photo too small to hold a face was searched"))
    assert detect_faces(resize_long_edge(astronaut, faces.MIN_SIDE - 1)) == ()
    with pytest.raises(ValueError, match="1x3xHxW"):
        detect_faces(astronaut[0])


def test_the_same_photo_is_answered_from_the_cache(astronaut, monkeypatch):
    first = detect_faces(astronaut)
    monkeypatch.setattr(faces, "find", lambda *a, **k: pytest.fail("detected again"))
    assert detect_faces(astronaut.clone()) is first  # same content, another tensor
    changed = astronaut.clone()
    changed[0, :, 0, 0] = 1 - changed[0, :, 0, 0]
    with pytest.raises(pytest.fail.Exception, match="detected again"):
        detect_faces(changed)


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Weight search sees only an empty ``tmp_path/weights`` (as tests/test_weights.py)."""
    d = tmp_path / "weights"
    d.mkdir()
    monkeypatch.setattr(weights, "search_dirs", lambda explicit=None: [Path(explicit)] if explicit else [d])
    weights._verified.clear()
    return d


def test_a_missing_model_names_the_file(no_weights, astronaut):
    with pytest.raises(WeightsError) as exc:
        detect_faces(astronaut)
    assert "face_detection_short_range.tflite" in str(exc.value) and "brushwork weights fetch face/short-range" in str(exc.value)


def test_a_damaged_model_is_reported_as_corrupt(no_weights, astronaut):
    entry = weights.load_manifest()["face/short-range"]
    bad = no_weights / entry.path
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(WeightsError, match="corrupt") as exc:
        detect_faces(astronaut)
    assert "face_detection_short_range.tflite" in str(exc.value)


def test_anchors_are_mediapipes():
    short = faces.ssd_anchors(128, (8, 16, 16, 16), 1.0)
    full = faces.ssd_anchors(192, (4,), 0.0)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # short range: a 16 x 16 grid of 2 anchors per cell, then an 8 x 8 grid of 6 (three layers of 2)
    assert np.allclose(short[0], short[1]) and np.allclose(short[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(short[2], [1.5 / 16, 0.5 / 16]) and np.allclose(short[511], [15.5 / 16, 15.5 / 16])
    assert np.allclose(short[512:518], [0.5 / 8, 0.5 / 8]) and np.allclose(short[518], [1.5 / 8, 0.5 / 8])
    assert np.allclose(full[1], [1.5 / 48, 0.5 / 48]) and np.allclose(full[48], [0.5 / 48, 1.5 / 48])


def test_weighted_suppression_averages_overlapping_boxes_by_score():
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], float)
    one_model = faces.Detections(boxes, np.array([0.9, 0.3, 0.8]), np.zeros((3, 6, 2)), np.ones(3, bool))
    kept = faces.weighted_nms(one_model)
    assert kept.scores.tolist() == [0.9, 0.8]  # the best of each group keeps its score
    assert np.allclose(kept.boxes[0], [0.5, 0, 10.5, 10])  # (0.9 * 0 + 0.3 * 2) / 1.2
    assert np.allclose(kept.boxes[1], [50, 50, 60, 60])
    # short range (places False) scores best on the first face, but full range's box places it
    mixed = faces.weighted_nms(faces.Detections(boxes, np.array([0.9, 0.3, 0.8]), np.zeros((3, 6, 2)),
                                                np.array([False, True, False])))
    assert mixed.scores.tolist() == [0.9, 0.8]
    assert np.allclose(mixed.boxes, [[2, 0, 12, 10], [50, 50, 60, 60]])


def test_face_in_fractions_serves_any_size():
    face = Face(0.25, 0.5, 0.75, 1.0)
    assert face.box_px((100, 200)) == (50, 50, 150, 100)
