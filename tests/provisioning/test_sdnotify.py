"""sd_notify over a real AF_UNIX datagram socket, as systemd listens for Type=notify units; and the agent
loop's READY → WATCHDOG per cycle → STOPPING."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from kiosk import sdnotify
from kiosk.agent import Agent


@pytest.fixture
def manager(tmp_path: Path, monkeypatch) -> Iterator[socket.socket]:
    """What systemd does for a Type=notify unit: a datagram socket named in $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def received(sock: socket.socket) -> list[str]:
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    return messages


def test_ready_watchdog_stopping_reach_the_socket(manager):
    assert sdnotify.ready("devices up")
    assert sdnotify.watchdog()
    assert sdnotify.stopping()
    assert received(manager) == ["READY=1\nSTATUS=devices up", "WATCHDOG=1", "STOPPING=1"]


def test_abstract_socket_address(monkeypatch):
    name = f"kiosk-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.watchdog()
        assert sock.recv(64) == b"WATCHDOG=1"


def test_outside_systemd_nothing_happens_and_nothing_raises(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready() is False
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))  # systemd went away
    assert sdnotify.watchdog() is False


def test_watchdog_interval_is_half_of_watchdog_sec(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # armed for another process (cage, not us)
    assert sdnotify.watchdog_interval_s() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval_s() is None


class _CountingAgent(Agent):
    """The real run loop with a cycle that only counts, and stops itself after three cycles."""

    def __init__(self, stop: threading.Event) -> None:  # no platform, outbox or state needed
        self.config = SimpleNamespace(agent=SimpleNamespace(metrics_port=0))  # no /metrics server
        self.interval_s = 0.0
        self.cycles = 0
        self._stop_after = stop

    def run_once(self):  # type: ignore[override]
        self.cycles += 1
        if self.cycles == 2:
            raise RuntimeError("a failed cycle still pings the watchdog")
        if self.cycles == 3:
            self._stop_after.set()


def test_agent_loop_is_ready_pings_every_cycle_and_says_stopping(manager):
    stop = threading.Event()
    agent = _CountingAgent(stop)
    agent.run(stop)
    assert agent.cycles == 3
    assert received(manager) == ["READY=1", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1", "STOPPING=1"]
