"""A dark Fusion theme: pictures read truer on a neutral dark surround (as in Krita or Photoshop)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from .resources import resource_dir


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor(37, 37, 38), QColor(50, 50, 52), QColor(220, 220, 220)
    for role, colour in ((QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
                         (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
                         (QPalette.ColorRole.ToolTipBase, QColor(60, 60, 64)), (QPalette.ColorRole.ToolTipText, text),
                         (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, QColor(58, 58, 60)),
                         (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 80, 80)),
                         (QPalette.ColorRole.Highlight, QColor(60, 120, 200)),
                         (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
                         (QPalette.ColorRole.Mid, QColor(140, 140, 140)), (QPalette.ColorRole.PlaceholderText, QColor(130, 130, 130))):
        p.setColor(role, colour)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText, QColor(120, 120, 120))
    app.setPalette(p)
    check = (resource_dir() / "icons" / "check.svg").as_posix()
    indicator = ("{ width: 13px; height: 13px; border: 1px solid #8a8a8a; border-radius: 2px; background: #2a2a2c; }")
    checked = f"{{ background: #3c78c8; border-color: #5a96e6; image: url({check}); }}"
    app.setStyleSheet(
        "QDockWidget::title { padding: 4px; background: #3a3a3c; } "
        "QToolBar { spacing: 4px; padding: 2px; } QStatusBar QLabel { color: #b0b0b0; } "
        # Fusion's check boxes vanish on a dark palette: draw them plainly
        f"QListView::indicator {indicator} QCheckBox::indicator {indicator} QGroupBox::indicator {indicator} "
        f"QListView::indicator:checked {checked} QCheckBox::indicator:checked {checked} QGroupBox::indicator:checked {checked}")
    app.setWindowIcon(QIcon(str(resource_dir() / "icons" / "brushwork.svg")))
