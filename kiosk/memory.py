"""Hand memory freed by a session back to the system, so that the UI process stays flat for months.

A session allocates and frees large buffers (camera frames, 12 MP document pages, JPEG and PDF bytes,
widget textures), from several threads. glibc keeps freed heap memory in its arenas for reuse, so the
process's RSS ratchets up to the peak of its worst session and its fragments; `malloc_trim(0)` returns
what is free at the end of each session. Elsewhere than glibc this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # musl, macOS: no malloc_trim
        return None


def release_freed() -> bool:
    """Return free heap memory to the system now; False where the C library cannot."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def release_freed_later() -> None:
    """The same on a thread of its own: the trim walks every arena (a few ms to tens of ms), and the
    citizen's tap that ended the session should not wait for it."""
    threading.Thread(target=release_freed, daemon=True, name="malloc-trim").start()
