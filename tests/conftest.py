"""Shared fixtures: real sample images from ../shared, small sizes for a 2-core CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "images" / "samples"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if (SHARED / "weights").is_dir():
    os.environ.setdefault("BRUSHWORK_WEIGHTS_MIRROR", str(SHARED / "weights"))
# BRUSHWORK_TEST_THREADS=1 when other work shares the cores: two threads on a busy core make small ops 50x slower
torch.set_num_threads(int(os.environ.get("BRUSHWORK_TEST_THREADS", min(2, os.cpu_count() or 1))))


def sample_path(name: str) -> Path:
    for base in (ROOT / "resources" / "samples", SAMPLES):
        p = base / name
        if p.exists():
            return p
    pytest.skip(f"sample image {name} not found")


@pytest.fixture(scope="session")
def content_path() -> Path:
    return sample_path("content_animal_beagle.jpg")


@pytest.fixture(scope="session")
def style_path() -> Path:
    return sample_path("style_vangogh_starry_night.jpg")


@pytest.fixture(scope="session")
def style2_path() -> Path:
    return sample_path("style_hokusai_great_wave.jpg")


@pytest.fixture(scope="session")
def content(content_path):
    from engine.images import load_image

    return load_image(content_path)


@pytest.fixture(scope="session")
def style(style_path):
    from engine.images import load_image

    return load_image(style_path)


@pytest.fixture(scope="session")
def style2(style2_path):
    from engine.images import load_image

    return load_image(style2_path)


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    the CI machine has 2 cores, and the segmenters' own runtimes (LiteRT, OpenCV) take the other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def bare_window(qtbot, tmp_path, monkeypatch):
    """An editor window with nothing open (its recovery file in tmp_path), closed without asking."""
    from editor.mainwindow import MainWindow

    monkeypatch.setenv("BRUSHWORK_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = MainWindow(autosave_s=3600)
    yield w
    w.live.set_enabled(False)
    w.queue.cancel()
    w.doc.undo_stack.setClean()
    w._extra_changes = False
    w.close()
    w.deleteLater()
