"""`kiosk provision selftest` on simulated devices: every device is exercised for real (the reader's SAM,
the printer's test page, a camera frame), the receipt is printed with a QR code of the terminal id, and a
device that is not there fails the run."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
from provision_args import IDENTITIES_FILE, TERMINAL, configure_argv
from pyzbar import pyzbar

from kiosk.cli import main
from kiosk.config import load_config
from provisioning.selftest import QR_PREFIX, run_selftest


def _devices(tmp_path: Path, scene: Path, printer: str | None = None) -> dict[str, str]:
    return {
        "idcard": f"sim://idcard?identities={IDENTITIES_FILE}",
        "face_camera": f"sim://camera?source={scene}",
        "printer": printer or f"sim://printer?render={tmp_path / 'paper'}",
    }


def _configure(tmp_path: Path, devices: dict[str, str], capsys=None) -> Path:
    assert main(configure_argv(tmp_path / "t", "http://127.0.0.1:1", devices)) == 0
    if capsys is not None:
        capsys.readouterr()  # configure's own report
    return tmp_path / "t" / "kiosk.toml"


def _qr_codes(png: Path) -> list[str]:
    image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    return [code.data.decode() for code in pyzbar.decode(image)]


def test_all_devices_pass_and_the_receipt_is_printed(tmp_path, scene, capsys):
    config = _configure(tmp_path, _devices(tmp_path, scene), capsys)
    out_png = tmp_path / "receipt.png"
    rc = main(["provision", "selftest", "--config", str(config), "--out", str(out_png), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0, report
    assert report["ok"] is True and report["terminal_id"] == TERMINAL
    results = {d["name"]: d for d in report["devices"]}
    assert set(results) == {"idcard", "face_camera", "printer"}
    assert all(d["ok"] and d["details"]["health_level"] == "external" for d in results.values())
    assert results["idcard"]["details"]["sam_id"]  # EXTERNAL really talked to the SAM
    assert results["printer"]["details"]["test_page"] == "printed"
    assert report["versions"]["kiosk"] and report["printed_on"] == "printer"
    # The virtual printer printed the test page and then the receipt, whose QR names the terminal.
    printed = sorted((tmp_path / "paper").glob("receipt-*.png"))
    assert len(printed) == 2
    assert _qr_codes(printed[1]) == [QR_PREFIX + TERMINAL]
    # --out draws the same receipt.
    assert _qr_codes(out_png) == [QR_PREFIX + TERMINAL]


def test_text_receipt_lists_every_device(tmp_path, scene, capsys):
    config = _configure(tmp_path, _devices(tmp_path, scene), capsys)
    out_txt = tmp_path / "receipt.txt"
    assert main(["provision", "selftest", "--config", str(config), "--no-print", "--out", str(out_txt)]) == 0
    text = capsys.readouterr().out
    assert text == out_txt.read_text(encoding="utf-8")
    for line in (
        "终端编号：" + TERMINAL,
        "idcard: 通过 OK",
        "face_camera: 通过 OK",
        "printer: 通过 OK",
        "结论：全部通过",
    ):
        assert line in text
    assert "██" in text  # the QR code, drawn for the terminal's console
    assert len(list((tmp_path / "paper").glob("receipt-*.png"))) == 1  # only the test page: --no-print


def test_a_missing_printer_fails_the_selftest(tmp_path, scene, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _configure(tmp_path, _devices(tmp_path, scene, printer=f"tcp://127.0.0.1:{port}"))
    out_txt = tmp_path / "receipt.txt"
    assert main(["provision", "selftest", "--config", str(config), "--out", str(out_txt)]) == 1
    text = out_txt.read_text(encoding="utf-8")
    assert "printer: 失败 FAIL" in text and "idcard: 通过 OK" in text
    assert "结论：未通过" in text
    assert "receipt printed" not in capsys.readouterr().out


def test_a_reader_whose_sam_fails_fails_the_selftest(tmp_path, scene, monkeypatch):
    from devices.idcard import protocol
    from devices.idcard.simulator import SamSimulator

    original = SamSimulator.start

    def broken_sam(self):  # the SAM answers every status query with "communication fault"
        started = original(self)
        for _ in range(10):
            self.inject("sw3:0xFF", on=protocol.SAM_STATUS)
        return started

    monkeypatch.setattr(SamSimulator, "start", broken_sam)
    config = load_config(_configure(tmp_path, _devices(tmp_path, scene)))
    test = run_selftest(config, print_receipt=False)
    results = {d.name: d for d in test.devices}
    assert not test.ok
    assert results["idcard"].ok is False and results["idcard"].action == "maintenance"
    assert results["printer"].ok and results["face_camera"].ok
