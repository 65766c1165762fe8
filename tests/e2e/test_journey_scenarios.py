"""Issue 6 §3: every journey beyond 全程网办 as a scenario on the real UI (Kivy under Xvfb, simulated
touches, simulated devices on real transports, the platform simulator over HTTP). Each test checks
what the citizen did against what reached the platform."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from kiosk.platform_sim.store import SimStore


def finished(run_scenario, name: str) -> tuple[SimpleNamespace, dict]:
    run = run_scenario(name)
    assert run.result.returncode == 0, run.diagnostics
    summary = json.loads((run.artifacts / "summary.json").read_text())
    assert summary["scenario"] == name and summary["error"] is None and summary["wiped"] is True
    return run, summary


def application(run: SimpleNamespace, summary: dict) -> dict:
    case = SimStore(run.state / "platform-sim.db").get_case(summary["case_no"])
    assert case is not None, "the case never reached the platform"
    assert (run.artifacts / "receipt.png").exists()
    return case["application"]


@pytest.mark.ui
def test_license_scenario_uses_the_e_licence_and_takes_no_picture(run_scenario):
    run, summary = finished(run_scenario, "license")
    assert "licenses-found" in summary["screens"] and "materials" not in summary["screens"]
    (m01,) = application(run, summary)["materials"]
    assert m01 == {"code": "M01", "source": "license", "license_id": "LIC-DEMO-0001-RET", "material_ids": []}


@pytest.mark.ui
def test_commitment_scenario_sends_the_signed_commitment(run_scenario):
    run, summary = finished(run_scenario, "commitment")
    assert summary["screens"].index("commitment-signed") < summary["screens"].index("review")
    sent = application(run, summary)
    (m01,) = sent["materials"]
    assert m01 == {"code": "M01", "source": "commitment", "license_id": None, "material_ids": []}
    assert sent["commitment"]["accepted"] is True
    assert sent["form"]["settle_city"] == "深圳" and sent["form"]["start_date"] == "2026-12-01"
    store = SimStore(run.state / "platform-sim.db")
    assert store.material_exists(sent["commitment"]["signature_material_id"])


@pytest.mark.ui
def test_proxy_scenario_scans_checks_and_picks_up(run_scenario):
    run, summary = finished(run_scenario, "proxy")
    assert summary["mode"] == "proxy" and "checklist" in summary["screens"]
    sent = application(run, summary)
    assert sent["mode"] == "proxy" and sent["delivery"] == {"method": "pickup", "address": None}
    (m01,) = sent["materials"]
    assert m01["source"] == "scan" and len(m01["material_ids"]) == 1


@pytest.mark.ui
def test_proxy_incomplete_is_refused_until_the_missing_page_is_scanned(run_scenario):
    run, summary = finished(run_scenario, "proxy_incomplete")
    assert "《学历证书原件》" in summary["checklist_refusal"]
    screens = summary["screens"]
    assert screens.index("checklist-refused") < screens.index("materials-rescanned") < screens.index("review")
    sent = application(run, summary)
    assert [(m["code"], m["source"]) for m in sent["materials"]] == [("M01", "scan"), ("M02", "scan")]


@pytest.mark.ui
def test_mail_delivery_scenario_sends_the_picked_address(run_scenario):
    run, summary = finished(run_scenario, "mail_delivery")
    address = application(run, summary)["delivery"]["address"]
    assert address["region_code"] == "440305" and address["detail"] == "科技园1号"
    assert address["recipient"] == "王建国" and address["phone"] == "13800138000"


@pytest.mark.ui
def test_joint_scenario_shows_each_departments_step(run_scenario):
    run, summary = finished(run_scenario, "joint")
    assert application(run, summary)["mode"] == "joint"
    names = [name for name, _state in summary["departments"]]
    assert names == ["转出地审核", "转入地接收"]


@pytest.mark.ui
def test_certificate_scenario_prints_on_a4(run_scenario):
    run, summary = finished(run_scenario, "certificate")
    assert summary["mode"] == "query" and summary["certificate_bytes"] > 0
    assert (run.artifacts / "certificate.png").exists()
    pdfs = list((run.state / "a4").glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].read_bytes().startswith(b"%PDF-")


@pytest.mark.ui
def test_qr_login_scenario_needs_no_card_and_no_face(run_scenario):
    run, summary = finished(run_scenario, "qr_login")
    assert summary["identity_source"] == "qr" and "face" not in summary["screens"]
    assert application(run, summary)["applicant"]["name"] == "王建国"
