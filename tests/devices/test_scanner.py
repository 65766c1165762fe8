"""devices.scanner: the serial scanner against its pty simulator, the keyboard-wedge driver on a FIFO."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devices.base import Completion, DeviceError, DeviceState, HealthLevel
from devices.scanner import (
    INPUT_EVENT,
    KEY_CAPSLOCK,
    KEY_ENTER,
    KEY_LEFTSHIFT,
    HidScanner,
    HidScannerSimulator,
    ScannerSimulator,
    SerialScanner,
    key_events,
    open_scanner,
)

RECEIPT = b"kiosk-receipt:v1?case_no=KS2026112290253950&query_code=111192"
CHINESE = "办件编号：王建国".encode()


@pytest.fixture
def scanner_sim() -> Iterator[ScannerSimulator]:
    with ScannerSimulator(stable_port=True) as simulator:
        yield simulator


@pytest.fixture
def serial_scanner(scanner_sim: ScannerSimulator) -> Iterator[SerialScanner]:
    assert scanner_sim.port is not None
    with SerialScanner(f"serial://{scanner_sim.port}?baud=9600") as scanner:
        yield scanner


# -- serial ---------------------------------------------------------------------------------------


def test_serial_reads_codes(scanner_sim: ScannerSimulator, serial_scanner: SerialScanner) -> None:
    scanner_sim.scan(RECEIPT)
    scanner_sim.scan(CHINESE)
    assert serial_scanner.read_code(2.0) == RECEIPT
    assert serial_scanner.read_code(2.0) == CHINESE  # bytes as sent; kiosk.qr decodes them
    assert serial_scanner.counters["scans"] == 2
    assert serial_scanner.status().state is DeviceState.ONLINE


def test_serial_nothing_scanned_is_none(serial_scanner: SerialScanner) -> None:
    assert serial_scanner.read_code(0.1) is None
    assert serial_scanner.counters["errors"] == 0


@pytest.mark.parametrize("terminator", [b"\r", b"\n", b"\r\n"])
def test_serial_terminators(
    scanner_sim: ScannerSimulator, serial_scanner: SerialScanner, terminator: bytes
) -> None:
    scanner_sim.write_raw(b"YSB-QR:DEMO-WANGJG-0001" + terminator + b"YSB-QR:DEMO-LIXL-0002" + terminator)
    assert serial_scanner.read_code(2.0) == b"YSB-QR:DEMO-WANGJG-0001"
    assert serial_scanner.read_code(2.0) == b"YSB-QR:DEMO-LIXL-0002"
    assert serial_scanner.read_code(0.05) is None


def test_serial_split_writes(scanner_sim: ScannerSimulator, serial_scanner: SerialScanner) -> None:
    scanner_sim.scan(RECEIPT, chunks=7, gap_s=0.01)
    assert serial_scanner.read_code(2.0) == RECEIPT


def test_serial_partial_line_survives_a_read_timeout(
    scanner_sim: ScannerSimulator, serial_scanner: SerialScanner
) -> None:
    scanner_sim.write_raw(RECEIPT[:20])
    assert serial_scanner.read_code(0.05) is None  # not complete yet
    scanner_sim.write_raw(RECEIPT[20:] + b"\r\n")
    assert serial_scanner.read_code(2.0) == RECEIPT


def test_serial_garbage_is_returned_raw_for_the_caller_to_refuse(
    scanner_sim: ScannerSimulator, serial_scanner: SerialScanner
) -> None:
    scanner_sim.write_raw(b"\x00\xff\x1b[2J\r\n")
    scanner_sim.scan(RECEIPT)
    assert serial_scanner.read_code(2.0) == b"\x00\xff\x1b[2J"
    assert serial_scanner.read_code(2.0) == RECEIPT


def test_serial_overlong_code_is_dropped(scanner_sim: ScannerSimulator) -> None:
    assert scanner_sim.port is not None
    with SerialScanner(scanner_sim.port, max_line=256) as scanner:
        writer = threading.Thread(target=scanner_sim.scan, args=(b"A" * 10_240,))
        writer.start()
        with pytest.raises(DeviceError) as info:
            for _ in range(50):  # the code arrives over a few reads; the refusal comes at its 257th byte
                scanner.read_code(0.2)
        writer.join()
        assert info.value.completion is Completion.INVALID_DATA and info.value.message
        scanner_sim.scan(RECEIPT)
        assert scanner.read_code(2.0) == RECEIPT  # the rest of the long code is skipped
        assert scanner.counters["errors"] == 0 and scanner.counters["dropped"] == 1


def test_serial_unplug_and_replug(scanner_sim: ScannerSimulator, serial_scanner: SerialScanner) -> None:
    scanner_sim.unplug()
    with pytest.raises(DeviceError) as info:
        serial_scanner.read_code(1.0)
    assert info.value.completion is Completion.DEVICE_NOT_READY
    assert "断开" in info.value.message
    assert serial_scanner.status().state is DeviceState.NO_DEVICE
    with pytest.raises(DeviceError) as again:
        serial_scanner.read_code(0.1)  # still gone: the reopen fails
    assert again.value.completion is Completion.DEVICE_NOT_READY
    scanner_sim.replug()
    assert serial_scanner.read_code(0.05) is None  # reopened by itself
    assert serial_scanner.status().state is DeviceState.ONLINE
    scanner_sim.scan(RECEIPT)
    assert serial_scanner.read_code(2.0) == RECEIPT
    assert serial_scanner.counters["errors"] == 2


def test_serial_lifecycle_and_health(scanner_sim: ScannerSimulator, serial_scanner: SerialScanner) -> None:
    assert serial_scanner.check_health(HealthLevel.EXTERNAL).details["health"] == "ok"
    serial_scanner.disable()
    with pytest.raises(DeviceError) as info:
        serial_scanner.read_code(0.1)
    assert info.value.completion is Completion.SEQUENCE_ERROR
    serial_scanner.enable()
    serial_scanner.close()
    assert serial_scanner.status().state is DeviceState.OFFLINE


def test_serial_missing_port() -> None:
    with pytest.raises(DeviceError) as info:
        SerialScanner("/nonexistent/ttyACM9").open()
    assert info.value.completion is Completion.DEVICE_NOT_READY


def test_serial_logs_no_payload(
    scanner_sim: ScannerSimulator, serial_scanner: SerialScanner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="devices.scanner")
    scanner_sim.scan(RECEIPT)
    assert serial_scanner.read_code(2.0) == RECEIPT
    assert "111192" not in caplog.text and f"{len(RECEIPT)} bytes" in caplog.text


# -- keyboard wedge -------------------------------------------------------------------------------


@pytest.fixture
def hid_sim() -> Iterator[HidScannerSimulator]:
    with HidScannerSimulator() as simulator:
        yield simulator


@pytest.fixture
def hid(hid_sim: HidScannerSimulator) -> Iterator[HidScanner]:
    with HidScanner(hid_sim.url) as scanner:
        yield scanner


def test_hid_types_shifted_characters(hid_sim: HidScannerSimulator, hid: HidScanner) -> None:
    hid_sim.scan(RECEIPT.decode())
    hid_sim.scan("YSB-QR:DEMO-WANGJG-0001")
    hid_sim.scan("!@#$%^&*()_+{}|:\"<>?~ `-=[]\\;',./")
    assert hid.read_code(2.0) == RECEIPT
    assert hid.read_code(2.0) == b"YSB-QR:DEMO-WANGJG-0001"
    assert hid.read_code(2.0) == b"!@#$%^&*()_+{}|:\"<>?~ `-=[]\\;',./"
    assert hid.read_code(0.05) is None
    assert hid.status().state is DeviceState.ONLINE
    assert hid.status().details["grabbed"] is False  # a FIFO cannot be grabbed


def test_hid_split_records_and_caps_lock(hid_sim: HidScannerSimulator, hid: HidScanner) -> None:
    def press(code: int) -> bytes:
        return INPUT_EVENT.pack(0, 0, 1, code, 1) + INPUT_EVENT.pack(0, 0, 1, code, 0)

    data = press(KEY_CAPSLOCK) + key_events("ab", enter=False)
    data += (
        INPUT_EVENT.pack(0, 0, 1, KEY_LEFTSHIFT, 1) + press(30) + INPUT_EVENT.pack(0, 0, 1, KEY_LEFTSHIFT, 0)
    )
    data += press(KEY_CAPSLOCK) + press(30) + press(2) + press(KEY_ENTER)
    for start in range(0, len(data), 17):  # records cut mid-struct
        hid_sim.write_raw(data[start : start + 17])
    assert hid.read_code(2.0) == b"ABaa1"


def test_hid_unmapped_key_poisons_the_code(hid_sim: HidScannerSimulator, hid: HidScanner) -> None:
    hid_sim.write_raw(key_events("A", enter=False) + INPUT_EVENT.pack(0, 0, 1, 59, 1) + key_events("B"))  # F1
    assert hid.read_code(2.0) == b"A\x1aB"  # SUB: kiosk.qr refuses it as a control character


def test_hid_enter_only_is_skipped(hid_sim: HidScannerSimulator, hid: HidScanner) -> None:
    hid_sim.scan("")
    hid_sim.scan("123456")
    assert hid.read_code(2.0) == b"123456"


def test_hid_overlong(hid_sim: HidScannerSimulator) -> None:
    with HidScanner(hid_sim.url, max_line=64) as scanner:
        hid_sim.scan("A" * 100)
        hid_sim.scan("OK123456")
        with pytest.raises(DeviceError) as info:
            scanner.read_code(2.0)
        assert info.value.completion is Completion.INVALID_DATA
        assert scanner.read_code(2.0) == b"OK123456"


def test_hid_unplug_and_replug(hid_sim: HidScannerSimulator, hid: HidScanner) -> None:
    hid_sim.unplug()
    with pytest.raises(DeviceError) as info:
        hid.read_code(1.0)
    assert info.value.completion is Completion.DEVICE_NOT_READY
    assert hid.status().state is DeviceState.NO_DEVICE
    with pytest.raises(DeviceError):
        hid.read_code(0.1)
    hid_sim.replug()
    hid_sim.scan("YSB-QR:DEMO-LIXL-0002")
    assert hid.read_code(2.0) == b"YSB-QR:DEMO-LIXL-0002"
    assert hid.status().state is DeviceState.ONLINE


def test_open_scanner_picks_the_driver(hid_sim: HidScannerSimulator, scanner_sim: ScannerSimulator) -> None:
    assert scanner_sim.port is not None
    hid = open_scanner(hid_sim.url)
    ser = open_scanner(scanner_sim.port)
    try:
        assert isinstance(hid, HidScanner) and isinstance(ser, SerialScanner)
    finally:
        hid.close()
        ser.close()


def test_devices_do_not_import_kiosk() -> None:
    import devices.scanner as module

    source = Path(module.__file__).read_text(encoding="utf-8")
    assert "import kiosk" not in source and "from kiosk" not in source and "kivy" not in source
