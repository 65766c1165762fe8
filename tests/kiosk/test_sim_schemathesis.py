"""Schemathesis against the platform simulator's own OpenAPI document (`GET /openapi.json`).

Every generated request (positive and negative data, and wrong methods) goes to a running simulator
signed exactly as the kiosk signs (`kiosk.signing.sign_request` over the method, raw path, query and
body bytes that go on the wire), so it gets past §2 authentication and exercises validation. Checks:
no 5xx, status code, content type and body conform to the document, and every answer other than a
file download is a §4 envelope whose code is in the table and goes with the HTTP status (40001 with
field errors). Other tests: the served document is the terminal API only, every signed endpoint
answers an unsigned request with the 401 envelope, and regressions for bugs the fuzzing found.

`negative_data_rejection` is not among the checks: a negative case may differ from a valid one only
in a §2 header, which the signer then replaces. Deeper local run: KIOSK_SCHEMATHESIS_EXAMPLES=200.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from kiosk.platform.errors import CODE_TO_HTTP
from kiosk.platform_sim import ServerThread, create_app
from kiosk.platform_sim.core import rfc3339
from kiosk.signing import canonical_query, new_nonce, sign_request, signature_for

TERMINAL = "T4115020001"
SECRET = "c" * 64
# Per operation and generation mode; with 14 operations the file takes well under a minute on 2 cores.
MAX_EXAMPLES = int(os.environ.get("KIOSK_SCHEMATHESIS_EXAMPLES", "20"))


class SignLikeTheKiosk(requests.auth.AuthBase):
    """§2 headers over the prepared request: its method, raw path, query and exact body bytes."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(r.url or "")
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        query = canonical_query(parse_qsl(url.query, keep_blank_values=True))
        r.headers.update(sign_request(SECRET, TERMINAL, r.method or "GET", url.path, query, body))
        return r


def envelope_per_section_4(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every JSON answer is `{code, message, request_id, data}`; the code is in the §4 table and goes with
    the HTTP status; 40001 lists `{field, reason}` errors. Only a 200 file download is not an envelope."""
    ctype = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    if response.status_code == 200 and ctype != "application/json":
        return
    assert ctype == "application/json", f"HTTP {response.status_code} with content type {ctype!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict) and {"code", "message", "request_id", "data"} <= set(body), body
    code = body["code"]
    assert code in CODE_TO_HTTP, f"code {code} is not in the §4 table"
    assert CODE_TO_HTTP[code] == response.status_code, f"code {code} with HTTP {response.status_code}"
    if code == 40001:
        errors = body["data"]["errors"]
        assert isinstance(errors, list) and errors, "40001 without field errors"
        assert all(isinstance(e, dict) and set(e) == {"field", "reason"} for e in errors), errors


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    envelope_per_section_4,
]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    db = Path(tmp_path_factory.mktemp("sim")) / "sim.sqlite"
    with ServerThread(db, {TERMINAL: SECRET}) as server:
        yield server


# The document as the app builds it (an in-memory simulator, at collection time: schemathesis'
# fixture-based lazy loading does not work with this pytest); the test below checks that the running
# simulator serves exactly this document at /openapi.json.
DOCUMENT = create_app(Path(":memory:"), {}).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schemathesis.serializer.alias("application/pdf", "application/octet-stream")  # §5.6 raw material bytes
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, no_shrink=True)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_simulator_conforms_to_its_openapi(case: schemathesis.Case, sim: ServerThread) -> None:
    response = case.call(base_url=sim.base_url, auth=SignLikeTheKiosk(), timeout=10)
    case.validate_response(response, checks=CHECKS)


def test_document_covers_the_terminal_api_only(sim: ServerThread) -> None:
    doc = requests.get(sim.base_url + "/openapi.json", timeout=10).json()
    assert doc == DOCUMENT
    assert all(path.startswith("/terminal/v1/") for path in doc["paths"])
    operations = [
        (method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
    ]
    assert len(operations) == 14  # §5.1–§5.12
    for method, path, op in operations:
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        is_signed = path != "/terminal/v1/enroll"
        assert ({"X-Terminal-Id", "X-Timestamp", "X-Nonce", "X-Signature"} <= headers) == is_signed, path
        idempotent = method == "POST" and path in ("/terminal/v1/applications", "/terminal/v1/ratings")
        assert ("Idempotency-Key" in headers) == idempotent, path
        assert "200" in op["responses"] and "400" in op["responses"], path


def test_unsigned_requests_get_the_401_envelope(sim: ServerThread) -> None:
    doc = requests.get(sim.base_url + "/openapi.json", timeout=10).json()
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/terminal/v1/enroll":  # §2: the one unsigned endpoint
                continue
            url = sim.base_url + path.replace("{", "x").replace("}", "")
            body = b"{}" if "requestBody" in op else b""
            r = requests.request(
                method, url, data=body, headers={"Content-Type": "application/json"}, timeout=10
            )
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            env = r.json()
            assert env["code"] == 40101 and env["request_id"] and env["data"] is None, (method, path, env)
            assert "401" in op["responses"], (method, path)
            checked += 1
    assert checked == 13


# -- regressions: inputs that made the simulator answer 500 ----------------------------------------------


def signed(
    sim: ServerThread,
    method: str,
    path: str,
    body: object = None,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", **(headers or {})}
    return requests.request(
        method,
        sim.base_url + path,
        params=params,
        data=data,
        headers=headers,
        auth=SignLikeTheKiosk(),
        timeout=10,
    )


@pytest.mark.parametrize("timestamp", ["\u00b2", "1" * 5000, "+1795314836308"])
def test_a_timestamp_that_is_not_ascii_digits_is_40101(sim: ServerThread, timestamp: str) -> None:
    """Was 500: `str.isdigit()` admits "²", and int() refuses it (and more than 4300 digits)."""
    path, query = "/terminal/v1/catalog", "region_code=411502"
    headers = {
        "X-Terminal-Id": TERMINAL,
        "X-Timestamp": timestamp,
        "X-Nonce": new_nonce(),
        "X-Signature": signature_for(SECRET, "GET", path, query, timestamp, b""),  # a valid signature
    }
    r = requests.get(f"{sim.base_url}{path}?{query}", headers=headers, timeout=10)
    assert (r.status_code, r.json()["code"]) == (401, 40101), r.text
    ok = {**headers, "X-Timestamp": str(int(time.time() * 1000)), "X-Nonce": new_nonce()}
    ok["X-Signature"] = signature_for(SECRET, "GET", path, query, ok["X-Timestamp"], b"")
    assert requests.get(f"{sim.base_url}{path}?{query}", headers=ok, timeout=10).json()["code"] == 0


def test_a_non_ascii_query_code_is_404(sim: ServerThread) -> None:
    """Was 500: `secrets.compare_digest` raises TypeError on a str with non-ASCII characters."""
    login = signed(sim, "POST", "/terminal/v1/identity/qr-login", {"qr_payload": "YSB-QR:DEMO-WANGJG-0001"})
    application = {
        "terminal_ref": f"{TERMINAL}-{uuid.uuid4().hex[:12]}",
        "item_code": "KS-SAMPLE-JY-SY-0007",
        "mode": "online",
        "applicant": {
            "name": "王建国",
            "id_type": "resident",
            "id_number": "411502195803120031",
            "phone": None,
        },
        "proof_id": login.json()["data"]["proof"]["proof_id"],
        "form": {"phone": "13800000001"},
        "materials": [],
        "commitment": None,
        "delivery": {"method": "online", "address": None},
        "submitted_at": rfc3339(time.time()),
    }
    key = {"Idempotency-Key": str(uuid.uuid4())}
    case = signed(sim, "POST", "/terminal/v1/applications", application, headers=key).json()["data"]
    path = f"/terminal/v1/applications/{case['case_no']}"
    for wrong in ("王建国", "é", "\u00b2" * 6):
        r = signed(sim, "GET", path, params={"query_code": wrong})
        assert (r.status_code, r.json()["code"]) == (404, 40401), r.text
    r = signed(sim, "GET", path, params={"query_code": case["query_code"]})
    assert r.json()["data"]["status"] == "submitted"


def test_a_wrong_method_is_40001_naming_the_method(sim: ServerThread) -> None:
    """Was 40001 with an empty `errors` list (§4: 40001 lists what is wrong)."""
    r = signed(sim, "DELETE", "/terminal/v1/catalog")
    assert r.status_code == 400 and "GET" in r.headers["Allow"]
    assert r.json()["data"]["errors"] == [{"field": "method", "reason": "DELETE not allowed on this path"}]
