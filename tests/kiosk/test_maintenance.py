"""Maintenance mode without Kivy: the technician PIN (scrypt, lockout that survives a restart), the
hidden gesture's counter, the log buffer, and every action against the simulated terminal (`kiosk`
fixture: simulated devices on real transports, the platform simulator over HTTP)."""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from kiosk.maintenance import RecentLogs, TapCounter, fault_action
from kiosk.maintenance_pin import (
    LOCK_FLAG,
    LOCKOUT_S,
    MAX_FAILURES,
    PinError,
    PinGuard,
    check_pin_rules,
    hash_pin,
    pin_path,
    verify_hash,
    write_pin_file,
)
from kiosk.state import StateDB

PIN = "284913"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# -- the PIN ------------------------------------------------------------------------------------------
def test_hash_is_salted_scrypt_and_verifies_only_the_right_pin() -> None:
    stored = hash_pin(PIN)
    assert stored.startswith("scrypt$16384$8$1$") and PIN not in stored
    assert hash_pin(PIN) != stored  # a fresh salt each time
    assert verify_hash(PIN, stored)
    assert not verify_hash("284914", stored)
    assert not verify_hash(PIN, stored.replace("scrypt", "plain"))
    assert not verify_hash(PIN, "garbage")


@pytest.mark.parametrize(
    "pin", ["12345", "1234567890123", "111111", "123456", "987654", "12a456", "１２３４５６"]
)
def test_weak_or_malformed_pins_are_refused(pin: str) -> None:
    with pytest.raises(PinError):
        check_pin_rules(pin)


def test_pin_file_is_0640_and_holds_only_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "maintenance_pin"
    write_pin_file(path, PIN)
    assert path.stat().st_mode & 0o777 == 0o640
    text = path.read_text()
    assert PIN not in text and verify_hash(PIN, text)


@pytest.fixture
def guard_parts(tmp_path: Path):
    pin_file = tmp_path / "maintenance_pin"
    write_pin_file(pin_file, PIN)
    db_path = tmp_path / "state.db"
    return pin_file, db_path


def test_five_failures_lock_for_15_minutes_even_across_a_restart(guard_parts) -> None:
    pin_file, db_path = guard_parts
    clock = Clock()
    with StateDB(db_path) as state:
        guard = PinGuard(pin_file, state, clock=clock)
        for left in range(MAX_FAILURES - 1, 0, -1):
            check = guard.verify("000000")
            assert not check.ok and check.tries_left == left and check.locked_for_s == 0
            assert f"还可尝试 {left} 次" in check.message
        locked = guard.verify("000000")
        assert not locked.ok and locked.locked_for_s == LOCKOUT_S and "锁定" in locked.message
        clock.now += 60
        assert not guard.verify(PIN).ok  # the right PIN does not open a locked guard
    with StateDB(db_path) as state:  # the kiosk restarted: still locked
        guard = PinGuard(pin_file, state, clock=clock)
        check = guard.verify(PIN)
        assert not check.ok and check.locked_for_s == LOCKOUT_S - 60
        assert guard.locked_for() == LOCKOUT_S - 60
        clock.now += LOCKOUT_S - 60
        assert guard.locked_for() == 0
        assert guard.verify(PIN).ok
        assert guard.status()["failures"] == 0


def test_a_served_lock_gives_five_fresh_tries_and_success_resets_the_count(guard_parts) -> None:
    pin_file, db_path = guard_parts
    clock = Clock()
    with StateDB(db_path) as state:
        guard = PinGuard(pin_file, state, clock=clock)
        for _ in range(MAX_FAILURES - 1):
            guard.verify("000000")
        assert guard.verify(PIN).ok
        for _ in range(MAX_FAILURES - 1):
            assert guard.verify("000000").locked_for_s == 0  # counting started over
        assert guard.verify("000000").locked_for_s == LOCKOUT_S
        clock.now += LOCKOUT_S + 1
        assert guard.verify("000000").tries_left == MAX_FAILURES - 1


def test_a_clock_set_back_never_locks_longer_than_15_minutes(guard_parts) -> None:
    pin_file, db_path = guard_parts
    clock = Clock()
    with StateDB(db_path) as state:
        guard = PinGuard(pin_file, state, clock=clock)
        for _ in range(MAX_FAILURES):
            guard.verify("000000")
        clock.now -= 86_400  # the clock jumped a day back
        assert guard.verify(PIN).locked_for_s == LOCKOUT_S
        clock.now += LOCKOUT_S
        assert guard.verify(PIN).ok


def test_a_damaged_lock_record_locks_rather_than_opens(guard_parts) -> None:
    pin_file, db_path = guard_parts
    with StateDB(db_path) as state:
        state.set_flag(LOCK_FLAG, "{not json")
        assert PinGuard(pin_file, state, clock=Clock()).verify(PIN).locked_for_s > 0


def test_no_pin_set_opens_nothing(tmp_path: Path) -> None:
    with StateDB(tmp_path / "state.db") as state:
        check = PinGuard(tmp_path / "missing", state).verify(PIN)
    assert not check.ok and check.no_pin and "set-pin" in check.message


def test_the_pin_never_reaches_the_log(guard_parts, caplog: pytest.LogCaptureFixture) -> None:
    pin_file, db_path = guard_parts
    caplog.set_level(logging.DEBUG)
    with StateDB(db_path) as state:
        guard = PinGuard(pin_file, state, clock=Clock())
        guard.verify("555123")
        guard.verify(PIN)
    assert caplog.records and "555123" not in caplog.text and PIN not in caplog.text


# -- gesture, logs, fault words -----------------------------------------------------------------------
def test_five_taps_within_three_seconds_open_it() -> None:
    clock = Clock(0.0)
    taps = TapCounter(clock=clock)
    for _ in range(4):
        assert not taps.tap()
        clock.now += 0.5
    assert taps.tap()
    assert not taps.tap()  # counting starts over
    slow = TapCounter(clock=clock)
    results = []
    for _ in range(6):
        clock.now += 0.9  # five taps take 3.6 s
        results.append(slow.tap())
    assert not any(results)


def test_recent_logs_are_redacted_and_bounded() -> None:
    logs = RecentLogs(capacity=3)
    logger = logging.getLogger("kiosk.test_maintenance_logs")
    logger.addHandler(logs)
    logger.setLevel(logging.INFO)
    try:
        logger.info("card of %s phone %s", "41150219580312003X", "13800138000")
        for n in range(3):
            logger.info("line %d", n)
    finally:
        logger.removeHandler(logs)
    lines = logs.lines()
    assert len(lines) == 3 and lines[-1].endswith("line 2")
    logs2 = RecentLogs()
    logger.addHandler(logs2)
    try:
        logger.warning("card of %s phone %s", "41150219580312003X", "13800138000")
    finally:
        logger.removeHandler(logs2)
    (line,) = logs2.lines()
    assert "[id-number]" in line and "[phone]" in line and "41150219580312003X" not in line
    assert "13800138000" not in line and " WARN " in line


def test_fault_words_name_who_acts() -> None:
    assert fault_action("online", None, {"paper": "full"}) == ""
    assert "更换纸卷" in fault_action("user_error", "clear", {"paper": "out", "cover_open": False})
    assert "机盖" in fault_action("user_error", "clear", {"paper": "full", "cover_open": True})
    assert "插拔" in fault_action("offline", "maintenance", {"error": "link_failed"})
    assert "自动恢复" in fault_action("busy", "auto", {})
    assert "检修" in fault_action("hardware_error", "maintenance", {"error": "cutter"})


# -- the actions on a simulated terminal ---------------------------------------------------------------
@pytest.fixture
def maint(kiosk):
    from kiosk.maintenance import Maintenance

    return Maintenance(kiosk.controller.services)


def test_device_list_shows_every_device_with_counters(kiosk, maint) -> None:
    assert maint.manager is kiosk.devices  # found behind the Services' managed devices
    wait_for(lambda: all(r.state == "online" for r in maint.devices()))
    rows = {r.name: r for r in maint.devices()}
    assert list(rows) == list(kiosk.controller.services.config.devices)  # every configured device, in order
    assert {"idcard", "face_camera", "printer"} <= set(rows)
    assert rows["idcard"].label == "身份证阅读器" and rows["idcard"].ok and rows["idcard"].what_to_do == ""
    assert maint.print_test_page().ok
    wait_for(lambda: {r.name: r for r in maint.devices()}["printer"].counters.get("prints") == 1)
    assert "打印 1" in {r.name: r for r in maint.devices()}["printer"].counters_text


def test_self_test_of_the_id_card_reader_reads_the_sam_id(kiosk, maint) -> None:
    result = maint.self_test("idcard")
    assert result.ok and result.title == "身份证阅读器自检通过"
    assert result.data["details"]["sam_id"]
    for name in ("face_camera", "scanner"):
        assert maint.self_test(name).ok, name


def test_self_test_of_an_unplugged_reader_fails_and_says_what_to_do(kiosk, maint) -> None:
    kiosk.sims.idcard.unplug()
    try:
        kiosk.devices.poke("idcard")
        result = maint.self_test("idcard")
        assert not result.ok and result.title == "身份证阅读器自检失败"
        wait_for(lambda: {r.name: r for r in maint.devices()}["idcard"].state != "online")
        row = {r.name: r for r in maint.devices()}["idcard"]
        assert not row.ok and row.what_to_do
    finally:
        kiosk.sims.idcard.replug()
    wait_for(lambda: maint.self_test("idcard").ok, timeout_s=20)


def test_test_page_reaches_the_printer_with_the_terminal_id(kiosk, maint) -> None:
    result = maint.print_test_page()
    assert result.ok
    job = kiosk.sims.printer.wait_for_job(5)
    assert any("打印机测试页" in line for line in job.lines)
    assert any("T4115020001" in line for line in job.lines)
    assert job.png_path is not None and job.png_path.exists()


def test_paper_out_is_shown_as_hall_staff_work_and_refuses_the_test_page(kiosk, maint) -> None:
    kiosk.sims.printer.paper = "out"
    kiosk.devices.poke("printer")
    wait_for(lambda: {r.name: r for r in maint.devices()}["printer"].action == "clear")
    row = {r.name: r for r in maint.devices()}["printer"]
    assert not row.ok and "更换纸卷" in row.what_to_do and row.state_label == "需处理"
    result = maint.print_test_page()
    assert not result.ok and result.title == "测试页未打印"
    printer_test = maint.self_test("printer")
    assert not printer_test.ok and any("更换纸卷" in line for line in printer_test.lines)
    kiosk.sims.printer.paper = "full"


def test_platform_check_sends_one_signed_heartbeat(kiosk, maint) -> None:
    result = maint.platform_check()
    assert result.ok, result.text
    assert any("签名心跳：已接受" in line for line in result.lines)
    fleet = requests.get(kiosk.server.base_url + "/ops/terminals", timeout=5).json()["terminals"]
    (row,) = [t for t in fleet if t["terminal_id"] == "T4115020001"]
    assert row["last_heartbeat_at"] is not None and row["in_service"] is True  # the agent's full body


def test_platform_check_tells_a_dead_network_from_a_refused_signature(kiosk, maint) -> None:
    from kiosk.maintenance import Maintenance
    from kiosk.platform.client import PlatformClient

    services = kiosk.controller.services
    config = services.config
    dead = config.model_copy(
        update={"platform": config.platform.model_copy(update={"base_url": "http://127.0.0.1:1"})}
    )
    unreachable = PlatformClient("http://127.0.0.1:1", config.platform.terminal_id, "00" * 32)
    try:
        offline = dataclasses.replace(services, config=dead, platform=unreachable)
        result = Maintenance(offline).platform_check()
    finally:
        unreachable.close()
    assert not result.ok and result.title == "网络不通"
    assert any("连接失败：127.0.0.1:1" in line for line in result.lines) and result.data["code"] == -1
    forged = PlatformClient(config.platform.base_url, config.platform.terminal_id, "00" * 32)
    try:
        refused = Maintenance(dataclasses.replace(services, platform=forged)).platform_check()
    finally:
        forged.close()
    assert not refused.ok and refused.title == "平台检查未通过"
    assert refused.data["code"] == 40101 and any("签名被拒" in line for line in refused.lines)


def test_out_of_service_and_back(kiosk, maint) -> None:
    assert maint.service_state().in_service
    state = maint.set_in_service(False)
    assert not state.in_service and state.reason == "remote"
    assert not kiosk.controller.service_state().in_service  # the citizen side sees it too
    assert maint.set_in_service(True).in_service
    assert kiosk.controller.service_state().in_service


def test_pin_file_defaults_to_the_state_secrets(kiosk) -> None:
    config = kiosk.controller.services.config
    assert pin_path(config) == config.storage.state_dir / "secrets" / "maintenance_pin"


# -- the CLI ---------------------------------------------------------------------------------------
def _config_file(tmp_path: Path) -> Path:
    from terminal_toml import write_terminal_toml

    return write_terminal_toml(
        tmp_path, base_url="http://127.0.0.1:1", secret_file=tmp_path / "secret", detector_model="x.onnx"
    )


def test_set_pin_reads_it_twice_from_stdin_and_stores_only_the_hash(tmp_path, monkeypatch, capsys) -> None:
    from kiosk.cli import main

    config = _config_file(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PIN}\n{PIN}\n"))
    assert main(["maintenance", "set-pin", "--config", str(config)]) == 0
    stored = (tmp_path / "state" / "secrets" / "maintenance_pin").read_text()
    assert verify_hash(PIN, stored) and PIN not in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PIN}\n{PIN[::-1]}\n"))
    assert main(["maintenance", "set-pin", "--config", str(config)]) == 2
    assert "differ" in capsys.readouterr().err
    assert (tmp_path / "state" / "secrets" / "maintenance_pin").read_text() == stored
    monkeypatch.setattr("sys.stdin", io.StringIO("123456\n123456\n"))
    assert main(["maintenance", "set-pin", "--config", str(config)]) == 2


def test_set_pin_from_a_file_and_status(tmp_path, capsys) -> None:
    import json

    from kiosk.cli import main

    config = _config_file(tmp_path)
    pin_file = tmp_path / "pin.txt"
    pin_file.write_text("730519\n")
    assert main(["maintenance", "set-pin", "--config", str(config), "--pin-file", str(pin_file)]) == 0
    capsys.readouterr()
    assert main(["maintenance", "status", "--config", str(config), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["pin_set"] and status["locked_for_s"] == 0 and status["failures"] == 0


def test_the_pin_is_never_an_argument() -> None:
    from kiosk.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["maintenance", "set-pin", "--pin", PIN])
