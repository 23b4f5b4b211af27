"""Screenshot of the real editor window for the README: ``make screenshot`` (under Xvfb).

Opens the bundled sample, renders it with the sample's strategy through the editor's own job
queue (as a user pressing Render would), keeps the result and grabs the window: the result
untinted, as the canvas shows it after a render. ``--canvas``, ``--outline`` and ``--split``
also grab the canvas alone from the same render: as it is, in outline mode (O) and in split view;
``--small`` grabs the window again at 1366x768; ``--live`` turns live mode on, moves alpha and grabs the window once the live render landed
(``--live-small``: then again at 1366x768).
``--semantic`` opens the sample's photo without its region and grabs the window after one click
of Auto regions (by meaning); ``--portrait`` opens a portrait, grabs the window with its face
outlined (``--faces``) and its canvas rendered with and without protect faces
(``--protected``, ``--unprotected``).
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
    ap.add_argument("--small", help="also save the window at 1366x768 (a laptop: everything must stay reachable) here")
    ap.add_argument("--live", help="also save the window in live mode here, after a slider move re-rendered it")
    ap.add_argument("--live-small", help="with --live: also save the live window at 1366x768 here")
    ap.add_argument("--semantic", help="also save the window after one click of Auto regions (by meaning) here")
    ap.add_argument("--portrait", help="a portrait for --faces, --protected and --unprotected")
    ap.add_argument("--portrait-style", default="Kandinsky: Composition VII", help="the sample style painted on it")
    ap.add_argument("--faces", help="also save the window with the portrait's faces outlined here")
    ap.add_argument("--protected", help="also save the portrait's canvas rendered with protect faces on here")
    ap.add_argument("--unprotected", help="also save the portrait's canvas rendered with protect faces off here")
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
    if args.small:
        size = window.size()
        window.resize(1366, 768)
        save(args.small)
        window.resize(size)
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
        # an edit, as dragging the slider makes one (set_values starts from the defaults: keep the rest)
        window.strategy_panel.set_values({**window.strategy_panel.values(), "alpha": 0.7})
        deadline = time.perf_counter() + args.timeout
        settle()
        while window.live.busy() and time.perf_counter() < deadline:
            settle()
        window.outline_action.trigger()  # live mode shows where the regions are without tinting them
        save(args.live)
        if args.live_small:
            size = window.size()
            window.resize(1366, 768)
            settle()  # a smaller canvas shows the live picture smaller: no new render, still sharp
            while window.live.busy() and time.perf_counter() < deadline:
                settle()
            save(args.live_small)
            window.resize(size)
        window.outline_action.trigger()
        window.live.set_enabled(False)
    if args.semantic:
        one_click_regions(window, settle, args.timeout)
        save(args.semantic)
    if args.portrait:
        if not portrait(window, args, settle, save, loop, outcome):
            return 1
    window.doc.undo_stack.setClean()
    window._extra_changes = False
    window.close()
    return 0


def wait_until(done, settle, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not done() and time.perf_counter() < deadline:
        settle()
    return bool(done())


def one_click_regions(window, settle, timeout: float) -> None:
    """The sample's photo, styles and settings without its painted region; Auto regions clicked once."""
    from dataclasses import replace

    from .sample import load_sample

    window.load(replace(load_sample(), regions=()))
    window.regions_panel.set_auto_method("semantic")
    window.regions_panel.auto_button.click()
    if not wait_until(lambda: bool(window.doc.regions), settle, timeout):
        print("Auto regions made no regions", file=sys.stderr)
    sky = next((r for r in window.doc.regions if r.name == "Sky"), None)
    if sky is not None:  # ready to take a style: the sky takes one, as an artist's next click would
        window.regions_panel.select(sky)
        window.doc.set_region_attr(sky, "style", "Van Gogh: Starry Night")
    window.canvas.fit()


def portrait(window, args, settle, save, loop, outcome) -> bool:
    """The portrait styled all over, its faces outlined, then rendered with and without protect faces."""
    from PySide6.QtCore import QTimer

    if not window.open_image(args.portrait):
        return False
    wait_until(lambda: window.scene.state() == "ready", settle, args.timeout)
    window.statusBar().clearMessage()
    # the strategy's defaults at full strength (alpha 1): a look strong enough for a face to lose its shape
    window.strategy_panel.set_values({"alpha": 1.0})
    region = window.regions_panel.add_region()
    window.doc.set_region_attr(region, "name", "Everything")
    window.doc.set_region_attr(region, "style", args.portrait_style)
    window.canvas.fill_all_active()
    window.canvas.fit()
    if args.faces:
        save(args.faces)
    print(f"faces: {len(window.doc.faces)}; keep shape of protect faces: "
          f"{'landed' if _keep_shape_landed() else 'not landed (both renders alike)'}")
    for path, on in ((args.protected, True), (args.unprotected, False)):
        if not path:
            continue
        window.strategy_panel.protect_faces.setChecked(on)
        outcome.clear()
        if window.render() is None:
            print(window.last_alert.text() if window.last_alert else "render refused", file=sys.stderr)
            return False
        QTimer.singleShot(int(args.timeout * 1000), loop.quit)
        loop.exec()
        if "ok" not in outcome:
            print(f"render did not finish: {outcome.get('error', 'timeout')}", file=sys.stderr)
            return False
        window.canvas.fit()
        save(path, canvas=True)
    return True


def _keep_shape_landed() -> bool:
    import importlib.util

    return importlib.util.find_spec("engine.scene.keep_shape") is not None


if __name__ == "__main__":
    raise SystemExit(main())
