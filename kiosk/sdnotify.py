"""sd_notify(3) without a dependency: READY, WATCHDOG and STOPPING datagrams to `$NOTIFY_SOCKET`.

The units are `Type=notify` with `WatchdogSec=`: systemd starts counting the process as up only after
READY=1, and restarts it when no WATCHDOG=1 arrives within the watchdog period (a hung UI or agent).
Outside systemd (`$NOTIFY_SOCKET` unset: tests, the demo, a technician's shell) every call is a no-op.
"""

from __future__ import annotations

import os
import socket

# How often the UI loop pings: a third of kiosk.service's WatchdogSec=30s. The UI runs as a child of cage,
# so systemd's WATCHDOG_PID names cage and `watchdog_interval_s()` is None there: use this instead.
UI_PING_S = 10.0


def notify(state: str) -> bool:
    """Send `state` (e.g. "READY=1") to the service manager; False when not under systemd or on error.

    Never raises: a lost notification must not take the kiosk down (the watchdog will say so)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError:
        return False
    return True


def ready(status: str | None = None) -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval_s() -> float | None:
    """Half the unit's WatchdogSec (how often to ping), or None when no watchdog is armed for us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
