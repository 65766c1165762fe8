"""The remaining platform endpoints (enroll, QR login, licences, certificates, heartbeat, command ack),
remote-command verification, the clock offset and the 40102 resync, against a tiny stub HTTP server
that records every request and answers with canned replies (not the simulator)."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests

from kiosk.platform import PlatformClient, PlatformError, PlatformProtocolError, verify_command
from kiosk.platform.client import MAX_FILE_BYTES
from kiosk.platform.commands import command_signature
from kiosk.platform.models import Command, EnrollResult, HeartbeatResult, QrLoginResult
from kiosk.signing import sm3_hex, verify_signature

TERMINAL = "T4115020001"
SECRET = "a" * 64
NEW_SECRET = "0123456789abcdef" * 4

Reply = tuple[int, dict[str, str], bytes]


class _Handler(http.server.BaseHTTPRequestHandler):
    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        server: Any = self.server
        server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        status, headers, payload = server.replies.pop(0) if server.replies else server.default
        self.send_response_only(status)  # no automatic Date: some replies carry their own
        if "Date" not in headers:
            self.send_header("Date", self.date_time_string())
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[Any]:
    server: Any = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests, server.replies = [], []
    server.default = (500, {}, b"no reply queued")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def client_for(stub: Any, **kw: Any) -> PlatformClient:
    return PlatformClient(f"http://127.0.0.1:{stub.server_address[1]}", TERMINAL, SECRET, **kw)


def envelope(data: Any, code: int = 0, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    doc = {"code": code, "message": "ok" if code == 0 else "error", "request_id": "req-1", "data": data}
    hdrs = {"Content-Type": "application/json"} | (headers or {})
    return status, hdrs, json.dumps(doc, ensure_ascii=False).encode("utf-8")


def assert_signed(req: dict[str, Any]) -> None:
    h = req["headers"]
    path, _, query = req["path"].partition("?")
    assert h["X-Terminal-Id"] == TERMINAL and len(h["X-Nonce"]) == 32
    assert verify_signature(
        SECRET, req["method"], path, query, h["X-Timestamp"], req["body"], h["X-Signature"]
    )


PROOF = {"proof_id": "PF-1", "expires_at": "2026-11-21T09:45:00+08:00"}
IDENTITY = {"name": "张三", "id_number": "411502198001010019", "phone": None}
LICENSE = {
    "license_id": "L-1",
    "type": "resident_id",
    "name": "居民身份证",
    "issuer": "信阳市公安局",
    "level": "A",
    "number": "411502198001010019",
    "valid_until": "2036-01-01",
}
HARDWARE = {"model": "ZW-K1", "serial": "SN001", "devices": ["idcard", "printer"]}


# -- endpoints: happy paths --------------------------------------------------------------------


def test_enroll_is_unsigned_and_returns_the_secret(stub: Any) -> None:
    stub.replies.append(
        envelope({"app_secret": NEW_SECRET, "heartbeat_interval_s": 60, "catalog_version": "v7"})
    )
    with client_for(stub) as c:
        out = c.enroll("tok-1", TERMINAL, "浉河区政务服务中心", "411502", HARDWARE, "1.2.0")
    assert isinstance(out, EnrollResult) and out.app_secret == NEW_SECRET
    assert out.heartbeat_interval_s == 60 and NEW_SECRET not in repr(out)
    req = stub.requests[0]
    assert (req["method"], req["path"]) == ("POST", "/terminal/v1/enroll")
    assert not any(k.startswith("X-") for k in req["headers"])
    assert json.loads(req["body"]) == {
        "enrollment_token": "tok-1",
        "terminal_id": TERMINAL,
        "hall_name": "浉河区政务服务中心",
        "region_code": "411502",
        "hardware": HARDWARE,
        "software_version": "1.2.0",
    }


def test_enroll_rejects_a_bad_region_code_before_sending(stub: Any) -> None:
    with client_for(stub) as c, pytest.raises(ValueError):
        c.enroll("tok", TERMINAL, "hall", "4115", HARDWARE, "1.0")
    assert stub.requests == []


def test_qr_login(stub: Any) -> None:
    stub.replies.append(envelope({"identity": IDENTITY, "proof": PROOF}))
    with client_for(stub) as c:
        out = c.qr_login("QR-PAYLOAD")
    assert isinstance(out, QrLoginResult)
    assert out.identity.id_number == IDENTITY["id_number"] and out.proof.proof_id == "PF-1"
    assert IDENTITY["id_number"] not in repr(out) and "张三" not in repr(out)
    req = stub.requests[0]
    assert (req["method"], req["path"]) == ("POST", "/terminal/v1/identity/qr-login")
    assert json.loads(req["body"]) == {"qr_payload": "QR-PAYLOAD"}
    assert_signed(req)


def test_qr_login_unknown_code_is_40401(stub: Any) -> None:
    stub.replies.append(envelope(None, code=40401, status=404))
    with client_for(stub) as c, pytest.raises(PlatformError) as err:
        c.qr_login("expired")
    assert err.value.code == 40401 and not err.value.retryable


def test_query_licenses(stub: Any) -> None:
    stub.replies += [envelope({"licenses": [LICENSE]}), envelope({"licenses": []})]
    with client_for(stub) as c:
        found = c.query_licenses("PF-1", ["resident_id"])
        assert c.query_licenses("PF-1") == []
    assert [lic.license_id for lic in found] == ["L-1"] and found[0].level == "A"
    assert json.loads(stub.requests[0]["body"]) == {"proof_id": "PF-1", "types": ["resident_id"]}
    assert json.loads(stub.requests[1]["body"]) == {"proof_id": "PF-1", "types": None}
    assert stub.requests[0]["path"] == "/terminal/v1/licenses/query"
    assert_signed(stub.requests[0])


@pytest.mark.parametrize("ctype", ["application/pdf", "image/jpeg"])
def test_license_file(stub: Any, ctype: str) -> None:
    doc = b"%PDF-1.7 test" if ctype == "application/pdf" else b"\xff\xd8\xff\xe0jpeg"
    stub.replies.append((200, {"Content-Type": ctype}, doc))
    with client_for(stub) as c:
        assert c.license_file("L/1", "PF-1") == (doc, ctype)
    req = stub.requests[0]
    assert (req["method"], req["path"]) == ("GET", "/terminal/v1/licenses/L%2F1/file?proof_id=PF-1")
    assert_signed(req)


def test_certificate(stub: Any) -> None:
    stub.replies.append((200, {"Content-Type": "application/pdf; charset=binary"}, b"%PDF-1.7 cert"))
    with client_for(stub) as c:
        assert c.certificate("social_insurance_record", "PF-1") == b"%PDF-1.7 cert"
    req = stub.requests[0]
    assert req["path"] == "/terminal/v1/certificates/social_insurance_record?proof_id=PF-1"
    assert_signed(req)


def test_heartbeat_returns_commands_and_learns_the_clock(stub: Any) -> None:
    server_time = datetime.now(UTC) + timedelta(seconds=120)
    expires = (server_time + timedelta(minutes=10)).isoformat()
    args = {"reason": "维护"}
    cmd = {
        "command_id": "C-1",
        "name": "out_of_service",
        "args": args,
        "expires_at": expires,
        "signature": command_signature(SECRET, "C-1", "out_of_service", args, expires),
    }
    stub.replies += [
        envelope({"server_time": server_time.isoformat(), "commands": [cmd]}),
        envelope({"version": "v1", "unchanged": True, "items": []}),
    ]
    body = {
        "software_version": "1.2.0",
        "uptime_s": 5,
        "in_service": True,
        "devices": [],
        "outbox": {"pending": 0, "oldest_age_s": None},
        "disk_free_mb": 900,
        "sessions_today": 0,
    }
    with client_for(stub) as c:
        out = c.heartbeat(body)
        assert isinstance(out, HeartbeatResult) and out.commands[0].name == "out_of_service"
        assert 119_000 <= c.clock_offset_ms <= 121_000
        assert verify_command(out.commands[0], SECRET, c.platform_now())
        c.get_catalog("411502", since_version="v1")
    assert json.loads(stub.requests[0]["body"]) == body
    assert stub.requests[0]["path"] == "/terminal/v1/heartbeat"
    # The next request's X-Timestamp carries the learnt offset, and is signed with it.
    sent = int(stub.requests[1]["headers"]["X-Timestamp"])
    assert abs(sent - server_time.timestamp() * 1000) < 5_000
    assert_signed(stub.requests[1])


def test_ack_command(stub: Any) -> None:
    stub.replies.append(envelope({}))
    with client_for(stub) as c:
        assert c.ack_command("C/1", "done", None) is None
        with pytest.raises(ValueError):
            c.ack_command("C-1", "ok", None)
    req = stub.requests[0]
    assert (req["method"], req["path"]) == ("POST", "/terminal/v1/commands/C%2F1/ack")
    assert json.loads(req["body"]) == {"result": "done", "detail": None}
    assert len(stub.requests) == 1
    assert_signed(req)


# -- malformed answers are PlatformErrors, not crashes ------------------------------------------

_OK_HEARTBEAT = {"server_time": "2026-11-21T09:30:00+08:00", "commands": []}


@pytest.mark.parametrize(
    ("call", "data"),
    [
        (
            lambda c: c.enroll("t", TERMINAL, "h", "411502", HARDWARE, "1"),
            {"app_secret": "short", "heartbeat_interval_s": 60, "catalog_version": "v"},
        ),
        (
            lambda c: c.enroll("t", TERMINAL, "h", "411502", HARDWARE, "1"),
            {"app_secret": NEW_SECRET, "heartbeat_interval_s": "60", "catalog_version": "v"},
        ),
        (lambda c: c.qr_login("q"), {"identity": IDENTITY, "proof": None}),
        (lambda c: c.qr_login("q"), {"identity": {"name": "x"}, "proof": PROOF}),
        (lambda c: c.query_licenses("p"), {"licenses": [LICENSE | {"level": "C"}]}),
        (lambda c: c.query_licenses("p"), {"licenses": [LICENSE | {"valid_until": "2036/01/01"}]}),
        (lambda c: c.query_licenses("p"), {"items": []}),
        (lambda c: c.heartbeat({}), _OK_HEARTBEAT | {"server_time": "yesterday"}),
        (lambda c: c.heartbeat({}), _OK_HEARTBEAT | {"server_time": "2026-11-21T09:30:00"}),
        (lambda c: c.heartbeat({}), _OK_HEARTBEAT | {"commands": [{"command_id": "c"}]}),
        (lambda c: c.heartbeat({}), {"commands": []}),
        (lambda c: c.ack_command("c", "done"), None),
    ],
)
def test_malformed_data_is_a_protocol_error(stub: Any, call: Any, data: Any) -> None:
    stub.replies.append(envelope(data))
    with client_for(stub) as c, pytest.raises(PlatformProtocolError) as err:
        call(c)
    assert err.value.code < 0
    assert IDENTITY["id_number"] not in str(err.value)


def test_non_json_answer_is_a_protocol_error(stub: Any) -> None:
    stub.replies.append((502, {"Content-Type": "text/html"}, b"<html>bad gateway</html>"))
    with client_for(stub) as c, pytest.raises(PlatformProtocolError):
        c.qr_login("q")


@pytest.mark.parametrize(
    ("call", "reply"),
    [
        (lambda c: c.license_file("L-1", "p"), (200, {"Content-Type": "text/html"}, b"<html></html>")),
        (lambda c: c.license_file("L-1", "p"), (200, {"Content-Type": "image/png"}, b"\x89PNG")),
        (lambda c: c.license_file("L-1", "p"), (200, {}, b"%PDF")),
        (lambda c: c.certificate("k", "p"), (200, {"Content-Type": "image/jpeg"}, b"\xff\xd8")),
        (lambda c: c.certificate("k", "p"), (200, {"Content-Type": "application/pdf"}, b"")),
        (lambda c: c.certificate("k", "p"), envelope({"unexpected": True})),
        (lambda c: c.certificate("k", "p"), (404, {"Content-Type": "application/pdf"}, b"%PDF")),
    ],
)
def test_file_endpoints_refuse_wrong_content(stub: Any, call: Any, reply: Reply) -> None:
    stub.replies.append(reply)
    with client_for(stub) as c, pytest.raises(PlatformProtocolError):
        call(c)


def test_file_endpoint_errors_come_as_envelopes(stub: Any) -> None:
    stub.replies.append(envelope(None, code=40302, status=403))
    with client_for(stub) as c, pytest.raises(PlatformError) as err:
        c.license_file("L-1", "expired-proof")
    assert (err.value.code, err.value.http_status) == (40302, 403)


def test_file_larger_than_20_mib_is_refused(stub: Any) -> None:
    big = str(MAX_FILE_BYTES + 1)
    stub.replies.append((200, {"Content-Type": "application/pdf", "Content-Length": big}, b"%PDF"))
    with client_for(stub) as c, pytest.raises(PlatformProtocolError) as err:
        c.certificate("k", "p")
    assert "larger than" in err.value.message


def test_file_of_exactly_20_mib_is_accepted(stub: Any) -> None:
    doc = b"%PDF" + b"\0" * (MAX_FILE_BYTES - 4)
    stub.replies.append((200, {"Content-Type": "application/pdf"}, doc))
    with client_for(stub) as c:
        assert len(c.certificate("k", "p")) == MAX_FILE_BYTES


# -- clock offset and the 40102 resync ---------------------------------------------------------


def _skew(server_now: datetime) -> Reply:
    return envelope(None, code=40102, status=401, headers={"Date": format_datetime(server_now, usegmt=True)})


def test_40102_once_learns_the_offset_and_the_retry_succeeds(stub: Any) -> None:
    server_now = datetime.now(UTC) + timedelta(hours=2)
    stub.replies += [_skew(server_now), envelope({"identity": IDENTITY, "proof": PROOF})]
    with client_for(stub, resync_clock=True) as c:
        assert c.qr_login("q").proof.proof_id == "PF-1"
        assert abs(c.clock_offset_ms - 7_200_000) < 3_000
    first, second = stub.requests
    assert first["headers"]["X-Nonce"] != second["headers"]["X-Nonce"]
    assert first["body"] == second["body"]
    assert abs(int(second["headers"]["X-Timestamp"]) - server_now.timestamp() * 1000) < 3_000
    assert_signed(second)


def test_40102_twice_is_an_error_without_a_loop(stub: Any) -> None:
    server_now = datetime.now(UTC) - timedelta(hours=1)
    stub.replies += [_skew(server_now), _skew(server_now), envelope({"licenses": []})]
    with client_for(stub, resync_clock=True) as c, pytest.raises(PlatformError) as err:
        c.query_licenses("p")
    assert err.value.code == 40102 and len(stub.requests) == 2


def test_40102_without_a_date_header_is_not_retried(stub: Any) -> None:
    no_date = envelope(None, code=40102, status=401, headers={"Date": ""})
    stub.replies += [no_date, envelope({"licenses": []})]
    with client_for(stub, resync_clock=True) as c, pytest.raises(PlatformError) as err:
        c.query_licenses("p")
    assert err.value.code == 40102 and len(stub.requests) == 1


def test_40102_resync_also_covers_file_downloads(stub: Any) -> None:
    stub.replies += [
        _skew(datetime.now(UTC) + timedelta(minutes=30)),
        (200, {"Content-Type": "application/pdf"}, b"%PDF-x"),
    ]
    with client_for(stub, resync_clock=True) as c:
        assert c.certificate("k", "p") == b"%PDF-x"
    assert len(stub.requests) == 2


def test_enroll_is_never_resynced(stub: Any) -> None:
    stub.replies += [_skew(datetime.now(UTC)), envelope({})]
    with client_for(stub, resync_clock=True) as c, pytest.raises(PlatformError):
        c.enroll("t", TERMINAL, "h", "411502", HARDWARE, "1")
    assert len(stub.requests) == 1


def test_x_timestamp_is_shifted_by_the_offset(stub: Any) -> None:
    stub.replies += [envelope({"licenses": []})]
    with client_for(stub, clock=lambda: 1_000_000.0) as c:
        c.clock_offset_ms = -45_000
        c.query_licenses("p")
        assert c.platform_now() == pytest.approx(1_000_000.0 - 45.0)
    req = stub.requests[0]
    assert req["headers"]["X-Timestamp"] == str(1_000_000_000 - 45_000)
    assert_signed(req)


# -- remote commands ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def _command(args: dict[str, Any], expires_at: str, secret: str = SECRET) -> dict[str, Any]:
    return {
        "command_id": "C-7",
        "name": "upload_logs",
        "args": args,
        "expires_at": expires_at,
        "signature": command_signature(secret, "C-7", "upload_logs", args, expires_at),
    }


def test_command_signature_matches_an_independent_computation() -> None:
    from cryptography.hazmat.primitives import hashes, hmac

    args = {"b": 1, "a": "日志"}
    msg = 'C-7\nupload_logs\n{"a":"日志","b":1}\n2026-11-21T18:00:00+08:00'.encode()
    mac = hmac.HMAC(SECRET.encode(), hashes.SM3())
    mac.update(msg)
    assert command_signature(SECRET, "C-7", "upload_logs", args, "2026-11-21T18:00:00+08:00") == (
        mac.finalize().hex()
    )
    assert sm3_hex(b"")  # the SM3 backend is there


def test_verify_command_accepts_a_good_signature() -> None:
    cmd = _command({"since": "2026-11-20", "部门": "人社"}, "2026-11-21T18:00:00+08:00")
    assert verify_command(cmd, SECRET, NOW)
    assert verify_command(Command.model_validate(cmd), SECRET, NOW.timestamp())


def test_verify_command_rejects_tampering_wrong_secret_and_expiry() -> None:
    cmd = _command({"since": "2026-11-20"}, "2026-11-21T18:00:00+08:00")
    assert not verify_command(cmd | {"args": {"since": "2026-01-01"}}, SECRET, NOW)
    assert not verify_command(cmd | {"name": "restart"}, SECRET, NOW)
    assert not verify_command(cmd | {"command_id": "C-8"}, SECRET, NOW)
    assert not verify_command(cmd | {"expires_at": "2026-11-22T18:00:00+08:00"}, SECRET, NOW)
    assert not verify_command(cmd, "b" * 64, NOW)
    assert not verify_command(cmd | {"signature": cmd["signature"].upper()}, SECRET, NOW)
    # 18:00+08:00 is 10:00 UTC: valid just before, expired at and after it.
    assert verify_command(cmd, SECRET, datetime(2026, 11, 21, 9, 59, 59, tzinfo=UTC))
    assert not verify_command(cmd, SECRET, datetime(2026, 11, 21, 10, 0, tzinfo=UTC))


def test_verify_command_is_false_for_malformed_commands() -> None:
    good = _command({}, "2026-11-21T18:00:00+08:00")
    assert not verify_command(good | {"signature": "zz"}, SECRET, NOW)
    assert not verify_command({"command_id": "x"}, SECRET, NOW)
    bad_time = _command({}, "tomorrow")
    assert not verify_command(bad_time, SECRET, NOW)
    naive = _command({}, "2026-11-21T18:00:00")
    assert not verify_command(naive, SECRET, NOW)


# -- TLS ---------------------------------------------------------------------------------------


class _Recorder(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kw: Any) -> requests.Response:  # type: ignore[override]
        self.calls.append(kw)
        raise requests.ConnectionError("recorded only")


def test_client_certificate_is_passed_and_verification_stays_on() -> None:
    session = _Recorder()
    c = PlatformClient(
        "https://platform.example.cn/terminal/v1",
        TERMINAL,
        SECRET,
        ca_file="/etc/kiosk/ca.pem",
        client_cert=("/etc/kiosk/term.crt", "/etc/kiosk/term.key"),
        session=session,
    )
    with pytest.raises(PlatformError):
        c.certificate("k", "p")
    with pytest.raises(PlatformError):
        c.enroll("t", TERMINAL, "h", "411502", HARDWARE, "1")
    for kw in session.calls:
        assert kw["cert"] == ("/etc/kiosk/term.crt", "/etc/kiosk/term.key")
        assert kw["verify"] == "/etc/kiosk/ca.pem"
    plain = _Recorder()
    c2 = PlatformClient("https://platform.example.cn", TERMINAL, SECRET, session=plain)
    with pytest.raises(PlatformError):
        c2.qr_login("q")
    assert plain.calls[0]["verify"] is True and plain.calls[0]["cert"] is None
