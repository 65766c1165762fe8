"""A lasting cache for python-escpos's printer capabilities (imported before anything imports escpos).

At import, escpos parses its capabilities YAML (~1 MB, ~0.25 s of a 2-core terminal's start) unless a
pickle of it is cached; its default cache is a new temporary directory per process, so it is never
reused (and one is left behind per start). This points it at one per-user cache directory, made 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def use_user_cache() -> None:
    if ENV in os.environ:  # set by the operator or the unit: respected
        return
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kiosk" / "escpos"
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (OSError, RuntimeError):  # no home, or a read-only one: escpos keeps its own default
        return
    os.environ[ENV] = str(base)


use_user_cache()
