"""A clip in the editor (offscreen): open it, scrub to a frame, paint, preview, export with
progress and cancel. Real decoding (PyAV) and real AdaIN renders on a tiny panned photo.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import numpy as np
import torch

from engine.images import resize_long_edge
from engine.project import Project

from editor.conversions import array_to_mask
from editor.document import StyleItem
from editor.mainwindow import MainWindow
from editor.video_export import VideoExportSettings

from test_video import H, W, pan_frames, read_clip, write_clip  # noqa: E402  (the same known-motion clip)

FRAMES = 10


@pytest.fixture(scope="module")
def clip_path(content_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("editor-clips") / "pan.mp4"
    write_clip(path, pan_frames(content_path, FRAMES), audio=True)
    return path


@pytest.fixture(scope="module")
def decoded(clip_path) -> list[np.ndarray]:
    return read_clip(clip_path)[0]


@pytest.fixture()
def window(qtbot, tmp_path, monkeypatch, style):
    monkeypatch.setenv("BRUSHWORK_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = MainWindow(autosave_s=3600)
    w.resize(1200, 800)
    w.show()
    w.doc.add_style(StyleItem("starry", image=resize_long_edge(style, 96)))
    w.strategy_panel.select("adain")
    w.strategy_panel.size.setValue(W)
    w.strategy_panel.device.setCurrentIndex(w.strategy_panel.device.findData("cpu"))
    yield w
    w.cancel()
    w.video_exporter.wait(30)
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()
    w.deleteLater()


def content_u8(w: MainWindow) -> np.ndarray:
    return (w.doc.content_tensor()[0].permute(1, 2, 0).numpy() * 255).round().astype(np.int16)


def test_open_video_shows_frame_0_and_the_scrubber_picks_another_keeping_the_regions(qtbot, window, clip_path, decoded):
    w = window
    assert not w.export_video_action.isEnabled() and w.clip_bar.isHidden()
    assert w.open_video(clip_path)
    assert w.clip_bar.isVisible() and w.export_video_action.isEnabled()
    assert w.scrubber.slider.maximum() == FRAMES - 1
    assert np.abs(content_u8(w) - decoded[0]).max() <= 1
    assert "1 / 10" in w.scrubber.label.text()

    region = w.regions_panel.add_region()
    mask = np.zeros((H, W), np.uint8)
    mask[:, : W // 2] = 255
    w.doc.set_mask(region, array_to_mask(mask))
    w.doc.set_region_attr(region, "style", "starry")

    w.scrubber.slider.setValue(6)  # as a drag would: decoded off the GUI thread
    qtbot.waitUntil(lambda: w.doc.clip_frame == 6, timeout=20_000)
    assert np.abs(content_u8(w) - decoded[6]).max() <= 1
    assert np.abs(content_u8(w) - decoded[0]).mean() > 5  # the pan moved it
    assert w.doc.regions == [region] and region.style == "starry"  # regions stay on every frame
    assert "7 / 10" in w.scrubber.label.text()

    # Render previews the frame on the canvas: the result is that frame restyled
    with qtbot.waitSignal(w.queue.finished, timeout=120_000):
        w.render()
    result = w.doc.result.image[0].permute(1, 2, 0).numpy()
    assert result.shape[:2] == (H, W)
    photo = decoded[6].astype(np.float32) / 255
    inside = np.abs(result[:, : W // 2 - 6] - photo[:, : W // 2 - 6]).mean()
    outside = np.abs(result[:, W // 2 + 6:] - photo[:, W // 2 + 6:]).mean()
    assert inside > 0.05 and outside < 0.01  # styled in the painted half, the photo kept beside it


def test_export_video_writes_every_frame_with_progress(qtbot, window, clip_path, tmp_path):
    w = window
    assert w.open_video(clip_path)
    out = tmp_path / "styled.mp4"
    seen: list[tuple[int, int]] = []
    w.video_exporter.progressed.connect(lambda done, total: seen.append((done, total)))
    with qtbot.waitSignal(w.video_exporter.finished, timeout=240_000):
        assert w.export_video(VideoExportSettings(out, size=None, temporal=True))
    frames, _, rate, audio = read_clip(out)
    _, _, in_rate, in_audio = read_clip(clip_path)
    assert len(frames) == FRAMES and rate == in_rate and [n for n, _ in audio] == [n for n, _ in in_audio]
    assert frames[0].shape == (H, W, 3)
    assert seen[-1] == (FRAMES, FRAMES) and [d for d, _ in seen] == list(range(1, FRAMES + 1))
    assert w.job_panel.stage.text().startswith("Done: exported styled.mp4")
    assert w.job_panel.bar.value() == 1


def test_cancelled_video_export_leaves_nothing(qtbot, window, clip_path, tmp_path):
    w = window
    assert w.open_video(clip_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    w.video_exporter.progressed.connect(lambda done, total: w.cancel())  # Esc after the first frame
    with qtbot.waitSignal(w.video_exporter.cancelled, timeout=120_000):
        assert w.export_video(VideoExportSettings(out_dir / "styled.mp4"))
    w.video_exporter.wait(10)
    assert list(out_dir.iterdir()) == []
    assert "nothing was written" in w.job_panel.stage.text()


def test_a_file_that_is_not_a_video_is_refused_and_the_canvas_kept(qtbot, window, tmp_path, content):
    w = window
    w.doc.set_content(resize_long_edge(content, 64), "beagle.jpg")
    before = w.doc.content_tensor()
    bad = tmp_path / "holiday.mp4"
    bad.write_bytes(b"this is not a video at all" * 40)
    assert not w.open_video(bad)
    assert w.doc.content_tensor() is before and w.clip is None and w.clip_bar.isHidden()
    assert "holiday.mp4" in w.last_alert.text()


def test_opening_a_photo_closes_the_clip(qtbot, window, clip_path, content_path):
    w = window
    assert w.open_video(clip_path)
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    assert w.open_image(content_path)
    assert w.clip is None and w.clip_bar.isHidden() and not w.export_video_action.isEnabled()
    assert w.doc.content_name == content_path.name
    assert torch.is_tensor(w.doc.content_tensor())


def test_a_project_saved_on_a_clip_reopens_the_clip_at_its_frame(qtbot, window, clip_path, decoded, tmp_path,
                                                                  content_path):
    """The project keeps the clip's path and frame (not the clip): reopened, the scrubber and
    Export video are back on that frame; with the clip gone it opens as that frame alone."""
    w = window
    clip = tmp_path / "shot.mp4"
    clip.write_bytes(clip_path.read_bytes())
    assert w.open_video(clip)
    region = w.regions_panel.add_region()
    w.doc.set_region_attr(region, "style", "starry")
    w.scrubber.slider.setValue(4)
    qtbot.waitUntil(lambda: w.doc.clip_frame == 4, timeout=20_000)
    project = tmp_path / "shot.brushwork"
    assert w.save_to(project)

    w.load(Project())  # an empty document first
    assert w.clip is None and w.clip_bar.isHidden()
    assert w.open_project(project)
    assert w.clip is not None and w.clip_bar.isVisible() and w.export_video_action.isEnabled()
    assert w.doc.clip_frame == 4 and "5 / 10" in w.scrubber.label.text() and w.scrubber.slider.value() == 4
    assert np.abs(content_u8(w) - decoded[4]).max() <= 1 and [r.name for r in w.doc.regions] == [region.name]
    w.scrubber.slider.setValue(7)  # the scrubber decodes from the reopened clip
    qtbot.waitUntil(lambda: w.doc.clip_frame == 7, timeout=20_000)
    assert np.abs(content_u8(w) - decoded[7]).max() <= 1

    clip.unlink()
    assert w.open_project(project)
    assert w.clip is None and w.clip_bar.isHidden() and not w.export_video_action.isEnabled()
    assert np.abs(content_u8(w) - decoded[4]).max() <= 1  # the saved frame, as a picture
    assert "shot.mp4" in w.statusBar().currentMessage()

    # another clip of another size in its place: not taken for the project's
    write_clip(clip, [f[: H // 2, : W // 2].copy() for f in pan_frames(content_path, 3)])
    assert w.open_project(project)
    assert w.clip is None and w.clip_bar.isHidden()
    assert "not the project's size" in w.statusBar().currentMessage()
    assert np.abs(content_u8(w) - decoded[4]).max() <= 1
