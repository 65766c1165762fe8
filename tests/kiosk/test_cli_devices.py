"""The technician commands against the simulators running as separate processes."""

import json
import subprocess
import sys
import time

import pytest
from PIL import Image
from pyzbar import pyzbar

from kiosk.paths import ASSETS

KIOSK = [sys.executable, "-m", "kiosk"]


@pytest.fixture
def background():
    procs = []

    def start(*args):
        proc = subprocess.Popen([*KIOSK, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        return proc.stdout.readline().strip()

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_read_id_prints_the_card_as_json(background):
    port = background(
        "sim", "idcard", "--identities", str(ASSETS / "demo" / "identities.json"), "--insert", "1"
    )
    read = [*KIOSK, "devices", "read-id", "--port", port, "--json", "--timeout", "10"]
    masked = json.loads(subprocess.run(read, capture_output=True, text=True, timeout=60).stdout)
    assert masked["name"] == "李*兰" and masked["id_number"] == "5101**********1247"  # masked by default
    result = subprocess.run([*read, "--show"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    card = json.loads(result.stdout)
    assert card["card_type"] == "resident" and card["name"] == "李秀兰" and card["gender"] == "女"
    assert (
        card["id_number_valid"] is True
        and card["valid_to"] == "2039-01-10"
        and card["photo_wlt_bytes"] == 1024
    )


def test_read_id_without_a_card_times_out_with_a_message(background):
    port = background("sim", "idcard", "--identities", str(ASSETS / "demo" / "identities.json"))
    result = subprocess.run(
        [*KIOSK, "devices", "read-id", "--port", port, "--timeout", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "timeout" in result.stdout


def test_print_test_page_on_the_virtual_printer(background, tmp_path):
    url = background("sim", "printer", "--tcp", "0", "--render", str(tmp_path))
    result = subprocess.run(
        [*KIOSK, "devices", "print-test", "--printer", url, "--terminal-id", "T4115020001"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for _ in range(150):
        pngs = sorted(tmp_path.glob("receipt-*.png"))
        if pngs:
            break
        time.sleep(0.1)  # the PNG is written just after the job arrives
    codes = pyzbar.decode(Image.open(pngs[0]))
    assert codes and codes[0].data.decode().startswith("kiosk-test:T4115020001:")


def test_print_test_to_a_closed_port_fails_cleanly():
    result = subprocess.run(
        [*KIOSK, "devices", "print-test", "--printer", "tcp://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr and "打印机" in result.stdout
