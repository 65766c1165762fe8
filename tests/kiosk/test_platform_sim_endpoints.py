"""The platform simulator's enrollment, QR login, e-licences, certificates, heartbeat/commands, case
lifecycle, fault injection and ops endpoints, called over real HTTP with a plain `requests` session."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.platform_sim import ServerThread, create_app
from kiosk.platform_sim.core import rfc3339
from kiosk.signing import canonical_query, hmac_sm3_hex, sign_request

TERMINAL = "T4115020001"
SECRET = "b" * 64
CATALOG = Path(__file__).resolve().parents[2] / "assets" / "catalog" / "seed_catalog.json"
WANG = "411502195803120031"  # demo identities (fictitious)
LI = "510107199007081247"
WANG_QR = "YSB-QR:DEMO-WANGJG-0001"
LI_QR = "YSB-QR:DEMO-LIXL-0002"
ITEM = "KS-SAMPLE-JY-SY-0007"
INTERVAL = 10
HEARTBEAT = {
    "software_version": "1.0.0",
    "uptime_s": 5,
    "in_service": True,
    "devices": [
        {"name": "printer", "kind": "printer", "state": "ok", "details": {}, "action": None},
        {
            "name": "idcard",
            "kind": "idcard",
            "state": "error",
            "details": {"err": "E2"},
            "action": "maintenance",
        },
    ],
    "outbox": {"pending": 3, "oldest_age_s": 42},
    "disk_free_mb": 2048,
    "sessions_today": 7,
}


class Sim:
    def __init__(self, server: ServerThread, clock: list[float]) -> None:
        self.server, self.clock, self.http = server, clock, requests.Session()

    def advance(self, seconds: float) -> None:
        self.clock[0] += seconds

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        terminal: str = TERMINAL,
        secret: str = SECRET,
        signed: bool = True,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        query = canonical_query(params)
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = "application/json"
        if signed:
            now_ms = int(self.clock[0] * 1000)
            headers |= sign_request(secret, terminal, method, path, query, data, now_ms=now_ms)
        url = self.server.base_url + path + (f"?{query}" if query else "")
        return self.http.request(method, url, data=data, headers=headers, timeout=10)

    def admin(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.call(method, path, body, signed=False)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    clock = [time.time()]
    app = create_app(
        tmp_path_factory.mktemp("simx") / "platform.db",
        {TERMINAL: SECRET},
        CATALOG,
        clock=lambda: clock[0],
        enrollment_tokens={"tok-1", "tok-2"},
        heartbeat_interval_s=INTERVAL,
    )
    with ServerThread(app=app) as server:
        s = Sim(server, clock)
        yield s
        s.http.close()


def code_of(resp: requests.Response) -> int:
    return int(resp.json()["code"])


def enroll(sim: Sim, token: str, terminal_id: str) -> requests.Response:
    body = {
        "enrollment_token": token,
        "terminal_id": terminal_id,
        "hall_name": "浉河区政务服务中心",
        "region_code": "411502",
        "hardware": {"model": "K1", "serial": "SN1", "devices": ["idcard", "printer"]},
        "software_version": "1.0.0",
    }
    return sim.call("POST", "/terminal/v1/enroll", body, signed=False)


def proof(sim: Sim, qr: str = WANG_QR) -> str:
    resp = sim.call("POST", "/terminal/v1/identity/qr-login", {"qr_payload": qr})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["data"]["proof"]["proof_id"])


# -- enrollment ----------------------------------------------------------------------------------


def test_enroll_then_signed_call_works(sim: Sim) -> None:
    resp = enroll(sim, "tok-1", "T4115020077")
    assert resp.status_code == 200 and code_of(resp) == 0
    data = resp.json()["data"]
    assert len(data["app_secret"]) == 64 and int(data["app_secret"], 16) >= 0
    assert data["heartbeat_interval_s"] == INTERVAL and data["catalog_version"]
    cat = sim.call(
        "GET",
        "/terminal/v1/catalog",
        params={"region_code": "411502"},
        terminal="T4115020077",
        secret=data["app_secret"],
    )
    assert code_of(cat) == 0 and cat.json()["data"]["items"]


def test_enrollment_token_is_single_use_and_must_be_known(sim: Sim) -> None:
    assert code_of(enroll(sim, "tok-2", "T4115020078")) == 0
    reused = enroll(sim, "tok-2", "T4115020079")
    assert reused.status_code == 403 and code_of(reused) == 40302
    assert code_of(enroll(sim, "never-issued", "T4115020079")) == 40302


def test_admin_issues_enrollment_tokens_and_enroll_validates(sim: Sim) -> None:
    token = sim.admin("POST", "/admin/enrollment-tokens").json()["data"]["enrollment_token"]
    bad = sim.call("POST", "/terminal/v1/enroll", {"enrollment_token": token}, signed=False)
    assert bad.status_code == 400 and code_of(bad) == 40001
    assert code_of(enroll(sim, token, "T4115020080")) == 0


# -- identity, licences, certificates -----------------------------------------------------------------


def test_qr_login_returns_identity_and_proof(sim: Sim) -> None:
    for qr, idn in ((WANG_QR, WANG), (LI_QR, LI)):
        resp = sim.call("POST", "/terminal/v1/identity/qr-login", {"qr_payload": qr})
        data = resp.json()["data"]
        assert code_of(resp) == 0 and data["identity"]["id_number"] == idn and data["identity"]["name"]
        assert data["proof"]["proof_id"] and data["proof"]["expires_at"].endswith("+08:00")


def test_qr_login_unknown_or_expired_is_40401(sim: Sim) -> None:
    for payload in ("YSB-QR:nope", "DEMO-WANGJG-0001", "garbage"):
        resp = sim.call("POST", "/terminal/v1/identity/qr-login", {"qr_payload": payload})
        assert resp.status_code == 404 and code_of(resp) == 40401
    short = sim.admin("POST", "/admin/qr-codes", {"id_number": LI, "ttl_s": 30}).json()["data"]
    assert (
        code_of(sim.call("POST", "/terminal/v1/identity/qr-login", {"qr_payload": short["qr_payload"]})) == 0
    )
    sim.advance(31)
    expired = sim.call("POST", "/terminal/v1/identity/qr-login", {"qr_payload": short["qr_payload"]})
    assert code_of(expired) == 40401


def test_licenses_query_needs_a_valid_proof_and_filters_by_type(sim: Sim) -> None:
    pid = proof(sim)
    lics = sim.call("POST", "/terminal/v1/licenses/query", {"proof_id": pid, "types": None}).json()["data"]
    assert {x["type"] for x in lics["licenses"]} == {"retirement_certificate", "pension_payment_record"}
    filtered = sim.call("POST", "/terminal/v1/licenses/query", {"proof_id": pid, "types": ["diploma"]})
    assert filtered.json()["data"]["licenses"] == []
    bad = sim.call("POST", "/terminal/v1/licenses/query", {"proof_id": "nope", "types": None})
    assert bad.status_code == 403 and code_of(bad) == 40302


def test_license_file_only_for_the_same_person(sim: Sim) -> None:
    wang, li = proof(sim, WANG_QR), proof(sim, LI_QR)
    lics = sim.call("POST", "/terminal/v1/licenses/query", {"proof_id": wang}).json()["data"]["licenses"]
    by_type = {x["type"]: x["license_id"] for x in lics}
    pdf = sim.call(
        "GET", f"/terminal/v1/licenses/{by_type['retirement_certificate']}/file", params={"proof_id": wang}
    )
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    jpg = sim.call(
        "GET", f"/terminal/v1/licenses/{by_type['pension_payment_record']}/file", params={"proof_id": wang}
    )
    assert jpg.headers["content-type"] == "image/jpeg" and jpg.content.startswith(b"\xff\xd8")
    other = sim.call(
        "GET", f"/terminal/v1/licenses/{by_type['retirement_certificate']}/file", params={"proof_id": li}
    )
    assert code_of(other) == 40302
    missing = sim.call("GET", "/terminal/v1/licenses/LIC-NOPE/file", params={"proof_id": wang})
    assert code_of(missing) == 40401


def test_proof_expires_after_15_minutes(sim: Sim) -> None:
    pid = proof(sim)
    sim.advance(15 * 60 + 1)
    assert code_of(sim.call("POST", "/terminal/v1/licenses/query", {"proof_id": pid})) == 40302


def test_certificate_is_a_pdf(sim: Sim) -> None:
    pid = proof(sim)
    resp = sim.call("GET", "/terminal/v1/certificates/social_insurance_record", params={"proof_id": pid})
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF") and WANG.encode() not in resp.content
    unknown = sim.call("GET", "/terminal/v1/certificates/no_such_kind", params={"proof_id": pid})
    assert unknown.status_code == 404 and code_of(unknown) == 40401
    no_proof = sim.call("GET", "/terminal/v1/certificates/social_insurance_record")
    assert code_of(no_proof) == 40302


# -- heartbeat and commands --------------------------------------------------------------------------


def test_heartbeat_delivers_signed_commands_until_acked(sim: Sim) -> None:
    args = {"reason": "设备维护", "b": 1, "a": [1, 2]}
    queued = sim.admin(
        "POST", f"/admin/terminals/{TERMINAL}/commands", {"name": "out_of_service", "args": args}
    )
    assert code_of(queued) == 0
    cmd_id = queued.json()["data"]["command_id"]
    beat = sim.call("POST", "/terminal/v1/heartbeat", HEARTBEAT).json()["data"]
    assert beat["server_time"].endswith("+08:00")
    (cmd,) = [c for c in beat["commands"] if c["command_id"] == cmd_id]
    canonical = '{"a":[1,2],"b":1,"reason":"设备维护"}'
    msg = f"{cmd_id}\nout_of_service\n{canonical}\n{cmd['expires_at']}".encode()
    assert cmd["signature"] == hmac_sm3_hex(SECRET.encode(), msg) and cmd["args"] == args
    again = sim.call("POST", "/terminal/v1/heartbeat", HEARTBEAT).json()["data"]["commands"]
    assert cmd_id in {c["command_id"] for c in again}  # still pending
    ack = sim.call("POST", f"/terminal/v1/commands/{cmd_id}/ack", {"result": "done", "detail": None})
    assert code_of(ack) == 0 and ack.json()["data"] == {}
    after = sim.call("POST", "/terminal/v1/heartbeat", HEARTBEAT).json()["data"]["commands"]
    assert cmd_id not in {c["command_id"] for c in after}
    assert sim.admin("GET", f"/admin/commands/{cmd_id}").json()["data"]["result"] == "done"


def test_command_errors_and_expiry(sim: Sim) -> None:
    unknown = sim.call("POST", "/terminal/v1/commands/CMDnope/ack", {"result": "done", "detail": None})
    assert unknown.status_code == 404 and code_of(unknown) == 40401
    assert code_of(sim.admin("POST", "/admin/terminals/T0000/commands", {"name": "restart"})) == 40401
    assert (
        code_of(sim.admin("POST", f"/admin/terminals/{TERMINAL}/commands", {"name": "format_disk"})) == 40001
    )
    cmd = sim.admin("POST", f"/admin/terminals/{TERMINAL}/commands", {"name": "restart", "ttl_s": 5}).json()[
        "data"
    ]
    sim.advance(6)
    beat = sim.call("POST", "/terminal/v1/heartbeat", HEARTBEAT).json()["data"]
    assert cmd["command_id"] not in {c["command_id"] for c in beat["commands"]}
    assert code_of(sim.call("POST", "/terminal/v1/heartbeat", {"uptime_s": 1})) == 40001


def test_ops_terminals_reports_online_devices_and_backlog(sim: Sim) -> None:
    assert code_of(sim.call("POST", "/terminal/v1/heartbeat", HEARTBEAT)) == 0
    rows = {t["terminal_id"]: t for t in sim.admin("GET", "/ops/terminals").json()["terminals"]}
    me = rows[TERMINAL]
    assert me["online"] is True and me["last_heartbeat_at"] and me["outbox_pending"] == 3
    assert [d["name"] for d in me["devices_needing_action"]] == ["idcard"]
    sim.advance(3 * INTERVAL + 1)
    me = {t["terminal_id"]: t for t in sim.admin("GET", "/ops/terminals").json()["terminals"]}[TERMINAL]
    assert me["online"] is False


# -- case lifecycle -------------------------------------------------------------------------------------


def submit_case(sim: Sim) -> dict[str, Any]:
    body = {
        "terminal_ref": f"{TERMINAL}-{uuid.uuid4().hex[:12]}",
        "item_code": ITEM,
        "mode": "online",
        "applicant": {"name": "王建国", "id_type": "resident", "id_number": WANG, "phone": "13800000001"},
        "proof_id": proof(sim),
        "form": {"phone": "13800000001"},
        "materials": [],
        "commitment": None,
        "delivery": {"method": "online", "address": None},
        "submitted_at": rfc3339(sim.clock[0]),
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    data = sim.call("POST", "/terminal/v1/applications", body, headers=key).json()
    assert data["code"] == 0, data
    return dict(data["data"])


def status(sim: Sim, case: dict[str, Any]) -> dict[str, Any]:
    resp = sim.call(
        "GET", f"/terminal/v1/applications/{case['case_no']}", params={"query_code": case["query_code"]}
    )
    return dict(resp.json()["data"])


@pytest.fixture
def case(sim: Sim) -> dict[str, Any]:
    return submit_case(sim)


def test_case_advances_over_time(sim: Sim, case: dict[str, Any]) -> None:
    assert status(sim, case)["status"] == "submitted"
    sim.advance(61)
    assert status(sim, case)["status"] == "accepted"
    sim.advance(120 + 300)
    got = status(sim, case)
    assert got["status"] == "approved"
    assert [e["status"] for e in got["timeline"]] == ["submitted", "accepted", "processing", "approved"]
    sim.advance(10_000)
    assert len(status(sim, case)["timeline"]) == 4


def test_operator_sets_case_status(sim: Sim, case: dict[str, Any]) -> None:
    resp = sim.admin(
        "POST", f"/admin/cases/{case['case_no']}/status", {"status": "correction", "note": "补充材料"}
    )
    assert code_of(resp) == 0
    sim.advance(10_000)  # off the automatic path: it stays in correction
    got = status(sim, case)
    assert got["status"] == "correction" and got["timeline"][-1]["note"] == "补充材料"
    assert code_of(sim.admin("POST", f"/admin/cases/{case['case_no']}/status", {"status": "lost"})) == 40001
    assert code_of(sim.admin("POST", "/admin/cases/KS000/status", {"status": "rejected"})) == 40401
    assert code_of(sim.admin("POST", f"/admin/cases/{case['case_no']}/status", {"status": "rejected"})) == 0
    assert status(sim, case)["status"] == "rejected"


# -- fault injection ---------------------------------------------------------------------------------


@pytest.fixture
def faults(sim: Sim) -> Iterator[Sim]:
    yield sim
    assert code_of(sim.admin("DELETE", "/admin/faults")) == 0


def catalog(sim: Sim) -> requests.Response:
    return sim.call("GET", "/terminal/v1/catalog", params={"region_code": "411502"})


@pytest.mark.parametrize(("status_", "code"), [(500, 50001), (503, 50301), (429, 42901)])
def test_injected_errors(faults: Sim, status_: int, code: int) -> None:
    body = {"error_rate": 1.0, "status": status_, "retry_after_s": 7}
    assert code_of(faults.admin("POST", "/admin/faults", body)) == 0
    resp = catalog(faults)
    assert resp.status_code == status_ and code_of(resp) == code
    if status_ != 500:
        assert resp.headers["Retry-After"] == "7"
    assert faults.admin("GET", "/ops/terminals").status_code == 200  # only /terminal/v1/* is affected


def test_maintenance_and_clear(faults: Sim) -> None:
    faults.admin("POST", "/admin/faults", {"maintenance": True, "retry_after_s": 30})
    resp = catalog(faults)
    assert resp.status_code == 503 and code_of(resp) == 50301 and resp.headers["Retry-After"] == "30"
    faults.admin("DELETE", "/admin/faults")
    assert code_of(catalog(faults)) == 0


def test_dropped_connection(faults: Sim) -> None:
    faults.admin("POST", "/admin/faults", {"drop_rate": 1.0})
    with pytest.raises(requests.ConnectionError):
        catalog(faults)


def test_latency(faults: Sim) -> None:
    faults.admin("POST", "/admin/faults", {"latency_ms": 200})
    start = time.monotonic()
    assert code_of(catalog(faults)) == 0
    assert time.monotonic() - start >= 0.2


def test_bad_fault_spec_is_40001(faults: Sim) -> None:
    assert code_of(faults.admin("POST", "/admin/faults", {"status": 418})) == 40001
    assert code_of(faults.admin("POST", "/admin/faults", {"error_rate": 2})) == 40001
