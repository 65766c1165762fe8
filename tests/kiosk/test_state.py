"""The state DB: device status snapshots and counters, persistent across reopen, fed by the manager."""

from __future__ import annotations

import time
from pathlib import Path

from devices.base import Action, DeviceState, DeviceStatus
from devices.manager import DeviceManager
from kiosk.state import StateDB, attach


class Flaky:
    def __init__(self) -> None:
        self.state = DeviceState.ONLINE

    def status(self) -> DeviceStatus:
        return DeviceStatus("printer", "receipt_printer", self.state, {"paper": "full"})

    def close(self) -> None:
        pass


def test_status_round_trip_and_changed_at(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        db.record_status(DeviceStatus("printer", "receipt_printer", DeviceState.ONLINE, {"paper": "full"}))
        first = db.statuses()[0]
        time.sleep(0.01)
        db.record_status(DeviceStatus("printer", "receipt_printer", DeviceState.ONLINE, {"paper": "full"}))
        same = db.statuses()[0]
        assert same["changed_at"] == first["changed_at"]
        assert same["updated_at"] > first["updated_at"]
        time.sleep(0.01)
        db.record_status(
            DeviceStatus("printer", "receipt_printer", DeviceState.USER_ERROR, {"paper": "out"}, Action.CLEAR)
        )
        db.record_status(DeviceStatus("idcard", "idcard_reader", DeviceState.ONLINE, {"card_present": None}))
    with StateDB(path) as db:
        rows = db.statuses()
    assert [r["name"] for r in rows] == ["idcard", "printer"]
    printer = rows[1]
    assert printer["state"] == "user_error"
    assert printer["details"] == {"paper": "out"}
    assert printer["action"] == "clear"
    assert printer["changed_at"] > first["changed_at"]
    assert rows[0]["details"] == {"card_present": None}


def test_counters_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with StateDB(path) as db:
        assert db.counters("printer") == {}
        assert db.bump("printer", "prints") == 1
        db.bump("printer", "cuts", 2)
        db.bump("idcard", "reads")
    with StateDB(path) as db:
        assert db.bump("printer", "prints") == 2
        assert db.counters("printer") == {"cuts": 2, "prints": 2}
        assert db.counters("idcard") == {"reads": 1}


def test_shares_the_file_with_the_outbox(tmp_path: Path) -> None:
    from kiosk.outbox import Outbox, load_or_create_key

    path = tmp_path / "state.db"
    outbox = Outbox(path, load_or_create_key(tmp_path / "outbox.key"))
    try:
        with StateDB(path) as db:
            db.bump("printer", "prints")
            assert db.counters("printer") == {"prints": 1}
    finally:
        outbox.close()


def test_attach_records_changes_and_counts_errors(tmp_path: Path) -> None:
    driver = Flaky()
    with StateDB(tmp_path / "state.db") as db:
        manager = DeviceManager({"printer": lambda: driver}, poll_interval_s=0.05, backoff=(0.05, 0.1))
        attach(manager, db)
        with manager:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not db.statuses():
                time.sleep(0.02)
            assert db.statuses()[0]["state"] == "online"
            driver.state = DeviceState.HARDWARE_ERROR
            while time.monotonic() < deadline and db.statuses()[0]["state"] != "hardware_error":
                time.sleep(0.02)
        assert db.statuses()[0]["state"] == "hardware_error"
        assert db.counters("printer") == {"errors": 1}


def test_commands_are_recorded_once_and_acked_and_flags_persist(tmp_path):
    from kiosk.state import StateDB

    with StateDB(tmp_path / "state.db") as db:
        assert db.command_result("c1") is None
        db.record_command("c1", "out_of_service", "done")
        db.record_command("c1", "out_of_service", "failed", "second time must not overwrite")
        assert db.command_result("c1") == "done"
        assert [c["command_id"] for c in db.unacked_commands()] == ["c1"]
        db.mark_acked("c1")
        assert db.unacked_commands() == []
        db.set_flag("in_service", "false")
    with StateDB(tmp_path / "state.db") as db:
        assert db.flag("in_service") == "false" and db.flag("missing", "x") == "x"
