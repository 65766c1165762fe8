"""`kiosk provision detect` against the pty simulators: what answers the SAM status command is a reader,
what answers DLE EOT is a printer, a silent port is unknown; the proposal is a loadable `[devices.*]`."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from devices.idcard import SamSimulator
from devices.printer.virtual import VirtualEscposPrinter
from kiosk.cli import main
from provisioning import detect as d


@pytest.fixture
def reader(identities) -> Iterator[SamSimulator]:
    with SamSimulator(identities, pace=False) as sim:
        yield sim


@pytest.fixture
def printer(tmp_path: Path) -> Iterator[tuple[VirtualEscposPrinter, str]]:
    with VirtualEscposPrinter(tmp_path / "render") as sim:
        yield sim, sim.start_pty()


@pytest.fixture
def silent_pty() -> Iterator[str]:
    """A serial port with nothing behind it that answers (like a port with a scanner or nothing)."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_reader_printer_and_silent_port_are_told_apart(reader, printer, silent_pty, tmp_path):
    printer_sim, printer_port = printer
    findings = d.detect(
        [reader.port, printer_port, silent_pty], lister=lambda: [], v4l_dir=tmp_path / "none", bauds=[9600]
    )
    kinds = {f.port: f.kind for f in findings.serial}
    assert kinds == {reader.port: "idcard", printer_port: "printer", silent_pty: "unknown"}
    by_kind = {f.kind: f for f in findings.serial}
    assert by_kind["idcard"].details["sam_ok"] is True
    assert by_kind["printer"].details["paper"] == "full"
    # The reader really got the SAM status command; the printer printed nothing while being probed.
    assert bytes.fromhex("AAAAAA96690003 11FFED".replace(" ", "")) in reader.received
    assert printer_sim.jobs == []
    devices = d.proposed_devices(findings)
    assert devices["idcard"]["url"] == f"serial://{reader.port}?baud=9600"
    assert devices["printer"]["url"] == f"serial://{printer_port}?baud=9600"
    assert set(devices) == {"idcard", "printer"}


def test_a_printer_reporting_paper_out_is_still_a_printer(printer, tmp_path):
    printer_sim, port = printer
    printer_sim.paper = "out"
    [finding] = d.detect_serial([port], lister=lambda: [], bauds=[9600], by_id=tmp_path)
    assert finding.kind == "printer"
    assert finding.details["paper"] == "out"


def test_listed_usb_port_gets_vid_pid_and_its_stable_by_id_name(reader, tmp_path):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    link = by_id / "usb-SAM_Reader_0001-if00-port0"
    link.symlink_to(reader.port)
    listed = SimpleNamespace(
        device=reader.port, vid=0x1A86, pid=0x7523, serial_number="0001", description="SAM"
    )
    [finding] = d.detect_serial(lister=lambda: [listed], bauds=[115200], by_id=by_id)
    assert (finding.kind, finding.vid_pid, finding.serial_number) == ("idcard", "1a86:7523", "0001")
    assert finding.url == f"serial://{link}?baud=115200"  # the proposal names the stable link, not ttyUSBn


def test_cli_prints_json_and_a_proposal_configure_accepts(
    reader, printer, silent_pty, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(d, "list_serial_ports", lambda: [])
    _, printer_port = printer
    argv = ["provision", "detect", "--port", reader.port, "--port", printer_port, "--port", silent_pty]
    argv += ["--baud", "115200", "--v4l-dir", str(tmp_path / "none")]
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [s["kind"] for s in report["serial"]] == ["idcard", "printer", "unknown"]
    assert report["serial"][2]["url"] is None
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "unknown" in text
    proposal = tomllib.loads(text[text.index("# Proposed") :])
    assert proposal["devices"]["idcard"]["url"] == f"serial://{reader.port}?baud=115200"
    assert proposal["devices"]["printer"]["paper_mm"] == 80


def test_cameras_that_cannot_be_opened_are_listed_but_not_proposed(tmp_path):
    v4l = tmp_path / "v4l"
    v4l.mkdir()
    (v4l / "usb-Acme_Cam_1-video-index0").symlink_to(tmp_path / "gone")  # unplugged since udev made it
    (v4l / "usb-Acme_Cam_1-video-index1").symlink_to(tmp_path / "gone")  # metadata node: never probed
    [camera] = d.detect_cameras(v4l)
    assert camera.path.endswith("video-index0")
    assert camera.openable is False and camera.error
    assert "face_camera" not in d.proposed_devices(d.Findings(cameras=[camera]))


def test_document_camera_is_the_larger_of_two_cameras():
    small = d.CameraFinding("/dev/v4l/by-id/a-video-index0", True, [(640, 480), (1280, 720)])
    large = d.CameraFinding("/dev/v4l/by-id/b-video-index0", True, [(640, 480), (4000, 3000)])
    other = d.CameraFinding("/dev/v4l/by-id/c-video-index0", True, [(640, 480), (1920, 1080)])
    devices = d.proposed_devices(d.Findings(cameras=[small, other, large]))
    assert devices["face_camera"]["url"] == "v4l2:///dev/v4l/by-id/a-video-index0"
    assert devices["document_camera"] == {
        "url": "v4l2:///dev/v4l/by-id/b-video-index0",
        "width": 4000,
        "height": 3000,
    }


def _fake_lpstat(tmp_path: Path, body: str) -> str:
    script = tmp_path / "lpstat"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def test_cups_queues_come_from_lpstat(tmp_path):
    lpstat = _fake_lpstat(tmp_path, '[ "$1" = -e ] && printf "HallA4\\nBackOffice\\n"\n')
    queues, note = d.detect_cups(lpstat)
    assert (queues, note) == (["HallA4", "BackOffice"], None)
    assert d.proposed_devices(d.Findings(cups_queues=queues))["a4_printer"] == {"url": "cups://HallA4"}


def test_cups_not_running_is_a_note_not_a_crash(tmp_path):
    lpstat = _fake_lpstat(tmp_path, 'echo "lpstat: Bad file descriptor" >&2; exit 1\n')
    queues, note = d.detect_cups(lpstat)
    assert queues == []
    assert note is not None and "cupsd" in note
