"""Paper running out in the middle of a job, seen through the receipt driver over TCP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_printer_receipt import QR_DATA, RECEIPT

from devices.base import Action, Completion, DeviceError, DeviceState
from devices.printer import ReceiptPrinter, Text, VirtualEscposPrinter


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[VirtualEscposPrinter]:
    with VirtualEscposPrinter(tmp_path / "renders") as printer:
        yield printer


@pytest.fixture
def url(sim: VirtualEscposPrinter) -> str:
    return f"tcp://127.0.0.1:{sim.start_tcp()}"


def test_paper_runs_out_mid_job_then_refuses_until_refilled(sim: VirtualEscposPrinter, url: str) -> None:
    sim.paper_out_after_lines = 3
    with ReceiptPrinter(url, timeout_s=2) as printer:
        printer.print_receipt(RECEIPT)  # the printer took the job: the driver cannot know yet
        job = sim.wait_for_job(5)
        assert job.error == "paper_out" and job.png_path is None
        assert job.lines == ["政务服务自助终端", "-" * 48, "业务：跨省通办 社保参保证明"]
        assert job.qr_data == []  # the QR came after the paper ran out
        assert sim.paper == "out" and sim.paper_out_after_lines is None
        assert sim.errors == ["paper_out"]
        assert not list(sim.render_dir.glob("*.png"))

        status = printer.status()
        assert status.state is DeviceState.USER_ERROR
        assert status.details["paper"] == "out"
        assert status.action is Action.CLEAR

        with pytest.raises(DeviceError) as err:
            printer.print_receipt(RECEIPT)
        assert err.value.completion is Completion.DEVICE_NOT_READY
        assert err.value.action is Action.CLEAR
        assert err.value.message == "打印机缺纸，请联系工作人员。"
        with pytest.raises(TimeoutError):
            sim.wait_for_job(0.2)  # nothing was sent

        sim.paper = "full"  # staff put in a new roll
        assert printer.status().state is DeviceState.ONLINE
        printer.print_receipt(RECEIPT)
        job = sim.wait_for_job(5)
        assert job.error is None and job.png_path is not None and job.png_path.is_file()
        assert job.qr_data == [QR_DATA] and "请妥善保管本凭条" in job.lines


def test_a_job_that_fits_is_printed_and_the_limit_stays(sim: VirtualEscposPrinter, url: str) -> None:
    sim.paper_out_after_lines = 2
    with ReceiptPrinter(url, timeout_s=2) as printer:
        printer.print_receipt([Text("第一行"), Text("第二行")])
        job = sim.wait_for_job(5)
        assert job.error is None and job.png_path is not None
        assert sim.paper == "full" and sim.paper_out_after_lines == 2  # the limit counts per job
        assert printer.status().state is DeviceState.ONLINE


def test_status_is_paper_out_as_soon_as_it_runs_out(sim: VirtualEscposPrinter) -> None:
    """DLE EOT answers paper out mid-stream, before the job's cut has even arrived."""
    sim.paper_out_after_lines = 1
    with socket.create_connection(("127.0.0.1", sim.start_tcp()), timeout=2) as conn:
        conn.sendall(b"\x1b@one\ntwo\nthree\n\x10\x04\x04")
        assert conn.recv(16) == bytes([0x12 | 0x0C | 0x60])  # paper near end and out
        conn.sendall(b"four\n\x1dV\x00")
        job = sim.wait_for_job(5)
    assert job.error == "paper_out" and job.lines == ["one"] and job.png_path is None
