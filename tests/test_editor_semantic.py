"""The editor's semantic features, driven as a user would (offscreen), with the real models:
one-click Auto regions by meaning, the select tool, keep shape, protect faces, the per-photo
scene analysis, and a missing semantic model.

Photos are read at 512 px (the city) or their own 512 px (the astronaut) to keep a 2-core CPU free.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

import numpy as np
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from engine import params as params_mod
from engine import weights
from engine.images import load_image, resize_long_edge
from engine.project import ProjectSegment
from engine.registry import segmenters, strategies

from editor import scene_analysis
from editor.canvas import Tool
from editor.conversions import mask_to_array
from editor.document import StyleItem
from editor.mainwindow import MainWindow
from editor.select_tool import GroupLabels

from conftest import sample_path

ROOT = Path(__file__).resolve().parent.parent
CITY = ROOT / "resources" / "samples" / "content_city_skyline.jpg"

pytestmark = pytest.mark.skipif("semantic" not in segmenters.names(), reason="semantic segmenter not installed")


@pytest.fixture()
def window(qtbot, tmp_path, monkeypatch, style):
    monkeypatch.setenv("BRUSHWORK_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("BRUSHWORK_PRESETS_DIR", str(tmp_path / "presets"))
    w = MainWindow(autosave_s=3600)
    w.resize(1200, 800)
    w.show()
    w.doc.add_style(StyleItem("starry", image=resize_long_edge(style, 96)))
    w.strategy_panel.device.setCurrentIndex(w.strategy_panel.device.findData("cpu"))
    yield w
    w.live.set_enabled(False)
    w.scene.wait(60)
    w.segmenter.wait(120)
    w.queue.cancel()
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()
    w.deleteLater()


def open_photo(window, path: Path, long_edge: int | None = 512) -> None:
    """As File > Open does (without the dialog): the scene analysis starts in the background."""
    window.doc.set_content(load_image(path, long_edge=long_edge), path.name)


def wait_for_scene(window, qtbot) -> None:
    qtbot.waitUntil(lambda: window.scene.state() == "ready", timeout=120_000)


def click(view, x: float, y: float, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """A left click at image pixel (x, y), with ``modifiers`` held."""
    pos = QPointF(view.mapFromScene(QPointF(x, y)))
    glob = QPointF(view.viewport().mapToGlobal(pos.toPoint()))
    for kind, buttons in ((QEvent.Type.MouseButtonPress, Qt.MouseButton.LeftButton),
                          (QEvent.Type.MouseButtonRelease, Qt.MouseButton.NoButton)):
        QApplication.sendEvent(view.viewport(), QMouseEvent(kind, pos, glob, Qt.MouseButton.LeftButton, buttons, modifiers))


def coverage(mask) -> tuple[float, float]:
    """(mean of the top tenth of rows, mean of the bottom half) of a region's mask, in [0, 1]."""
    m = mask_to_array(mask).astype(np.float32) / 255
    h = m.shape[0]
    return float(m[: h // 10].mean()), float(m[h // 2:].mean())


# ---------------------------------------------------------------- Auto regions by meaning
def test_one_click_of_auto_regions_gives_named_regions_in_distinct_colours(window, qtbot):
    open_photo(window, CITY)
    panel = window.regions_panel
    assert panel.auto_method_name() == "semantic"  # by meaning is the default with the model present
    qtbot.mouseClick(panel.auto_button, Qt.MouseButton.LeftButton)  # at once: it waits for the analysis
    qtbot.waitUntil(lambda: bool(window.doc.regions), timeout=120_000)
    names = [r.name for r in window.doc.regions]
    assert {"Sky", "Buildings"} <= set(names), names
    colours = [r.colour.name() for r in window.doc.regions]
    assert len(set(colours)) == len(colours), colours
    assert colours == [s.colour for s in window.doc.segments]  # each group's own colour (sky blue...)
    sky = next(r for r in window.doc.regions if r.name == "Sky")
    top, bottom = coverage(sky.mask)
    assert top > 0.9 and bottom < 0.05, (top, bottom)
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == names  # shown by name
    window.doc.undo_stack.undo()  # one step removes them all
    assert window.doc.regions == []


# ---------------------------------------------------------------- the select tool
def test_select_tool_adds_the_clicked_sky_undoes_and_subtracts_with_alt(window, qtbot):
    open_photo(window, CITY)
    region = window.regions_panel.add_region()
    window.set_tool(Tool.SELECT)
    w = window.doc.content.width()
    click(window.canvas, w / 2, 6)  # before the analysis landed: said, nothing changes
    assert "still finding" in window.statusBar().currentMessage()
    assert mask_to_array(region.mask).max() == 0
    wait_for_scene(window, qtbot)

    steps = window.doc.undo_stack.count()
    click(window.canvas, w / 2, 6)
    top, bottom = coverage(region.mask)
    assert top > 0.9 and bottom < 0.05, (top, bottom)
    assert window.doc.undo_stack.count() == steps + 1  # one undo step, like a stroke
    window.doc.undo_stack.undo()
    assert mask_to_array(region.mask).max() == 0

    window.canvas.fill_all_active()
    click(window.canvas, w / 2, 6, Qt.KeyboardModifier.AltModifier)  # Alt takes the sky away
    top, bottom = coverage(region.mask)
    assert top < 0.05 and bottom > 0.95, (top, bottom)
    click(window.canvas, w / 2, 6, Qt.KeyboardModifier.ShiftModifier)  # Shift adds it back
    assert coverage(region.mask)[0] > 0.9


def test_a_click_takes_the_connected_piece_of_its_group_only():
    """Sky on both sides of a tower: a click on the left sky takes the left sky, soft at its edge."""
    sky = torch.zeros(40, 60)
    sky[:20, :25] = sky[:20, 35:] = 1.0
    labels = GroupLabels((ProjectSegment("Sky", sky, "#3c8ce0"), ProjectSegment("Buildings", 1 - sky, "#b4643c")))
    segment, piece = labels.piece(5, 5)
    assert segment.name == "Sky"
    assert piece[:20, :25].min() == 255 and piece[:20, 35:].max() == 0 and piece[25:].max() == 0
    segment, piece = labels.piece(30, 5)  # the tower between them
    assert segment.name == "Buildings" and piece[:20, 30].min() == 255 and piece[:20, :25].max() == 0


def test_select_tool_restyles_the_canvas_in_live_mode(window, qtbot):
    open_photo(window, CITY, long_edge=256)
    wait_for_scene(window, qtbot)
    region = window.regions_panel.add_region()
    window.doc.set_region_attr(region, "style", "starry")
    window.canvas.fill_all_active()
    with qtbot.waitSignal(window.live.shown, timeout=120_000):
        window.live.set_enabled(True)
    first = window.live.last_image
    window.set_tool(Tool.SELECT)
    with qtbot.waitSignal(window.live.shown, timeout=60_000):
        click(window.canvas, window.doc.content.width() / 2, 4, Qt.KeyboardModifier.AltModifier)
    after = window.live.last_image
    photo = resize_long_edge(window.doc.content_tensor(), max(after.shape[-2:]))
    top = slice(0, after.shape[-2] // 10)
    assert float((first - photo)[..., top, :].abs().mean()) > 0.05  # the sky was styled
    assert float((after - photo)[..., top, :].abs().mean()) < 0.02  # out of the region: the photo's own sky


# ---------------------------------------------------------------- keep shape and protect faces
def test_keep_shape_and_protect_faces_reach_the_job_and_survive_save_and_open(window, qtbot, tmp_path):
    open_photo(window, sample_path("content_portrait_astronaut.jpg"), long_edge=None)
    wait_for_scene(window, qtbot)
    assert len(window.doc.faces) == 1
    panel, strategy = window.regions_panel, window.strategy_panel
    region = panel.add_region()
    window.doc.set_region_attr(region, "style", "starry")
    window.canvas.fill_all_active()

    assert strategy.protect_faces.isChecked() and window.doc.protect_faces  # on by default
    assert window.face_overlay.item.isVisible()  # outlined while the regions show
    steps = window.doc.undo_stack.count()
    panel.keep_shape.setValue(40)
    panel.keep_shape.setValue(60)  # a drag: one undo step
    assert region.keep_shape == pytest.approx(0.6) and panel.keep_shape_label.text() == "60 %"
    assert window.doc.undo_stack.count() == steps + 1
    window.doc.undo_stack.undo()
    assert region.keep_shape == 0.0 and panel.keep_shape.value() == 0
    window.doc.undo_stack.redo()
    assert region.keep_shape == pytest.approx(0.6)
    strategy.protect_faces.setChecked(False)
    assert window.doc.protect_faces is False and not window.face_overlay.item.isVisible()

    cls = strategies.get("universal")
    job = window.doc.build_job(cls.name, params_mod.make(cls.Params, {}), True)
    assert job.regions[0].keep_shape == pytest.approx(0.6)
    assert job.protect_faces is False and job.faces == window.doc.faces
    assert window.live.job().faces == window.doc.faces  # the live job too

    path = tmp_path / "astronaut.brushwork"
    assert window.save_to(path)
    other = MainWindow(autosave_s=3600)
    qtbot.addWidget(other)
    assert other.open_project(path)
    assert other.doc.regions[0].keep_shape == pytest.approx(0.6)
    assert other.regions_panel.keep_shape.value() == 60
    assert other.doc.protect_faces is False and not other.strategy_panel.protect_faces.isChecked()
    assert other.doc.faces == window.doc.faces
    assert [s.name for s in other.doc.segments] == [s.name for s in window.doc.segments]
    assert other.scene.runs == 0 and other.scene.state() == "ready"  # served from the project: no model runs
    job = other.doc.build_job(cls.name, params_mod.make(cls.Params, {}), True)
    assert job.regions[0].keep_shape == pytest.approx(0.6) and job.protect_faces is False and len(job.faces) == 1
    other.close()


def test_face_outlines_hide_over_a_finished_render(window, qtbot):
    open_photo(window, sample_path("content_portrait_astronaut.jpg"), long_edge=None)
    wait_for_scene(window, qtbot)
    overlay = window.face_overlay.item
    assert overlay.isVisible() and overlay.polygons
    x0, y0, x1, y1 = window.doc.faces[0].box_px((512, 512))
    box = overlay.boundingRect()
    assert box.contains(QPointF((x0 + x1) / 2, (y0 + y1) / 2))  # around the face, not the picture
    assert box.width() < 0.5 * 512
    window.regions_panel.add_region()
    window.canvas.show_image(window.doc.content_tensor())  # a render landed: shown untinted
    assert not overlay.isVisible()
    window.set_tool(Tool.BRUSH)  # back to the regions
    assert overlay.isVisible()


# ---------------------------------------------------------------- once per photo
def test_the_scene_is_read_once_per_photo(window, qtbot, monkeypatch):
    reads = []
    real = scene_analysis.read_scene
    monkeypatch.setattr(scene_analysis, "read_scene", lambda content: (reads.append(content), real(content))[1])
    open_photo(window, CITY)
    wait_for_scene(window, qtbot)
    segments = window.doc.segments
    assert len(reads) == 1 and window.scene.runs == 1 and segments
    assert window.scene.ask() is False  # a second ask is served from the document
    window.regions_panel.add_region()
    window.set_tool(Tool.SELECT)
    click(window.canvas, window.doc.content.width() / 2, 6)
    qtbot.mouseClick(window.regions_panel.auto_button, Qt.MouseButton.LeftButton)
    assert len(reads) == 1 and window.doc.segments is segments
    open_photo(window, sample_path("content_portrait_astronaut.jpg"), long_edge=None)
    assert window.doc.segments == () and window.doc.faces == ()  # forgotten with the photo they described
    wait_for_scene(window, qtbot)
    assert len(reads) == 2 and window.doc.segments is not segments


# ---------------------------------------------------------------- a missing model
@pytest.fixture()
def no_semantic_model(tmp_path, monkeypatch):
    """Weights are looked up in a folder holding every file but the semantic model."""
    present = {name: weights.status(name) for name in weights.load_manifest()}
    folder = tmp_path / "weights"
    for name, entry in weights.load_manifest().items():
        state, path = present[name]
        if state == "present" and name != "semantic/ade20k":
            (folder / entry.path).parent.mkdir(parents=True, exist_ok=True)
            (folder / entry.path).symlink_to(path)
    monkeypatch.setattr(weights, "search_dirs", lambda explicit=None: [Path(explicit)] if explicit else [folder])
    monkeypatch.setattr(weights, "_verified", {})
    from plugins.segment_semantic import segmenter as semantic  # the test may reach the plugin; the editor never does

    semantic.clear_cache()
    yield folder
    semantic.clear_cache()


def test_a_missing_semantic_model_is_said_once_and_auto_regions_works_by_colour(window, qtbot, no_semantic_model):
    said = []
    window.statusBar().messageChanged.connect(lambda m: said.append(m) if m else None)
    open_photo(window, CITY, long_edge=256)
    wait_for_scene(window, qtbot)
    notes = [m for m in said if "deeplabv3-mobilenetv2-ade20k.tflite" in m]
    assert len(notes) == 1 and "by colour" in notes[0] and "weights fetch" in notes[0], said
    panel = window.regions_panel
    assert panel.auto_method_name() == "clusters"  # by colour is the default without the model

    panel.set_auto_method("semantic")  # the artist asks for by meaning anyway
    with qtbot.waitSignal(window.segmenter.finished, timeout=180_000):
        qtbot.mouseClick(panel.auto_button, Qt.MouseButton.LeftButton)
        message = window.statusBar().currentMessage()
    assert "by meaning is unavailable" in message and "by colour instead" in message
    assert "deeplabv3-mobilenetv2-ade20k.tflite" in message
    assert len(window.doc.regions) >= 2 and window.doc.regions[0].name == "Auto 1"

    region = window.doc.regions[0]
    before = mask_to_array(region.mask).copy()
    window.regions_panel.select(region)
    window.set_tool(Tool.SELECT)
    click(window.canvas, window.doc.content.width() / 2, 4)
    assert "semantic groups" in window.statusBar().currentMessage()
    assert np.array_equal(mask_to_array(region.mask), before)

    open_photo(window, sample_path("content_portrait_astronaut.jpg"), long_edge=256)
    wait_for_scene(window, qtbot)
    assert len(window.doc.faces) == 1  # faces need no semantic model
    assert len([m for m in said if "Until it is there" in m]) == 1  # said once, not per photo
