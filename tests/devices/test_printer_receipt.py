"""The ESC/POS receipt driver against the virtual printer over a real TCP socket and a real pty."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from devices.base import Action, Completion, DeviceError, DeviceState
from devices.printer import (
    QR,
    Cut,
    Feed,
    ReceiptPrinter,
    Rule,
    Text,
    VirtualEscposPrinter,
    build_test_page,
    encode_receipt,
)
from devices.printer.status import interpret

QR_DATA = "https://zwfw.example.gov.cn/receipt?id=SB2024-000123"
RECEIPT = [
    Text("政务服务自助终端", align="center", bold=True, double=True),
    Rule(),
    Text("业务：跨省通办 社保参保证明"),
    Text("姓名：张三  证件号：110101********1234"),
    Text("时间：2024-05-01 10:20:30", align="right"),
    QR(QR_DATA, size=6),
    Text("请妥善保管本凭条", align="center"),
    Feed(1),
    Cut(),
]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[VirtualEscposPrinter]:
    with VirtualEscposPrinter(tmp_path / "renders") as printer:
        yield printer


@pytest.fixture
def url(sim: VirtualEscposPrinter) -> str:
    return f"tcp://127.0.0.1:{sim.start_tcp()}"


def qr_in(png: Path) -> list[str]:
    with Image.open(png) as image:
        return [d.data.decode("utf-8") for d in decode(image)]


def width_of(png: Path) -> int:
    with Image.open(png) as image:
        return image.width


def test_receipt_prints_chinese_text_and_a_scannable_qr(sim: VirtualEscposPrinter, url: str) -> None:
    with ReceiptPrinter(url, timeout_s=2) as printer:
        printer.print_receipt(RECEIPT)
    job = sim.wait_for_job(5)
    assert job.error is None and job.png_path is not None and job.png_path.is_file()
    assert job.png_path.name == "receipt-001.png"
    assert width_of(job.png_path) == 576
    assert qr_in(job.png_path) == [QR_DATA]
    assert job.qr_data == [QR_DATA]
    assert "政务服务自助终端" in job.lines
    assert "业务：跨省通办 社保参保证明" in job.lines
    assert "-" * 48 in job.lines
    # Chinese mode on, then GB18030 bytes on the wire.
    assert b"\x1c\x26" in job.raw
    assert "跨省通办".encode("gb18030") in job.raw


def test_image_mode_qr_still_decodes(sim: VirtualEscposPrinter, url: str) -> None:
    with ReceiptPrinter(url, native_qr=False, timeout_s=2) as printer:
        printer.print_receipt(RECEIPT)
    job = sim.wait_for_job(5)
    assert job.qr_data == []  # it travelled as a raster image
    assert job.png_path is not None and qr_in(job.png_path) == [QR_DATA]


def test_native_qr_job_is_much_smaller_than_image_qr() -> None:
    native = encode_receipt(RECEIPT, native_qr=True)
    image = encode_receipt(RECEIPT, native_qr=False)
    assert len(image) / len(native) > 5


@pytest.mark.parametrize(
    ("paper", "cover_open", "state", "action"),
    [
        ("full", False, DeviceState.ONLINE, None),
        ("low", False, DeviceState.ONLINE, Action.CLEAR),
        ("out", False, DeviceState.USER_ERROR, Action.CLEAR),
        ("full", True, DeviceState.USER_ERROR, Action.CLEAR),
    ],
)
def test_status_reflects_the_printer(
    sim: VirtualEscposPrinter,
    url: str,
    paper: str,
    cover_open: bool,
    state: DeviceState,
    action: Action | None,
) -> None:
    sim.paper = paper  # type: ignore[assignment]
    sim.cover_open = cover_open
    with ReceiptPrinter(url, timeout_s=2, name="printer-1") as printer:
        status = printer.status()
    assert status.kind == "receipt_printer" and status.name == "printer-1"
    assert status.state == state
    assert status.details["paper"] == paper
    assert status.details["cover_open"] is cover_open
    assert status.action == action


def test_silent_printer_is_offline_with_paper_unknown(sim: VirtualEscposPrinter, url: str) -> None:
    sim.silent = True
    with ReceiptPrinter(url, timeout_s=0.3) as printer:
        status = printer.status()
    assert status.state == DeviceState.OFFLINE
    assert status.details["paper"] == "unknown"
    assert status.details["cover_open"] is None


def test_silent_printer_refuses_to_print(sim: VirtualEscposPrinter, url: str) -> None:
    sim.silent = True
    with ReceiptPrinter(url, timeout_s=0.3) as printer, pytest.raises(DeviceError) as err:
        printer.print_receipt(RECEIPT)
    assert err.value.completion == Completion.DEVICE_NOT_READY
    assert err.value.action == Action.MAINTENANCE


@pytest.mark.parametrize(("paper", "cover_open"), [("out", False), ("full", True)])
def test_refuses_with_paper_out_or_cover_open(
    sim: VirtualEscposPrinter, url: str, paper: str, cover_open: bool
) -> None:
    sim.paper = paper  # type: ignore[assignment]
    sim.cover_open = cover_open
    with ReceiptPrinter(url, timeout_s=2) as printer, pytest.raises(DeviceError) as err:
        printer.print_receipt(RECEIPT)
    assert err.value.completion == Completion.DEVICE_NOT_READY
    assert err.value.action == Action.CLEAR
    assert err.value.message.endswith("请联系工作人员。")
    with pytest.raises(TimeoutError):
        sim.wait_for_job(0.2)  # nothing was sent


def test_paper_out_message(sim: VirtualEscposPrinter, url: str) -> None:
    sim.paper = "out"
    with ReceiptPrinter(url, timeout_s=2) as printer, pytest.raises(DeviceError) as err:
        printer.print_receipt(RECEIPT)
    assert err.value.message == "打印机缺纸，请联系工作人员。"


def test_hardware_fault_needs_maintenance(sim: VirtualEscposPrinter, url: str) -> None:
    sim.error = "cutter"
    with ReceiptPrinter(url, timeout_s=2) as printer:
        status = printer.status()
        assert status.state == DeviceState.HARDWARE_ERROR
        assert status.details["error"] == "cutter"
        assert status.action == Action.MAINTENANCE
        with pytest.raises(DeviceError) as err:
            printer.print_receipt(RECEIPT)
    assert err.value.completion == Completion.HARDWARE_ERROR
    assert err.value.action == Action.MAINTENANCE


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_printer_not_listening_gives_device_error() -> None:
    printer = ReceiptPrinter(f"tcp://127.0.0.1:{closed_port()}", timeout_s=1)
    with pytest.raises(DeviceError) as err:
        printer.print_receipt(RECEIPT)
    assert not isinstance(err.value, OSError)
    assert err.value.completion == Completion.DEVICE_NOT_READY
    assert err.value.action == Action.MAINTENANCE
    assert isinstance(err.value.__cause__, Exception)  # the raw error is kept for the log only
    with pytest.raises(DeviceError):
        printer.open()
    status = printer.status()
    assert status.state == DeviceState.OFFLINE
    assert status.details["paper"] == "unknown"


def test_printer_going_away_gives_device_error(tmp_path: Path) -> None:
    sim = VirtualEscposPrinter(tmp_path)
    url = f"tcp://127.0.0.1:{sim.start_tcp()}"
    with ReceiptPrinter(url, timeout_s=1) as printer:
        printer.print_receipt(RECEIPT)
        sim.stop()
        with pytest.raises(DeviceError):
            printer.print_receipt(RECEIPT)
        assert printer.status().state == DeviceState.OFFLINE


def test_reconnects_after_the_printer_returns(sim: VirtualEscposPrinter, url: str) -> None:
    with ReceiptPrinter(url, timeout_s=1) as printer:
        printer.print_receipt(RECEIPT)
        printer.close()
        printer.print_receipt(RECEIPT)
    assert [j.png_path.name for j in (sim.wait_for_job(5), sim.wait_for_job(5)) if j.png_path] == [
        "receipt-001.png",
        "receipt-002.png",
    ]


def test_serial_over_pty(sim: VirtualEscposPrinter) -> None:
    path = sim.start_pty()
    with ReceiptPrinter(f"serial://{path}?baud=19200", timeout_s=1) as printer:
        sim.paper = "low"
        assert printer.status().details["paper"] == "low"
        printer.print_receipt(RECEIPT)
    job = sim.wait_for_job(5)
    assert job.png_path is not None and qr_in(job.png_path) == [QR_DATA]
    assert "请妥善保管本凭条" in job.lines


def test_plain_device_path_is_serial(sim: VirtualEscposPrinter) -> None:
    with ReceiptPrinter(sim.start_pty(), timeout_s=1) as printer:
        assert printer.status().state == DeviceState.ONLINE


def test_file_transport_writes_the_job_and_cannot_read_status(tmp_path: Path) -> None:
    target = tmp_path / "lp0"
    with ReceiptPrinter(f"file://{target}") as printer:
        status = printer.status()
        printer.print_receipt(RECEIPT)
    assert status.state == DeviceState.ONLINE and status.details["paper"] is None
    assert target.read_bytes() == encode_receipt(RECEIPT)


@pytest.mark.parametrize("bad", ["usb://printer", "cups://receipt", "tcp://host:notaport", "lp0"])
def test_unsupported_or_bad_urls(bad: str) -> None:
    with pytest.raises(DeviceError) as err:
        ReceiptPrinter(bad)
    assert err.value.completion in (Completion.UNSUPPORTED, Completion.INVALID_DATA)


def test_unsupported_paper_width() -> None:
    with pytest.raises(DeviceError) as err:
        ReceiptPrinter("tcp://127.0.0.1:9100", paper_mm=76)
    assert err.value.completion == Completion.UNSUPPORTED


def test_bad_element_is_rejected_before_anything_is_sent(sim: VirtualEscposPrinter, url: str) -> None:
    with ReceiptPrinter(url, timeout_s=1) as printer, pytest.raises(DeviceError) as err:
        printer.print_receipt([Text("x"), QR("data", size=40)])
    assert err.value.completion == Completion.INVALID_DATA
    with pytest.raises(TimeoutError):
        sim.wait_for_job(0.2)


def test_control_characters_in_text_cannot_inject_commands() -> None:
    job = encode_receipt([Text("张三\x1b@\x1dV\x00"), Cut()])
    assert "张三 @ V \n".encode("gb18030") in job


def test_cut_is_added_when_missing(sim: VirtualEscposPrinter, url: str) -> None:
    with ReceiptPrinter(url, timeout_s=1) as printer:
        printer.print_receipt([Text("无切纸指令的凭条")])
    assert sim.wait_for_job(5).lines == ["无切纸指令的凭条"]


def test_test_page(sim: VirtualEscposPrinter, url: str) -> None:
    with ReceiptPrinter(url, timeout_s=1) as printer:
        printer.print_test_page("KIOSK-0042")
    job = sim.wait_for_job(5)
    assert "终端编号：KIOSK-0042" in job.lines
    assert any("测试" in line for line in job.lines)
    assert job.png_path is not None and qr_in(job.png_path)[0].startswith("kiosk-test:KIOSK-0042:")
    page = build_test_page("T1", datetime(2024, 5, 1, 8, 0), 58, native_qr=True)
    assert isinstance(page[-1], Cut)


def test_58mm_receipt(tmp_path: Path) -> None:
    with VirtualEscposPrinter(tmp_path, paper_mm=58) as sim:
        url = f"tcp://127.0.0.1:{sim.start_tcp()}"
        with ReceiptPrinter(url, paper_mm=58, timeout_s=1) as printer:
            printer.print_receipt(RECEIPT)
        job = sim.wait_for_job(5)
    assert job.png_path is not None and width_of(job.png_path) == 384
    assert "-" * 32 in job.lines
    assert qr_in(job.png_path) == [QR_DATA]


def test_receipt_contents_never_reach_the_log(
    sim: VirtualEscposPrinter, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with ReceiptPrinter(url, timeout_s=1) as printer:
        printer.print_receipt(RECEIPT)
    sim.wait_for_job(5)
    assert "张三" not in caplog.text and "SB2024" not in caplog.text


def test_garbled_status_is_not_taken_for_ok() -> None:
    reading = interpret([0x12, 0x12, 0xFF, 0x12])
    assert reading.state == DeviceState.HARDWARE_ERROR
    assert reading.details["paper"] == "unknown"


def test_image_text_fallback_without_a_chinese_font(sim: VirtualEscposPrinter, url: str) -> None:
    """chinese_mode=False: lines with Chinese go out as GS v 0 raster images, never as GB18030."""
    with ReceiptPrinter(url, chinese_mode=False) as printer:
        printer.print_receipt(RECEIPT)
    job = sim.wait_for_job(5)
    assert job.error is None and job.png_path is not None
    for chinese in ("政务服务自助终端", "跨省通办", "张三", "请妥善保管本凭条"):
        assert chinese.encode("gb18030") not in job.raw
        assert not any(chinese in line for line in job.lines)
    assert job.raw.startswith(b"\x1b@\x1c.")  # Chinese mode switched off
    assert job.raw.count(b"\x1dv0") >= 5  # one image per Chinese line
    assert "-" * 48 in job.lines  # ASCII-only lines stay text
    assert qr_in(job.png_path) == [QR_DATA]
    with Image.open(job.png_path) as png:
        image = png.convert("L")
    assert image.width == 576
    # The centred, double-size title image leaves the left margin blank and inks the middle.
    title = image.crop((0, 0, 576, 70))
    assert title.crop((0, 0, 90, 70)).getextrema()[0] == 255
    assert title.crop((200, 0, 376, 70)).getextrema()[0] == 0


def test_image_text_wraps_long_lines_and_58mm() -> None:
    from devices.printer.raster import render_line

    image = render_line("很长的一行中文" * 6, 384)
    assert image.width == 384 and image.height == 30 * 3
    assert render_line("标题", 384, double=True).height == 60


def test_image_text_without_a_cjk_font_is_a_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from devices.printer import raster

    def no_font() -> tuple[str, int]:
        raise RuntimeError("no CJK font found")

    raster._font.cache_clear()
    monkeypatch.setattr(raster, "find_cjk_font_face", no_font)
    try:
        with pytest.raises(DeviceError) as err:
            encode_receipt([Text("中文")], chinese_mode=False)
        assert err.value.completion == Completion.UNSUPPORTED
        assert encode_receipt([Text("ASCII only")], chinese_mode=False)  # needs no font
    finally:
        raster._font.cache_clear()
