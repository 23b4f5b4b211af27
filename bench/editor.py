"""Editor responsiveness: what one mouse move costs while painting, and project save/load.

Prints milliseconds per brush-stroke update (dabs + compositing + overlay refresh) at several
picture sizes, and the time to save and reopen the bundled sample as a .brushwork project.
Run: QT_QPA_PLATFORM=offscreen .venv/bin/python bench/editor.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import torch
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(2)
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
