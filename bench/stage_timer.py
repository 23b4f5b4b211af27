"""Wall seconds per stage of a render, for the benches' 'where the time went' lines.

Shared by bench/cli.py and bench/editor.py (run as scripts, so bench/ is on sys.path).
"""

from __future__ import annotations

import functools
import time
from typing import MutableMapping


def time_calls(seconds: MutableMapping[str, float], owner: object, name: str, label: str) -> None:
    """Replace ``owner.name`` with a wrapper that adds each call's wall seconds to ``seconds[label]``."""
    f = getattr(owner, name)

    @functools.wraps(f)
    def timed(*a, **k):
        t = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            seconds[label] += time.perf_counter() - t

    setattr(owner, name, timed)
