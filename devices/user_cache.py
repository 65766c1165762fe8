"""The per-user cache directory (the kiosk user's home is its state directory, so it lasts across
restarts): data that libraries would otherwise rebuild at every start."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def user_cache_dir(name: str) -> Path:
    """`$XDG_CACHE_HOME/kiosk/NAME` (else ~/.cache/kiosk/NAME), made 0700; a per-user directory under
    the temporary directory when the home has none or cannot be written."""
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kiosk" / name
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except (OSError, RuntimeError):  # no home (RuntimeError), or a read-only one
        pass
    fallback = Path(tempfile.gettempdir()) / f"kiosk-{os.getuid()}" / name
    fallback.mkdir(mode=0o700, parents=True, exist_ok=True)
    return fallback
