"""The hall demo scenario on the real Kivy UI (under Xvfb), checked from the outside: the summary,
the printed receipt's QR, the platform simulator's stored case, and the logs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pyzbar import pyzbar

from kiosk.platform_sim.store import SimStore
from kiosk.receipt import RECEIPT_QR_PREFIX

PERSONAL = ["411502195803120031", "王建国", "13800138000", "胜利路"]


@pytest.fixture(scope="module")
def online_run(run_scenario):
    run = run_scenario("online")
    return run.result, run.artifacts, run.state


def test_scenario_succeeds_with_every_screen(online_run):
    result, artifacts, _ = online_run
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    summary = json.loads((artifacts / "summary.json").read_text())
    assert summary["error"] is None
    assert summary["mode"] == "online" and summary["item_code"] == "KS-SAMPLE-JY-SY-0007"
    assert summary["rating"] == 5 and summary["wiped"] is True
    expected = [
        "home",
        "catalog",
        "guide",
        "idcard",
        "face",
        "form",
        "form-filled",
        "review",
        "receipt",
        "rating",
        "done",
        "home-again",
    ]
    assert summary["screens"] == expected
    for index, name in enumerate(expected, 1):
        shot = Image.open(artifacts / f"{index:02d}-{name}.png")
        assert shot.size == (720, 1280)
        assert len(np.unique(np.asarray(shot.convert("L")))) > 8  # something was drawn, not a blank frame


def test_receipt_qr_decodes_to_the_case_the_platform_stored(online_run):
    _, artifacts, state = online_run
    summary = json.loads((artifacts / "summary.json").read_text())
    codes = pyzbar.decode(Image.open(artifacts / "receipt.png"))
    assert len(codes) == 1
    payload = codes[0].data.decode("utf-8")
    assert payload.startswith(RECEIPT_QR_PREFIX) and f"case_no={summary['case_no']}" in payload
    store = SimStore(state / "platform-sim.db")
    case = store.get_case(summary["case_no"])
    assert case is not None and case["item_code"] == summary["item_code"]
    assert f"query_code={case['query_code']}" in payload
    assert store.rating_count() == 1


def test_nothing_personal_in_logs_or_left_in_clear_on_disk(online_run):
    result, _, state = online_run
    logs = result.stdout + result.stderr
    assert "outbox: queued application" in logs  # the logs were captured at all
    for value in PERSONAL:
        assert value not in logs
    db_files = [*state.glob("state.db*"), *state.glob("outbox.db*")]  # the databases and their WALs
    assert any(f.name == "outbox.db" for f in db_files)
    for db_file in db_files:
        content = db_file.read_bytes()
        for value in PERSONAL:
            assert value.encode() not in content
