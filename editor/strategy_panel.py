"""The Strategy dock: pick any registered strategy, edit its generated form, presets, run.

Strategies come from :data:`engine.registry.strategies` only; plugins that failed to load are
listed with their error so a broken install is visible rather than silently missing.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QInputDialog, QLabel, QPushButton, QScrollArea,
                               QSpinBox, QVBoxLayout, QWidget)

from engine import params as params_mod
from engine.registry import strategies

from .document import Document
from .param_form import ParamForm
from .presets import presets_for, save_preset


class StrategyPanel(QWidget):
    runRequested = Signal()
    compareRequested = Signal()
    message = Signal(str)
    #: a parameter of the shown strategy changed (a slider, a field, a preset)
    paramsChanged = Signal()

    def __init__(self, doc: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.form: ParamForm | None = None
        layout = QVBoxLayout(self)
        top = QFormLayout()
        self.combo = QComboBox()
        for name, cls in strategies.all().items():
            self.combo.addItem(cls.title or name, name)
            self.combo.setItemData(self.combo.count() - 1, cls.description, Qt.ItemDataRole.ToolTipRole)
        top.addRow("Strategy", self.combo)
        layout.addLayout(top)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: palette(mid); font-size: 11px;")
        layout.addWidget(self.description)
        broken = [b for b in strategies.broken]
        if broken:
            note = QLabel("Unavailable: " + ", ".join(b.name for b in broken))
            note.setToolTip("\n".join(f"{b.name}: {b.error}" for b in broken))
            note.setStyleSheet("color: #c08030; font-size: 11px;")
            layout.addWidget(note)

        presets_row = QHBoxLayout()
        self.presets = QComboBox()
        self.presets.setToolTip("Saved parameter sets for this strategy")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save the current settings as a preset")
        presets_row.addWidget(QLabel("Preset"))
        presets_row.addWidget(self.presets, 1)
        presets_row.addWidget(self.save_button)
        layout.addLayout(presets_row)

        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout.addWidget(self.scroll, 1)

        job = QFormLayout()
        self.size = QSpinBox()
        self.size.setRange(16, 16384)
        self.size.setSingleStep(64)
        self.size.setSuffix(" px")
        self.size.setToolTip("Long edge of the render. Export can print larger later.")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Same seed, same settings: same picture.")
        self.gaps = QComboBox()
        self.gaps.addItem("keep the photo", "content")
        self.gaps.addItem("global styles", "global")
        self.gaps.setToolTip("What pixels outside every region get (strategies that honour regions).")
        self.device = QComboBox()
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        self.device.setToolTip("auto picks the GPU when there is one.")
        self.protect_faces = QCheckBox("Protect faces")
        self.protect_faces.setToolTip("Keep the shape of every face found in the photo (eyes, nose, mouth) under the "
                                      "style, whatever the strategy; the faces are outlined on the canvas")
        job.addRow("Size", self.size)
        job.addRow("Seed", self.seed)
        job.addRow("Outside regions", self.gaps)
        job.addRow("Device", self.device)
        job.addRow("Faces", self.protect_faces)
        layout.addLayout(job)

        buttons = QHBoxLayout()
        self.run_button = QPushButton("Render")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Render with these settings (Ctrl+R). Jobs queue one after another.")
        self.compare_button = QPushButton("Compare…")
        self.compare_button.setToolTip("Render with several strategies or presets side by side")
        buttons.addWidget(self.run_button, 2)
        buttons.addWidget(self.compare_button, 1)
        layout.addLayout(buttons)

        self.combo.currentIndexChanged.connect(self._strategy_changed)
        self.presets.activated.connect(self._preset_chosen)
        self.save_button.clicked.connect(self._ask_save_preset)
        self.run_button.clicked.connect(self.runRequested)
        self.compare_button.clicked.connect(self.compareRequested)
        self.size.valueChanged.connect(lambda v: setattr(self.doc, "size", v))
        self.seed.valueChanged.connect(lambda v: setattr(self.doc, "seed", v))
        self.gaps.currentIndexChanged.connect(lambda _: setattr(self.doc, "gaps", self.gaps.currentData()))
        self.gaps.currentIndexChanged.connect(lambda _: self.paramsChanged.emit())
        self.protect_faces.toggled.connect(self._protect_faces_toggled)
        doc.sceneChanged.connect(self._count_faces)
        self.sync_from_document()

    # ------------------------------------------------------------ state
    def strategy(self) -> str:
        return self.combo.currentData() or ""

    def strategy_class(self):
        return strategies.get(self.strategy())

    def values(self) -> dict[str, Any]:
        return self.form.values() if self.form is not None else {}

    def params(self) -> Any:
        """A validated Params instance for the current strategy (raises InputError)."""
        return params_mod.make(self.strategy_class().Params, self.values())

    def set_values(self, values: dict[str, Any]) -> None:
        if self.form is not None:
            self.form.set_values(values)

    def select(self, name: str) -> None:
        i = self.combo.findData(name)
        if i >= 0:
            self.combo.setCurrentIndex(i)

    def sync_from_document(self) -> None:
        """Show the document's strategy, params and job settings (after open or new)."""
        self.size.setValue(self.doc.size or 512)
        self.seed.setValue(self.doc.seed)
        self.gaps.setCurrentIndex(max(0, self.gaps.findData(self.doc.gaps)))
        self.protect_faces.setChecked(self.doc.protect_faces)
        i = self.combo.findData(self.doc.strategy)
        if i >= 0 and i != self.combo.currentIndex():
            self.combo.setCurrentIndex(i)
        else:
            self._strategy_changed()

    def _protect_faces_toggled(self, on: bool) -> None:
        self.doc.protect_faces = on
        self.paramsChanged.emit()

    def _count_faces(self) -> None:
        n = len(self.doc.faces)
        self.protect_faces.setText(f"Protect faces ({n} found)" if n else "Protect faces")

    def _store(self) -> None:
        if self.form is not None:
            self.doc.params[self.form_strategy] = self.form.values()
            self.paramsChanged.emit()

    def _strategy_changed(self, *_: Any) -> None:
        name = self.strategy()
        if not name:
            return
        cls = strategies.get(name)
        self.description.setText(cls.description)
        self.form = ParamForm(cls.Params, self.doc.params.get(name, {}))
        self.form_strategy = name
        self.form.changed.connect(self._store)
        self.scroll.setWidget(self.form)
        self.doc.strategy = name
        self._store()
        self._fill_presets()

    # ------------------------------------------------------------ presets
    def _fill_presets(self) -> None:
        self.presets.clear()
        self.presets.addItem("—", None)
        for p in presets_for(self.strategy()):
            self.presets.addItem(p.name + ("" if p.bundled else " (mine)"), p)

    def _preset_chosen(self, index: int) -> None:
        preset = self.presets.itemData(index)
        if preset is not None:
            self.set_values(dict(preset.params))
            self.message.emit(f"Preset '{preset.name}' loaded.")

    def load_preset(self, name: str) -> bool:
        for i in range(self.presets.count()):
            p = self.presets.itemData(i)
            if p is not None and p.name == name:
                self.presets.setCurrentIndex(i)
                self._preset_chosen(i)
                return True
        return False

    def save_preset(self, name: str) -> None:
        preset = save_preset(name, self.strategy(), self.values())
        self._fill_presets()
        self.presets.setCurrentIndex(max(0, self.presets.findText(preset.name + " (mine)")))
        self.message.emit(f"Preset '{preset.name}' saved.")

    def _ask_save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:")
        if ok and name.strip():
            self.save_preset(name)
