"""torch's OpenMP threads wait for work passively (sleeping), not spinning.

A spinning thread holds its core between parallel regions. On a machine where any other
process wants a core (a laptop with a browser open, a batch beside the editor) the two threads
of a 2-core render then take turns spinning against it: a 1024 px universal render of the
sample took 1.34-1.94 s with one busy process beside it, 0.79-1.04 s with passive waiting, and
0.61-0.70 s either way on the otherwise idle machine; universal video at 512 px with 2 threads
on a loaded machine ran at 0.39 frames/s, 3.57 with passive waiting. libgomp reads the variable
when it loads, so it must be set before torch is imported: engine/__init__ does it.
"""

from __future__ import annotations

import os


def passive_openmp_wait() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
