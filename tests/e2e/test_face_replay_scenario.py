"""A photo held up to the face camera on the real UI: the liveness check refuses it with a sentence,
and after `[face] attempts_before_staff` tries the screen sends the citizen to staff."""

from __future__ import annotations

import json


def test_a_replayed_photo_is_refused_then_staff_are_asked(run_scenario):
    run = run_scenario("face_replay")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["case_no"] is None and summary["wiped"] is True
    assert summary["screens"][-3:] == ["face-refused", "face-staff", "home-again"]
    logs = run.result.stderr
    assert logs.count("face check failed") >= 3 and '"face verify' not in logs  # never sent to match
