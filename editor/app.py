"""Entry point of the editor (the full window comes with the editor issue)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication(sys.argv if argv is None else argv)
    label = QLabel("Brushwork")
    label.resize(480, 320)
    label.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
