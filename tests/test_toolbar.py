"""The tool options fit the window: every control on screen at a 1366 px laptop's width and narrower.

One bar of 1,494 px dropped Live's size box and Refine off a 1500 px window (into an overflow
nobody saw); at 1366 px more went.
"""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QToolBar

from editor.mainwindow import MainWindow


@pytest.fixture()
def window(bare_window):
    return bare_window


def top_bars(w: MainWindow) -> list[QToolBar]:
    return [b for b in w.findChildren(QToolBar) if b.isVisible() and b.windowTitle() != "Clip"]


def off_screen(w: MainWindow) -> list[str]:
    """Every toolbar control that is hidden or reaches past the window's edge, by name."""
    missing = []
    window_rect = QRect(0, 0, w.width(), w.height())
    for bar in top_bars(w):
        for action in bar.actions():
            widget = bar.widgetForAction(action)
            if widget is None or action.isSeparator():
                continue
            name = action.text() or type(widget).__name__
            top_left = widget.mapTo(w, widget.rect().topLeft())
            if not widget.isVisible() or not window_rect.contains(QRect(top_left, widget.size())):
                missing.append(name)
    return missing


@pytest.mark.parametrize("width,height", [(1366, 768), (1500, 920), (1024, 768)])
def test_every_toolbar_control_is_on_screen(qtbot, window, width, height):
    w = window
    w.resize(width, height)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.width() == width)
    try:  # the toolbars lay out again in the event loop after a resize
        qtbot.waitUntil(lambda: off_screen(w) == [], timeout=2000)
    finally:
        assert off_screen(w) == []
    texts = {a.text() for b in top_bars(w) for a in b.actions()}
    assert {"Brush", "Eraser", "Fill", "Undo", "Redo", "Render", "Live", "Refine"} <= texts
    assert w.live_size.isVisible() and w.live_strategy.isVisible() and w.tolerance_slider.isVisible()


def test_the_render_bar_takes_a_second_row_only_when_the_window_is_narrow(qtbot, window):
    w = window
    w.resize(1024, 768)
    w.show()
    qtbot.waitExposed(w)
    bars = top_bars(w)
    assert len(bars) == 2
    paint, render = bars if bars[0].y() <= bars[1].y() else bars[::-1]
    qtbot.waitUntil(lambda: render.y() > paint.y(), timeout=2000)  # a second row
    w.resize(1800, 900)
    qtbot.waitUntil(lambda: w.width() == 1800)
    qtbot.waitUntil(lambda: render.y() == paint.y())  # room again: one row, the canvas gets the height back
    qtbot.waitUntil(lambda: off_screen(w) == [], timeout=2000)
