"""The online journey in English on the real UI: 'English' on the home screen, every later screen in
English, the case submitted and the session wiped, then the home screen back in Chinese."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from kiosk.platform_sim.store import SimStore

CJK = range(0x4E00, 0xA000)


@pytest.fixture(scope="module")
def english_run(run_scenario):
    run = run_scenario("english")
    assert run.result.returncode == 0, run.diagnostics + run.result.stdout[-3000:]
    return run, json.loads((run.artifacts / "summary.json").read_text())


@pytest.mark.ui
def test_the_whole_journey_is_done_in_english(english_run):
    run, summary = english_run
    assert summary["scenario"] == "english" and summary["error"] is None
    assert summary["language"] == "en"
    assert summary["mode"] == "online" and summary["rating"] == 5 and summary["wiped"] is True
    expected = [
        "home", "home-en", "catalog", "guide", "idcard", "face", "form", "form-filled", "review",
        "receipt", "rating", "done", "home-again",
    ]  # fmt: skip
    assert summary["screens"] == expected
    for index, name in enumerate(expected, 1):
        shot = Image.open(run.artifacts / f"{index:02d}-{name}.png")
        assert shot.size == (720, 1280)
        assert len(np.unique(np.asarray(shot.convert("L")))) > 8  # something was drawn


@pytest.mark.ui
def test_the_title_bar_speaks_english_from_the_switch_to_the_farewell(english_run):
    _, summary = english_run
    titles = summary["titles"]
    assert titles["home"] == "政务服务自助终端"
    assert titles["home-en"] == "Government Services Kiosk"
    assert titles["review"] == "Review" and titles["form"] == "Application form"
    for label in summary["screens"][1:-1]:  # between the switch and the way back home
        assert not any(ord(c) in CJK for c in titles[label]), (label, titles[label])


@pytest.mark.ui
def test_the_case_reached_the_platform_and_the_next_citizen_gets_chinese(english_run):
    run, summary = english_run
    case = SimStore(run.state / "platform-sim.db").get_case(summary["case_no"])
    assert case is not None and case["item_code"] == "KS-SAMPLE-JY-SY-0007"
    assert (run.artifacts / "receipt.png").exists()  # printed, in Chinese: the official record
    assert summary["language_after"] == "zh"
    assert summary["titles"]["home-again"] == "政务服务自助终端"
