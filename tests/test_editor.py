"""The editor, driven as a user would (offscreen): painting, undo, real jobs, compare, export, projects.

Jobs are real (real engine, real weights) but tiny: 64 px with the distilled loss network.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from engine import params as params_mod
from engine.images import resize_long_edge
from engine.metrics import style_distance
from engine.registry import strategies

from editor.canvas import Tool
from editor.compare import Variant
from editor.conversions import mask_to_array
from editor.document import StyleItem
from editor.export_dialog import ExportSettings
from editor.mainwindow import MainWindow
from editor.param_form import ParamForm

FAST_GATYS = {"net": "distilled16x", "steps": 12, "optimizer": "lbfgs"}


@pytest.fixture()
def window(qtbot, tmp_path, monkeypatch, content, style):
    monkeypatch.setenv("BRUSHWORK_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("BRUSHWORK_PRESETS_DIR", str(tmp_path / "presets"))
    w = MainWindow(autosave_s=3600)  # closed below, not by qtbot (it would close before the reset)
    w.resize(1200, 800)
    w.show()
    w.doc.set_content(resize_long_edge(content, 128), "beagle.jpg")
    w.doc.add_style(StyleItem("starry", image=resize_long_edge(style, 96)))
    w.strategy_panel.select("gatys")
    w.strategy_panel.set_values(FAST_GATYS)
    w.strategy_panel.size.setValue(64)
    w.strategy_panel.device.setCurrentIndex(w.strategy_panel.device.findData("cpu"))
    yield w
    w.queue.cancel()
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()
    w.deleteLater()


def _mouse(view, kind, scene_pt, buttons=Qt.MouseButton.LeftButton, button=Qt.MouseButton.LeftButton):
    pos = QPointF(view.mapFromScene(scene_pt))
    ev = QMouseEvent(kind, pos, QPointF(view.viewport().mapToGlobal(pos.toPoint())), button, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), ev)


def stroke(view, points):
    _mouse(view, QEvent.Type.MouseButtonPress, QPointF(*points[0]))
    for p in points[1:]:
        _mouse(view, QEvent.Type.MouseMove, QPointF(*p), button=Qt.MouseButton.NoButton)
    _mouse(view, QEvent.Type.MouseButtonRelease, QPointF(*points[-1]), buttons=Qt.MouseButton.NoButton)


# ---------------------------------------------------------------- painting and undo
@pytest.mark.parametrize("zoom", [0.5, 4.0])
def test_brush_stroke_changes_the_mask_and_undo_restores_it(window, zoom):
    region = window.regions_panel.add_region()
    assert window.canvas.active is region
    window.canvas.set_zoom(zoom)
    window.canvas.centerOn(64, 40)
    window.canvas.set_brush(window.canvas.brush.__class__(size=6, hardness=1.0, opacity=1.0))
    before = mask_to_array(region.mask).copy()
    assert before.max() == 0
    # two mouse events far apart: the stroke must still be continuous between them
    stroke(window.canvas, [(50, 40), (80, 40)])
    after = mask_to_array(region.mask)
    assert after[40, 50:81].min() > 200, "a stroke leaves gaps between mouse events"
    assert after[:30].max() == 0 and after[51:].max() == 0, "paint spilled far outside the brush"
    window.undo_action.trigger()
    assert np.array_equal(mask_to_array(region.mask), before)
    window.redo_action.trigger()
    assert np.array_equal(mask_to_array(region.mask), after)


def test_eraser_fill_clear_are_undoable_steps(window):
    region = window.regions_panel.add_region()
    window.canvas.fill_all_active()
    assert mask_to_array(region.mask).min() == 255
    window.set_tool(Tool.ERASER)
    window.canvas.set_brush(window.canvas.brush.__class__(size=10, hardness=1.0, opacity=1.0))
    stroke(window.canvas, [(20, 20), (40, 20)])
    m = mask_to_array(region.mask)
    assert m[20, 22:38].max() < 30 and m[60, 60] == 255
    window.canvas.clear_active()
    assert mask_to_array(region.mask).max() == 0
    steps = window.doc.undo_stack.count()
    window.doc.undo_stack.undo()
    window.doc.undo_stack.undo()
    assert np.array_equal(mask_to_array(region.mask), np.full_like(m, 255))
    assert steps == 4  # add region, fill, erase, clear


def test_fill_tool_floods_the_clicked_colour_only(window):
    img = torch.zeros(1, 3, 60, 80)
    img[..., :, 40:] = 1.0  # left half black, right half white
    window.doc.set_content(img, "halves.png")
    region = window.regions_panel.add_region()
    window.set_tool(Tool.FILL)
    _mouse(window.canvas, QEvent.Type.MouseButtonPress, QPointF(10, 10))
    _mouse(window.canvas, QEvent.Type.MouseButtonRelease, QPointF(10, 10), buttons=Qt.MouseButton.NoButton)
    m = mask_to_array(region.mask)
    assert m[:, :40].min() == 255 and m[:, 40:].max() == 0


def test_region_edits_are_undoable(window):
    panel = window.regions_panel
    region = panel.add_region()
    panel.rename(region, "Sky")
    panel.recolour(region, QColor("#00ff00"))
    item = panel.list.item(0)
    item.setCheckState(Qt.CheckState.Unchecked)  # hide it, as a click on its check box does
    assert region.visible is False and not window.canvas._overlays[region.id].isVisible()
    panel.remove_selected()
    assert window.doc.regions == []
    window.doc.undo_stack.undo()
    assert region in window.doc.regions
    window.doc.undo_stack.undo()
    assert region.visible and window.canvas._overlays[region.id].isVisible()
    for _ in range(2):
        window.doc.undo_stack.undo()
    assert window.doc.regions == [region]
    assert region.name.startswith("Region") and region.colour.name() != "#00ff00"


def test_brush_shortcuts(window, qtbot):
    window.canvas.setFocus()
    size = window.canvas.brush.size
    qtbot.keyClick(window.canvas, Qt.Key.Key_BracketRight)
    assert window.canvas.brush.size > size
    qtbot.keyClick(window.canvas, Qt.Key.Key_E)
    assert window.canvas.tool is Tool.ERASER
    qtbot.keyClick(window.canvas, Qt.Key.Key_B)
    assert window.canvas.tool is Tool.BRUSH


# ---------------------------------------------------------------- strategy forms and presets
def test_forms_are_generated_for_every_registered_strategy(qtbot):
    assert strategies.names(), "no strategy registered"
    for name, cls in strategies.all().items():
        form = ParamForm(cls.Params)
        qtbot.addWidget(form)
        specs = params_mod.specs(cls.Params)
        assert set(form.widgets) == {s.name for s in specs}
        for s in specs:
            assert form.widgets[s.name].toolTip() == s.help
        # the defaults read back from the widgets make a valid Params
        assert params_mod.make(cls.Params, form.values()) == params_mod.make(cls.Params, {})


def test_presets_save_and_load(window):
    panel = window.strategy_panel
    panel.set_values({**FAST_GATYS, "steps": 33, "layers": "fine"})
    panel.save_preset("my fine")
    panel.set_values({})
    assert panel.values()["steps"] != 33
    assert panel.load_preset("my fine")
    assert panel.values()["steps"] == 33 and panel.values()["layers"] == "fine"


def test_bundled_presets_are_valid_for_their_strategies():
    from editor.presets import presets_for
    from engine import params

    for name in ("universal", "gatys", "multiscale"):
        found = [p for p in presets_for(name) if p.bundled]
        assert found, name
        for preset in found:  # every bundled preset's values are in range for its strategy
            params.make(strategies.get(name).Params, preset.params)
    assert {p.params.get("depth") for p in presets_for("universal")} >= {3, 5}


# ---------------------------------------------------------------- jobs
def test_a_real_job_streams_previews_then_a_result(window, qtbot, style):
    previews = []
    window.queue.progressed.connect(lambda info, preview: previews.append(preview) if preview is not None else None)
    window.canvas.set_zoom(0.5)  # the canvas shows 64 px, so the render is 64 px (editor.sharpness)
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        job_id = window.render()
    assert job_id is not None
    assert previews, "no preview reached the GUI"
    assert not window.canvas.result_item.pixmap().isNull()
    result = window.doc.result
    assert result is not None and max(result.image.shape[-2:]) == 64
    # the texture statistics moved towards the style
    content_small = resize_long_edge(window.doc.content_tensor(), 64)
    assert style_distance(result.image, [style]) < 0.9 * style_distance(content_small, [style])
    assert "Done" in window.job_panel.stage.text()


def test_cancel_stops_a_running_job(window, qtbot):
    window.strategy_panel.set_values({**FAST_GATYS, "steps": 5000})
    started = []
    window.queue.progressed.connect(lambda info, _: started.append(info.step))
    job_id = window.render()
    qtbot.waitUntil(lambda: bool(started), timeout=60_000)
    with qtbot.waitSignal(window.queue.cancelled, timeout=30_000) as blocker:
        window.cancel()
    assert blocker.args == [job_id]
    assert max(started) < 5000
    assert window.doc.result is None
    assert window.job_panel.stage.text() == "Cancelled"
    # the session is still usable: a new job runs
    window.strategy_panel.set_values(FAST_GATYS)
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        window.render()


def test_errors_are_shown_with_a_fix_and_the_session_goes_on(window):
    window.doc.styles[0].active = False
    assert window.render() is None
    assert "no style" in window.last_alert.text().lower()
    assert window.job_panel.error.isVisibleTo(window.job_panel)


def test_compare_gives_one_result_per_strategy(window, qtbot):
    variants = [Variant("gatys draft", "gatys", FAST_GATYS),
                Variant("gatys fine layers", "gatys", {**FAST_GATYS, "layers": "fine"})]
    if "masked" in strategies.names():
        variants.append(Variant("masked", "masked", {"net": "distilled16x", "start_size": 64, "coarse_steps": 8,
                                                     "fine_steps": 2}))
    cw = window.compare(variants)
    qtbot.addWidget(cw)
    qtbot.waitUntil(lambda: all(c.entry is not None for c in cw.cells), timeout=240_000)
    assert [c.entry.strategy for c in cw.cells] == [v.strategy for v in variants]
    for c in cw.cells:
        assert " s · " in c.caption.text() and "style" in c.caption.text()
    # the grid's views move together
    cw.cells[0].view.set_zoom(3.0)
    assert all(abs(c.view.zoom() - 3.0) < 1e-6 for c in cw.cells)
    cw.cells[1].keep.click()
    assert window.doc.kept == [cw.cells[1].entry]


# ---------------------------------------------------------------- export
@pytest.mark.parametrize("suffix, depth", [(".png", 8), (".tif", 16)])
def test_export_writes_dpi_and_icc(window, qtbot, tmp_path, suffix, depth):
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        window.render()
    h, w = window.doc.result.image.shape[-2:]
    out = tmp_path / f"print{suffix}"
    with qtbot.waitSignal(window.exporter.finished, timeout=60_000):
        window.export(ExportSettings(out, w, h, 300.0, depth, 95, True))
    with Image.open(out) as im:
        assert im.size == (w, h)
        dpi = im.info.get("dpi")
        assert dpi is not None and abs(dpi[0] - 300) < 1
        assert im.info.get("icc_profile"), "no ICC profile embedded"
        if depth == 16:
            assert tuple(im.tag_v2.get(258)) == (16, 16, 16)  # 16 bits per channel really written


def test_failed_export_leaves_no_file(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        window.render()
    h, w = window.doc.result.image.shape[-2:]
    out = tmp_path / "print.jpg"
    with qtbot.waitSignal(window.exporter.failed, timeout=60_000):
        window.export(ExportSettings(out, w, h, 300.0, 16, 95, True))  # JPEG cannot hold 16 bits
    assert list(tmp_path.iterdir()) == []
    assert "16-bit" in window.last_alert.text()


# ---------------------------------------------------------------- projects
def test_project_round_trips_through_the_editor(window, qtbot, tmp_path):
    region = window.regions_panel.add_region()
    window.regions_panel.rename(region, "Dog")
    window.canvas.set_brush(window.canvas.brush.__class__(size=12, hardness=0.5, opacity=0.8))
    stroke(window.canvas, [(30, 30), (60, 50), (90, 30)])
    window.doc.set_region_attr(region, "style", "starry")
    window.strategy_panel.set_values({**FAST_GATYS, "steps": 77})
    window.strategy_panel.form.changed.emit()
    path = tmp_path / "dog.brushwork"
    assert window.save_to(path)
    assert "*" not in window.windowTitle()

    other = MainWindow(autosave_s=3600)
    qtbot.addWidget(other)
    assert other.open_project(path)
    r = other.doc.regions[0]
    assert (r.name, r.style) == ("Dog", "starry")
    assert np.array_equal(mask_to_array(r.mask), mask_to_array(region.mask))
    assert other.strategy_panel.strategy() == "gatys"
    assert other.strategy_panel.values()["steps"] == 77
    assert [s.name for s in other.doc.styles] == ["starry"]
    other.close()


def test_corrupt_project_gives_a_clear_error_and_keeps_the_session(window, tmp_path):
    bad = tmp_path / "broken.brushwork"
    bad.write_bytes(b"PK\x03\x04 definitely not a real zip")
    regions_before = list(window.doc.regions)
    assert not window.open_project(bad)
    assert "not a Brushwork project" in window.last_alert.text()
    assert window.doc.content_name == "beagle.jpg" and window.doc.regions == regions_before


def test_autosave_writes_a_recovery_file_that_opens(window, tmp_path):
    window.regions_panel.add_region()
    assert window.autosave.save_now()
    from engine.project import load_project

    assert [r.name for r in load_project(window.autosave.path).regions] == ["Region 1"]


def test_closing_with_unsaved_changes_asks_first(window, monkeypatch):
    window.regions_panel.add_region()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Cancel)
    assert not window.close()
    assert window.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    assert window.close()


def test_sample_opens_ready_to_render(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("BRUSHWORK_RECOVERY_DIR", str(tmp_path))
    from editor.sample import load_sample

    w = MainWindow(autosave_s=3600)
    qtbot.addWidget(w)
    w.load(load_sample())
    assert w.doc.content is not None and len(w.doc.styles) >= 3
    assert len(w.doc.regions) == 1
    sky = w.doc.regions[0]
    m = mask_to_array(sky.mask)
    assert sky.style and m[5].min() == 255 and m[-5].max() == 0  # the sky is painted, the city is not
    cls = w.strategy_panel.strategy_class()
    job = w.doc.build_job(cls.name, w.strategy_panel.params(), cls.honours_regions)
    assert len(job.regions) == (1 if cls.honours_regions else 0) and job.styles
    assert cls.name == "universal" and cls.honours_regions  # instant: Run shows a picture at once


def test_export_at_a_larger_size_renders_again_through_the_engine(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        window.render()
    h, w = window.doc.result.image.shape[-2:]
    out = tmp_path / "big.png"
    steps = []
    window.exporter.progressed.connect(lambda s, t, stage: steps.append(s))
    with qtbot.waitSignal(window.exporter.finished, timeout=180_000):
        window.export(ExportSettings(out, 2 * w, round(2 * h), 150.0, 8, 95, True))
    with Image.open(out) as im:
        assert max(im.size) == 2 * w and abs(im.info["dpi"][0] - 150) < 1
    assert len(steps) > 1, "the re-render sent no progress"


def test_dropping_files_opens_content_and_adds_styles(window, content_path, style2_path, monkeypatch):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDropEvent

    def drop(widget, path):
        # offscreen there is no drag in progress, so Qt would not deliver a synthetic drop: call the handler
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                        Qt.KeyboardModifier.NoModifier)
        widget.dropEvent(ev)

    n = len(window.doc.styles)
    drop(window.styles_panel.list, style2_path)
    assert len(window.doc.styles) == n + 1 and window.doc.styles[-1].image is not None
    window.regions_panel.add_region()
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Cancel)
    drop(window.canvas, content_path)
    assert asked and window.doc.content_name == "beagle.jpg" and len(window.doc.regions) == 1  # cancel keeps the work
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    drop(window.canvas, content_path)
    assert window.doc.content_name == content_path.name
    assert window.doc.content.width() == 1024 and window.doc.regions == []  # old masks do not fit a new picture


def test_zoom_and_pan(window, qtbot):
    c = window.canvas
    c.actual_size()
    assert c.zoom() == pytest.approx(1.0)
    c.zoom_by(16.0)
    assert c.zoom() == pytest.approx(16.0)
    c.centerOn(64, 40)
    before = c.horizontalScrollBar().value()
    mid = Qt.MouseButton.MiddleButton
    _mouse(c, QEvent.Type.MouseButtonPress, QPointF(64, 40), buttons=mid, button=mid)
    _mouse(c, QEvent.Type.MouseMove, QPointF(54, 40), buttons=mid, button=Qt.MouseButton.NoButton)
    _mouse(c, QEvent.Type.MouseButtonRelease, QPointF(54, 40), buttons=Qt.MouseButton.NoButton, button=mid)
    assert c.horizontalScrollBar().value() != before  # the middle button pans
    c.fit()
    assert c.zoom() > 1.0  # a 128 px picture fills the window


def test_recovery_is_offered_after_a_crash(window, qtbot, monkeypatch):
    from editor.app import offer_recovery

    region = window.regions_panel.add_region()
    window.regions_panel.rename(region, "Unsaved")
    assert window.autosave.save_now()
    fresh = MainWindow(autosave_s=3600)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    offer_recovery(fresh)
    assert [r.name for r in fresh.doc.regions] == ["Unsaved"]
    assert fresh.is_modified()  # recovered work is still unsaved work
    fresh.doc.undo_stack.setClean()
    fresh._extra_changes = False
    fresh.close()


def test_jobs_queue_one_after_another(window, qtbot):
    order = []
    window.queue.started.connect(lambda job_id, _job: order.append(("start", job_id)))
    window.queue.finished.connect(lambda job_id, _r: order.append(("end", job_id)))
    first = window.render()
    second = window.render()
    qtbot.waitUntil(lambda: ("end", second) in order, timeout=180_000)
    assert order == [("start", first), ("end", first), ("start", second), ("end", second)]


def test_export_dialog_sizes_prints_in_cm_and_inches(qtbot, tmp_path):
    from editor.export_dialog import ExportDialog

    d = ExportDialog((400, 600), tmp_path / "out.png")
    qtbot.addWidget(d)
    assert d.pixel_size() == (600, 400)  # defaults to the result's own size
    d.by_print.setChecked(True)
    d.print_w.setValue(10.0)
    d.dpi.setValue(300)
    assert d.pixel_size() == (1181, 787)  # 10 cm at 300 DPI, aspect kept
    d.unit.setCurrentIndex(d.unit.findData("in"))
    assert d.pixel_size() == (3000, 2000)
    d.format.setCurrentIndex(2)  # TIFF 16-bit
    s = d.settings()
    assert s.path.suffix == ".tif" and s.bit_depth == 16 and s.dpi == 300 and s.icc


def _stub_segmenters(monkeypatch):
    """Two tiny segmenters registered in-process, to check the editor's wiring (the real ones have their own tests)."""
    from dataclasses import dataclass

    from engine.registry import segmenters
    from engine.segmenter import Segmenter

    @dataclass(frozen=True)
    class NoParams:
        pass

    class Halves(Segmenter):
        name, Params = "clusters", NoParams

        def compute(self, image, params, inputs):
            w = image.shape[-1]
            left = torch.zeros(image.shape[-2:])
            left[:, : w // 2] = 1
            return [left, 1 - left]

    class NearestColumn(Segmenter):
        """Each pixel joins the scribbled region whose strokes sit nearest in x; masks in reverse order."""

        name, Params, inputs = "scribbles", NoParams, ("scribbles",)

        def compute(self, image, params, inputs):
            labels = inputs["scribbles"].numpy()
            colours = sorted(set(np.unique(labels)) - {0})
            xs = [np.nonzero(labels == c)[1].mean() for c in colours]
            codes = labels
            col = np.arange(codes.shape[1])
            nearest = np.argmin(np.abs(col[None, :] - np.array(xs)[:, None]), axis=0)
            masks = [torch.from_numpy(np.broadcast_to(nearest == i, codes.shape).astype(np.float32)) for i in range(len(colours))]
            return masks[::-1]

    table = segmenters._load()
    monkeypatch.setitem(table, "clusters", Halves)
    monkeypatch.setitem(table, "scribbles", NearestColumn)


def test_auto_regions_and_scribble_growing_are_undoable(window, qtbot, monkeypatch):
    _stub_segmenters(monkeypatch)
    with qtbot.waitSignal(window.segmenter.finished, timeout=30_000):
        assert window.auto_regions()
    assert [r.name for r in window.doc.regions] == ["Auto 1", "Auto 2"]
    left = mask_to_array(window.doc.regions[0].mask)
    assert left[:, :60].min() == 255 and left[:, 70:].max() == 0
    window.doc.undo_stack.undo()  # one step removes them all
    assert window.doc.regions == []

    a, b = window.regions_panel.add_region(), window.regions_panel.add_region()
    window.canvas.set_brush(window.canvas.brush.__class__(size=6, hardness=1.0, opacity=1.0))
    window.regions_panel.select(a)
    stroke(window.canvas, [(10, 20), (10, 60)])
    window.regions_panel.select(b)
    stroke(window.canvas, [(110, 20), (110, 60)])
    with qtbot.waitSignal(window.segmenter.finished, timeout=30_000):
        assert window.grow_scribbles()
    ma, mb = mask_to_array(a.mask), mask_to_array(b.mask)
    assert ma[:, :55].min() == 255 and ma[:, 65:].max() == 0  # a (left scribble) grew over the left half
    assert mb[:, 65:].min() == 255 and mb[:, :55].max() == 0
    window.doc.undo_stack.undo()
    assert mask_to_array(a.mask)[:, 40].max() == 0  # back to the scribble only


def test_missing_weights_say_how_to_fetch_them_and_the_session_goes_on(window, qtbot, monkeypatch, tmp_path):
    from engine import features, weights

    with monkeypatch.context() as m:
        m.setattr(weights, "search_dirs", lambda explicit=None: [tmp_path / "empty"])
        m.setattr(features, "_cache", {})
        with qtbot.waitSignal(window.queue.failed, timeout=60_000) as blocker:
            window.render()
    _job_id, message, fix = blocker.args
    assert "missing" in message and "weights fetch" in fix
    assert window.doc.result is None and "weights fetch" in window.job_panel.error.text()
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        window.render()
    assert window.doc.result is not None


def test_cancelled_export_leaves_no_file(window, qtbot, tmp_path):
    with qtbot.waitSignal(window.queue.finished, timeout=120_000):
        window.render()
    h, w = window.doc.result.image.shape[-2:]
    out = tmp_path / "big.png"
    from dataclasses import replace

    # a re-render uses the params that made the result: make it a long one, so Cancel lands mid-way
    window.doc.result = replace(window.doc.result, params={**FAST_GATYS, "steps": 5000})
    steps = []
    window.exporter.progressed.connect(lambda s, t, stage: steps.append(s))
    window.export(ExportSettings(out, 2 * w, 2 * h, 300.0, 8, 95, True))
    qtbot.waitUntil(lambda: bool(steps), timeout=60_000)
    with qtbot.waitSignal(window.exporter.cancelled, timeout=60_000):
        window.cancel()
    window.exporter.wait(10)
    assert list(tmp_path.iterdir()) == []


def test_real_clusters_segmenter_splits_the_sample_into_regions(window, qtbot):
    # (the real scribbles segmenter takes over a minute on a 2-core CPU even at 96 px, so the
    # editor's scribble wiring is tested above with an in-process segmenter)
    from engine.registry import segmenters

    if "clusters" not in segmenters.names():
        pytest.skip(f"clusters segmenter not installed: {segmenters.broken}")
    from editor.sample import load_sample

    city = resize_long_edge(load_sample().content, 128)
    window.doc.set_content(city, "city")
    with qtbot.waitSignal(window.segmenter.finished, timeout=120_000):
        window.auto_regions({"n": 3, "size": 128})
    masks = [mask_to_array(r.mask).astype(np.float32) / 255 for r in window.doc.regions]
    assert len(masks) == 3
    assert np.abs(sum(masks) - 1).mean() < 0.05  # the regions tile the picture
    assert all(0.02 < m.mean() < 0.9 for m in masks)  # and each is a real part of it
    window.doc.undo_stack.undo()
    assert window.doc.regions == []
