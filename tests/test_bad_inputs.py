"""Bad inputs, as a user meets them: each gives a clear message, exit code 2 (or a dialog), and writes
nothing and loses nothing. Cases fail before rendering, or render AdaIN at 64 px."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli, weights
from engine.errors import InputError, OutputError
from engine.images import load_image, load_mask, resize_long_edge
from engine.project import Project, ProjectError, ProjectStyle, load_project, save_project


# ---------------------------------------------------------------- helpers
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(w: int = 40000, h: int = 40000) -> bytes:
    """A few hundred bytes whose header declares w x h px (1-bit grey)."""
    idat = zlib.compress(b"\x00" * (w // 8 + 1) * 64, 9)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0))
            + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


@pytest.fixture()
def files(tmp_path, content, style) -> dict[str, Path]:
    """Small good inputs in their own folder, and an output folder that must stay empty."""
    d = tmp_path / "in"
    d.mkdir()
    from engine.images import tensor_to_pil

    tensor_to_pil(resize_long_edge(content, 96)).save(d / "content.png")
    tensor_to_pil(resize_long_edge(style, 64)).save(d / "style.png")
    w, h = Image.open(d / "content.png").size
    mask = np.zeros((h, w), np.uint8)
    mask[: h // 2] = 255
    Image.fromarray(mask).save(d / "mask.png")
    (tmp_path / "out").mkdir()
    return {"content": d / "content.png", "style": d / "style.png", "mask": d / "mask.png", "out": tmp_path / "out"}


def render(files: dict[str, Path], capsys, *extra: str, content: Path | None = None, style: Path | None = None,
           mask: Path | None = None, out: Path | None = None) -> tuple[int, str]:
    """``brushwork render`` in-process with AdaIN at 64 px; (exit code, stderr)."""
    args = ["render", str(content or files["content"]), "-s", str(style or files["style"]), "--strategy", "adain",
            "--size", "64", "-q", "-o", str(out or files["out"] / "out.png")]
    if mask is not None:
        args += ["--region", f"{mask}={files['style']}"]
    code = cli.main([*args, *extra])
    return code, capsys.readouterr().err


def nothing_written(files) -> bool:
    return list(files["out"].iterdir()) == []


def damaged(kind: str, good: Path, where: Path) -> Path:
    p = where / f"{kind}.png"
    if kind == "corrupt":
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    elif kind == "truncated":
        data = good.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        p.write_bytes(b"")
    else:  # a text file with an image's name
        p.write_text("These are my notes, not a picture.\n")
    return p


# ---------------------------------------------------------------- damaged files as content, style and mask
@pytest.mark.parametrize("role", ["content", "style", "mask"])
@pytest.mark.parametrize("kind, fragment", [("corrupt", "the file is corrupt or not an image"),
                                            ("truncated", "the file is corrupt or not an image"),
                                            ("empty", "the file is empty (0 bytes)"),
                                            ("not-an-image", "the file is corrupt or not an image")])
def test_damaged_files_are_clear_errors(files, capsys, tmp_path, role, kind, fragment):
    bad = damaged(kind, files[role], tmp_path)
    code, err = render(files, capsys, **{role: bad}) if role != "mask" else render(files, capsys, mask=bad)
    assert code == 2 and fragment in err and str(bad) in err and "Traceback" not in err
    assert nothing_written(files)


# ---------------------------------------------------------------- huge headers, DPI, output size
@pytest.mark.parametrize("role", ["content", "style"])
def test_a_decompression_bomb_says_its_size_and_how_to_allow_it(files, capsys, tmp_path, role):
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(bomb_png())
    assert bomb.stat().st_size < 10_000
    code, err = render(files, capsys, **{role: bomb})
    assert code == 2
    assert "40000x40000 px (1600 megapixels)" in err and "BRUSHWORK_MAX_IMAGE_PIXELS=1600000000" in err
    assert "DecompressionBomb" not in err and nothing_written(files)


def test_the_image_limit_setting_is_checked(files, capsys, monkeypatch):
    monkeypatch.setenv("BRUSHWORK_MAX_IMAGE_PIXELS", "lots")
    code, err = render(files, capsys)
    assert code == 2 and "BRUSHWORK_MAX_IMAGE_PIXELS must be a number of pixels" in err and nothing_written(files)


def test_the_image_limit_setting_lowers_and_lifts_the_limit(files, monkeypatch):
    monkeypatch.setenv("BRUSHWORK_MAX_IMAGE_PIXELS", "1000")
    with pytest.raises(InputError, match="more than the 0-megapixel limit"):
        load_image(files["content"])
    monkeypatch.setenv("BRUSHWORK_MAX_IMAGE_PIXELS", "0")
    assert load_image(files["content"]).shape[-1] == 96


@pytest.mark.parametrize("dpi", ["-3", "0", "nan", "1e9"])
def test_bad_dpi_is_a_clear_error(files, capsys, dpi):
    code, err = render(files, capsys, "--dpi", dpi)
    assert code == 2 and "DPI must be a number between 1 and 10000" in err and "Overflow" not in err
    assert nothing_written(files)


@pytest.mark.parametrize("extra", [["--size", "100000"], ["--print", "900x900cm"]])
def test_a_huge_output_is_refused_before_starting_with_its_estimate(files, capsys, extra):
    code, err = render(files, capsys, *extra)
    assert code == 2 and "megapixels" in err and "GB of memory" in err and "--allow-huge" in err
    assert "250-megapixel limit" in err and nothing_written(files)


def test_allow_huge_still_checks_free_disk_space(files, capsys, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12 - 10**6, 10**6))
    code, err = render(files, capsys, "--size", "100000", "--allow-huge")
    assert code == 2 and "Not enough disk space" in err and "1 MB free" in err and nothing_written(files)


# ---------------------------------------------------------------- output folders and full disks
def test_an_output_under_a_regular_file_is_a_clear_error(files, capsys):
    blocker = files["out"] / "notes.txt"
    blocker.write_text("a file, not a folder")
    code, err = render(files, capsys, out=blocker / "sub" / "out.png")
    assert code == 2 and "is a file, not a folder" in err
    assert list(files["out"].iterdir()) == [blocker]


def test_an_unwritable_output_folder_is_a_clear_error(files, capsys, monkeypatch):
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m, **k: False if Path(p) == files["out"] and m == os.W_OK else real(p, m, **k))
    code, err = render(files, capsys)
    assert code == 2 and "is not writable" in err and nothing_written(files)


def test_permission_denied_while_writing_is_a_clear_error(files, capsys, monkeypatch):
    import tempfile

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, err = render(files, capsys)
    assert code == 2 and "Cannot write" in err and "Permission denied" in err and nothing_written(files)


def test_a_full_disk_mid_write_keeps_the_previous_file(files, capsys, monkeypatch):
    out = files["out"] / "out.png"
    out.write_bytes(b"last week's render")

    def full(self, fp, *a, **k):
        Path(fp).write_bytes(b"half a png")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full)
    code, err = render(files, capsys)
    assert code == 2 and "No space left on device" in err and "nothing was written" in err
    assert out.read_bytes() == b"last week's render" and list(files["out"].iterdir()) == [out]


# ---------------------------------------------------------------- image modes load as the user sees them
def _save(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


@pytest.mark.parametrize("name, make, expected", [
    ("cmyk.jpg", lambda: Image.new("CMYK", (32, 32), (0, 255, 255, 0)), (1.0, 0.0, 0.0)),
    ("grey16.png", lambda: Image.fromarray(np.full((32, 32), 32768, np.uint16)), (0.5, 0.5, 0.5)),
    ("palette.png", lambda: Image.new("RGB", (32, 32), (0, 0, 255)).convert("P", palette=Image.Palette.ADAPTIVE), (0.0, 0.0, 1.0)),
    ("alpha.png", lambda: Image.new("RGBA", (32, 32), (0, 0, 0, 0)), (1.0, 1.0, 1.0)),
    ("grey-alpha.png", lambda: Image.new("LA", (32, 32), (0, 128)), (0.5, 0.5, 0.5)),
    ("one-bit.png", lambda: Image.new("1", (32, 32), 1), (1.0, 1.0, 1.0)),
])
def test_image_modes_load_as_rgb_as_a_viewer_shows_them(tmp_path, name, make, expected):
    """16-bit is scaled (it clipped to white), transparency lies over white (it showed the hidden colour)."""
    img = load_image(_save(make(), tmp_path / name))
    assert img.shape == (1, 3, 32, 32)
    assert torch.allclose(img[0, :, 16, 16], torch.tensor(expected), atol=0.03), img[0, :, 16, 16]


def test_a_transparent_palette_image_lies_over_white(tmp_path):
    im = Image.new("P", (32, 32), 0)
    im.putpalette([0, 0, 0] * 256)
    p = _save(im, tmp_path / "p.png", transparency=0)
    assert torch.allclose(load_image(p), torch.ones(1, 3, 32, 32))


def test_a_phone_photo_is_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    p = _save(Image.new("RGB", (40, 20), (10, 200, 10)), tmp_path / "phone.jpg", exif=exif)
    assert load_image(p).shape[-2:] == (40, 20)


def test_cmyk_content_and_palette_style_render(files, capsys, tmp_path):
    cmyk = _save(Image.open(files["content"]).convert("CMYK"), tmp_path / "cmyk.jpg")
    pal = _save(Image.open(files["style"]).convert("P", palette=Image.Palette.ADAPTIVE), tmp_path / "pal.png")
    code, err = render(files, capsys, content=cmyk, style=pal)
    assert code == 0, err
    with Image.open(files["out"] / "out.png") as im:
        assert im.mode == "RGB" and max(im.size) == 64


# ---------------------------------------------------------------- masks
def test_a_mask_of_another_aspect_is_a_clear_error(files, capsys, tmp_path):
    tall = _save(Image.new("L", (20, 80), 255), tmp_path / "tall.png")
    code, err = render(files, capsys, mask=tall)
    assert code == 2 and "the mask is 20x80 px but the content is 96x" in err and "aspect ratio" in err
    assert nothing_written(files)


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_an_empty_mask_is_a_clear_error(files, capsys, tmp_path, mode):
    w, h = Image.open(files["content"]).size
    empty = _save(Image.new(mode, (w, h), 0), tmp_path / "empty-mask.png")
    code, err = render(files, capsys, mask=empty)
    assert code == 2 and "the mask is empty" in err and nothing_written(files)


def test_a_mask_of_the_same_aspect_at_another_size_is_fine(files):
    mask = load_mask(files["mask"])
    small = torch.nn.functional.interpolate(mask[None, None], scale_factor=0.5)[0, 0]
    from engine import params as params_mod
    from engine.job import Region, StyleJob, StyleSource
    from engine.registry import strategies

    s = StyleSource(image=load_image(files["style"]))
    StyleJob(content=load_image(files["content"]), strategy="adain",
             params=params_mod.make(strategies.get("adain").Params, {}), regions=(Region(small, s, name="half"),))


# ---------------------------------------------------------------- weights
def test_fetching_a_weight_with_a_wrong_sha256_installs_nothing(tmp_path, capsys):
    name, entry = next((n, e) for n, e in weights.load_manifest().items() if not e.optional)
    mirror = tmp_path / "mirror"
    (mirror / entry.path).parent.mkdir(parents=True)
    (mirror / entry.path).write_bytes(b"not the published weights")
    target = tmp_path / "target"
    code = cli.main(["weights", "fetch", name, "--mirror", str(mirror), "--target", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and f"expected {entry.sha256}; not installed" in err
    assert not (target / entry.path).exists() and not any(p.is_file() for p in target.rglob("*"))


def test_a_weight_file_with_a_wrong_sha256_is_reported_with_the_fix(tmp_path, capsys, monkeypatch):
    name, entry = next((n, e) for n, e in weights.load_manifest().items() if not e.optional)
    d = tmp_path / "weights"
    (d / entry.path).parent.mkdir(parents=True)
    (d / entry.path).write_bytes(b"flipped bits")
    monkeypatch.setattr(weights, "search_dirs", lambda explicit=None: [d])
    weights._verified.clear()
    code = cli.main(["weights", "status"])
    out = capsys.readouterr()
    assert code == 1 and f"corrupt  {name}" in out.out and "brushwork weights fetch" in out.err
    with pytest.raises(weights.WeightsError, match="sha256 does not match the manifest"):
        weights.locate(name)


# ---------------------------------------------------------------- project saves and file modes
@pytest.fixture()
def small_project(content) -> Project:
    c = resize_long_edge(content, 48)
    return Project(content=c, content_name="beagle.jpg", styles=(ProjectStyle("ink", text="an ink drawing"),))


def test_a_save_that_fails_midway_keeps_the_previous_project(small_project, tmp_path, monkeypatch):
    path = save_project(small_project, tmp_path / "a.brushwork")
    before = path.read_bytes()
    real = zipfile.ZipFile.writestr
    calls = []

    def full(self, *a, **k):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    with pytest.raises(OutputError, match="No space left on device"):
        save_project(small_project, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.brushwork"]


KILLED_SAVE = r"""
import sys, time, zipfile
sys.path.insert(0, sys.argv[2])
import torch
from engine.project import Project, save_project
real = zipfile.ZipFile.writestr
def slow(self, *a, **k):
    real(self, *a, **k)
    print("writing", flush=True)
    time.sleep(60)
zipfile.ZipFile.writestr = slow
save_project(Project(content=torch.zeros(1, 3, 32, 32), content_name="new"), sys.argv[1])
"""


def test_killing_the_process_mid_save_keeps_the_previous_project(small_project, tmp_path):
    path = save_project(small_project, tmp_path / "a.brushwork")
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path), str(Path(__file__).parent.parent)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        assert any(p.name.startswith(".a.") for p in tmp_path.iterdir())  # the save really is under way
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before and load_project(path).content_name == "beagle.jpg"


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o027, 0o640)])
def test_outputs_honour_the_umask(files, capsys, small_project, tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        code, err = render(files, capsys)
        project = save_project(small_project, tmp_path / "p.brushwork")
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE((files["out"] / "out.png").stat().st_mode) == expected
    assert stat.S_IMODE(project.stat().st_mode) == expected


def test_replacing_a_file_keeps_its_own_mode(small_project, tmp_path):
    path = save_project(small_project, tmp_path / "private.brushwork")
    path.chmod(0o600)
    save_project(small_project, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_project_member_past_the_image_limit_is_a_clear_error(small_project, tmp_path):
    good = save_project(small_project, tmp_path / "good.brushwork")
    bad = tmp_path / "bomb.brushwork"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for n in zin.namelist():
            zout.writestr(n, bomb_png() if n == "content.png" else zin.read(n))
    with pytest.raises(ProjectError, match=r"content.png is 40000x40000 px \(1600 megapixels\)"):
        load_project(bad)


# ---------------------------------------------------------------- the editor
pytest.importorskip("pytestqt")
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from test_editor import window  # noqa: E402,F401  (the editor fixture: a window with a photo and a style)


def _answer(monkeypatch, button) -> list:
    """QMessageBox.question answers ``button`` (no modal blocks); returns the questions asked."""
    asked: list = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or button)
    return asked


@pytest.mark.parametrize("name, data, fragment", [
    ("notes.txt", b"my shopping list", "corrupt or not an image"),
    ("photo.jpg", b"", "the file is empty (0 bytes)"),
    ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00", "corrupt or not an image"),
])
def test_a_dropped_bad_file_is_a_clear_alert_and_keeps_the_picture(window, tmp_path, monkeypatch, name, data, fragment):
    _answer(monkeypatch, QMessageBox.StandardButton.Discard)  # "save your changes first?"
    bad = tmp_path / name
    bad.write_bytes(data)
    before = window.doc.content_tensor()
    window.canvas.fileDropped.emit(str(bad))
    assert fragment in window.last_alert.text() and str(bad) in window.last_alert.text()
    assert window.doc.content_tensor() is before and window.doc.content_name == "beagle.jpg"


def test_opening_a_bomb_asks_and_cancel_keeps_the_picture(window, tmp_path, monkeypatch):
    bomb = tmp_path / "huge.png"
    bomb.write_bytes(bomb_png())
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Cancel)
    assert not window.open_image(bomb)
    assert "40000×40000 px (1600 megapixels)" in asked[0] and "BRUSHWORK_MAX_IMAGE_PIXELS" in asked[0]
    assert "4.8 GB of memory" in asked[0] and window.doc.content_name == "beagle.jpg"


@pytest.mark.parametrize("button, long_edge", [("Yes", 48), ("No", 96)])
def test_a_large_photo_is_offered_a_downscale(window, files, monkeypatch, button, long_edge):
    import editor.mainwindow as mw

    monkeypatch.setattr(mw, "LARGE_LONG_EDGE", 64)
    monkeypatch.setattr(mw, "DOWNSCALE_LONG_EDGE", 48)
    asked = _answer(monkeypatch, getattr(QMessageBox.StandardButton, button))
    assert window.open_image(files["content"])
    assert "content.png is 96×" in asked[0] and "Downscale it to 48 px" in asked[0]
    assert max(window.doc.content.width(), window.doc.content.height()) == long_edge


def test_an_image_past_the_limit_opens_only_downscaled(window, files, monkeypatch):
    import editor.mainwindow as mw

    monkeypatch.setenv("BRUSHWORK_MAX_IMAGE_PIXELS", "1000")
    monkeypatch.setattr(mw, "DOWNSCALE_LONG_EDGE", 32)
    asked = _answer(monkeypatch, QMessageBox.StandardButton.Yes)
    assert window.open_image(files["content"])
    assert "more than Brushwork opens at full size" in asked[0]
    assert window.doc.content.width() == 32


@pytest.mark.parametrize("damage, fragment", [
    ("truncated", "not a Brushwork project"),
    ("newer", "saved by a newer Brushwork (project version 7"),
    ("missing content", "'content.png' is listed in the manifest but missing from the file"),
])
def test_a_bad_project_is_a_clear_alert_and_keeps_the_session(window, small_project, tmp_path, damage, fragment):
    good = save_project(small_project, tmp_path / "good.brushwork")
    bad = tmp_path / "bad.brushwork"
    if damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    else:
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            for n in zin.namelist():
                data = zin.read(n)
                if n == "manifest.json" and damage == "newer":
                    data = json.dumps({**json.loads(data), "version": 7}).encode()
                if not (n == "content.png" and damage == "missing content"):
                    zout.writestr(n, data)
    region = window.regions_panel.add_region()
    assert not window.open_project(bad)
    assert fragment in window.last_alert.text()
    assert window.doc.content_name == "beagle.jpg" and window.doc.regions == [region] and window.project_path is None


def test_saving_to_a_full_disk_keeps_the_old_project_and_the_work(window, tmp_path, monkeypatch):
    path = tmp_path / "mine.brushwork"
    assert window.save_to(path)
    before = path.read_bytes()
    window.regions_panel.add_region()
    assert window.is_modified()
    real = zipfile.ZipFile.writestr

    def full(self, name, *a, **k):
        if name != "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, name, *a, **k)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    assert not window.save_to(path)
    assert "No space left on device" in window.last_alert.text()
    assert path.read_bytes() == before and window.is_modified() and len(window.doc.regions) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".brushwork") == ["mine.brushwork"]


def test_exporting_to_a_full_disk_writes_nothing(window, qtbot, tmp_path, monkeypatch):
    from editor.document import ResultEntry
    from editor.export_dialog import ExportSettings

    image = window.doc.content_tensor()
    window.doc.set_result(ResultEntry("r", image, "adain", {}, {}, 0.1))
    monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    h, w = image.shape[-2:]
    out = tmp_path / "print.png"
    with qtbot.waitSignal(window.exporter.failed, timeout=30_000):
        window.export(ExportSettings(out, w, h, 300.0, 8, 95, True))
    assert "No space left on device" in window.last_alert.text() and "free some disk space" in window.last_alert.informativeText()
    assert not out.exists() and not any(p.name.startswith(".print") for p in tmp_path.iterdir())


@pytest.mark.parametrize("answer, accepted", [("No", False), ("Yes", True)])
def test_the_export_dialog_asks_before_a_huge_export(qtbot, tmp_path, monkeypatch, answer, accepted):
    from editor.export_dialog import ExportDialog

    dialog = ExportDialog((64, 96), tmp_path / "big.png")
    qtbot.addWidget(dialog)
    dialog.width_px.setValue(60000)
    assert "megapixels" in dialog.note.text()
    asked = _answer(monkeypatch, getattr(QMessageBox.StandardButton, answer))
    dialog.accept()
    assert "250-megapixel limit" in asked[0]
    assert (dialog.result() == dialog.DialogCode.Accepted) == accepted
    assert dialog.settings().allow_huge == accepted and dialog.settings().options().allow_huge == accepted


def test_the_export_dialog_refuses_a_folder_that_is_a_file(qtbot, tmp_path, monkeypatch):
    from editor.export_dialog import ExportDialog

    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    warned: list = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    dialog = ExportDialog((64, 96), blocker / "out.png")
    qtbot.addWidget(dialog)
    dialog.accept()
    assert "is a file, not a folder" in warned[0] and dialog.result() != dialog.DialogCode.Accepted
