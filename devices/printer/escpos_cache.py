"""A lasting cache for python-escpos's printer capabilities (imported before anything imports escpos).

At import, escpos parses its capabilities YAML (~1 MB, ~0.25 s of a 2-core terminal's start) unless a
pickle of it is cached; its default cache is a new temporary directory per process, so it is never
reused (and one is left behind per start). This points it at the per-user cache directory.
"""

from __future__ import annotations

import os

from devices.user_cache import user_cache_dir

ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def use_user_cache() -> None:
    if ENV in os.environ:  # set by the operator or the unit: respected
        return
    try:
        os.environ[ENV] = str(user_cache_dir("escpos"))
    except OSError:  # not even a temporary directory: escpos keeps its own default
        return


use_user_cache()
