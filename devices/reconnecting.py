"""Drivers over one OS handle that a USB unplug can take away, and the serial-port helpers they share.

The serial ID card reader and both barcode scanners hold a tty or an evdev node that vanishes when
the cable is pulled and comes back under the same path (a /dev/…/by-id link) when it is plugged in
again. `ReconnectingDevice` is that behaviour once: `open()` / `close()` inside the UPOS lifecycle
(devices/lifecycle.py), a lost handle reported once and reopened by the next operation, and the loss
and the return logged once each (to the driver module's own logger, so log filters keep working).
"""

from __future__ import annotations

import logging
import threading
from typing import Self
from urllib.parse import parse_qs, urlsplit

import serial

from devices.base import Action, Completion, DeviceError
from devices.lifecycle import Lifecycle

try:
    import termios

    # pyserial lets termios.error (not an OSError) escape from tcflush/tcsetattr on a vanished tty.
    PORT_ERRORS: tuple[type[Exception], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - non-POSIX
    PORT_ERRORS = (serial.SerialException, OSError)


def split_serial_url(url: str, default_baud: int, message: str) -> tuple[str, int]:
    """`serial:///dev/x?baud=N` -> ("/dev/x", N); anything else goes to pyserial unchanged.

    A malformed serial URL is a configuration fault: DeviceError(UNSUPPORTED) with `message`.
    """
    if not url.lower().startswith("serial://"):
        return url, default_baud
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    baud = (query.get("baud") or query.get("baudrate") or [str(default_baud)])[0]
    path = parts.netloc + parts.path
    if not path or not baud.isdigit():
        raise DeviceError(
            Completion.UNSUPPORTED, message, detail=f"bad serial URL {url!r}", action=Action.MAINTENANCE
        )
    return path, int(baud)


def open_serial(
    port: str, baudrate: int, *, timeout: float, message: str, **options: object
) -> serial.SerialBase:
    """Open `port` exclusively; a port that is missing or busy is DeviceError(DEVICE_NOT_READY, message)."""
    try:
        ser = serial.serial_for_url(
            port,
            baudrate=baudrate,
            timeout=timeout,
            # A second reader on the same line would take half of every reply or code (a flock).
            exclusive=True,
            do_not_open=True,
            **options,
        )
        ser.open()
    except (*PORT_ERRORS, ValueError) as exc:
        raise DeviceError(
            Completion.DEVICE_NOT_READY,
            message,
            detail=f"cannot open {port}: {type(exc).__name__}: {exc}",
            action=Action.MAINTENANCE,
        ) from exc
    return ser


def close_serial(ser: serial.SerialBase | None, name: str, log: logging.Logger) -> None:
    """Close a port, if any; closing a vanished device must not fail."""
    if ser is not None:
        try:
            ser.close()
        except PORT_ERRORS:
            log.warning("%s: error while closing port", name)


class ReconnectingDevice(Lifecycle):
    """Lifecycle for a driver whose handle can vanish: call `_reconnecting_init(claim_key)` in
    `__init__` and provide `_is_open`, `_open_locked`, `_drop_locked` and `_not_open_error`.

    `open()` claims, enables and opens; an operation that finds the handle gone calls
    `_port_lost_locked` and raises DeviceError(DEVICE_NOT_READY); the next operation calls
    `_reopen_if_lost_locked`, which tries the same path again. `_lock` serialises every use of the
    handle; the `_locked` methods expect the caller to hold it.
    """

    _noun = "device"  # in the log: "<name>: scanner disconnected …", "<name>: reader is back on …"

    def _reconnecting_init(self, claim_key: str) -> None:
        self._lock = threading.Lock()
        self._want_open = False  # open() was called and close() was not: reopen by itself after a loss
        self._lost = False  # the port vanished under us (logged once when it goes, once when it returns)
        self._log = logging.getLogger(type(self).__module__)
        self._lifecycle_init(claim_key)

    # -- provided by the driver ----------------------------------------------------------------

    def _is_open(self) -> bool:
        raise NotImplementedError

    def _open_locked(self) -> None:
        """Open the handle (DeviceError(DEVICE_NOT_READY) if it is not there), then `_opened_locked`."""
        raise NotImplementedError

    def _drop_locked(self) -> None:
        """Close the handle, if any; never raises."""
        raise NotImplementedError

    def _not_open_error(self, what: str) -> DeviceError:
        """The SEQUENCE_ERROR for an operation before `open()` or after `close()`."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------

    def open(self) -> None:
        """Open the device; the first open also claims and enables it (see devices/lifecycle.py)."""

        def do_open() -> None:
            with self._lock:
                if not self._is_open():
                    self._open_locked()
                self._want_open = True

        self._lc_open(do_open)

    def close(self) -> None:
        def do_close() -> None:
            with self._lock:
                self._want_open = False
                self._lost = False
                self._drop_locked()

        self._lc_close(do_close)

    def __enter__(self) -> Self:
        """Unlike a printer (which connects on first use), open at once."""
        self.open()
        return self

    def _opened_locked(self, where: str, how: str = "") -> None:
        """Log a successful open: the first as info, the one after a loss as the single "back" warning."""
        if self._lost:
            self._lost = False
            self._log.warning("%s: %s is back on %s", self.name, self._noun, where)
        else:
            self._log.info("%s: opened %s%s", self.name, where, how)

    def _port_lost_locked(self, error: DeviceError) -> None:
        """The handle is gone (the caller raises `error`): log it once, drop it, reopen on next use."""
        if not self._lost:
            self._lost = True
            self._log.warning(
                "%s: %s disconnected (%s); will reopen on next use", self.name, self._noun, error.detail
            )
        self._drop_locked()

    def _reopen_if_lost_locked(self, what: str) -> None:
        """Before an operation: refuse when never opened; after a loss, try the same path again."""
        if not self._is_open():
            if not self._want_open:
                raise self._not_open_error(what)
            self._open_locked()  # lost earlier: the device may be back (DEVICE_NOT_READY if not)
