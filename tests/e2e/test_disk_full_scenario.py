"""The disk fills while a citizen is at review: the UI refuses plainly, stores and prints nothing,
shows 暂停服务 and returns to home by itself once there is room."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from kiosk.outbox import Outbox, load_or_create_key


def test_full_disk_refuses_closes_and_reopens(run_scenario):
    run = run_scenario("disk_full")
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["error"] is None and summary["case_no"] is None and summary["wiped"] is True
    assert summary["screens"][-4:] == ["review", "review-refused", "closed", "home-again"]
    refused = np.asarray(Image.open(run.artifacts / "09-review-refused.png").convert("RGB"))
    review = np.asarray(Image.open(run.artifacts / "08-review.png").convert("RGB"))
    assert (np.abs(refused.astype(int) - review).sum(axis=2) > 60).mean() > 0.02  # the refusal is drawn
    logs = run.result.stderr
    assert '"out of service: outbox_full"' in logs and '"back in service"' in logs
    assert not (run.artifacts / "receipt.png").exists()
    with Outbox(run.state / "outbox.db", load_or_create_key(run.state / "secrets" / "outbox.key")) as box:
        assert box.counts()["pending"] == box.counts()["delivered"] == 0
