"""numpy's BLAS on one thread.

numpy only ever sees small matrices here (a 128x128 ``eigh``, N x 3 colour clouds), and its
OpenBLAS threads spin while idle, against torch's: with them an instant render at 512 px on a
2-core CPU took 0.46 s instead of 0.23. The environment variable covers a process that has not
loaded numpy yet; the library's own setter (found as threadpoolctl finds it) covers one that has.
"""

from __future__ import annotations

import ctypes
import glob
import os

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")


def numpy_blas_single_thread() -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy comes with torch
        return
    here = os.path.dirname(numpy.__file__)
    for path in glob.glob(os.path.join(here, "..", "numpy.libs", "*openblas*")) + glob.glob(os.path.join(here, ".dylibs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(1)
                break
