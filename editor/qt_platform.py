"""Can Qt open a real window here? Checked before Qt is touched, because Qt's answer is an abort.

When the xcb platform plugin cannot load (a library missing) or cannot reach a display, Qt
prints a wall of plugin lines and dies with SIGABRT. This module asks the same questions first
(``ldd`` on the plugin, a test connection to the X server) and says what is missing in one
line, with the fix. It imports no Qt module, so ``python -m editor.qt_platform`` also runs
where Qt itself would crash: ``make run`` and ``make screenshot`` call it with ``--install``.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Debian/Ubuntu packages that give Qt 6's xcb plugin what it links against (README lists them);
#: what is installed is only what ldd (and the dlopen check) finds missing, by package_for.
XCB_PACKAGES: tuple[str, ...] = (
    "libegl1", "libgl1", "libopengl0", "libfontconfig1", "libfreetype6", "libdbus-1-3", "libglib2.0-0",
    "libx11-6", "libx11-xcb1", "libxext6", "libxrender1", "libsm6", "libice6",
    "libxkbcommon0", "libxkbcommon-x11-0",
    "libxcb1", "libxcb-cursor0", "libxcb-glx0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
    "libxcb-randr0", "libxcb-render0", "libxcb-render-util0", "libxcb-shape0", "libxcb-shm0",
    "libxcb-sync1", "libxcb-util1", "libxcb-xfixes0", "libxcb-xinerama0", "libxcb-xinput0", "libxcb-xkb1",
)
#: what a virtual screen needs: ``xvfb-run`` (which calls xauth), and xdotool to press keys in it
XVFB_PACKAGES: tuple[str, ...] = ("xvfb", "xauth", "xdotool")
#: Qt opens these itself (dlopen), so ldd on the plugin does not list them
DLOPENED: tuple[str, ...] = ("libxcb-cursor.so.0",)
#: sonames whose Debian package name does not follow the usual rule
_PACKAGE_OF = {"libglib-2.0.so.0": "libglib2.0-0", "libGLX.so.0": "libglx0", "libOpenGL.so.0": "libopengl0"}
HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "vkkhrdisplay", "eglfs", "linuxfb"}


def package_for(soname: str) -> str:
    """'libxcb-icccm.so.4' -> 'libxcb-icccm4', 'libxkbcommon-x11.so.0' -> 'libxkbcommon-x11-0'."""
    if soname in _PACKAGE_OF:
        return _PACKAGE_OF[soname]
    m = re.match(r"(.+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    name, major = m.group(1).lower(), m.group(2)
    return f"{name}-{major}" if name[-1].isdigit() else f"{name}{major}"


def xcb_plugin() -> Path | None:
    """PySide6's xcb platform plugin, found without importing PySide6 (whose import loads Qt)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        p = Path(base) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if p.exists():
            return p
    return None


def missing_libraries(plugin: Path | None = None) -> list[str]:
    """Sonames the xcb plugin needs that the dynamic loader cannot find (empty: all there)."""
    plugin = plugin or xcb_plugin()
    if plugin is None or not shutil.which("ldd"):
        return []
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True).stdout
    missing = [line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line]
    for soname in DLOPENED:
        if soname not in missing and ctypes.util.find_library(soname.split(".so")[0].removeprefix("lib")) is None:
            missing.append(soname)
    return sorted(set(missing))


def display_problem(env: dict[str, str] | None = None) -> str | None:
    """Why the xcb platform cannot reach a display, or None when it can."""
    env = dict(os.environ if env is None else env)
    display = env.get("DISPLAY", "")
    if not display:
        if env.get("WAYLAND_DISPLAY"):
            return None  # Qt takes the Wayland platform (or XWayland); nothing to check here
        return "no display: neither DISPLAY nor WAYLAND_DISPLAY is set"
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None  # reported as a missing library instead
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        if xcb.xcb_connection_has_error(conn):
            return f"cannot connect to the X display {display!r} (is the X server running? is xauth set up?)"
    finally:
        xcb.xcb_disconnect(conn)
    return None


@dataclass(frozen=True)
class PlatformReport:
    platform: str
    missing: tuple[str, ...]
    display: str | None

    @property
    def ok(self) -> bool:
        return not self.missing and self.display is None

    def packages(self) -> list[str]:
        return sorted({package_for(s) for s in self.missing})

    def message(self) -> str:
        lines = []
        if self.missing:
            lines.append(f"Qt's {self.platform} platform plugin cannot load: missing {', '.join(self.missing)}.")
            lines.append(f"Install them with: {apt_command(self.packages())}")
        if self.display:
            lines.append(f"Brushwork cannot open a window: {self.display}.")
            lines.append("Run it on a desktop session, or headless under a virtual screen: xvfb-run -a brushwork-editor"
                         " (Debian: apt-get install xvfb xauth).")
        return "\n".join(lines)


def platform_name(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ if env is None else env)
    name = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if name:
        return name
    if sys.platform.startswith("linux"):
        return "wayland" if env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY") else "xcb"
    return "native"


def check(env: dict[str, str] | None = None) -> PlatformReport:
    """What stands between Qt and a window on this machine (nothing, off Linux or headless)."""
    name = platform_name(env)
    if name != "xcb":
        return PlatformReport(name, (), None)
    return PlatformReport(name, tuple(missing_libraries()), display_problem(env))


def apt_command(packages: list[str] | tuple[str, ...]) -> str:
    prefix = "" if _is_root() else "sudo "
    return f"{prefix}apt-get install -y --no-install-recommends {' '.join(packages)}"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _can_apt() -> bool:
    return _is_root() and shutil.which("apt-get") is not None and Path("/etc/debian_version").exists()


def install(packages: list[str] | tuple[str, ...]) -> bool:
    """apt-get install as root on Debian/Ubuntu; False (having said why) where that is not possible."""
    if not packages:
        return True
    if not _can_apt():
        return False
    print(f"Installing the system packages Brushwork's window needs: {' '.join(packages)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)
    return done.returncode == 0


def _missing_xvfb() -> list[str]:
    tools = {"xvfb": "Xvfb", "xauth": "xauth", "xdotool": "xdotool"}
    return [pkg for pkg in XVFB_PACKAGES if shutil.which(tools[pkg]) is None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m editor.qt_platform",
                                 description="Check (and with --install, add) what Qt needs to open a real window.")
    ap.add_argument("--install", action="store_true", help="as root on Debian/Ubuntu, apt-get install what is missing")
    ap.add_argument("--xvfb", action="store_true", help="also need a virtual screen (Xvfb, xauth, xdotool)")
    ap.add_argument("--no-display-check", action="store_true", help="check libraries only (before xvfb-run starts one)")
    args = ap.parse_args(argv)

    needed = sorted({package_for(s) for s in missing_libraries()})
    if args.xvfb:
        needed += _missing_xvfb()
    if needed and args.install and install(needed):
        needed = [package_for(s) for s in missing_libraries()] + (_missing_xvfb() if args.xvfb else [])
    if needed:
        print(f"Brushwork's window needs system packages that are missing: {' '.join(needed)}\n"
              f"Install them with:\n    {apt_command(needed)}", file=sys.stderr)
        return 2
    if not args.no_display_check and not args.xvfb:
        report = check()
        if not report.ok:
            print(report.message(), file=sys.stderr)
            return 2
    print("Qt window libraries: all present" + (" (and Xvfb)" if args.xvfb else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
