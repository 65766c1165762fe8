"""查询 on the real UI: a receipt's QR code held up to the camera, then to the serial code scanner, opens
that case's progress."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image


def test_scanning_a_receipt_shows_the_case_progress(run_scenario):
    run = run_scenario("query")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["case_no"].startswith("KS")
    assert summary["screens"] == ["home", "query", "scan", "progress", "home-again", "progress-scanner"]
    assert isinstance(summary["scan_to_timeline_ms"], int)  # reported, never asserted on (noisy machines)
    progress = np.asarray(Image.open(run.artifacts / "04-progress.png").convert("L"))
    assert len(np.unique(progress)) > 8
    assert '"case query: code' not in run.result.stderr  # the lookup succeeded first time


def test_typing_the_case_number_and_query_code_shows_the_progress(run_scenario):
    run = run_scenario("query_code")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["case_no"].startswith("KS")
    assert summary["screens"] == ["query", "query_code", "progress", "home-again"]
