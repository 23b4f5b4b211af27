"""What is in the open photo (its semantic groups and its faces), found once per photo off the GUI thread.

One-click Auto regions, the select tool and protect faces all read ``doc.segments`` and
``doc.faces``; finding them takes a second or two on a CPU (the ADE20K model, then BlazeFace),
so it runs on a worker thread as soon as a photo opens, and live edits never wait on it. What
it finds is kept with the photo (and saved in the project), so asking again, or reopening the
project, costs nothing. A missing model is said once per session; the rest of the editor works
without it (Auto regions by colour needs no semantic model).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

import torch
from PySide6.QtCore import QObject, Signal

from engine.errors import WeightsError
from engine.project import ProjectSegment
from engine.registry import segmenters
from engine.scene.faces import Face, detect_faces

from .document import Document
from .jobs import explain

#: the segmenter that knows what things are (a plugin, asked for through the registry)
SEMANTIC = "semantic"


@dataclass(frozen=True, eq=False)
class SceneReading:
    """What the analysis found in one picture (``content``: the very tensor it read). Frozen: it
    crosses from the worker thread to the GUI thread."""

    content: torch.Tensor
    faces: tuple[Face, ...] = ()
    #: the semantic groups, largest first ("Sky", "Buildings"...)
    segments: tuple[ProjectSegment, ...] = ()
    #: (what went wrong, what to do) when the groups could not be found, else None
    segments_problem: tuple[str, str] | None = None
    faces_problem: tuple[str, str] | None = None
    #: a model (or its runtime) is missing or damaged: said once, and by colour stands in
    missing_model: bool = False


def read_scene(content: torch.Tensor) -> SceneReading:
    """Find the groups and faces in ``content`` (runs on the worker thread; never raises)."""
    segments: tuple[ProjectSegment, ...] = ()
    faces: tuple[Face, ...] = ()
    seg_problem = face_problem = None
    missing = False
    try:
        if SEMANTIC not in segmenters.names():
            raise WeightsError("The semantic segmenter plugin is not installed.")
        groups = segmenters.get(SEMANTIC)().groups(content)
        segments = tuple(ProjectSegment(s.name, s.mask, s.colour) for s in groups.values())
    except Exception as exc:  # said to the artist; by colour still works
        seg_problem, missing = explain(exc), isinstance(exc, WeightsError)
    try:
        faces = tuple(detect_faces(content))
    except Exception as exc:
        face_problem, missing = explain(exc), missing or isinstance(exc, WeightsError)
    return SceneReading(content, faces, segments, seg_problem, face_problem, missing)


def missing_model_note(reading: SceneReading) -> str:
    """What a missing model turns off, in one plain sentence or two, with the fix."""
    problem = reading.segments_problem or reading.faces_problem or ("A model is missing.", "")
    off = []
    if reading.segments_problem is not None:
        off.append("Auto regions works by colour and the select tool is off")
    if reading.faces_problem is not None:
        off.append("no faces are protected")
    return f"{problem[0]} Until it is there, {' and '.join(off)}. {problem[1]}".strip()


class SceneAnalysis(QObject):
    """Runs :func:`read_scene` for the document's photo whenever it changes and has none yet.

    One run at a time; a photo that changes while one runs is read once that run ends (the
    stale reading is dropped). ``runs`` counts the readings started (once per photo)."""

    #: the open photo's reading landed in the document (a SceneReading)
    ready = Signal(object)
    #: something the artist should read once (a missing model)
    message = Signal(str)
    _done = Signal(object)

    def __init__(self, doc: Document, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.runs = 0
        #: the reading of the open photo, once there is one
        self.reading: SceneReading | None = None
        self._thread: threading.Thread | None = None
        #: the photo being read now (until its reading lands on the GUI thread)
        self._reading_for: torch.Tensor | None = None
        self._said_missing = False
        self._done.connect(self._landed)
        doc.contentChanged.connect(self.ask)
        doc.frameChanged.connect(self.ask)

    def state(self) -> Literal["none", "running", "ready"]:
        """"ready" once the open photo has a reading (maybe with problems), "running" while one is being made."""
        content = self.doc.content_tensor()
        if content is None:
            return "none"
        if self.reading is not None and self.reading.content is content:
            return "ready"
        return "running" if self.busy() else "none"

    def busy(self) -> bool:
        return self._reading_for is not None

    def ask(self, *_: object) -> bool:
        """Make sure the open photo gets a reading; True when a new run started for it.

        A photo whose groups the document already holds (a project saved with them) is served
        from the document: no model runs."""
        content = self.doc.content_tensor()
        if content is None:
            self.reading = None
            return False
        if self.reading is not None and self.reading.content is content:
            return False
        if self.doc.segments:
            self.reading = SceneReading(content, tuple(self.doc.faces), tuple(self.doc.segments))
            self.ready.emit(self.reading)
            return False
        if self.busy():
            return False  # _landed asks again for the photo open by then

        def work() -> None:
            reading = read_scene(content)
            try:
                self._done.emit(reading)
            except RuntimeError:  # the window closed meanwhile
                pass

        self.runs += 1
        self._reading_for = content
        # not a daemon: the interpreter waits for it at exit (a second or two) rather than tearing
        # LiteRT's thread pool down under a running model, which aborts the process
        self._thread = threading.Thread(target=work, name="brushwork-scene", daemon=False)
        self._thread.start()
        return True

    def _landed(self, reading: SceneReading) -> None:
        self._reading_for = None
        if reading.content is not self.doc.content_tensor():
            self.ask()  # another photo opened meanwhile: read that one
            return
        self.reading = reading
        self.doc.set_scene(reading.faces, reading.segments)
        if reading.missing_model and not self._said_missing:
            self._said_missing = True
            self.message.emit(missing_model_note(reading))
        self.ready.emit(reading)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running analysis ends (tests, the screenshot script); its result lands
        on the GUI thread's next event loop pass."""
        if self._thread is not None:
            self._thread.join(timeout)
