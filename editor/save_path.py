"""A file name to write to: a text field with a Browse… button (the export dialogs' File row)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class SavePathField(QWidget):
    def __init__(self, suggested: Path, title: str, name_filter: str, default_suffix: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title, self.name_filter, self.default_suffix = title, name_filter, default_suffix
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(str(suggested))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, self.title, self.edit.text(), self.name_filter)
        if path:
            self.edit.setText(path if Path(path).suffix or not self.default_suffix else path + self.default_suffix)
