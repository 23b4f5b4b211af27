"""brushwork batch (issue 29): a folder of pictures with one style setup, on one machine.

Real renders with ``universal`` on 128-160 px pictures. The pixel limit is lowered
(BRUSHWORK_MAX_IMAGE_PIXELS) so that one 400x300 input is "too large" without a huge file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, sample_path
from engine import cli

LIMIT = "100000"  # pixels: the 160 px inputs and the 192 px style pass, the 400x300 one does not
PICTURES = ("content_animal_beagle.jpg", "content_city_skyline.jpg", "content_landscape_palm_beach.jpg",
            "content_portrait_astronaut.jpg")
STYLE_FLAGS = ["--strategy", "universal", "--protect-faces", "off"]


def _small(src: Path, dest: Path, side: int) -> None:
    im = Image.open(src).convert("RGB")
    im.thumbnail((side, side))
    im.save(dest)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """in/: four good pictures, a corrupt one and one over the pixel limit; style.png beside it."""
    root = tmp_path_factory.mktemp("batch-src")
    (root / "in").mkdir()
    for name in PICTURES:
        _small(sample_path(name), root / "in" / (Path(name).stem + ".png"), 160)
    (root / "in" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not the rest of a JPEG")
    Image.fromarray(np.full((300, 400, 3), 128, np.uint8)).save(root / "in" / "huge.png")
    _small(sample_path("style_vangogh_starry_night.jpg"), root / "style.png", 192)
    return root


@pytest.fixture()
def work(source, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the source for one test, the pixel limit lowered, the cwd there."""
    shutil.copytree(source, tmp_path, dirs_exist_ok=True)
    monkeypatch.setenv("BRUSHWORK_MAX_IMAGE_PIXELS", LIMIT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _env() -> dict:
    return {**os.environ, "BRUSHWORK_MAX_IMAGE_PIXELS": LIMIT, "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": os.environ.get("BRUSHWORK_TEST_THREADS", "2")}


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _outputs(folder: Path) -> dict[str, float]:
    """Every picture in ``folder``, with its modification time."""
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir()) if p.suffix == ".png"}


def _batch(*extra: str, report: str = "out/report.json") -> tuple[int, dict]:
    code = cli.main(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "--report", report, "-q", *extra])
    return code, json.loads(Path(report).read_text())


def test_a_folder_renders_what_render_does_and_reports_the_bad_inputs(work):
    run = subprocess.run([sys.executable, "-m", "engine", "batch", "in/", "-s", "style.png", *STYLE_FLAGS,
                          "-o", "out/", "--report", "report.json", "-q"], cwd=work, env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    report = json.loads((work / "report.json").read_text())
    assert sorted(Path(r["input"]).name for r in report["done"]) == sorted(Path(p).stem + ".png" for p in PICTURES)
    failed = {Path(r["input"]).name: r["reason"] for r in report["failed"]}
    assert set(failed) == {"corrupt.jpg", "huge.png"}
    assert "corrupt or not an image" in failed["corrupt.jpg"]
    assert "120,000" in failed["huge.png"] or "120000" in failed["huge.png"], failed["huge.png"]
    assert "2 failed" in run.stdout and "corrupt.jpg" in run.stdout
    written = _outputs(work / "out")
    assert sorted(written) == sorted(Path(p).stem + "_universal.png" for p in PICTURES)
    for name in PICTURES:  # each the picture a single render writes
        stem = Path(name).stem
        assert cli.main(["render", f"in/{stem}.png", "-s", "style.png", *STYLE_FLAGS, "-o", f"single/{stem}.png",
                         "-q"]) == 0
        assert np.array_equal(_pixels(work / "out" / f"{stem}_universal.png"), _pixels(work / "single" / f"{stem}.png"))


def test_a_rerun_renders_only_what_changed(work):
    code, first = _batch()
    assert code == 1 and len(first["done"]) == 4 and len(first["failed"]) == 2
    before = _outputs(work / "out")

    code, again = _batch()  # nothing changed: nothing rendered (the two bad inputs fail again)
    assert code == 1 and again["done"] == [] and len(again["skipped"]) == 4 and len(again["failed"]) == 2
    assert _outputs(work / "out") == before
    code, clip_flag = _batch("--crf", "30")  # a clip's setting: no picture renders again
    assert clip_flag["done"] == [] and len(clip_flag["skipped"]) == 4

    beagle = work / "in" / "content_animal_beagle.png"
    os.utime(work / "in" / "content_city_skyline.png")  # touched, same bytes: still current
    pixels = _pixels(beagle).copy()
    pixels[:8, :8] = 255 - pixels[:8, :8]
    Image.fromarray(pixels).save(beagle)  # edited: only it renders again
    code, edited = _batch()
    assert [Path(r["input"]).name for r in edited["done"]] == ["content_animal_beagle.png"]
    assert len(edited["skipped"]) == 3
    now = _outputs(work / "out")
    assert [n for n in now if now[n] != before[n]] == ["content_animal_beagle_universal.png"]

    code, changed = _batch("--set", "alpha=0.6")  # a parameter changed: everything renders again
    assert len(changed["done"]) == 4 and changed["skipped"] == []
    assert all(_outputs(work / "out")[n] != now[n] for n in now)


def test_ctrl_c_keeps_finished_outputs_and_a_manifest_to_resume_from(work):
    # 24 good inputs, so the stop lands with items left even when this busy test process is slow to
    # see the first output (with 8, a loaded machine let the batch finish first)
    for i in range(11):
        for name in PICTURES[:2]:
            shutil.copy(work / "in" / (Path(name).stem + ".png"), work / "in" / f"copy{i}_{Path(name).stem}.png")
    for bad in ("corrupt.jpg", "huge.png"):
        (work / "in" / bad).unlink()
    for name in PICTURES[2:]:
        (work / "in" / (Path(name).stem + ".png")).unlink()
    proc = subprocess.Popen([sys.executable, "-m", "engine", "batch", "in", "-s", "style.png", *STYLE_FLAGS,
                             "-o", "out/", "-q"], cwd=work, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            # Ctrl+C as a terminal delivers it, even where this test runs in the
                            # background (a shell starts background jobs with SIGINT ignored)
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = work / "out"
    deadline = time.monotonic() + 240
    while not (out.is_dir() and any(p.suffix == ".png" and not p.name.startswith(".") for p in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "resumes" in stderr
    files = sorted(p.name for p in out.iterdir())
    assert not [f for f in files if f.startswith(".")], files  # no partial (temporary) file
    manifest = json.loads((out / "brushwork-batch.json").read_text())
    done = {Path(k).name for k, e in manifest["items"].items() if e["status"] == "done"}
    total = len(list((work / "in").iterdir()))
    assert total == 24 and done and len(done) < total
    assert {Path(f).stem.removesuffix("_universal") + ".png" for f in files if f.endswith(".png")} == done
    for f in files:
        if f.endswith(".png"):
            assert _pixels(out / f).shape[:2] != (0, 0)  # whole pictures

    code = cli.main(["batch", "in", "-s", "style.png", *STYLE_FLAGS, "-o", "out/", "--report", "r.json", "-q"])
    report = json.loads(Path("r.json").read_text())
    assert code == 0 and len(report["skipped"]) == len(done) and len(report["done"]) == total - len(done)
    assert {Path(r["input"]).name for r in report["done"]}.isdisjoint(done)


def test_a_job_file_with_a_clip(work):
    from test_video import pan_frames, read_clip, write_clip

    write_clip(work / "in" / "pan.mp4", pan_frames(work / "in" / "content_city_skyline.png", 6, w=96, h=64))
    (work / "job.toml").write_text("""
inputs = ["in/content_*.png", "in/pan.mp4"]
output = "rendered/{stem}-{strategy}.png"
report = "rendered/report.json"
strategy = "universal"
styles = ["style.png"]
size = 96
protect_faces = false
[params]
alpha = 0.5
[video]
temporal = false
""")
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)  # the job's paths are relative to the job file
    assert cli.main(["batch", str(work / "job.toml"), "-q"]) == 0
    report = json.loads((work / "rendered" / "report.json").read_text())
    assert len(report["done"]) == 5 and report["failed"] == []
    frames, _, _, _ = read_clip(work / "rendered" / "pan-universal.mp4")
    assert len(frames) == 6 and frames[0].shape[:2] == (64, 96)
    assert cli.main(["render", str(work / "in" / "content_portrait_astronaut.png"), "-s", str(work / "style.png"),
                     *STYLE_FLAGS, "--size", "96", "--set", "alpha=0.5", "-o", "single.png", "-q"]) == 0
    assert np.array_equal(_pixels(work / "rendered" / "content_portrait_astronaut-universal.png"),
                          _pixels(elsewhere / "single.png"))

    (work / "bad.toml").write_text('inputs = ["in/"]\noutput = "out/"\nstyles = ["style.png"]\nsizes = 96\n')
    from engine.batch.jobfile import load_job
    from engine.errors import InputError

    with pytest.raises(InputError, match="unknown key.*sizes"):
        load_job(work / "bad.toml")


from test_editor import window  # noqa: E402,F401  (the editor fixture: a window with a photo and a style)


def test_the_editor_batches_a_folder_in_the_background(window, source, tmp_path, qtbot):
    from editor.batch_dialog import open_batch_dialog

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PICTURES[:2]:
        shutil.copy(source / "in" / (Path(name).stem + ".png"), folder)
    shutil.copy(source / "in" / "corrupt.jpg", folder)
    window.strategy_panel.select("universal")
    window.doc.protect_faces = False
    dialog = open_batch_dialog(window)
    dialog.folder.edit.setText(str(folder))
    dialog.output.edit.setText(str(tmp_path / "styled"))
    assert "universal" in dialog.look.text() and "1 style" in dialog.look.text()
    assert dialog.run()
    assert not dialog.run_button.isEnabled()  # until the thread's report arrives
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=120_000)  # the window's event loop runs meanwhile
    report = dialog.report
    assert len(report.done) == 2 and [Path(r.input).name for r in report.failed] == ["corrupt.jpg"]
    assert sorted(p.name for p in (tmp_path / "styled").glob("*.png")) == sorted(
        Path(n).stem + "_universal.png" for n in PICTURES[:2])
    log = dialog.log.toPlainText()
    assert "failed: corrupt.jpg" in log and "2 done" in log and dialog.bar.value() == 3
    if os.environ.get("BRUSHWORK_SCREENSHOT_DIR"):  # to look at
        dialog.grab().save(str(Path(os.environ["BRUSHWORK_SCREENSHOT_DIR"]) / "batch-dialog.png"))
    assert dialog.run()  # again: everything current is skipped
    qtbot.waitUntil(lambda: not dialog.runner.busy() and dialog.run_button.isEnabled(), timeout=60_000)
    assert "2 of 3 already done" in dialog.log.toPlainText()

    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "styled").iterdir()}
    window.strategy_panel.set_values({"alpha": 0.5})  # a new look: everything would render again
    assert dialog.run()
    dialog.stop()
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=60_000)
    assert "Stopped" in dialog.log.toPlainText()
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "styled").iterdir()} == before
    dialog.close()


def test_a_mask_per_input_by_its_name(work):
    (work / "masks").mkdir()
    names = [Path(n).stem for n in PICTURES[:2]]
    for name in names:  # the left half of each picture
        w, h = Image.open(work / "in" / f"{name}.png").size
        mask = np.zeros((h, w), np.uint8)
        mask[:, : w // 2] = 255
        Image.fromarray(mask).save(work / "masks" / f"{name}.png")
    flags = ["--mask-dir", "masks=style.png", "--strategy", "universal", "--protect-faces", "off", "-q"]
    inputs = [f"in/{n}.png" for n in names] + [f"in/{Path(PICTURES[2]).stem}.png"]
    assert cli.main(["batch", *inputs, *flags, "-o", "out/", "--report", "r.json"]) == 1
    report = json.loads(Path("r.json").read_text())
    assert [Path(r["input"]).name for r in report["failed"]] == [f"{Path(PICTURES[2]).stem}.png"]
    assert "No mask for" in report["failed"][0]["reason"]
    name = names[0]
    assert cli.main(["render", f"in/{name}.png", "--region", f"masks/{name}.png=style.png", *flags[2:],
                     "-o", "single.png"]) == 0
    assert np.array_equal(_pixels(work / "out" / f"{name}_universal.png"), _pixels(work / "single.png"))

    Image.fromarray(255 - np.asarray(Image.open(work / "masks" / f"{name}.png"))).save(work / "masks" / f"{name}.png")
    cli.main(["batch", *inputs[:2], *flags, "-o", "out/", "--report", "r.json"])  # its mask edited: it renders again
    report = json.loads(Path("r.json").read_text())
    assert [Path(r["input"]).name for r in report["done"]] == [f"{name}.png"] and len(report["skipped"]) == 1
