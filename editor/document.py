"""The open document: content, style library, painted regions, job settings, kept results.

Panels and the canvas observe it through signals and change it through undo commands
(:mod:`editor.undo`), so every edit can be undone and the "unsaved changes" state is simply
whether the undo stack is clean. It converts to and from the Qt-free
:class:`engine.project.Project` for saving, and to a :class:`engine.job.StyleJob` for running.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QImage, QUndoStack

from engine.errors import InputError
from engine.job import Region, StyleJob, StyleSource
from engine.project import KeptResult, Project, ProjectRegion, ProjectSegment, ProjectStyle

from .conversions import empty_mask, mask_to_array, mask_to_tensor, tensor_to_mask, tensor_to_qimage

#: colours given to new regions in turn (distinct on photos, readable as overlays)
REGION_COLOURS = ("#e0503c", "#3c8ce0", "#46c35a", "#e0b43c", "#b45ae0", "#3cc8c8", "#e05aa0")

_ids = itertools.count(1)


@dataclass(eq=False)
class StyleItem:
    """A style in the library (mutable: the editor's own state, never crosses threads)."""

    name: str
    image: torch.Tensor | None = None
    text: str | None = None
    weight: float = 1.0
    active: bool = True
    id: int = field(default_factory=lambda: next(_ids))

    def source(self) -> StyleSource:
        return StyleSource(image=self.image, text=self.text, weight=self.weight, name=self.name)


@dataclass(eq=False)
class RegionLayer:
    """A painted region: an Alpha8 mask the size of the content, plus its style settings."""

    name: str
    mask: QImage
    colour: QColor
    style: str = ""
    strength: float = 1.0
    feather: float = 0.0
    visible: bool = True
    #: how much of the photo's structure the region keeps (engine.job.Region.keep_shape)
    keep_shape: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))

    def is_empty(self) -> bool:
        return not mask_to_array(self.mask).any()


@dataclass(frozen=True, eq=False)
class ResultEntry:
    """A finished render shown or kept by the editor."""

    name: str
    image: torch.Tensor
    strategy: str
    params: Mapping[str, Any]
    figures: Mapping[str, float]
    seconds: float


class Document(QObject):
    contentChanged = Signal()
    #: the content's pixels changed but not its size (another frame of the open clip): regions stay
    frameChanged = Signal()
    stylesChanged = Signal()
    regionsChanged = Signal()
    #: a region's mask changed (the region object)
    maskChanged = Signal(object)
    #: a region's settings (name, colour, style, visibility...) changed
    regionChanged = Signal(object)
    resultChanged = Signal()
    keptChanged = Signal()
    #: one style's tick or blend weight changed (the style object)
    styleChanged = Signal(object)
    #: what is in the content (faces, segments) was found, or forgotten with the picture it described
    sceneChanged = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.content: QImage | None = None
        self.content_name = ""
        self._content_tensor: torch.Tensor | None = None
        self.styles: list[StyleItem] = []
        self.regions: list[RegionLayer] = []
        self.strategy = "gatys"
        self.params: dict[str, dict[str, Any]] = {}
        self.size: int | None = 512
        self.seed = 0
        self.gaps = "content"
        #: the clip the content is a frame of ("" for a photo), and which frame
        self.clip_path = ""
        self.clip_frame = 0
        #: the result on the canvas (latest render or one picked in Compare)
        self.result: ResultEntry | None = None
        self.kept: list[ResultEntry] = []
        #: what is in the content (engine.scene), computed once per photo in the background
        self.faces: tuple = ()
        self.protect_faces = True
        self.segments: tuple[ProjectSegment, ...] = ()
        #: region id -> (its mask's QImage.cacheKey, the mask as a tensor): a job sends the same
        #: tensor while the mask is unchanged, so the engine's resized masks are reused across live
        #: edits (engine.regions.shaped_mask), and a job is built without converting every mask
        self._mask_tensors: dict[int, tuple[int, torch.Tensor]] = {}

    # ------------------------------------------------------------ content
    def set_content(self, image: torch.Tensor, name: str = "") -> None:
        """New content: regions are cleared (their masks belonged to the old picture)."""
        self._content_tensor = image
        self.content = tensor_to_qimage(image)
        self.content_name = name
        self.clip_path, self.clip_frame = "", 0
        self.regions = []
        self.result = None
        self.faces, self.segments = (), ()
        self.undo_stack.clear()
        self.contentChanged.emit()
        self.regionsChanged.emit()
        self.resultChanged.emit()
        self.sceneChanged.emit()

    def set_clip(self, path: str | Path, frame: int = 0) -> None:
        """The content is frame ``frame`` of the clip at ``path`` (a project keeps the reference)."""
        self.clip_path, self.clip_frame = str(path), frame

    def set_frame(self, image: torch.Tensor, index: int) -> None:
        """Frame ``index`` of the same clip as the content: the regions and undo history stay (they
        fit the same size); the result is dropped, since it was rendered from another frame."""
        if self._content_tensor is None or tuple(image.shape[-2:]) != tuple(self._content_tensor.shape[-2:]):
            have = "no picture" if self._content_tensor is None else \
                f"{self._content_tensor.shape[-1]}x{self._content_tensor.shape[-2]}"
            raise InputError(f"A frame of {image.shape[-1]}x{image.shape[-2]} px cannot replace {have}: "
                             "every frame of a clip has one size.")
        self._content_tensor = image
        self.content = tensor_to_qimage(image)
        self.clip_frame = index
        self.result = None
        self.faces, self.segments = (), ()  # they described the frame before
        self.frameChanged.emit()
        self.resultChanged.emit()
        self.sceneChanged.emit()

    def mask_tensor(self, region: RegionLayer) -> torch.Tensor:
        """The region's mask as an HxW float tensor in [0, 1], converted once per change. Shared with
        jobs on other threads: never modify it."""
        key = region.mask.cacheKey()
        known = self._mask_tensors.get(region.id)
        if known is None or known[0] != key:
            known = (key, mask_to_tensor(region.mask))
            self._mask_tensors[region.id] = known
            alive = {r.id for r in self.regions} | {region.id}
            for gone in [i for i in self._mask_tensors if i not in alive]:
                del self._mask_tensors[gone]
        return known[1]

    def content_tensor(self) -> torch.Tensor | None:
        return self._content_tensor

    def set_scene(self, faces: tuple, segments: tuple[ProjectSegment, ...]) -> None:
        """What the background analysis found in the content (editor.scene_analysis): derived from
        the photo, not an edit, so it is not undoable; it is saved with the project."""
        self.faces, self.segments = tuple(faces), tuple(segments)
        self.sceneChanged.emit()

    # ------------------------------------------------------------ styles
    def style_named(self, name: str) -> StyleItem | None:
        return next((s for s in self.styles if s.name == name), None)

    def unique_style_name(self, base: str) -> str:
        name, n = base or "style", 2
        while self.style_named(name) is not None:
            name, n = f"{base} {n}", n + 1
        return name

    def add_style(self, item: StyleItem) -> StyleItem:
        item.name = self.unique_style_name(item.name)
        self.styles.append(item)
        self.stylesChanged.emit()
        return item

    def set_style_attr(self, item: StyleItem, attr: str, value: Any) -> None:
        setattr(item, attr, value)
        self.styleChanged.emit(item)

    def remove_style(self, item: StyleItem) -> None:
        self.styles.remove(item)
        for r in self.regions:
            if r.style == item.name:
                r.style = ""
                self.regionChanged.emit(r)
        self.stylesChanged.emit()

    # ------------------------------------------------------------ regions
    def new_region(self, name: str | None = None, mask: QImage | None = None) -> RegionLayer:
        if self.content is None:
            raise InputError("Open a content image before adding regions.")
        colour = QColor(REGION_COLOURS[len(self.regions) % len(REGION_COLOURS)])
        return RegionLayer(name or f"Region {len(self.regions) + 1}",
                           mask if mask is not None else empty_mask(self.content.width(), self.content.height()), colour)

    def insert_region(self, region: RegionLayer, index: int | None = None) -> None:
        self.regions.insert(len(self.regions) if index is None else index, region)
        self.regionsChanged.emit()

    def take_region(self, region: RegionLayer) -> int:
        index = self.regions.index(region)
        self.regions.pop(index)
        self.regionsChanged.emit()
        return index

    def set_mask(self, region: RegionLayer, mask: QImage) -> None:
        region.mask = mask
        self.maskChanged.emit(region)

    def set_region_attr(self, region: RegionLayer, attr: str, value: Any) -> None:
        setattr(region, attr, value)
        self.regionChanged.emit(region)

    # ------------------------------------------------------------ results
    def set_result(self, entry: ResultEntry | None) -> None:
        self.result = entry
        self.resultChanged.emit()

    def keep(self, entry: ResultEntry) -> None:
        self.kept.append(entry)
        self.keptChanged.emit()

    # ------------------------------------------------------------ jobs
    def build_job(self, strategy: str, params: Any, honours_regions: bool, device: str = "auto",
                  size: int | None = -1) -> StyleJob:
        """The job for the current document; a clear InputError when something is missing."""
        content = self.content_tensor()
        if content is None:
            raise InputError("Open a content image first (File > Open, or drop a picture on the canvas).")
        styles = tuple(s.source() for s in self.styles if s.active)
        regions: list[Region] = []
        if honours_regions:
            for r in self.regions:
                if not r.style or r.is_empty():
                    continue
                item = self.style_named(r.style)
                if item is None:
                    raise InputError(f"Region '{r.name}' uses the style '{r.style}', which is no longer in the library.")
                regions.append(Region(mask=self.mask_tensor(r), style=item.source(), strength=r.strength,
                                      feather=r.feather, name=r.name, keep_shape=r.keep_shape))
        if not styles and not regions:
            hint = " Assign a style to a region, or" if honours_regions and self.regions else ""
            raise InputError(f"There is no style to apply.{hint} Tick a style in the Styles panel (or add one).")
        return StyleJob(content=content, strategy=strategy, params=params, styles=styles, regions=tuple(regions),
                        size=self.size if size == -1 else size, gaps=self.gaps if styles else "content",  # type: ignore[arg-type]
                        seed=self.seed, device=device, faces=self.faces, protect_faces=self.protect_faces)

    # ------------------------------------------------------------ projects
    def to_project(self) -> Project:
        return Project(
            content=self.content_tensor(), content_name=self.content_name,
            styles=tuple(ProjectStyle(s.name, image=s.image, text=s.text, weight=s.weight, active=s.active) for s in self.styles),
            regions=tuple(ProjectRegion(r.name, mask_to_tensor(r.mask), colour=r.colour.name(), style=r.style,
                                        strength=r.strength, feather=r.feather, visible=r.visible,
                                        keep_shape=r.keep_shape) for r in self.regions),
            strategy=self.strategy, params={k: dict(v) for k, v in self.params.items()},
            results=tuple(KeptResult(k.name, k.image, k.strategy, dict(k.params), dict(k.figures), k.seconds) for k in self.kept),
            size=self.size, seed=self.seed, gaps=self.gaps, clip=self.clip_path, clip_frame=self.clip_frame,
            faces=self.faces, protect_faces=self.protect_faces, segments=self.segments)

    #: everything load_project replaces; a snapshot holds the very objects, so undo commands that
    #: point at a region or style still find it after a restore
    _STATE = ("content", "content_name", "_content_tensor", "clip_path", "clip_frame", "styles", "regions",
              "strategy", "params", "size", "seed", "gaps", "kept", "result", "faces", "protect_faces", "segments")

    def snapshot(self) -> dict[str, Any]:
        """The document's state as it is, to put back with :meth:`restore` if a load fails half-way."""
        return {name: getattr(self, name) for name in self._STATE}

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)
        self._emit_all()

    def _emit_all(self) -> None:
        self.contentChanged.emit()
        self.stylesChanged.emit()
        self.regionsChanged.emit()
        self.resultChanged.emit()
        self.keptChanged.emit()
        self.sceneChanged.emit()

    def load_project(self, project: Project, clear_undo: bool = True) -> None:
        """Show ``project``; with ``clear_undo`` False the caller clears the history once the whole
        window has taken the project (a failed open then leaves the history as it was)."""
        if clear_undo:
            self.undo_stack.clear()
        self._content_tensor = project.content
        self.content = tensor_to_qimage(project.content) if project.content is not None else None
        self.content_name = project.content_name
        self.clip_path, self.clip_frame = project.clip, project.clip_frame
        self.styles = [StyleItem(s.name, image=s.image, text=s.text, weight=s.weight, active=s.active) for s in project.styles]
        self.regions = [RegionLayer(r.name, tensor_to_mask(r.mask), QColor(r.colour), style=r.style, strength=r.strength,
                                    feather=r.feather, visible=r.visible, keep_shape=r.keep_shape)
                        for r in project.regions]
        self.strategy = project.strategy
        self.params = {k: dict(v) for k, v in project.params.items()}
        self.size, self.seed, self.gaps = project.size, project.seed, project.gaps
        self.kept = [ResultEntry(k.name, k.image, k.strategy, dict(k.params), dict(k.figures), k.seconds) for k in project.results]
        self.result = self.kept[-1] if self.kept else None
        self.faces, self.protect_faces, self.segments = project.faces, project.protect_faces, project.segments
        self._emit_all()
