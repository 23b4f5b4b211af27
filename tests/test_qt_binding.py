"""The Qt binding survives a long session: a PySide6 that leaks references to None kills the
editor after some thousands of calls (6.12.0 on Python 3.11: "none_dealloc")."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication([])
w = QWidget()
before = sys.getrefcount(None)
for _ in range(50_000):
    w.setToolTip("x")          # returns nothing: each call must leave None's count alone
print(sys.getrefcount(None) - before)
"""


def test_calls_that_return_nothing_do_not_leak_none():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                         env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, f"the Qt binding crashed after repeated calls: {run.stderr[-400:]}"
    assert abs(int(run.stdout.split()[-1])) < 100
