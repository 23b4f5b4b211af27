"""torch's OpenMP threads wait passively in every Brushwork process (engine.openmp says why)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: prints the policy libgomp will read at the moment torch is first imported (if the module imports it),
#: and once the module is imported (what a torch imported later will read)
PROBE = """
import builtins, os, sys
real = builtins.__import__
def hook(name, *a, **k):
    if name == "torch" and "torch" not in sys.modules:
        print(os.environ.get("OMP_WAIT_POLICY"))
    return real(name, *a, **k)
builtins.__import__ = hook
import {module}
print(os.environ.get("OMP_WAIT_POLICY"))
"""


@pytest.mark.parametrize("module", ["engine.cli", "editor.app", "editor.mainwindow", "engine.batch.farm"])
def test_openmp_waits_passively_before_torch_loads(module):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert set(out.stdout.split()) == {"PASSIVE"}, out.stdout


def test_a_users_own_policy_is_kept():
    env = {**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}
    out = subprocess.run([sys.executable, "-c", "import os, engine; print(os.environ['OMP_WAIT_POLICY'])"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ACTIVE"
