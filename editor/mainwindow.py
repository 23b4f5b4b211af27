"""The main window: canvas in the centre, docks around it, menus, tool options, status bar.

It wires the panels to the document and the job queue; it holds no image logic itself.
Errors never end the session: they are shown (non-modally) with a suggested fix.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QPushButton,
                               QToolBar, QWidget)

from shiboken6 import isValid as shiboken_valid

from engine.errors import BrushworkError, InputError
from engine.images import image_size, load_image, max_pixels
from engine.project import SUFFIX, Project, load_project, save_project
from engine.registry import segmenters, strategies
from engine.video import is_video_input

from .batch_dialog import open_batch_dialog
from .canvas import Canvas, HoldToCompare, Tool
from .compare import CompareSetup, CompareWindow, Variant
from .conversions import rgb_to_tensor
from .document import Document, ResultEntry
from .face_overlay import FaceOverlay
from .export_dialog import ExportDialog, ExportRunner, ExportSettings
from .layers_dialog import ask_export_layers
from .job_panel import JobPanel, caption
from .jobs import JobQueue, ProgressInfo, explain
from .live import LiveMode
from .recovery import Autosave
from .regions_panel import RegionsPanel
from .scene_analysis import SceneAnalysis
from .segmenting import Segmenting
from .select_tool import SelectTool
from .sharpness import sharp_job
from .strategy_panel import StrategyPanel
from .styles_panel import IMAGE_FILTER, StylesPanel
from .toolbar import ToolOptions
from .video import VIDEO_FILTER, FrameScrubber, FrameSeeker, OpenedClip, read_first_frame
from .video_export import VideoExportDialog, VideoExportRunner, VideoExportSettings

PROJECT_FILTER = f"Brushwork projects (*{SUFFIX})"
#: a photo with a longer side than this is offered a downscale on open: painting and renders stay quick
LARGE_LONG_EDGE = 6000
#: the long edge such a photo is downscaled to (a 4K picture: plenty for the canvas and most prints)
DOWNSCALE_LONG_EDGE = 4096


def device_label() -> str:
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return f"CPU ({torch.get_num_threads()} threads)"


def memory_label() -> str:
    parts = []
    try:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        parts.append(f"RAM {rss / 2**30:.2f} GB")
    except (OSError, ValueError, AttributeError):
        pass
    if torch.cuda.is_available():
        parts.append(f"VRAM {torch.cuda.memory_allocated() / 2**30:.2f} GB")
    return " · ".join(parts)


class MainWindow(QMainWindow):
    def __init__(self, autosave_s: float = 60.0) -> None:
        super().__init__()
        self.setWindowTitle("Brushwork")
        self.resize(1500, 920)
        self.doc = Document(self)
        self.project_path: Path | None = None
        self._extra_changes = False
        #: job id -> what it is for: ("canvas", label, strategy, values) or ("compare", cell, ...)
        self._jobs: dict[int, dict[str, Any]] = {}
        self.last_alert: QMessageBox | None = None
        self.last_export: Path | None = None
        self.compare_window: CompareWindow | None = None
        #: what the canvas shows: "result" (doc.result or nothing), "preview" (a render in progress) or "live"
        self.canvas_source = "result"

        self.canvas = Canvas(self.doc)
        self.setCentralWidget(self.canvas)
        self.queue = JobQueue(parent=self)
        self.exporter = ExportRunner(self)
        self.video_exporter = VideoExportRunner(self)
        #: the open clip (None for a photo): its info and path; the canvas shows frame doc.clip_frame
        self.clip: OpenedClip | None = None
        self.frame_seeker: FrameSeeker | None = None
        self.live = LiveMode(self.doc, lambda name: self.doc.params.get(name, {}), self)

        self.styles_panel = StylesPanel(self.doc)
        self.regions_panel = RegionsPanel(self.doc)
        self.strategy_panel = StrategyPanel(self.doc)
        self.job_panel = JobPanel(self.doc)
        self.scene = SceneAnalysis(self.doc, self)
        self.segmenting = Segmenting(self)
        self.segmenter = self.segmenting.runner
        self.select_tool = SelectTool(self.doc, self.canvas, self.scene, self)
        self.face_overlay = FaceOverlay(self.doc, self.canvas, self)
        self.styles_dock = self._dock("Styles", self.styles_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.regions_dock = self._dock("Regions", self.regions_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.strategy_dock = self._dock("Strategy", self.strategy_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.job_dock = self._dock("Job", self.job_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.resizeDocks([self.styles_dock, self.strategy_dock], [300, 340], Qt.Orientation.Horizontal)
        self.resizeDocks([self.styles_dock, self.regions_dock], [380, 420], Qt.Orientation.Vertical)
        self.resizeDocks([self.strategy_dock, self.job_dock], [560, 300], Qt.Orientation.Vertical)

        self._build_actions()
        self.tool_options = ToolOptions(self)
        self._build_clip_bar()
        self._build_status()
        self._connect()
        self.hold_to_compare = HoldToCompare(self, self.canvas)
        QApplication.instance().installEventFilter(self.hold_to_compare)
        self.autosave = Autosave(self.doc, autosave_s, self)
        self._update_title()

    # ================================================================ layout
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, slot, shortcut: QKeySequence | str | None = None, tip: str = "",
                checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(f"{text} ({a.shortcut().toString()})" if shortcut else text)
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self._action(f, "Open image…", self._ask_open_image, QKeySequence.StandardKey.Open, "Open a content photo")
        self._action(f, "Open video…", self._ask_open_video, "Ctrl+Alt+O",
                     "Open a clip: paint regions on any frame, preview it, export the whole clip")
        self._action(f, "Open project…", self._ask_open_project, "Ctrl+Shift+O")
        f.addSeparator()
        self._action(f, "Save project", self.save, QKeySequence.StandardKey.Save)
        self._action(f, "Save project as…", self.save_as, QKeySequence.StandardKey.SaveAs)
        f.addSeparator()
        self._action(f, "Export…", self.ask_export, "Ctrl+E", "Export the result at pixel or print size")
        self._action(f, "Export layers…", lambda: ask_export_layers(self), "Ctrl+Alt+E",
                     "The photo, each region, the render and kept results as layers for Krita, GIMP or Photoshop")
        self.export_video_action = self._action(f, "Export video…", self.ask_export_video, "Ctrl+Shift+E",
                                                "Stylise the whole open clip with the current strategy and regions")
        self.export_video_action.setEnabled(False)
        self._action(f, "Batch…", lambda: open_batch_dialog(self), None,
                     "Render a folder of pictures with this look, in the background")
        f.addSeparator()
        self._action(f, "Quit", self.close, QKeySequence.StandardKey.Quit)

        e = mb.addMenu("&Edit")
        self.undo_action = self.doc.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.doc.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addAction(self.undo_action)
        e.addAction(self.redo_action)

        v = mb.addMenu("&View")
        self._action(v, "Zoom in", lambda: self.canvas.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn)
        self._action(v, "Zoom out", lambda: self.canvas.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut)
        extra_zoom = QAction(self)
        extra_zoom.setShortcut(QKeySequence("Ctrl+="))
        extra_zoom.triggered.connect(lambda: self.canvas.zoom_by(1.25))
        self.addAction(extra_zoom)
        self._action(v, "Fit to window", self.canvas.fit, "Ctrl+0")
        self._action(v, "Actual pixels (100 %)", self.canvas.actual_size, "Ctrl+1")
        v.addSeparator()
        # the key is press-and-hold (HoldToCompare), so this entry carries no shortcut; the tab shows the hint
        self.show_result_action = self._action(v, "Show result\tHold \\", self.canvas.set_show_result,
                                               tip="Untick to see the original photo; hold backslash to compare",
                                               checkable=True)
        self.show_result_action.setChecked(True)
        self.split_action = self._action(v, "Split before/after", self.canvas.set_split,
                                         tip="The photo left of a divider, the result right of it (drag the divider)",
                                         checkable=True)
        self.outline_action = self._action(v, "Region outlines", self.canvas.set_outlines, "O",
                                           "Draw each region's edge as a thin line (also over a result)", checkable=True)
        self.live_action = self._action(v, "Live", self.live.set_enabled, "L",
                                        "Restyle the canvas with an instant strategy on every edit", checkable=True)
        v.addSeparator()
        for dock in (self.styles_dock, self.regions_dock, self.strategy_dock, self.job_dock):
            v.addAction(dock.toggleViewAction())

        t = mb.addMenu("&Tools")
        group = QActionGroup(self)
        self.tool_actions: dict[Tool, QAction] = {}
        for tool, text, key in ((Tool.BRUSH, "Brush", "B"), (Tool.ERASER, "Eraser", "E"), (Tool.FILL, "Fill", "G"),
                                (Tool.SELECT, "Select", "S")):
            a = self._action(t, text, lambda _=False, tl=tool: self.set_tool(tl), key, f"{text} tool", checkable=True)
            group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions[Tool.BRUSH].setChecked(True)
        t.addSeparator()
        self._action(t, "Smaller brush", lambda: self.resize_brush(1 / 1.2), "[")
        self._action(t, "Larger brush", lambda: self.resize_brush(1.2), "]")
        t.addSeparator()
        self._action(t, "Fill whole region", self.canvas.fill_all_active, "Shift+Backspace")
        self._action(t, "Clear region", self.canvas.clear_active, "Backspace")

        r = mb.addMenu("&Regions")
        self._action(r, "Add region", self.regions_panel.add_region, "Ctrl+Shift+N")
        self._action(r, "Remove region", self.regions_panel.remove_selected)
        r.addSeparator()
        self.auto_action = self._action(r, "Auto regions", self.segmenting.auto_regions,
                                        tip="Split the picture into regions, by meaning or by colour (Regions panel)")
        self.scribble_action = self._action(r, "Grow scribbles into regions", self.grow_scribbles,
                                            tip="Spread each region's rough scribbles to the whole picture")
        names = segmenters.names()
        self.auto_action.setEnabled(self.regions_panel.auto_button.isEnabled())
        self.scribble_action.setEnabled("scribbles" in names)
        self.regions_panel.scribble_button.setEnabled("scribbles" in names)

        j = mb.addMenu("&Render")
        self.render_action = self._action(j, "Render", self.render, "Ctrl+R")
        self._action(j, "Compare strategies…", self.ask_compare, "Ctrl+Shift+R")
        self._action(j, "Cancel", self.cancel, "Esc")
        self.refine_action = self._action(j, "Refine", self.refine, "Ctrl+Shift+Return",
                                          "Render the quality strategy; the live picture is kept to compare")
        j.addSeparator()
        self._action(j, "Keep result", self.keep_result, "Ctrl+K", "Keep the result on the canvas in the project")

    def _build_clip_bar(self) -> None:
        """The frame scrubber, under the canvas while a clip is open."""
        self.clip_bar = QToolBar("Clip")
        self.clip_bar.setObjectName("clip")
        self.clip_bar.setMovable(False)
        self.scrubber = FrameScrubber()
        self.clip_bar.addWidget(self.scrubber)
        self.clip_bar.addAction(self.export_video_action)
        self.addToolBar(Qt.ToolBarArea.BottomToolBarArea, self.clip_bar)
        self.clip_bar.hide()

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.result_scale_label = QLabel()
        self.result_scale_label.setStyleSheet("padding: 0 8px;")
        self.full_size_button = QPushButton("Render full size")
        self.full_size_button.setToolTip("Render what the canvas shows again at the photo's own size")
        self.full_size_button.clicked.connect(self.render_full_size)
        sb.addPermanentWidget(self.result_scale_label)
        sb.addPermanentWidget(self.full_size_button)
        self.result_scale_label.hide()
        self.full_size_button.hide()
        self.zoom_label = QLabel("100 %")
        self.device_status = QLabel(device_label())
        self.memory_status = QLabel(memory_label())
        for w in (self.zoom_label, self.device_status, self.memory_status):
            w.setStyleSheet("padding: 0 8px;")
            sb.addPermanentWidget(w)
        self._mem_timer = QTimer(self)
        self._mem_timer.timeout.connect(lambda: self.memory_status.setText(memory_label()))
        self._mem_timer.start(2000)

    def _connect(self) -> None:
        self.canvas.fileDropped.connect(self._dropped)
        self.canvas.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.viewChanged.connect(self._update_result_scale)
        self.canvas.zoomChanged.connect(lambda _: self._update_result_scale())
        self.doc.resultChanged.connect(self._result_on_canvas)
        self.styles_panel.message.connect(lambda m: self.statusBar().showMessage(m, 6000))
        self.strategy_panel.message.connect(lambda m: self.statusBar().showMessage(m, 4000))
        self.regions_panel.activeChanged.connect(self.canvas.set_active_region)
        self.regions_panel.overlayOpacityChanged.connect(self.canvas.set_overlay_opacity)
        self.regions_panel.autoRequested.connect(self.segmenting.auto_regions)
        self.regions_panel.scribblesRequested.connect(self.grow_scribbles)
        self.strategy_panel.runRequested.connect(self.render)
        self.strategy_panel.paramsChanged.connect(self.live.edited)
        self.canvas.strokeMoved.connect(self.live.stroke_moved)
        self.live.shown.connect(self._live_shown)
        self.live.failed.connect(self._live_failed)
        self.live.enabledChanged.connect(self._live_toggled)
        self.strategy_panel.compareRequested.connect(self.ask_compare)
        self.job_panel.cancelRequested.connect(self.cancel)
        self.job_panel.resultPicked.connect(self.doc.set_result)
        self.queue.started.connect(self._job_started)
        self.queue.progressed.connect(self._job_progress)
        self.queue.finished.connect(self._job_finished)
        self.queue.failed.connect(self._job_failed)
        self.queue.cancelled.connect(self._job_cancelled)
        self.queue.idle.connect(self.job_panel.queue_idle)
        self.doc.undo_stack.cleanChanged.connect(lambda _: self._update_title())
        self.doc.undo_stack.indexChanged.connect(lambda _: self._update_title())
        for sig in (self.doc.stylesChanged, self.doc.keptChanged):
            sig.connect(self._changed)
        self.scene.message.connect(lambda m: self.statusBar().showMessage(m, 15000))
        self.select_tool.message.connect(lambda m: self.statusBar().showMessage(m, 6000))
        self.tool_actions[Tool.SELECT].triggered.connect(self.select_tool.chosen)
        self.strategy_panel.paramsChanged.connect(self.face_overlay.update_visibility)
        self.doc.sceneChanged.connect(self.live.edited)  # faces found: protect them in the live picture
        self.exporter.progressed.connect(self._export_progress)
        self.exporter.finished.connect(self._export_finished)
        self.exporter.failed.connect(self._export_failed)
        self.exporter.cancelled.connect(lambda: self.job_panel.job_ended("Export cancelled; nothing was written."))
        self.scrubber.frameRequested.connect(self.show_frame)
        self.video_exporter.progressed.connect(self._video_progress)
        self.video_exporter.finished.connect(self._video_finished)
        self.video_exporter.failed.connect(self._video_failed)
        self.video_exporter.cancelled.connect(self._video_cancelled)
        self.doc.frameChanged.connect(self.live.edited)

    # ================================================================ state
    def _changed(self, *_: Any) -> None:
        self._extra_changes = True
        self._update_title()

    def is_modified(self) -> bool:
        return self.doc.content is not None and (self._extra_changes or not self.doc.undo_stack.isClean())

    def _mark_saved(self) -> None:
        self._extra_changes = False
        self.doc.undo_stack.setClean()
        self._update_title()

    def _update_title(self) -> None:
        if not shiboken_valid(self.doc.undo_stack):  # signals sent while the window is being destroyed
            return
        name = self.project_path.name if self.project_path else (self.doc.content_name or "Untitled")
        self.setWindowTitle(f"{name}{' *' if self.is_modified() else ''} — Brushwork")

    def alert(self, title: str, message: str, fix: str = "") -> None:
        """Tell the user without blocking: a non-modal box plus the Job panel's error line."""
        self.job_panel.show_error(message, fix)
        self.statusBar().showMessage(message, 8000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        if fix:
            box.setInformativeText(fix)
        box.setWindowModality(Qt.WindowModality.NonModal)
        if os.environ.get("QT_QPA_PLATFORM") != "offscreen":
            box.show()
        self.last_alert = box

    # ================================================================ tools
    def set_tool(self, tool: Tool) -> None:
        self.tool_actions[tool].setChecked(True)
        self.canvas.set_tool(tool)

    def resize_brush(self, factor: float) -> None:
        self.canvas.set_brush(self.canvas.brush.resized(factor))

    # ================================================================ files
    def _dropped(self, path: str) -> None:
        if not self._may_replace_work():
            return
        if path.endswith(SUFFIX):
            self.open_project(path)
        elif is_video_input(path):
            self.open_video(path)
        else:
            self.open_image(path)

    def _ask_open_image(self) -> None:
        self._ask_open("Open a photo", IMAGE_FILTER, self.open_image)

    def _ask_open(self, title: str, name_filter: str, open_it) -> None:
        """File > Open…: offer to save unsaved work, pick a file, open it."""
        if not self._may_replace_work():
            return
        path, _ = QFileDialog.getOpenFileName(self, title, "", name_filter)
        if path:
            open_it(path)

    def _may_replace_work(self) -> bool:
        """Opening a photo or project replaces the regions and the undo history: unsaved work is offered a save first."""
        if not self.is_modified():
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", "Save your changes first? Opening replaces the regions and the undo history.",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        return not (answer == QMessageBox.StandardButton.Cancel
                    or (answer == QMessageBox.StandardButton.Save and not self.save()))

    def open_image(self, path: str | Path) -> bool:
        try:
            go, long_edge = self._ask_downscale(Path(path))
            if not go:
                return False
            image = load_image(path, long_edge=long_edge)
        except InputError as exc:
            self.alert("Cannot open image", str(exc), "Choose a PNG, JPEG, TIFF or WebP picture.")
            return False
        self._close_clip()
        self.doc.set_content(image, Path(path).name)
        self._changed()
        return True

    # ================================================================ video
    def _ask_open_video(self) -> None:
        self._ask_open("Open a video", VIDEO_FILTER, self.open_video)

    def open_video(self, path: str | Path) -> bool:
        """Open a clip: its first frame becomes the canvas and the scrubber picks any other."""
        try:
            opened = read_first_frame(path)
        except BrushworkError as exc:
            self.alert("Cannot open video", str(exc),
                       "Choose a video (MP4, MOV, MKV, WebM…) or a folder of numbered frames; nothing was changed.")
            return False
        self._close_clip()
        self.doc.set_content(rgb_to_tensor(opened.first.rgb), Path(path).name)
        self._attach_clip(opened, 0)
        info = opened.info
        frames = f"{info.frames} frames" if info.frames else "frames"
        self.statusBar().showMessage(f"{Path(path).name}: {info.width} x {info.height}, {frames} at "
                                     f"{float(info.fps):.3g} fps. Paint regions on any frame; File > Export video "
                                     "renders the clip.", 8000)
        self._changed()
        return True

    def _attach_clip(self, opened: OpenedClip, frame: int) -> None:
        """The scrubber and Export video for ``opened``, whose frame ``frame`` the canvas shows."""
        path = Path(opened.info.path)
        self.clip = opened
        self.doc.set_clip(path.resolve(), frame)
        self.frame_seeker = FrameSeeker(path, self)
        self.frame_seeker.decoded.connect(self._frame_decoded)
        self.frame_seeker.failed.connect(lambda m, fix: self.alert("Cannot show that frame", m, fix))
        self.scrubber.set_clip(opened.info)
        self.scrubber.show_frame(frame)
        self.clip_bar.show()
        self.export_video_action.setEnabled(True)

    def _reopen_clip(self, path: str, frame: int) -> None:
        """A project painted on a clip: the clip comes back with it when it is still where it was
        (the canvas keeps the frame saved in the project); otherwise the project is that one frame."""
        try:
            opened = read_first_frame(path)
            if tuple(opened.first.rgb.shape[:2]) != tuple(self.doc.content_tensor().shape[-2:]):
                raise BrushworkError(f"its frames are {opened.info.width} x {opened.info.height}, not the "
                                     "project's size")
        except BrushworkError as exc:
            self.doc.set_clip("", 0)
            self.statusBar().showMessage(f"The project's clip {Path(path).name} cannot be opened ({exc}); "
                                         "the project shows its saved frame as a picture.", 10000)
            return
        self._attach_clip(opened, frame)

    def show_frame(self, index: int) -> None:
        """Ask for frame ``index`` of the open clip (decoded off the GUI thread; the latest asked wins)."""
        if self.frame_seeker is not None:
            self.frame_seeker.seek(index)

    def _frame_decoded(self, index: int, frame) -> None:
        if self.clip is None or self.sender() is not self.frame_seeker:
            return  # from a clip closed since
        try:
            self.doc.set_frame(rgb_to_tensor(frame.rgb), frame.index)
        except BrushworkError as exc:
            self.alert("Cannot show that frame", str(exc), "")
            return
        if index == self.scrubber.slider.value():
            self.scrubber.show_frame(frame.index)

    def _close_clip(self) -> None:
        if self.frame_seeker is not None:
            self.frame_seeker.close(timeout=0.5)
            self.frame_seeker.deleteLater()
        self.frame_seeker, self.clip = None, None
        self.clip_bar.hide()
        self.export_video_action.setEnabled(False)

    def ask_export_video(self) -> None:
        if self.clip is None:
            self.alert("No video open", "Export video renders an open clip.", "Open one with File > Open video…")
            return
        stem = Path(self.clip.info.path).stem
        dialog = VideoExportDialog(self.clip.info, Path.home() / f"{stem}-styled.mp4", self)
        if dialog.exec():
            self.export_video(dialog.settings())

    def export_video(self, settings: VideoExportSettings) -> bool:
        """Render the open clip with the Strategy panel's strategy, the styles and regions, on a thread."""
        if self.clip is None:
            return False
        if self.video_exporter.busy():
            self.statusBar().showMessage("A video export is still running (Esc cancels it).", 4000)
            return False
        try:
            job = self._job_for(self.current_variant())
        except BrushworkError as exc:
            self.alert("Cannot export video", *explain(exc))
            return False
        self.job_panel.job_started(f"Exporting video {settings.path.name}", 0)
        self.video_exporter.start(settings, job, Path(self.clip.info.path))
        return True

    def _video_progress(self, done: int, total: int) -> None:
        self.job_panel.job_progress(ProgressInfo(-1, done, max(total, done), f"frame {done}"
                                                 + (f" of {total}" if total else ""), None))

    def _video_finished(self, path: str, report) -> None:
        self.last_export = Path(path)
        notes = "".join(f" {n}" for n in report.notes)
        self.job_panel.job_ended(f"Done: exported {Path(path).name} ({report.frames} frames, "
                                 f"{report.frames / max(report.seconds, 1e-9):.2f} fps, audio {report.audio})")
        self.job_panel.queue_idle()
        self.statusBar().showMessage(f"Exported {path}.{notes}", 8000)

    def _video_failed(self, message: str, fix: str) -> None:
        self.job_panel.job_ended("Video export failed; nothing was written.")
        self.job_panel.queue_idle()
        self.alert("Video export failed", message, fix)

    def _video_cancelled(self) -> None:
        self.job_panel.job_ended("Video export cancelled; nothing was written.")
        self.job_panel.queue_idle()

    def _ask_downscale(self, path: Path) -> tuple[bool, int | None]:
        """(open it?, long edge to downscale to or None): asked only for a large picture.

        One past the pixel limit can only be opened downscaled (the user is told the memory it takes)."""
        w, h = image_size(path)
        limit = max_pixels()
        too_big = limit is not None and w * h > limit
        if not too_big and max(w, h) <= LARGE_LONG_EDGE:
            return True, None
        Button = QMessageBox.StandardButton
        size = f"{path.name} is {w}×{h} px ({w * h / 1e6:.0f} megapixels)"
        if too_big:
            text = (f"{size}, more than Brushwork opens at full size ({limit / 1e6:.0f} megapixels; the "
                    f"BRUSHWORK_MAX_IMAGE_PIXELS setting raises it). Open it downscaled to {DOWNSCALE_LONG_EDGE} px on "
                    f"the long edge? Decoding it takes about {w * h * 3 / 1e9:.1f} GB of memory.")
            buttons = Button.Yes | Button.Cancel
        else:
            text = (f"{size}. Painting and rendering at that size is slow. Downscale it to {DOWNSCALE_LONG_EDGE} px on "
                    "the long edge? (No opens it at full size.)")
            buttons = Button.Yes | Button.No | Button.Cancel
        answer = QMessageBox.question(self, "Large image", text, buttons, Button.Yes)
        if answer == Button.Yes:
            return True, DOWNSCALE_LONG_EDGE
        return answer == Button.No, None

    def _ask_open_project(self) -> None:
        self._ask_open("Open project", PROJECT_FILTER, self.open_project)

    def open_project(self, path: str | Path) -> bool:
        try:
            project = load_project(path)
        except BrushworkError as exc:
            self.alert("Cannot open project", str(exc), "Nothing was changed; the project you had open is still here.")
            return False
        try:
            self.load(project)
        except Exception as exc:  # the window could not take it: load() has put the open document back
            self.alert("Cannot open project", f"'{Path(path).name}' could not be shown ({type(exc).__name__}: {exc}).",
                       "Nothing was changed; the project you had open is still here.")
            return False
        self.project_path = Path(path)
        self._mark_saved()
        return True

    def load(self, project: Project) -> None:
        """Show ``project`` (from a file, the recovery file or the bundled sample), all or nothing:
        if any panel fails to take it, the document, its clip and its undo history are as before."""
        before = self.doc.snapshot()
        try:
            self._close_clip()
            self.doc.load_project(project, clear_undo=False)
            if project.clip and project.content is not None:
                self._reopen_clip(project.clip, project.clip_frame)
            self.strategy_panel.sync_from_document()
        except Exception:
            self._close_clip()
            self.doc.restore(before)
            if before["clip_path"] and before["content"] is not None:
                self._reopen_clip(before["clip_path"], before["clip_frame"])
            self.strategy_panel.sync_from_document()
            raise
        self.doc.undo_stack.clear()
        self.job_panel.refresh_kept()
        if self.doc.regions:
            self.regions_panel.select(self.doc.regions[0])
        self.canvas.rest()  # a kept result shows untinted; picking a tool or painting brings the tint back
        self._mark_saved()

    def save(self) -> bool:
        if self.project_path is None:
            return self.save_as()
        return self.save_to(self.project_path)

    def save_as(self) -> bool:
        start = str(self.project_path or Path(self.doc.content_name or "untitled").with_suffix(SUFFIX))
        path, _ = QFileDialog.getSaveFileName(self, "Save project", start, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(SUFFIX):
            path += SUFFIX
        return self.save_to(Path(path))

    def save_to(self, path: str | Path) -> bool:
        try:
            save_project(self.doc.to_project(), path)
        except (BrushworkError, OSError) as exc:
            self.alert("Cannot save project", str(exc), "Choose another folder or free some disk space.")
            return False
        self.project_path = Path(path)
        self._mark_saved()
        self.autosave.discard()
        self.statusBar().showMessage(f"Saved {Path(path).name}", 4000)
        return True

    # ================================================================ jobs
    def current_variant(self) -> Variant:
        cls = self.strategy_panel.strategy_class()
        return Variant(cls.title or cls.name, cls.name, self.strategy_panel.values())

    def _job_for(self, variant: Variant):
        from engine import params as params_mod

        cls = strategies.get(variant.strategy)
        params = params_mod.make(cls.Params, {k: v for k, v in variant.values.items()
                                              if k in {s.name for s in params_mod.specs(cls.Params)}})
        job = self.doc.build_job(cls.name, params, cls.honours_regions, self.strategy_panel.device.currentData())
        return sharp_job(job, self.canvas.shown_long_edge())  # never blown up on the canvas

    def render(self) -> int | None:
        """Queue a render of the document with the Strategy panel's settings; returns the job id."""
        variant = self.current_variant()
        try:
            job = self._job_for(variant)
        except BrushworkError as exc:
            self.alert("Cannot render", str(exc), "")
            return None
        job_id = self._submit_canvas(variant, job)
        painted = any(r.style and not r.is_empty() for r in self.doc.regions)
        if painted and not job.regions:
            self.statusBar().showMessage(f"{variant.label} does not honour regions: the whole picture gets the ticked "
                                         "styles. Pick a strategy that does (e.g. Regions) to use them.", 8000)
        else:
            self.statusBar().showMessage(f"Queued {variant.label}", 3000)
        return job_id

    def _submit_canvas(self, variant: Variant, job) -> int:
        job_id = self.queue.submit(job)
        self._jobs[job_id] = {"kind": "canvas", "variant": variant, "start": time.perf_counter()}
        self._update_result_scale()
        return job_id

    def render_full_size(self) -> int | None:
        """Render what the canvas shows again at the photo's size (long edge): the status bar's button.

        The shown result's strategy and parameters (a live picture: the live strategy's), the
        document's styles and regions as they are now; the Strategy panel's size is left alone."""
        if self.doc.content is None:
            return None
        long_edge = max(self.doc.content.width(), self.doc.content.height())
        if self.canvas_source == "live" and self.live.strategy:
            name, values = self.live.strategy, dict(self.doc.params.get(self.live.strategy, {}))
        elif self.doc.result is not None:
            name, values = self.doc.result.strategy, dict(self.doc.result.params)
        else:
            return None
        try:
            cls = strategies.get(name)
            variant = Variant(f"{cls.title or cls.name} (full size)", cls.name, values)
            job = replace(self._job_for(variant), size=long_edge)
        except BrushworkError as exc:
            self.alert("Cannot render", str(exc), "")
            return None
        job_id = self._submit_canvas(variant, job)
        self.statusBar().showMessage(f"Queued {variant.label}: {long_edge} px on the long edge", 4000)
        return job_id

    def _canvas_jobs(self) -> bool:
        return any(m.get("kind") == "canvas" for m in self._jobs.values())

    def _result_on_canvas(self) -> None:
        self.canvas_source = "result"
        self._update_result_scale()

    def _update_result_scale(self) -> None:
        """'result 512 x 497 shown at 110 %' and Render full size while a smaller render is on the canvas."""
        if not shiboken_valid(self.result_scale_label):
            return
        pix = self.canvas.result_item.pixmap()
        content = self.doc.content
        smaller = (content is not None and not pix.isNull() and self.canvas.result_visible()
                   and (pix.width() < content.width() or pix.height() < content.height()))
        if not smaller:
            self.result_scale_label.hide()
            self.full_size_button.hide()
            return
        shown = self.canvas.zoom() * content.width() / pix.width() * 100
        what = {"preview": "preview", "live": "live"}.get(self.canvas_source, "result")
        self.result_scale_label.setText(f"{what} {pix.width()} x {pix.height()} shown at {shown:.0f} %")
        self.result_scale_label.setToolTip(f"The photo is {content.width()} x {content.height()}")
        self.result_scale_label.show()
        self.full_size_button.setVisible(what != "preview")
        self.full_size_button.setEnabled(not self._canvas_jobs())

    def ask_compare(self) -> None:
        setup = CompareSetup(self.current_variant(), self)
        if setup.exec() and setup.variants():
            self.compare(setup.variants())

    def compare(self, variants: list[Variant]) -> CompareWindow | None:
        """Run ``variants`` on the same job and show them side by side."""
        jobs = []
        for v in variants:
            try:
                jobs.append((v, self._job_for(v)))
            except BrushworkError as exc:
                self.alert("Cannot compare", f"{v.label}: {exc}", "Untick it or fix the job.")
                return None
        window = CompareWindow(variants, self)
        window.keepRequested.connect(self.keep)
        for cell, (v, job) in zip(window.cells, jobs):
            job_id = self.queue.submit(job)
            window.jobs[job_id] = cell
            self._jobs[job_id] = {"kind": "compare", "variant": v, "cell": cell}
        self.compare_window = window
        window.show()
        return window

    # ================================================================ live
    def _live_toggled(self, on: bool) -> None:
        self.live_action.setChecked(on)
        self.canvas.set_live_outlines(on)
        if on:
            self.statusBar().showMessage(f"Live: every edit restyles the canvas ({self.live.strategy}, "
                                         f"{self.live.working_size()} px). Refine renders the quality strategy.", 5000)
        else:
            self.doc.resultChanged.emit()  # back to the last real result (or the photo)
            self.statusBar().showMessage("Live off", 3000)

    def _live_shown(self, image) -> None:
        self.canvas_source = "live"
        self.canvas.show_image(image)
        self.job_panel.error.hide()  # recovered: the last live error no longer applies

    def _live_failed(self, message: str, fix: str) -> None:
        """Shown without a dialog: live mode stays on and tries again at the next edit."""
        self.job_panel.show_error(f"Live: {message}", fix)
        self.statusBar().showMessage(f"Live: {message} {fix}", 8000)

    def refine(self) -> int | None:
        """Render the quality strategy; the live picture stays on the canvas until its previews
        replace it, and is kept so Compare and the Kept list can show both."""
        if self.live.last_image is not None:
            cls = strategies.get(self.live.strategy)
            seconds = self.live.stats.render_seconds[-1] if self.live.stats.render_seconds else 0.0
            entry = ResultEntry(f"Live: {cls.title or cls.name} #{len(self.doc.kept) + 1}", self.live.last_image,
                                cls.name, dict(self.doc.params.get(cls.name, {})), {}, seconds)
            self.doc.keep(entry)
        if getattr(self.strategy_panel.strategy_class(), "instant", False):
            quality = "masked" if any(r.style and not r.is_empty() for r in self.doc.regions) else "multiscale"
            if quality in strategies.all():
                self.strategy_panel.select(quality)
        self._start_from_live()
        return self.render()

    def _start_from_live(self) -> None:
        """The quality strategy's stylised start painted as the live canvas is: by the live
        strategy at its alpha and depth (the form shows the change), so Refine opens on the look
        the artist chose instead of the start's defaults."""
        from engine import params as params_mod

        if self.live.last_image is None:
            return
        specs = {s.name: s for s in params_mod.specs(self.strategy_panel.strategy_class().Params)}
        if self.strategy_panel.values().get("init") != "stylised" or "init_strategy" not in specs:
            return
        if self.live.strategy not in (specs["init_strategy"].choices or ()):
            return
        try:
            live = self.live.job().params
        except BrushworkError:
            return  # the live job cannot be built now (its error shows at the next edit)
        values: dict = {"init_strategy": self.live.strategy}
        for own, start in (("alpha", "init_alpha"), ("depth", "init_depth")):
            if hasattr(live, own) and start in specs:
                values[start] = getattr(live, own)
        self.strategy_panel.set_values(values)

    def cancel(self) -> None:
        """Stop the running job, everything queued, and a running export (within a step)."""
        self.queue.cancel()
        self.exporter.cancel()
        self.video_exporter.cancel()
        if getattr(self, "layers_exporter", None):  # made by editor.layers_dialog on first use
            self.layers_exporter.cancel()

    def keep_result(self) -> None:
        if self.doc.result is None:
            self.statusBar().showMessage("Nothing to keep yet: render first.", 4000)
        elif self.doc.result not in self.doc.kept:
            self.keep(self.doc.result)

    def keep(self, entry: ResultEntry) -> None:
        self.doc.keep(entry)
        self.doc.set_result(entry)
        self.statusBar().showMessage(f"Kept '{entry.name}'", 4000)

    def _job_started(self, job_id: int, job) -> None:
        meta = self._jobs.get(job_id, {})
        v: Variant | None = meta.get("variant")
        self.job_panel.job_started(f"Rendering: {v.label if v else job.strategy}", self.queue.pending() - 1)
        if meta.get("kind") == "compare":
            meta["cell"].caption.setText("rendering…")

    def _job_progress(self, info: ProgressInfo, preview) -> None:
        self.job_panel.job_progress(info)
        if preview is None:
            return
        meta = self._jobs.get(info.job_id, {})
        if meta.get("kind") == "canvas":
            self.canvas_source = "preview"
            self.canvas.show_image(preview)
        elif meta.get("kind") == "compare":
            meta["cell"].show_image(preview)

    def _job_finished(self, job_id: int, result) -> None:
        meta = self._jobs.pop(job_id, {})
        v: Variant = meta.get("variant") or Variant("result", "?")
        n = len(self.doc.kept) + 1
        entry = ResultEntry(f"{v.label} #{n}", result.image, v.strategy, dict(v.values), dict(result.figures), result.seconds)
        if meta.get("kind") == "compare":
            meta["cell"].set_result(entry)
        else:
            self.doc.set_result(entry)
        self.job_panel.job_ended(f"Done: {caption(entry)}")

    def _job_failed(self, job_id: int, message: str, fix: str) -> None:
        meta = self._jobs.pop(job_id, {})
        if meta.get("kind") == "compare":
            meta["cell"].set_failed(message)
        else:
            self.doc.resultChanged.emit()  # drop a half-finished preview: show the last real result
        self.job_panel.job_ended("Failed")
        self.alert("Render failed", message, fix)

    def _job_cancelled(self, job_id: int) -> None:
        meta = self._jobs.pop(job_id, {})
        if meta.get("kind") == "compare":
            meta["cell"].set_failed("Cancelled")
        else:
            self.doc.resultChanged.emit()
        self.job_panel.job_ended("Cancelled")

    # ================================================================ export
    def ask_export(self) -> None:
        if self.doc.result is None:
            self.alert("Nothing to export", "There is no result yet.", "Render first (Ctrl+R), then export.")
            return
        h, w = self.doc.result.image.shape[-2:]
        base = Path(self.project_path or self.doc.content_name or "brushwork").stem
        dialog = ExportDialog((h, w), Path.home() / f"{base}-styled.png", self)
        if dialog.exec():
            self.export(dialog.settings())

    def export(self, settings: ExportSettings) -> None:
        """Write the result (or re-render at the asked size) on a background thread."""
        job = None
        try:
            entry = self.doc.result
            if entry is not None and tuple(entry.image.shape[-2:]) != (settings.height, settings.width):
                cls = strategies.get(entry.strategy)
                from engine import params as params_mod

                params = params_mod.make(cls.Params, dict(entry.params))
                job = self.doc.build_job(cls.name, params, cls.honours_regions, self.strategy_panel.device.currentData())
        except BrushworkError as exc:
            self.alert("Cannot export", *explain(exc))
            return
        self.job_panel.job_started(f"Exporting {settings.path.name}", 0)
        self.exporter.start(settings, self.doc.result.image if self.doc.result else None, job)

    def _export_progress(self, step: int, total: int, stage: str) -> None:
        self.job_panel.job_progress(ProgressInfo(-1, step, total, stage, None))

    def _export_finished(self, path: str) -> None:
        self.last_export = Path(path)
        self.job_panel.job_ended(f"Done: exported {Path(path).name}")
        self.job_panel.queue_idle()
        self.statusBar().showMessage(f"Exported {path}", 6000)

    def _export_failed(self, message: str, fix: str) -> None:
        self.job_panel.job_ended("Export failed; nothing was written.")
        self.job_panel.queue_idle()
        self.alert("Export failed", message, fix)

    # ================================================================ segmenters (editor.segmenting)
    def auto_regions(self, options: dict | None = None) -> bool:
        """Auto regions by colour (the clusters segmenter); the panel's button follows its method."""
        return self.segmenting.by_colour(options)

    def grow_scribbles(self, options: dict | None = None) -> bool:
        return self.segmenting.grow_scribbles(options)

    # ================================================================ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._may_replace_work():
            event.ignore()
            return
        QApplication.instance().removeEventFilter(self.hold_to_compare)
        self.queue.shutdown()
        self.live.shutdown()
        self.exporter.cancel()
        self.video_exporter.cancel()
        self._close_clip()
        self.autosave.timer.stop()
        self.autosave.discard()
        if self.compare_window is not None:
            self.compare_window.close()
        event.accept()
