"""ServiceGuard: when the kiosk takes no new case, and that it opens again by itself."""

from __future__ import annotations

from pathlib import Path

from kiosk.config import StorageConfig
from kiosk.service import CLOSED_REMOTE, CLOSED_STORAGE, ServiceGuard
from kiosk.state import StateDB

MB = 2**20


class Disk:
    def __init__(self) -> None:
        self.free = 500 * MB
        self.now = 0.0


def guard(tmp_path: Path, disk: Disk, **kwargs) -> ServiceGuard:
    storage = StorageConfig(state_dir=tmp_path, min_free_mb=100)
    return ServiceGuard(storage, clock=lambda: disk.now, free_bytes=lambda: disk.free, **kwargs)


def test_in_service_with_room_and_no_command(tmp_path):
    state = guard(tmp_path, Disk()).check()
    assert state.in_service and state.reason is None and state.storage_status(500) is None


def test_operator_command_closes_and_reopens(tmp_path):
    with StateDB(tmp_path / "state.db") as flags:
        g = guard(tmp_path, Disk(), flags=flags)
        flags.set_flag("in_service", "false")
        closed = g.check()
        assert (closed.in_service, closed.reason, closed.message) == (False, "remote", CLOSED_REMOTE)
        assert closed.storage_status(500) is None  # not a fault to repair
        flags.set_flag("in_service", "true")
        assert g.check().in_service


def test_low_disk_closes_before_a_case_is_started(tmp_path):
    disk = Disk()
    g = guard(tmp_path, disk)
    disk.free = 99 * MB
    closed = g.check()
    assert (closed.in_service, closed.reason, closed.message) == (False, "disk_low", CLOSED_STORAGE)
    assert closed.storage_status(99) == {
        "name": "storage",
        "kind": "storage",
        "state": "hardware_error",
        "details": {"reason": "disk_low", "free_mb": 99},
        "action": "maintenance",
    }
    disk.free = 101 * MB
    assert g.check().in_service


def test_failed_write_holds_then_clears_once_there_is_room(tmp_path):
    disk = Disk()
    g = guard(tmp_path, disk)
    disk.free = 10 * MB
    g.outbox_failed("full")
    assert g.check().reason == "outbox_full"
    disk.now += g.hold_s + 1
    assert g.check().reason == "outbox_full"  # still no room: stays closed however long it takes
    disk.free = 400 * MB
    assert g.check().in_service


def test_failed_write_with_room_left_waits_out_the_hold(tmp_path):
    disk = Disk()
    g = guard(tmp_path, disk)
    g.outbox_failed("io")
    assert g.check().reason == "outbox_io"
    disk.now += g.hold_s
    assert g.check().in_service


def test_outbox_that_could_not_open_stays_closed(tmp_path):
    disk = Disk()
    g = guard(tmp_path, disk, outbox_error="corrupt")
    disk.now += 10**6
    assert g.check().reason == "outbox_corrupt"


def test_unreadable_disk_counts_as_full(tmp_path):
    def broken() -> int:
        raise OSError("I/O error")

    g = ServiceGuard(StorageConfig(state_dir=tmp_path), free_bytes=broken)
    assert g.free_mb() == 0 and g.check().reason == "disk_low"


# -- devices: out of service while no item can be done ------------------------------------------------


def _items():
    from kiosk.catalog import load_catalog

    return load_catalog().items


def test_a_device_every_item_needs_closes_the_kiosk():
    from kiosk.service import CLOSED_DEVICES, devices_state

    items = _items()
    installed = {"idcard", "face_camera", "printer", "a4_printer", "document_camera"}
    assert all("idcard" in item.devices for item in items)  # the premise: the sample catalog
    assert devices_state(items, {}, installed).in_service
    state = devices_state(items, {"idcard": "no_device"}, installed)
    assert not state.in_service and state.reason == "devices" and state.message == CLOSED_DEVICES


def test_a_device_only_some_items_need_leaves_the_others_open():
    from kiosk.service import devices_state

    items = _items()
    installed = {"idcard", "face_camera", "printer", "a4_printer", "document_camera"}
    assert any("printer" not in item.devices for item in items)  # the certificate prints on A4
    assert devices_state(items, {"printer": "user_error"}, installed).in_service
    both = {"printer": "user_error", "a4_printer": "offline"}  # now nothing can be done
    assert not devices_state(items, both, installed).in_service


def test_the_unplugged_reader_closes_the_terminal_and_its_return_reopens_it(kiosk):
    """The real terminal: the simulated reader's pty goes away, the device manager notices, the
    controller refuses new sessions with the 暂停服务 sentence; replugged, it opens by itself."""
    from kiosk.flow import FlowError
    from kiosk.service import CLOSED_DEVICES

    controller = kiosk.controller
    assert controller.service_state().in_service
    kiosk.sims.idcard.unplug()
    try:
        kiosk.devices.poke("idcard")
        _wait(lambda: controller.service_state().reason == "devices")
        try:
            controller.start(controller.services.catalog.items[0])
        except FlowError as refused:
            assert str(refused) == CLOSED_DEVICES
        else:
            raise AssertionError("a session started with the reader unplugged")
    finally:
        kiosk.sims.idcard.replug()
    kiosk.devices.poke("idcard")
    _wait(lambda: controller.service_state().in_service, timeout_s=20)


def _wait(condition, timeout_s: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
