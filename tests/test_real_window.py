"""The editor as a user starts it: ``brushwork-editor --sample`` in a real window (Qt's xcb
platform on an Xvfb screen, not offscreen), and the clear exit when no window can open.

The window test reads the X screen back (a separate xcb client grabs the root window), finds
the bundled photo on it, presses Ctrl+R with xdotool and waits for the canvas to change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor import qt_platform

ROOT = Path(__file__).resolve().parent.parent
EDITOR = Path(sys.executable).with_name("brushwork-editor")
SAMPLE_PHOTO = ROOT / "resources" / "samples" / "content_city_skyline.jpg"
#: the sample's Sky region: the canvas tints it with the region overlay, so photo pixels are compared outside it
SAMPLE_SKY = ROOT / "resources" / "samples" / "city_sky_mask.png"
GRAB = ("import sys\nfrom PySide6.QtGui import QGuiApplication\n"
        "app = QGuiApplication(['grab'])\n"
        "sys.exit(0 if app.primaryScreen().grabWindow(0).save(sys.argv[1]) else 1)\n")


def xcb_env(display: str | None, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(QT_QPA_PLATFORM="xcb", BRUSHWORK_RECOVERY_DIR=str(tmp_path / "recovery"))
    if display:
        env["DISPLAY"] = display
    return env


@pytest.fixture
def xvfb(tmp_path):
    """A fresh Xvfb screen (":N"), or a skip that says what is missing."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb xauth xdotool; .ci/run installs it): "
                    "the real-window test cannot run")
    missing = qt_platform.missing_libraries()
    if missing:
        pytest.skip(f"Qt's xcb plugin lacks {', '.join(missing)}: run `python -m editor.qt_platform --install`")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        server.kill()
        pytest.fail("Xvfb started but did not report a display number")
    yield f":{number}"
    server.terminate()
    server.wait(10)


def screenshot(display: str, tmp_path: Path) -> np.ndarray:
    """The X screen as HxWx3 float in [0, 1], read by an xcb client, as any screenshot tool would."""
    out = tmp_path / "screen.png"
    subprocess.run([sys.executable, "-c", GRAB, str(out)], env=xcb_env(display, tmp_path), check=True, timeout=60)
    return np.asarray(Image.open(out).convert("RGB"), dtype=np.float32) / 255


def find_photo(screen: np.ndarray, photo: Image.Image) -> tuple[float, tuple[int, int, int, int]]:
    """Where the photo shows on the screen, at whatever zoom: (match score, (x, y, w, h)).

    Searched over widths at a quarter of the screen's resolution, then refined pixel by pixel.
    """
    import cv2

    grey = np.asarray(photo.convert("L"), dtype=np.float32) / 255
    screen_grey = cv2.cvtColor(screen, cv2.COLOR_RGB2GRAY)

    def best_match(image: np.ndarray, widths, scale: int, origin=(0, 0)):
        best = (-1.0, (0, 0, 0, 0))
        for w in widths:
            h = round(w * grey.shape[0] / grey.shape[1])
            if w < 8 or h >= image.shape[0] or w >= image.shape[1]:
                continue
            scores = cv2.matchTemplate(image, cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA),
                                       cv2.TM_CCOEFF_NORMED)
            _, score, _, (x, y) = cv2.minMaxLoc(scores)
            if score > best[0]:
                best = (float(score), (origin[0] + x * scale, origin[1] + y * scale, w * scale, h * scale))
        return best

    small = cv2.resize(screen_grey, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    score, (x, y, w, h) = best_match(small, range(60, small.shape[1], 2), 4)
    if score < 0.5:
        return score, (x, y, w, h)
    pad = 12
    x0, y0 = max(0, x - pad), max(0, y - pad)
    window = screen_grey[y0:y + h + 2 * pad, x0:x + w + 2 * pad]
    return best_match(window, range(w - 10, w + 11), 1, (x0, y0))


def crop(screen: np.ndarray, box: tuple[int, int, int, int], inset: int = 8) -> np.ndarray:
    x, y, w, h = box
    return screen[y + inset:y + h - inset, x + inset:x + w - inset]


def photo_at(photo: Image.Image, box: tuple[int, int, int, int], inset: int = 8) -> np.ndarray:
    x, y, w, h = box
    shown = np.asarray(photo.convert("RGB").resize((w, h), Image.LANCZOS), dtype=np.float32) / 255
    return shown[inset:h - inset, inset:w - inset]


def outside_sky(box: tuple[int, int, int, int], inset: int = 8) -> np.ndarray:
    """HxW bool: the crop's pixels well outside the sample's Sky region (no overlay tint there)."""
    x, y, w, h = box
    sky = np.asarray(Image.open(SAMPLE_SKY).convert("L").resize((w, h), Image.BILINEAR), dtype=np.float32) / 255
    return sky[inset:h - inset, inset:w - inset] < 0.05


def wait_for(predicate, timeout: float, what: str, editor: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if editor.poll() is not None:
            pytest.fail(f"the editor exited ({editor.returncode}) while waiting for {what}: "
                        f"{editor.stderr.read().decode(errors='replace')[-2000:]}")
        value = predicate()
        if value is not None:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_sample_opens_in_a_real_window_and_renders(xvfb, tmp_path):
    pytest.importorskip("cv2", reason="opencv-python-headless finds the photo on the screen (pip install -e .[test])")
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool): cannot press Render in the real window")
    env = xcb_env(xvfb, tmp_path)
    editor = subprocess.Popen([str(EDITOR), "--sample", "--no-recovery", "--strategy", "adain"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    photo = Image.open(SAMPLE_PHOTO)
    try:
        def photo_shown():
            screen = screenshot(xvfb, tmp_path)
            score, box = find_photo(screen, photo)
            return (screen, box) if score > 0.9 and box[2] > 300 else None

        before, box = wait_for(photo_shown, 120, "the sample photo on the canvas", editor)
        # the canvas shows the photo's own pixels, not a blank or placeholder widget
        ground = outside_sky(box)
        assert ground.mean() > 0.3
        assert np.abs(crop(before, box) - photo_at(photo, box))[ground].mean() < 0.05
        assert crop(before, box).std() > 0.1

        window = subprocess.run(["xdotool", "search", "--name", " — Brushwork$"], env=env,
                                capture_output=True, text=True).stdout.split()
        assert window, "no main window titled '<photo> — Brushwork' on the screen"
        subprocess.run(["xdotool", "windowfocus", "--sync", window[0], "key", "ctrl+r"], env=env, check=True,
                       timeout=30)

        def canvas_changed():
            screen = screenshot(xvfb, tmp_path)
            return screen if np.abs(crop(screen, box) - crop(before, box)).mean() > 0.05 else None

        after = wait_for(canvas_changed, 120, "the rendered result on the canvas", editor)
        shown = crop(after, box)
        assert np.abs(shown - photo_at(photo, box))[ground].mean() > 0.08  # a stylised picture, not the photo
        assert shown.std() > 0.1  # and not a blank one
    finally:
        editor.terminate()
        try:
            _, err = editor.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            editor.kill()
            _, err = editor.communicate()
    assert b"Traceback" not in err, err.decode(errors="replace")


def run_editor(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(EDITOR), "--sample", "--no-recovery"], env=env, capture_output=True, text=True,
                          timeout=120)


def test_no_display_exits_2_with_the_fix(tmp_path):
    if qt_platform.missing_libraries():
        pytest.skip("the xcb libraries are missing, which is reported first (see the next test)")
    done = run_editor(xcb_env(None, tmp_path))
    assert done.returncode == 2, done.stderr
    assert "no display" in done.stderr and "xvfb-run" in done.stderr
    assert "qt.qpa" not in done.stderr  # Qt was never asked, so no wall of plugin lines


def test_unreachable_display_exits_2(tmp_path):
    if qt_platform.missing_libraries():
        pytest.skip("the xcb libraries are missing, which is reported first")
    number = next(n for n in range(150, 250) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    done = run_editor(xcb_env(f":{number}", tmp_path))
    assert done.returncode == 2, done.stderr
    assert f"cannot connect to the X display ':{number}'" in done.stderr


def test_a_missing_library_is_named_with_its_package(tmp_path):
    """ldd on a plugin linked against a library that is gone names it, and the apt-get fix."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build a stand-in plugin")
    (tmp_path / "stub.c").write_text("int bw_stub(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int bw_stub(void);\nint plugin(void) { return bw_stub(); }\n")
    subprocess.run([cc, "-shared", "-fPIC", "-o", tmp_path / "libxcb-bwtest.so.7", tmp_path / "stub.c",
                    "-Wl,-soname,libxcb-bwtest.so.7"], check=True)
    subprocess.run([cc, "-shared", "-fPIC", "-o", tmp_path / "libqxcb.so", tmp_path / "plugin.c",
                    tmp_path / "libxcb-bwtest.so.7"], check=True)
    (tmp_path / "libxcb-bwtest.so.7").unlink()
    missing = qt_platform.missing_libraries(tmp_path / "libqxcb.so")
    assert "libxcb-bwtest.so.7" in missing
    report = qt_platform.PlatformReport("xcb", tuple(missing), None)
    assert "libxcb-bwtest7" in report.packages()
    assert "apt-get install -y" in report.message() and "libxcb-bwtest7" in report.message()


@pytest.mark.parametrize("soname, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"), ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libEGL.so.1", "libegl1"), ("libdbus-1.so.3", "libdbus-1-3"), ("libglib-2.0.so.0", "libglib2.0-0"),
])
def test_sonames_map_to_debian_packages(soname, package):
    assert qt_platform.package_for(soname) == package
    assert package in qt_platform.XCB_PACKAGES
