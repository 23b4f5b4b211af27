"""Undo commands for every document edit (QUndoStack: Ctrl+Z / Ctrl+Shift+Z).

Mask edits store the whole mask before and after: an 8-bit mask of a 1024 px picture is
under 1 MB, and whole images make undo exact whatever the tool did.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QImage, QUndoCommand

from .document import Document, RegionLayer


class MaskEdit(QUndoCommand):
    def __init__(self, doc: Document, region: RegionLayer, before: QImage, after: QImage, text: str) -> None:
        super().__init__(f"{text} ({region.name})")
        self.doc, self.region, self.before, self.after = doc, region, before, after

    def redo(self) -> None:
        self.doc.set_mask(self.region, self.after)

    def undo(self) -> None:
        self.doc.set_mask(self.region, self.before)


class AddRegion(QUndoCommand):
    def __init__(self, doc: Document, region: RegionLayer, index: int | None = None) -> None:
        super().__init__(f"Add region '{region.name}'")
        self.doc, self.region, self.index = doc, region, index

    def redo(self) -> None:
        self.doc.insert_region(self.region, self.index)

    def undo(self) -> None:
        self.doc.take_region(self.region)


class RemoveRegion(QUndoCommand):
    def __init__(self, doc: Document, region: RegionLayer) -> None:
        super().__init__(f"Remove region '{region.name}'")
        self.doc, self.region = doc, region
        self.index = doc.regions.index(region)

    def redo(self) -> None:
        self.index = self.doc.take_region(self.region)

    def undo(self) -> None:
        self.doc.insert_region(self.region, self.index)


class SetRegionAttr(QUndoCommand):
    """Rename, recolour, hide, assign a style, change strength, feather or keep shape."""

    _merge_id = 4242

    def __init__(self, doc: Document, region: RegionLayer, attr: str, value: Any, text: str | None = None) -> None:
        super().__init__(text or f"Change {attr} of '{region.name}'")
        self.doc, self.region, self.attr = doc, region, attr
        self.old, self.new = getattr(region, attr), value

    def id(self) -> int:
        # consecutive slider moves on the same numeric setting merge into one step
        return self._merge_id if self.attr in ("strength", "feather", "keep_shape") else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if isinstance(other, SetRegionAttr) and other.region is self.region and other.attr == self.attr:
            self.new = other.new
            return True
        return False

    def redo(self) -> None:
        self.doc.set_region_attr(self.region, self.attr, self.new)

    def undo(self) -> None:
        self.doc.set_region_attr(self.region, self.attr, self.old)
