"""Entry point of the editor: ``brushwork-editor [--sample | PROJECT.brushwork | IMAGE]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="brushwork-editor", description="Brushwork: restyle photos with neural style transfer.")
    ap.add_argument("path", nargs="?", help="a .brushwork project or a content image to open")
    ap.add_argument("--sample", action="store_true", help="open the bundled sample (a city, four paintings, a sky region)")
    ap.add_argument("--no-recovery", action="store_true", help="do not offer to restore an autosaved session")
    ap.add_argument("--strategy", help="start with this strategy selected (e.g. adain for instant renders)")
    return ap.parse_args(argv)


def offer_recovery(window) -> bool:
    """After a crash the recovery file is still there: offer to restore it; True if restored."""
    from PySide6.QtWidgets import QMessageBox

    from engine.errors import BrushworkError

    from .recovery import pending_recovery, read_recovery

    path = pending_recovery()
    if path is None:
        return False
    answer = QMessageBox.question(window, "Recover unsaved work?",
                                  "Brushwork did not close normally last time. Restore the autosaved session?",
                                  QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    if answer == QMessageBox.StandardButton.Yes:
        try:
            window.load(read_recovery(path))
            window._changed()
            return True
        except BrushworkError as exc:
            window.alert("Recovery failed", str(exc), "The recovery file was damaged; it has been removed.")
    path.unlink(missing_ok=True)
    return False


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from .qt_platform import check

    report = check()
    if not report.ok:  # Qt would abort (SIGABRT) with a wall of plugin lines; say it in two
        print(f"brushwork-editor: {report.message()}", file=sys.stderr)
        return 2
    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow
    from .sample import load_sample
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Brushwork")
    app.setOrganizationName("Brushwork")
    apply_theme(app)
    window = MainWindow()
    window.show()
    if not args.no_recovery and offer_recovery(window):
        pass  # the recovered session wins over --sample or a path
    elif args.sample:
        window.load(load_sample())
    elif args.path:
        p = Path(args.path)
        window.open_project(p) if p.suffix == ".brushwork" else window.open_image(p)
    if args.strategy:
        from engine.registry import strategies

        if args.strategy not in strategies.all():
            print(f"brushwork-editor: no strategy '{args.strategy}'; known: {', '.join(strategies.all())}.",
                  file=sys.stderr)
            return 2
        window.strategy_panel.select(args.strategy)
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
