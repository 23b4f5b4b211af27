"""What the canvas shows after a render (issue 19), read back off the canvas's own pixels.

The window is driven as a user would (offscreen): a region job rendered with the real AdaIN
strategy on real weights at the photo's size, so the canvas at 100 % shows the result pixel for
pixel and any tint, outline or photo shows up as a difference.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QKeyEvent
from PySide6.QtWidgets import QApplication

from engine.images import resize_long_edge

from editor.canvas import Tool
from editor.conversions import array_to_mask, image_array, mask_to_array
from editor.document import StyleItem
from editor.mainwindow import MainWindow
from editor.undo import MaskEdit

SIZE = 128  # the photo's long edge, and the render size: the result is the photo's size
COLOUR = (0, 255, 0)  # the region's colour: far from anything the photo or the style has


@pytest.fixture()
def window(qtbot, tmp_path, monkeypatch, content, style):
    monkeypatch.setenv("BRUSHWORK_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setenv("BRUSHWORK_PRESETS_DIR", str(tmp_path / "presets"))
    w = MainWindow(autosave_s=3600)
    w.resize(1200, 800)
    w.show()
    w.doc.set_content(resize_long_edge(content, SIZE), "beagle.jpg")
    item = w.doc.add_style(StyleItem("starry", image=resize_long_edge(style, 128)))
    w.doc.set_style_attr(item, "active", False)  # only the region is styled: outside it the photo stays
    w.strategy_panel.select("adain")
    w.strategy_panel.size.setValue(SIZE)
    w.strategy_panel.device.setCurrentIndex(w.strategy_panel.device.findData("cpu"))
    w.live_strategy.setCurrentIndex(w.live_strategy.findData("adain"))
    w.live_size.setValue(SIZE)
    w.live.device = "cpu"
    w.canvas.actual_size()
    yield w
    w.live.set_enabled(False)
    w.queue.cancel()
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()
    w.deleteLater()


def region_box(w: MainWindow) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the painted rectangle: the middle of the photo."""
    W, H = w.doc.content.width(), w.doc.content.height()
    return W // 4, H // 4, 3 * W // 4, 3 * H // 4


def add_region(w: MainWindow):
    """A region over region_box with the style, its mask set as one undo step; the region is selected."""
    region = w.regions_panel.add_region()
    w.regions_panel.recolour(region, QColor(*COLOUR))
    x0, y0, x1, y1 = region_box(w)
    m = np.zeros((w.doc.content.height(), w.doc.content.width()), np.uint8)
    m[y0:y1, x0:x1] = 255
    w.doc.undo_stack.push(MaskEdit(w.doc, region, region.mask.copy(), array_to_mask(m), "Paint"))
    assert region.style == "starry"
    return region


def inside(w: MainWindow, margin: int = 0) -> np.ndarray:
    x0, y0, x1, y1 = region_box(w)
    sel = np.zeros((w.doc.content.height(), w.doc.content.width()), bool)
    sel[y0 + margin:y1 - margin, x0 + margin:x1 - margin] = True
    return sel


def edge_band(w: MainWindow, width: int) -> np.ndarray:
    """Pixels within ``width`` of the rectangle's edge (either side)."""
    x0, y0, x1, y1 = region_box(w)
    outer = np.zeros((w.doc.content.height(), w.doc.content.width()), bool)
    outer[max(0, y0 - width):y1 + width, max(0, x0 - width):x1 + width] = True
    return outer & ~inside(w, width)


def shown(w: MainWindow) -> np.ndarray:
    """The picture as the canvas shows it (HxWx3 int), read off the viewport at 100 %."""
    assert w.canvas.zoom() == 1.0
    img = w.canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    a = image_array(img, 3).astype(int)
    o = w.canvas.mapFromScene(QPointF(0, 0))
    H, W = w.doc.content.height(), w.doc.content.width()
    assert o.x() >= 0 and o.y() >= 0, "the picture does not fit the canvas at 100 %"
    return a[o.y():o.y() + H, o.x():o.x() + W]


def photo(w: MainWindow) -> np.ndarray:
    return image_array(w.doc.content.convertToFormat(QImage.Format.Format_RGB888), 3).astype(int)


def render_pixels(w: MainWindow) -> np.ndarray:
    """The render on the canvas at its own size (the photo's size in these tests)."""
    return image_array(w.canvas.result_item.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888), 3).astype(int)


def diff(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    d = np.abs(a - b).max(axis=-1)
    return float(d[where].mean() if where is not None else d.mean())


def render(qtbot, w: MainWindow) -> np.ndarray:
    with qtbot.waitSignal(w.queue.finished, timeout=120_000):
        assert w.render() is not None
    qtbot.wait(50)
    res = render_pixels(w)
    assert res.shape == photo(w).shape
    return res


def colour_near(pixels: np.ndarray, colour=COLOUR, tol: int = 60) -> np.ndarray:
    return np.abs(pixels - np.array(colour)).max(axis=-1) < tol


from test_editor import _mouse  # noqa: E402  (the same synthetic mouse events)


# ---------------------------------------------------------------- the overlay never tints a result
def test_a_render_shows_untinted_and_picking_up_the_brush_brings_the_tint_back(window, qtbot):
    w = window
    region = add_region(w)
    reg, out = inside(w), ~inside(w)
    # painting on the photo: the region is tinted, the rest is the photo
    before = shown(w)
    assert diff(before, photo(w), out) < 1
    assert diff(before, photo(w), reg) > 40, "the region's overlay does not show while painting"

    result = render(qtbot, w)
    assert diff(result, photo(w), reg) > 20, "the region was not styled (the test would prove nothing)"
    after = shown(w)
    assert diff(after, result) < 1, "the canvas does not show the result's own pixels"
    assert np.abs(after - result)[reg].max() <= 2, "the overlay tints the result inside the region"
    assert not colour_near(after[reg]).any()
    assert not w.canvas.tint_visible(region)

    # the brush picked up on the region: the tint is back over the result, only inside the region
    w.tool_actions[Tool.BRUSH].trigger()
    tinted = shown(w)
    assert diff(tinted, result, out) < 1
    assert diff(tinted, result, reg) > 40

    # the Overlay slider sets the tint's opacity
    w.regions_panel.opacity.setValue(100)
    assert colour_near(shown(w)[reg], tol=3).all()
    w.regions_panel.opacity.setValue(0)
    assert diff(shown(w), result, reg) < 1
    w.regions_panel.opacity.setValue(45)
    assert diff(shown(w), result, reg) > 40

    # the next render lands untinted again
    result = render(qtbot, w)
    assert diff(shown(w), result) < 1


def test_undo_of_a_stroke_shows_the_mask_it_restores_and_a_project_opens_untinted(window, qtbot, tmp_path):
    w = window
    region = add_region(w)
    result = render(qtbot, w)
    assert diff(shown(w), result) < 1
    w.undo_action.trigger()  # the mask goes: the artist sees it go (the tint shows what is left: nothing)
    assert w.canvas.painting and mask_to_array(region.mask).max() == 0
    w.redo_action.trigger()
    assert diff(shown(w), result, inside(w)) > 40, "a redone mask edit does not show on the canvas"
    w.regions_panel.add_region()  # a second region: opening selects the first, a change of region
    w.keep_result()
    path = tmp_path / "p.brushwork"
    assert w.save_to(path)
    assert w.open_project(path)
    w.canvas.actual_size()
    assert diff(shown(w), render_pixels(w)) < 1, "a project opens with its result tinted"


def test_live_mode_tints_during_a_stroke_and_shows_the_render_untinted_with_an_outline(window, qtbot):
    w = window
    w.live.set_enabled(True)
    qtbot.waitUntil(lambda: not w.live.busy(), timeout=60_000)
    region = w.regions_panel.add_region()
    w.regions_panel.recolour(region, QColor(*COLOUR))
    qtbot.waitUntil(lambda: not w.live.busy(), timeout=60_000)
    w.canvas.set_brush(w.canvas.brush.__class__(size=12, hardness=1.0, opacity=1.0))
    H = w.doc.content.height()
    y = H // 2
    _mouse(w.canvas, QEvent.Type.MouseButtonPress, QPointF(30, y))
    for x in range(34, 100, 4):
        _mouse(w.canvas, QEvent.Type.MouseMove, QPointF(x, y), buttons=Qt.MouseButton.LeftButton,
               button=Qt.MouseButton.NoButton)
    renders = w.live.stats.renders
    qtbot.waitUntil(lambda: w.live.stats.renders > renders and not w.live.busy(), timeout=60_000)
    # a live render landed mid-stroke: the stroke still shows in the region's colour
    stroke_px = np.zeros((H, w.doc.content.width()), bool)
    stroke_px[y - 3:y + 4, 40:90] = True
    during = shown(w)
    assert w.canvas.tint_visible(region)
    assert diff(during, render_pixels(w), stroke_px) > 40, "the overlay hides while the artist paints"
    _mouse(w.canvas, QEvent.Type.MouseButtonRelease, QPointF(100, y), buttons=Qt.MouseButton.NoButton)
    renders = w.live.stats.renders
    qtbot.waitUntil(lambda: w.live.stats.renders > renders and not w.live.busy(), timeout=60_000)
    qtbot.wait(50)
    live = render_pixels(w)
    after = shown(w)
    m = mask_to_array(region.mask) >= 128
    assert m[y, 40:90].all()
    core = np.zeros_like(m)
    core[y - 2:y + 3, 40:90] = True  # well inside the stroke: away from its outline
    assert not w.canvas.tint_visible(region)
    assert np.abs(after - live)[core].max() <= 2, "the live render is tinted after the stroke"
    # the region being painted keeps a thin outline in live mode: its colour on the edge, nowhere far from it
    edge = np.zeros_like(m)
    edge[y - 9:y + 10, 20:111] = True
    edge &= ~core
    assert colour_near(after[edge]).sum() > 40, "no outline of the painted region in live mode"
    assert diff(after, live, ~edge & ~core) < 1


# ---------------------------------------------------------------- outlines
def test_o_toggles_region_outlines_over_the_result(window, qtbot):
    w = window
    add_region(w)
    result = render(qtbot, w)
    band, away = edge_band(w, 2), ~edge_band(w, 4)
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key.Key_O)
    assert w.outline_action.isChecked() and w.canvas.outlines
    lined = shown(w)
    x0, y0, x1, y1 = region_box(w)
    perimeter = 2 * ((x1 - x0) + (y1 - y0))
    assert colour_near(lined[band]).sum() >= perimeter, "the outline is not drawn in the region's colour"
    assert diff(lined, result, away) < 1, "the outline tints pixels away from the region's edge"
    assert np.abs(lined - result)[inside(w, 4)].max() <= 2, "outline mode tints the region's inside"
    qtbot.keyClick(w.canvas, Qt.Key.Key_O)
    assert not w.outline_action.isChecked()
    assert diff(shown(w), result) < 1


# ---------------------------------------------------------------- before / after
def _key(w, kind, autorepeat: bool) -> None:
    QApplication.sendEvent(w.canvas, QKeyEvent(kind, Qt.Key.Key_Backslash, Qt.KeyboardModifier.NoModifier, "\\",
                                               autorepeat))


def test_holding_backslash_shows_the_photo_until_released(window, qtbot):
    w = window
    add_region(w)
    result = render(qtbot, w)
    assert diff(result, photo(w)) > 5
    w.canvas.setFocus()
    qtbot.keyPress(w.canvas, Qt.Key.Key_Backslash)
    held = shown(w)
    assert diff(held, photo(w)) < 1, "holding backslash does not show the photo (or it is tinted)"
    # the key held down: auto-repeated release/press pairs change nothing
    for _ in range(3):
        _key(w, QEvent.Type.KeyRelease, True)
        assert diff(shown(w), photo(w)) < 1, "an auto-repeat released the comparison"
        _key(w, QEvent.Type.KeyPress, True)
        assert diff(shown(w), photo(w)) < 1
    qtbot.keyRelease(w.canvas, Qt.Key.Key_Backslash)
    assert diff(shown(w), result) < 1, "releasing backslash does not return to the result"
    # the menu entry still toggles for mouse users
    w.show_result_action.trigger()
    assert not w.show_result_action.isChecked()
    off = shown(w)  # the photo, its region tinted (nothing rendered to look at: the artist paints)
    assert diff(off, photo(w), ~inside(w)) < 1 and diff(off, result, inside(w)) > 20
    w.show_result_action.trigger()
    assert diff(shown(w), result) < 1


def test_split_view_shows_the_photo_left_of_a_draggable_divider(window, qtbot):
    w = window
    region = add_region(w)
    result = render(qtbot, w)
    before_mask = mask_to_array(region.mask).copy()
    w.split_action.trigger()
    assert w.canvas.split and w.canvas.divider.isVisible()
    W, H = w.doc.content.width(), w.doc.content.height()

    def check(split: int) -> None:
        s = shown(w)
        cols = np.arange(W)
        # the divider's line and round handle cover a few columns either side of it
        left = np.broadcast_to(cols < split - 10, (H, W))
        right = np.broadcast_to(cols > split + 10, (H, W))
        assert diff(s, photo(w), left) < 1, "left of the divider is not the photo"
        assert diff(s, result, right) < 1, "right of the divider is not the result"

    check(W // 2)
    # drag the divider from the middle to a quarter of the width
    start = QPointF(w.canvas.split_x, H / 2)
    _mouse(w.canvas, QEvent.Type.MouseButtonPress, start)
    _mouse(w.canvas, QEvent.Type.MouseMove, QPointF(W / 4, H / 2), button=Qt.MouseButton.NoButton)
    _mouse(w.canvas, QEvent.Type.MouseButtonRelease, QPointF(W / 4, H / 2), buttons=Qt.MouseButton.NoButton)
    assert abs(w.canvas.split_x - W / 4) <= 1
    assert np.array_equal(mask_to_array(region.mask), before_mask), "dragging the divider painted the mask"
    check(round(w.canvas.split_x))
    w.split_action.trigger()
    assert not w.canvas.divider.isVisible()
    assert diff(shown(w), result) < 1


# ---------------------------------------------------------------- a smaller render
def test_a_smaller_result_is_named_in_the_status_bar_and_renders_full_size_in_one_click(window, qtbot):
    w = window
    add_region(w)
    w.strategy_panel.size.setValue(64)
    w.canvas.set_zoom(0.5)  # the canvas shows 64 px: a 64 px render is sharp there (editor.sharpness)
    with qtbot.waitSignal(w.queue.finished, timeout=120_000):
        w.render()
    w.canvas.actual_size()  # zoomed in past it: now it is blown up, and the status bar says so
    rh, rw = w.doc.result.image.shape[-2:]
    assert max(rh, rw) == 64
    W = w.doc.content.width()
    label = w.result_scale_label
    assert not label.isHidden() and not w.full_size_button.isHidden()
    assert label.text() == f"result {rw} x {rh} shown at {100 * W / rw:.0f} %"
    w.canvas.set_zoom(0.5)
    assert label.text().endswith(f"shown at {50 * W / rw:.0f} %")
    w.canvas.actual_size()

    submitted = []
    w.queue.started.connect(lambda job_id, job: submitted.append(job))
    with qtbot.waitSignal(w.queue.finished, timeout=120_000):
        qtbot.mouseClick(w.full_size_button, Qt.MouseButton.LeftButton)
    assert submitted and submitted[0].size == max(W, w.doc.content.height())
    assert submitted[0].strategy == "adain" and submitted[0].regions
    assert tuple(w.doc.result.image.shape[-2:]) == (w.doc.content.height(), W)
    assert label.isHidden() and w.full_size_button.isHidden()
    assert w.strategy_panel.size.value() == 64  # a one-off: the job's size setting is left alone
    assert diff(shown(w), render_pixels(w)) < 1
