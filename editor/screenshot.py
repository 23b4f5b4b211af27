"""Screenshot of the real editor window for the README: ``make screenshot`` (under Xvfb).

Opens the bundled sample, renders it with the sample's strategy through the editor's own job
queue (as a user pressing Render would), keeps the result and grabs the window: the result
untinted, as the canvas shows it after a render. ``--canvas``, ``--outline`` and ``--split``
also grab the canvas alone from the same render: as it is, in outline mode (O) and in split view;
``--live`` turns live mode on, moves alpha and grabs the window once the live render landed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("output", nargs="?", default="docs/screenshot.png")
    ap.add_argument("--size", type=int, default=None, help="render size (long edge); default: the sample's")
    ap.add_argument("--timeout", type=float, default=900, help="give up after this many seconds of rendering")
    ap.add_argument("--canvas", help="also save the canvas alone here (the result, untinted)")
    ap.add_argument("--outline", help="also save the canvas in outline mode (View > Region outlines) here")
    ap.add_argument("--split", help="also save the canvas in split view (View > Split before/after) here")
    ap.add_argument("--live", help="also save the window in live mode here, after a slider move re-rendered it")
    args = ap.parse_args(argv)
    os.environ.setdefault("BRUSHWORK_RECOVERY_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "brushwork-screenshot"))

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from .mainwindow import MainWindow
    from .sample import load_sample
    from .theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(autosave_s=3600)
    window.resize(1600, 980)
    window.load(load_sample())
    if args.size:
        window.strategy_panel.size.setValue(args.size)
    window.show()
    loop = QEventLoop()
    outcome: dict = {}
    window.queue.finished.connect(lambda *_: (outcome.setdefault("ok", True), loop.quit()))
    window.queue.failed.connect(lambda _id, msg, fix: (outcome.setdefault("error", f"{msg} {fix}"), loop.quit()))
    QTimer.singleShot(int(args.timeout * 1000), loop.quit)
    start = time.perf_counter()
    if window.render() is None:
        print(window.last_alert.text() if window.last_alert else "render refused", file=sys.stderr)
        return 1
    loop.exec()
    if "ok" not in outcome:
        print(f"render did not finish: {outcome.get('error', 'timeout')}", file=sys.stderr)
        return 1
    print(f"rendered in {time.perf_counter() - start:.1f} s: {window.job_panel.stage.text()}")
    window.keep_result()
    window.canvas.fit()

    def settle() -> None:
        for _ in range(20):
            app.processEvents()
            time.sleep(0.02)

    def save(path: str, canvas: bool = False) -> None:
        settle()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if canvas:  # the picture and a margin of the canvas around it
            view = window.canvas.viewport()
            shown = window.canvas.mapFromScene(window.canvas.sceneRect()).boundingRect()
            view.grab(shown.adjusted(-12, -12, 12, 12).intersected(view.rect())).save(str(out))
        else:
            window.grab().save(str(out))
        print(f"wrote {out}")

    save(args.output)
    if args.canvas:
        save(args.canvas, canvas=True)
    if args.outline:
        window.outline_action.trigger()
        save(args.outline, canvas=True)
        window.outline_action.trigger()
    if args.split:
        window.split_action.trigger()
        window.canvas.set_split_x(window.doc.content.width() * 0.4)
        save(args.split, canvas=True)
        window.split_action.trigger()
    if args.live:
        window.live.set_enabled(True)
        window.strategy_panel.set_values({"alpha": 0.7})  # an edit, as dragging the slider makes one
        deadline = time.perf_counter() + args.timeout
        settle()
        while window.live.busy() and time.perf_counter() < deadline:
            settle()
        window.outline_action.trigger()  # live mode shows where the regions are without tinting them
        save(args.live)
        window.outline_action.trigger()
        window.live.set_enabled(False)
    window.doc.undo_stack.setClean()
    window._extra_changes = False
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
