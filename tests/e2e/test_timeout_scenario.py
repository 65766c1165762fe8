"""Walking away mid-form on the real UI, after calling for staff: the countdown warns, then the session
is wiped and the kiosk goes home; the help call is reported while it waits and ends with the session."""

from __future__ import annotations

import json


def test_walking_away_wipes_the_session_and_ends_the_help_call(run_scenario):
    run = run_scenario("timeout")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["wiped"] is True and summary["case_no"] is None
    assert summary["screens"][-3:] == ["help", "timeout-warning", "home-again"]
    assert summary["help_requested"] is True and summary["help_cleared"] is True
    assert '"help requested on screen form"' in run.result.stderr
    assert "13800" not in run.result.stderr  # the digits typed so far are never logged
