"""Reads the config and opens the terminal (kiosk.wiring.open_terminal) on a thread of its own, so
that the UI can draw its home screen first.

Opening a terminal is most of a cold start: importing the backend (OpenCV, numpy, requests, escpos,
cryptography, pydantic: ~0.4 s on the 2-core reference machine), then the devices, the outbox, the
platform client. A citizen who walks up to a kiosk that has just booted should find the home screen
drawn, not a black one; a tap that needs the terminal waits for it (screens.app.KioskApp.when_ready).

This module imports nothing heavy itself: kiosk.wiring is imported on the thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiosk.config import Config
    from kiosk.wiring import Terminal

log = logging.getLogger(__name__)


class TerminalLoader:
    """`start()` opens the terminal on a thread, then calls `on_done(self)` there (with `terminal` set,
    or `error` when it could not be opened). `close()` waits for the thread and closes the terminal;
    the terminal is closed by the thread that calls `close()`, usually not the one that opened it."""

    def __init__(self, read_config: Callable[[], Config], on_done: Callable[[TerminalLoader], Any]) -> None:
        self._read_config = read_config
        self.config: Config | None = None  # once read (and validated)
        self.terminal: Terminal | None = None
        self.error: BaseException | None = None
        self._on_done = on_done
        self._stack = contextlib.ExitStack()
        self._thread = threading.Thread(target=self._open, daemon=True, name="terminal-loader")

    def start(self) -> TerminalLoader:
        self._thread.start()
        return self

    def _open(self) -> None:
        try:
            self.config = self._read_config()
            from kiosk.wiring import open_terminal

            self.terminal = self._stack.enter_context(open_terminal(self.config))
        except BaseException as err:  # handed to the main thread, which raises it
            self.error = err
        self._on_done(self)

    def close(self) -> None:
        if self._thread.ident is not None:
            self._thread.join()
        self._stack.close()

    def __enter__(self) -> TerminalLoader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
