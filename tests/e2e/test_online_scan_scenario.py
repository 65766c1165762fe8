"""退休提取公积金 on the real UI: the 退休证明 is taken by the document camera on its own, uploaded
(§5.6) before the application that names it, and nothing of it stays on disk in clear."""

from __future__ import annotations

import json

from kiosk.platform_sim.store import SimStore


def test_a_scanned_page_reaches_the_platform_with_the_case(run_scenario):
    run = run_scenario("online_scan")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["wiped"] is True
    assert summary["item_code"] == "KS-SAMPLE-GJJ-TQ-0001" and summary["rating"] == 5
    assert summary["screens"][6:9] == ["form-filled", "materials", "review"]
    assert (run.artifacts / "receipt.png").exists()
    case = SimStore(run.state / "platform-sim.db").get_case(summary["case_no"])
    (m01,) = case["application"]["materials"]
    assert m01["code"] == "M01" and m01["source"] == "scan" and len(m01["material_ids"]) == 1
    jpeg_start = b"\xff\xd8\xff"
    for db_file in run.state.glob("outbox.db*"):  # the page is sealed at rest, never a plain JPEG
        assert jpeg_start + b"\xe0" not in db_file.read_bytes()
