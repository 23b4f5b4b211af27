"""Errors a user can act on. Each message says what went wrong and how to fix it."""

from __future__ import annotations


class BrushworkError(Exception):
    """Base of every error the engine raises on purpose (shown to the user as is)."""


class InputError(BrushworkError):
    """Bad input from the user: a corrupt image, a wrong-size mask, an invalid parameter."""


class OutputError(BrushworkError):
    """An output cannot be written: the folder is not writable, or the disk is full."""


class WeightsError(BrushworkError):
    """A weight file is missing or corrupt; the message names the file and the fix."""


class DeviceError(BrushworkError):
    """The device failed (most often: out of memory)."""


class Cancelled(BrushworkError):
    """The job was cancelled by the user; nothing was written."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)
