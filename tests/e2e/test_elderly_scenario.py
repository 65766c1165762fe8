"""The online journey in 长者模式 on the real UI: larger type, every step spoken, twice the time."""

from __future__ import annotations

import json

from kiosk.liveness import CHALLENGE_PROMPTS
from kiosk.voice import SCREEN_PROMPTS


def test_the_whole_journey_in_elderly_mode(run_scenario):
    run = run_scenario("elderly")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["wiped"] is True and summary["rating"] == 5
    assert summary["case_no"] and summary["idle_timeout_s"] == 180  # twice the configured 90 s
    spoken = summary["spoken"]
    for screen in ("catalog", "idcard", "face", "form", "review"):
        assert SCREEN_PROMPTS[screen] in spoken
    assert sum(p in spoken for p in CHALLENGE_PROMPTS.values()) == 2  # both challenges were said
