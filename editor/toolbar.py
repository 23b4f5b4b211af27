"""The tool options under the menus: the brush's settings, and the render and live controls.

Two bars, not one: Paint (tools and brush sliders) and Render (undo, Render, Live with its
strategy and size cap, Refine). Side by side they need 1,346 px (one bar of 1,494 px lost Live's
size box and Refine off a 1500 px window, with nothing to say so); where the window is narrower
than both, the Render bar moves to a second row (RowFit), so every control stays on screen down
to a 1366 px laptop and below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QComboBox, QLabel, QMainWindow, QSlider, QSpinBox, QToolBar

from engine.registry import strategies

from .brush import BrushSettings
from .canvas import Tool
from .live import instant_strategies
from .sharpness import LIVE_FLOOR

if TYPE_CHECKING:
    from .mainwindow import MainWindow

#: a brush slider's width: 80 px still sets a 1..400 px brush to within 5 px (and [ ] step it finely);
#: 110 px each made the one bar 1,494 px wide
SLIDER_WIDTH = 80
#: the live strategy box shows this many characters ("Universal (inst…"): the list shows all
LIVE_STRATEGY_CHARS = 14


class RowFit(QObject):
    """Puts ``second`` on a row of its own while the window is narrower than ``first`` and
    ``second`` side by side, and back beside it once there is room (on every resize)."""

    def __init__(self, window: QMainWindow, first: QToolBar, second: QToolBar) -> None:
        super().__init__(window)
        self.window, self.first, self.second = window, first, second
        window.installEventFilter(self)
        self.fit()

    def needed(self) -> int:
        return self.first.sizeHint().width() + self.second.sizeHint().width()

    def fit(self) -> None:
        split = self.window.toolBarBreak(self.second)
        if self.needed() > self.window.width() and not split:
            self.window.insertToolBarBreak(self.second)
        elif self.needed() <= self.window.width() and split:
            self.window.removeToolBarBreak(self.second)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.fit()
        return False


class ToolOptions(QObject):
    """Builds both bars on ``window`` and keeps the brush sliders and the canvas's brush in step.

    The widgets stay reachable as the window's attributes (``window.live_size`` ...), as tests,
    benches and the screenshot script use them."""

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window = w = window
        self.paint_bar = self._bar("Paint")
        self.render_bar = self._bar("Render")
        self._paint_controls()
        self._render_controls()
        self.rows = RowFit(w, self.paint_bar, self.render_bar)
        w.canvas.brushChanged.connect(self._brush_to_sliders)
        w.live.follow(w.canvas)

    def _bar(self, title: str) -> QToolBar:
        bar = QToolBar(title)
        bar.setObjectName(title.lower())
        bar.setMovable(False)
        self.window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        return bar

    def _slider(self, label: str, lo: int, hi: int, value: int, tip: str) -> QSlider:
        bar = self.paint_bar
        bar.addWidget(QLabel(f" {label} "))
        s = QSlider(Qt.Orientation.Horizontal)
        s.setRange(lo, hi)
        s.setValue(value)
        s.setFixedWidth(SLIDER_WIDTH)
        s.setToolTip(tip)
        bar.addWidget(s)
        return s

    def _paint_controls(self) -> None:
        w, bar = self.window, self.paint_bar
        brush = w.canvas.brush
        for tool in (Tool.BRUSH, Tool.ERASER, Tool.FILL, Tool.SELECT):
            bar.addAction(w.tool_actions[tool])
        bar.addSeparator()
        w.size_slider = self._slider("Size", 1, 400, int(brush.size), "Brush diameter in image pixels ([ and ])")
        w.size_label = QLabel(f"{int(brush.size)} px ")
        w.size_label.setMinimumWidth(48)
        bar.addWidget(w.size_label)
        w.hardness_slider = self._slider("Hardness", 0, 100, int(brush.hardness * 100), "0 = soft edge, 100 = hard edge")
        w.opacity_slider = self._slider("Opacity", 1, 100, int(brush.opacity * 100), "How much one stroke adds")
        w.tolerance_slider = self._slider("Tolerance", 0, 100, int(w.canvas.fill_tolerance * 100),
                                          "Fill tolerance: how different a colour may be and still be filled (G)")
        for s in (w.size_slider, w.hardness_slider, w.opacity_slider):
            s.valueChanged.connect(self._brush_from_sliders)
        w.tolerance_slider.valueChanged.connect(lambda v: setattr(w.canvas, "fill_tolerance", v / 100))

    def _render_controls(self) -> None:
        w, bar = self.window, self.render_bar
        bar.addAction(w.undo_action)
        bar.addAction(w.redo_action)
        bar.addSeparator()
        bar.addAction(w.render_action)
        bar.addSeparator()
        bar.addAction(w.live_action)
        w.live_strategy = QComboBox()
        w.live_strategy.setToolTip("The instant strategy live mode renders with")
        w.live_strategy.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        w.live_strategy.setMinimumContentsLength(LIVE_STRATEGY_CHARS)
        for name in instant_strategies():
            cls = strategies.get(name)
            w.live_strategy.addItem(cls.title or name, name)
        w.live_strategy.currentIndexChanged.connect(lambda _: w.live.set_strategy(w.live_strategy.currentData()))
        bar.addWidget(w.live_strategy)
        w.live_size = QSpinBox()
        w.live_size.setRange(LIVE_FLOOR, 4096)
        w.live_size.setSingleStep(64)
        w.live_size.setValue(w.live.size)
        w.live_size.setPrefix("≤ ")
        w.live_size.setSuffix(" px")
        w.live_size.setToolTip("Live renders at the size the canvas shows, up to this (long edge): "
                               "lower it to follow the brush faster")
        w.live_size.valueChanged.connect(w.live.set_size)
        bar.addWidget(w.live_size)
        bar.addAction(w.refine_action)

    # ------------------------------------------------------------ brush <-> sliders
    def _brush_from_sliders(self, *_: Any) -> None:
        w = self.window
        w.canvas.set_brush(BrushSettings(float(w.size_slider.value()), w.hardness_slider.value() / 100,
                                         w.opacity_slider.value() / 100))

    def _brush_to_sliders(self, b: BrushSettings) -> None:
        w = self.window
        for s, v in ((w.size_slider, round(b.size)), (w.hardness_slider, round(b.hardness * 100)),
                     (w.opacity_slider, round(b.opacity * 100))):
            s.blockSignals(True)
            s.setValue(v)
            s.blockSignals(False)
        w.size_label.setText(f"{round(b.size)} px ")
