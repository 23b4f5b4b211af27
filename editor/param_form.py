"""A form generated from a strategy's ``Params`` declaration (engine.params.specs).

Numbers with a range get a slider beside a spin box (logarithmic where the declaration says
``log``), choices a combo box, booleans a check box; the help text is the tooltip. Advanced
parameters sit in a collapsed group. The editor knows nothing about any particular strategy.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit,
                               QSlider, QSpinBox, QVBoxLayout, QWidget)

from engine.params import ParamSpec, specs

SLIDER_STEPS = 1000


class _NumberField(QWidget):
    """Slider + spin box kept in step; the spin box holds the exact value."""

    changed = Signal()

    def __init__(self, spec: ParamSpec) -> None:
        super().__init__()
        self.spec = spec
        is_int = spec.type is int
        self.spin = QSpinBox() if is_int else QDoubleSpinBox()
        lo = spec.min if spec.min is not None else (-1e9 if not is_int else -2**31)
        hi = spec.max if spec.max is not None else (1e9 if not is_int else 2**31 - 1)
        if is_int:
            self.spin.setRange(int(lo), int(hi))
            self.spin.setSingleStep(int(spec.step or 1))
        else:
            step = spec.step or 0.01
            decimals = max(2, min(6, -math.floor(math.log10(step)) + 1)) if step < 1 else 2
            self.spin.setDecimals(decimals)
            self.spin.setRange(float(lo), float(hi))
            self.spin.setSingleStep(step)
        self.spin.setMinimumWidth(80)
        self.slider: QSlider | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        if spec.min is not None and spec.max is not None:
            self.slider = QSlider(Qt.Orientation.Horizontal)
            self.slider.setRange(0, SLIDER_STEPS)
            layout.addWidget(self.slider, 1)
            self.slider.valueChanged.connect(self._from_slider)
        layout.addWidget(self.spin)
        self.spin.valueChanged.connect(self._from_spin)
        self._guard = False

    def _use_log(self) -> bool:
        return bool(self.spec.log) and (self.spec.min or 0) >= 0

    def _to_pos(self, v: float) -> int:
        lo, hi = float(self.spec.min), float(self.spec.max)  # type: ignore[arg-type]
        if self._use_log():
            lo_l, hi_l = math.log10(lo + 1e-3), math.log10(hi + 1e-3)
            return round((math.log10(v + 1e-3) - lo_l) / (hi_l - lo_l) * SLIDER_STEPS)
        return round((v - lo) / (hi - lo) * SLIDER_STEPS) if hi > lo else 0

    def _from_pos(self, pos: int) -> float:
        lo, hi = float(self.spec.min), float(self.spec.max)  # type: ignore[arg-type]
        t = pos / SLIDER_STEPS
        if self._use_log():
            lo_l, hi_l = math.log10(lo + 1e-3), math.log10(hi + 1e-3)
            return 10 ** (lo_l + t * (hi_l - lo_l)) - 1e-3
        return lo + t * (hi - lo)

    def _from_slider(self, pos: int) -> None:
        if self._guard:
            return
        v = self._from_pos(pos)
        step = self.spec.step or (1 if self.spec.type is int else 0)
        if step and not self._use_log():
            v = round(v / step) * step
        self._guard = True
        self.spin.setValue(int(round(v)) if self.spec.type is int else v)
        self._guard = False
        self.changed.emit()

    def _from_spin(self, v: float) -> None:
        if not self._guard and self.slider is not None:
            self._guard = True
            self.slider.setValue(self._to_pos(v))
            self._guard = False
        self.changed.emit()

    def value(self) -> Any:
        return int(self.spin.value()) if self.spec.type is int else float(self.spin.value())

    def set_value(self, v: Any) -> None:
        self.spin.setValue(v)


class ParamForm(QWidget):
    """Widgets for one Params class; ``values()`` returns a dict for engine.params.make."""

    changed = Signal()

    def __init__(self, params_cls: type, values: Mapping[str, Any] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.params_cls = params_cls
        self.specs = specs(params_cls)
        self._getters: dict[str, Callable[[], Any]] = {}
        self._setters: dict[str, Callable[[Any], None]] = {}
        self.widgets: dict[str, QWidget] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        basic = QFormLayout()
        basic.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        outer.addLayout(basic)
        self.advanced_box = QGroupBox("Advanced")
        self.advanced_box.setCheckable(True)
        self.advanced_box.setChecked(False)
        advanced = QFormLayout(self.advanced_box)
        self.advanced_box.toggled.connect(self._show_advanced)
        for spec in self.specs:
            widget = self._make(spec)
            widget.setToolTip(spec.help)
            self.widgets[spec.name] = widget
            (advanced if spec.advanced else basic).addRow(spec.label, widget)
            label = (advanced if spec.advanced else basic).labelForField(widget)
            if label is not None:
                label.setToolTip(spec.help)
        if any(s.advanced for s in self.specs):
            outer.addWidget(self.advanced_box)
            self._show_advanced(False)
        else:
            self.advanced_box.hide()
        self.set_values(values or {})

    def _show_advanced(self, on: bool) -> None:
        for s in self.specs:
            if s.advanced:
                self.widgets[s.name].setVisible(on)
                label = self.advanced_box.layout().labelForField(self.widgets[s.name])
                if label is not None:
                    label.setVisible(on)

    def _make(self, spec: ParamSpec) -> QWidget:
        if spec.choices:
            box = QComboBox()
            for c in spec.choices:
                box.addItem(str(c), c)
            box.currentIndexChanged.connect(lambda _: self.changed.emit())
            self._getters[spec.name] = lambda b=box: b.currentData()
            self._setters[spec.name] = lambda v, b=box: b.setCurrentIndex(max(0, b.findData(v)))
            return box
        if spec.type is bool:
            check = QCheckBox()
            check.toggled.connect(lambda _: self.changed.emit())
            self._getters[spec.name] = check.isChecked
            self._setters[spec.name] = lambda v, c=check: c.setChecked(bool(v))
            return check
        if spec.type in (int, float):
            field = _NumberField(spec)
            field.changed.connect(self.changed)
            self._getters[spec.name] = field.value
            self._setters[spec.name] = field.set_value
            return field
        line = QLineEdit()
        line.textChanged.connect(lambda _: self.changed.emit())
        self._getters[spec.name] = line.text
        self._setters[spec.name] = lambda v, l=line: l.setText(str(v))
        return line

    def values(self) -> dict[str, Any]:
        return {name: get() for name, get in self._getters.items()}

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Defaults first, then ``values`` (unknown keys, e.g. from an old preset, are ignored)."""
        for spec in self.specs:
            self._setters[spec.name](values.get(spec.name, spec.default))
