"""Where the editor's bundled resources (samples, presets) are on disk."""

from __future__ import annotations

from pathlib import Path


def resource_dir() -> Path:
    """``resources/`` at the repository root (the editor runs from an editable install)."""
    return Path(__file__).resolve().parent.parent / "resources"
