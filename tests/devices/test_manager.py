"""The DeviceManager against the virtual ESC/POS printer over real TCP: unplug, replug, listeners, locks."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices.base import (
    Action,
    Completion,
    DeviceError,
    DeviceErrorEvent,
    DeviceEvent,
    DeviceState,
    DeviceStatus,
    StatusChanged,
    status_changes,
)
from devices.manager import DeviceManager
from devices.printer import ReceiptPrinter, VirtualEscposPrinter

FAST = {"poll_interval_s": 0.1, "backoff": (0.05, 0.4)}


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def printer_sim(tmp_path: Path) -> Iterator[tuple[VirtualEscposPrinter, int]]:
    sim = VirtualEscposPrinter(tmp_path)
    port = sim.start_tcp()
    yield sim, port
    sim.stop()


def printer_factory(port: int) -> Callable[[], ReceiptPrinter]:
    def build() -> ReceiptPrinter:
        driver = ReceiptPrinter(f"tcp://127.0.0.1:{port}", timeout_s=1.0, name="printer")
        driver.open()
        return driver

    return build


def test_unplug_and_replug_the_printer(
    printer_sim: tuple[VirtualEscposPrinter, int], caplog: pytest.LogCaptureFixture
) -> None:
    sim, port = printer_sim
    events: list[DeviceEvent] = []
    caplog.set_level(logging.INFO, logger="devices.manager")
    manager = DeviceManager({"printer": printer_factory(port)}, **FAST)  # type: ignore[arg-type]
    manager.add_listener(events.append)
    with manager:
        assert wait_until(lambda: manager.status("printer").state == DeviceState.ONLINE)
        assert manager.status("printer").details["paper"] == "full"

        sim.stop()  # unplug
        assert wait_until(lambda: manager.status("printer").state == DeviceState.OFFLINE)
        time.sleep(1.0)  # several failed reconnects, which must not log again

        sim.start_tcp(port=port)  # replug on the same port
        assert wait_until(lambda: manager.status("printer").state == DeviceState.ONLINE, 5.0)
        with manager.use("printer") as printer:
            assert printer.status().state == DeviceState.ONLINE

    went = [r for r in caplog.records if "went away" in r.getMessage()]
    returned = [r for r in caplog.records if "returned" in r.getMessage()]
    assert len(went) == 1 and went[0].levelno == logging.WARNING
    assert len(returned) == 1

    changes = [e for e in events if isinstance(e, StatusChanged)]
    assert [e.changed["state"] for e in changes if "state" in e.changed] == ["online", "offline", "online"]
    for event in changes:
        assert "name" not in event.changed
        assert set(event.changed) <= {"state", "kind", "details", "action"}
    assert changes[0].changed["kind"] == "receipt_printer"  # the first event carries everything
    going = next(e for e in changes if e.changed.get("state") == "offline")
    assert going.changed["details"]["paper"] == "unknown"
    assert "kind" not in going.changed  # unchanged fields are left out
    assert going.status.state == DeviceState.OFFLINE
    errors = [e for e in events if isinstance(e, DeviceErrorEvent)]
    assert len(errors) == 1  # one per outage, not one per retry
    assert errors[0].action == Action.MAINTENANCE


def test_a_device_absent_at_start_is_retried_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sim = VirtualEscposPrinter(tmp_path)
    port = sim.start_tcp()
    sim.stop()  # known free port, nothing listening
    attempts: list[float] = []
    factory = printer_factory(port)

    def counting() -> ReceiptPrinter:
        attempts.append(time.monotonic())
        return factory()

    caplog.set_level(logging.INFO, logger="devices.manager")
    manager = DeviceManager({"printer": counting}, poll_interval_s=0.1, backoff=(0.05, 0.2))
    with manager:
        assert wait_until(lambda: len(attempts) >= 5)
        assert manager.status("printer").state == DeviceState.OFFLINE
        with pytest.raises(DeviceError) as err, manager.use("printer"):
            pass
        assert err.value.completion == Completion.DEVICE_NOT_READY
        sim.start_tcp(port=port)
        try:
            assert wait_until(lambda: manager.status("printer").state == DeviceState.ONLINE)
        finally:
            sim.stop()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert max(gaps) < 1.0  # capped by the backoff maximum (plus scheduling slack)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not available" in m for m in messages) == 1
    assert sum("returned" in m for m in messages) == 1


class FakeDriver:
    def __init__(self) -> None:
        self.state = DeviceState.ONLINE
        self.active = 0
        self.overlap = False
        self.closed = 0

    def status(self) -> DeviceStatus:
        return DeviceStatus("fake", "fake", self.state, {"paper": "full"})

    def operate(self) -> None:
        self.active += 1
        if self.active > 1:
            self.overlap = True
        time.sleep(0.05)
        self.active -= 1

    def close(self) -> None:
        self.closed += 1


def test_use_serialises_threads() -> None:
    driver = FakeDriver()
    with DeviceManager({"fake": lambda: driver}, **FAST) as manager:  # type: ignore[arg-type]
        assert wait_until(lambda: manager.status("fake").state == DeviceState.ONLINE)

        def work() -> None:
            for _ in range(5):
                with manager.use("fake") as d:
                    d.operate()

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not driver.overlap

        with manager.use("fake"):
            holder_done = threading.Event()
            errors: list[DeviceError] = []

            def contender() -> None:
                try:
                    with manager.use("fake", timeout_s=0.1):
                        pass
                except DeviceError as exc:
                    errors.append(exc)
                holder_done.set()

            threading.Thread(target=contender).start()
            assert holder_done.wait(2)
        assert errors and errors[0].completion == Completion.TIMEOUT
    assert driver.closed == 1  # stop() closes the driver


def test_error_inside_use_is_published_and_a_listener_failure_is_contained() -> None:
    driver = FakeDriver()
    events: list[DeviceEvent] = []

    def broken(event: DeviceEvent) -> None:
        raise RuntimeError("listener bug")

    with DeviceManager({"fake": lambda: driver}, **FAST) as manager:  # type: ignore[arg-type]
        manager.add_listener(broken)
        manager.add_listener(events.append)
        assert wait_until(lambda: manager.status("fake").state == DeviceState.ONLINE)
        with pytest.raises(DeviceError), manager.use("fake"):
            raise DeviceError(Completion.DEVICE_NOT_READY, "缺纸", detail="paper out", action=Action.CLEAR)
        driver.state = DeviceState.USER_ERROR
        assert wait_until(lambda: manager.status("fake").state == DeviceState.USER_ERROR)
    errors = [e for e in events if isinstance(e, DeviceErrorEvent)]
    assert errors[0] == DeviceErrorEvent("fake", Completion.DEVICE_NOT_READY, Action.CLEAR, "paper out")
    assert errors[1].completion == Completion.USER_ERROR
    assert [e.changed for e in events if isinstance(e, StatusChanged)][-1] == {"state": "user_error"}


def test_status_changes_lists_only_what_changed() -> None:
    old = DeviceStatus("p", "printer", DeviceState.ONLINE, {"paper": "full", "cover_open": False})
    new = DeviceStatus(
        "p", "printer", DeviceState.USER_ERROR, {"paper": "out", "cover_open": False}, Action.CLEAR
    )
    assert status_changes(old, new) == {"state": "user_error", "action": "clear", "details": {"paper": "out"}}
    assert status_changes(old, old) == {}
    gone = DeviceStatus("p", "printer", DeviceState.ONLINE, {"paper": "full"})
    assert status_changes(old, gone) == {"details": {"cover_open": None}}
