"""Editor responsiveness: what one mouse move costs while painting, and project save/load.

Prints milliseconds per brush-stroke update (dabs + compositing + overlay refresh) at several
picture sizes, and the time to save and reopen the bundled sample as a .brushwork project.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/editor.py

``--live [--size 512]`` instead replays a recorded edit stream through the real canvas with live
mode on (strokes on two regions as mouse events at 60 Hz, an alpha slider drag, a style switch)
and prints the stroke frame rate, where a live render's time went (universal's stages: the
encoders, the decoders, the regional transforms, the palette step; the thread policy's choices),
then, as its last lines, edit-to-pixels: the seconds from the end of each edit to the canvas
holding the render that includes it (a draft during a gesture: editor.live), to the sharp
picture, and from a gesture's last edit to its sharp picture. Live renders follow the size the
canvas shows the photo at (editor.sharpness), so the canvas is zoomed to show it ``--size`` px
long, and the live cap set to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import engine  # noqa: E402,F401  (before torch: its OpenMP policy, engine.openmp, as the editor runs)


def _mouse(view, kind, scene_pt, button=None):
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    left = Qt.MouseButton.LeftButton
    pos = QPointF(view.mapFromScene(scene_pt))
    buttons = Qt.MouseButton.NoButton if kind == QMouseEvent.Type.MouseButtonRelease else left
    ev = QMouseEvent(kind, pos, QPointF(view.viewport().mapToGlobal(pos.toPoint())), left, buttons,
                     Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), ev)


def _run_until(app, t_end: float) -> None:
    """Let the event loop (and so the live renders' results) run until ``t_end``."""
    while time.perf_counter() < t_end:
        app.processEvents()
        time.sleep(0.002)


def stroke_stream(x0: float, y0: float, x1: float, y1: float, n: int = 90, hz: float = 60.0):
    """A recorded-style stroke: n mouse positions at hz along a wavy line, (t offset, x, y)."""
    import math

    for i in range(n):
        f = i / (n - 1)
        yield i / hz, x0 + (x1 - x0) * f, y0 + (y1 - y0) * f + 0.03 * (y1 - y0 + x1 - x0) * math.sin(f * 9)


class StageClock:
    """Wall seconds per stage of universal's renders (wrapped module functions), for 'where the time went'."""

    STAGES = (("encode", "encode"), ("decode", "decode"), ("take_palette", "palette"), ("level_masks", "masks"))

    def __init__(self) -> None:
        import collections

        import plugins.universal as universal
        from stage_timer import time_calls

        self.seconds: dict[str, float] = collections.defaultdict(float)

        def wrap(owner, name: str, label: str) -> None:
            time_calls(self.seconds, owner, name, label)

        for name, label in self.STAGES:
            wrap(universal, name, label)
        wrap(universal.UniversalStrategy, "regional", "regional")
        wrap(universal.UniversalStrategy, "render", "total")  # cancelled renders included, as the stages

    def line(self) -> str:
        total = max(self.seconds.get("total", 0.0), 1e-9)
        parts = sorted(((k, v) for k, v in self.seconds.items() if k != "total"), key=lambda kv: -kv[1])
        rest = total - sum(v for _, v in parts)
        return ("where a render's time went: " + ", ".join(f"{k} {v / total:.0%}" for k, v in parts)
                + f", other {max(rest, 0) / total:.0%}")


def live(size: int, threads: int = 2) -> None:
    import torch
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(threads)
    app = QApplication.instance() or QApplication([])
    from editor.brush import BrushSettings
    from editor.live import instant_strategies
    from editor.mainwindow import MainWindow
    from editor.sample import load_sample

    os.environ.setdefault("BRUSHWORK_RECOVERY_DIR", tempfile.mkdtemp())
    w = MainWindow(autosave_s=3600)
    w.resize(1400, 900)
    w.show()
    w.load(load_sample())
    strategy = instant_strategies()[0]
    w.live_strategy.setCurrentIndex(w.live_strategy.findData(strategy))
    w.live_size.setValue(size)  # the live cap (older builds: the working size)
    photo_long = max(w.doc.content.width(), w.doc.content.height())
    w.canvas.set_zoom(size / photo_long / w.canvas.viewport().devicePixelRatioF())  # the canvas shows it `size` px long
    w.strategy_panel.select(strategy)
    sky = w.doc.regions[0]
    ground = w.regions_panel.add_region()
    w.doc.set_region_attr(ground, "style", "Hokusai: Great Wave")
    w.live.set_enabled(True)
    _run_until(app, time.perf_counter() + 0.1)
    while w.live.busy():  # the first render encodes the photo and the styles: not an edit's cost
        _run_until(app, time.perf_counter() + 0.05)
    w.live.stats = type(w.live.stats)()
    clock = StageClock() if strategy == "universal" else None
    W, H = w.doc.content.width(), w.doc.content.height()
    w.canvas.set_brush(BrushSettings(size=W / 12, hardness=0.6, opacity=0.9))
    frames: list[float] = []

    def replay(region, x0, y0, x1, y1):
        w.regions_panel.select(region)
        start = time.perf_counter()
        stream = list(stroke_stream(x0 * W, y0 * H, x1 * W, y1 * H))
        for k, (t, x, y) in enumerate(stream):
            _run_until(app, start + t)
            kind = (QMouseEvent.Type.MouseButtonPress if k == 0 else
                    QMouseEvent.Type.MouseButtonRelease if k == len(stream) - 1 else QMouseEvent.Type.MouseMove)
            t0 = time.perf_counter()
            _mouse(w.canvas, kind, QPointF(x, y))
            app.processEvents()  # the repaint of this move
            frames.append(time.perf_counter() - t0)
        _run_until(app, time.perf_counter() + 0.6)

    replay(sky, 0.1, 0.15, 0.9, 0.25)
    replay(ground, 0.1, 0.7, 0.8, 0.85)
    replay(ground, 0.2, 0.55, 0.9, 0.6)
    start = time.perf_counter()
    for k, alpha in enumerate([1.0 - 0.035 * i for i in range(1, 21)]):  # a slider drag: 20 values at 30 Hz
        _run_until(app, start + k / 30)
        w.strategy_panel.set_values({"alpha": round(alpha, 3)})
    _run_until(app, time.perf_counter() + 0.8)
    w.doc.set_region_attr(sky, "style", "Monet: Water Lilies")  # a style switch
    _run_until(app, time.perf_counter() + 0.8)
    while w.live.busy():
        _run_until(app, time.perf_counter() + 0.05)

    frames.sort()
    fps = [1 / f for f in frames if f > 0]
    print(f"strategy {strategy}, live size {size} px, photo {W}x{H}, {torch.get_num_threads()} threads")
    print(f"stroke: {len(frames)} mouse events, ms per event incl. repaint median {statistics.median(frames) * 1000:.1f}"
          f" p95 {frames[int(0.95 * len(frames))] * 1000:.1f} (the GUI could follow {statistics.median(fps):.0f}"
          f" events/s; the stream sends 60)")
    lat = sorted(w.live.stats.latencies)
    s = w.live.stats
    print(f"renders {s.renders}, cancelled {s.cancelled}, edits {s.edits}, edits that reached the canvas {len(lat)};"
          f" a render took median {statistics.median(s.render_seconds):.3f} s on the worker"
          f" at {max(w.live.last_image.shape[-2:])} px")
    if clock is not None:
        print(clock.line())
    policy = getattr(w.live, "threads", None)
    if policy is not None and policy.history:
        ones = sum(1 for n, _ in policy.history if n == 1)
        print(f"thread policy: {ones} of {len(policy.history)} renders on 1 thread; share of the threads a render got"
              f" median {statistics.median(share for _, share in policy.history):.2f}"
              f" (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    w.live.set_enabled(False)
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()
    sharp = sorted(getattr(s, "sharp_latencies", None) or lat)  # older builds: every picture was sharp
    print(f"live {size} px median {statistics.median(lat):.3f} p95 {lat[min(len(lat) - 1, int(0.95 * len(lat)))]:.3f}"
          f" renders {s.renders} (drafts {getattr(s, 'drafts', 0)}) edits {s.edits}; to the sharp picture median"
          f" {statistics.median(sharp):.3f} p95 {sharp[min(len(sharp) - 1, int(0.95 * len(sharp)))]:.3f}")
    print("the slowest edits to a picture: " + ", ".join(f"{v:.2f}" for v in lat[-5:]))
    settle = sorted(getattr(s, "settle_latencies", None) or lat)
    print(f"from the newest edit a sharp picture includes (a gesture's last) to it: median {statistics.median(settle):.3f}"
          f" max {settle[-1]:.3f} over {len(settle)} sharp pictures")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--live", action="store_true", help="replay an edit stream with live mode on")
    ap.add_argument("--size", type=int, default=512, help="live working size (long edge)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 when another process holds a core)")
    args = ap.parse_args()
    if args.live:
        live(args.size, args.threads)
        return
    import torch
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(args.threads)
    app = QApplication.instance() or QApplication([])
    from editor.brush import BrushSettings
    from editor.mainwindow import MainWindow
    from editor.sample import load_sample
    from engine.project import load_project, save_project

    os.environ.setdefault("BRUSHWORK_RECOVERY_DIR", tempfile.mkdtemp())
    w = MainWindow(autosave_s=3600)
    w.resize(1400, 900)
    w.show()  # so each update includes repainting the canvas
    print("size      brush   ms/update incl. repaint (median, p90)")
    for long_edge in (1024, 2048, 4096):
        w.doc.set_content(torch.rand(1, 3, long_edge * 2 // 3, long_edge), "noise")
        w.regions_panel.add_region()
        w.canvas.set_brush(BrushSettings(size=long_edge / 20, hardness=0.6, opacity=0.8))
        w.canvas.begin_stroke(QPointF(10, 10))
        times = []
        for i in range(1, 41):
            t = time.perf_counter()
            w.canvas.continue_stroke(QPointF(10 + i * long_edge / 50, 10 + i * long_edge / 80))
            app.processEvents()
            times.append((time.perf_counter() - t) * 1000)
        w.canvas.end_stroke()
        times.sort()
        print(f"{long_edge:5d} px  {long_edge / 20:5.0f}   {statistics.median(times):6.1f}, {times[int(0.9 * len(times))]:6.1f}")
    project = load_sample()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.brushwork"
        t = time.perf_counter()
        save_project(project, path)
        saved = time.perf_counter() - t
        t = time.perf_counter()
        load_project(path)
        loaded = time.perf_counter() - t
        print(f"sample project: {path.stat().st_size / 1e6:.1f} MB, save {saved * 1000:.0f} ms, open {loaded * 1000:.0f} ms")
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()


if __name__ == "__main__":
    main()
