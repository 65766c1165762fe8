"""PlatformClient against the platform simulator served over real HTTP on 127.0.0.1, and against a tiny
stub server that answers outside the contract."""

from __future__ import annotations

import contextlib
import http.server
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from kiosk.idnumber import check_character
from kiosk.paths import shared_dir
from kiosk.platform import (
    PlatformClient,
    PlatformError,
    PlatformProtocolError,
    PlatformTransportError,
    citizen_message,
    json_body,
)
from kiosk.platform_sim import ServerThread, create_app
from kiosk.platform_sim.core import rfc3339

TERMINAL = "T4115020001"
SECRET = "a" * 64
CATALOG = Path(__file__).resolve().parents[2] / "assets" / "catalog" / "seed_catalog.json"
ITEM = "KS-SAMPLE-JY-SY-0007"  # online, no required material, online delivery


def id_number(first17: str = "41150219800101001") -> str:
    return first17 + check_character(first17)


def jpeg(size: int = 96) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (120, 110, 100)).save(buf, "JPEG")
    return buf.getvalue()


LIVENESS = {"method": "presence", "passed": True, "score": 0.93}


def application(proof_id: str, idn: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "terminal_ref": f"{TERMINAL}-{uuid.uuid4().hex[:12]}",
        "item_code": ITEM,
        "mode": "online",
        "applicant": {"name": "张三", "id_type": "resident", "id_number": idn, "phone": "13800000000"},
        "proof_id": proof_id,
        "form": {"phone": "13800000000"},
        "materials": [],
        "commitment": None,
        "delivery": {"method": "online", "address": None},
        "submitted_at": rfc3339(time.time()),
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    db = tmp_path_factory.mktemp("sim") / "platform.db"
    with ServerThread(db, {TERMINAL: SECRET}, CATALOG) as server:
        yield server


@pytest.fixture
def client(sim: ServerThread) -> Iterator[PlatformClient]:
    with PlatformClient(sim.base_url, TERMINAL, SECRET, read_timeout_s=5.0) as c:
        yield c


def proof_for(client: PlatformClient, idn: str) -> str:
    result = client.face_verify(idn, "张三", jpeg(), LIVENESS)
    assert result["match"] is True
    return result["proof"]["proof_id"]


def cases(sim: ServerThread) -> list[dict[str, Any]]:
    return requests.get(sim.base_url + "/ops/cases", timeout=5).json()


# -- happy paths -------------------------------------------------------------------------------


def test_catalog_full_then_unchanged(client: PlatformClient) -> None:
    full = client.get_catalog("411502")
    assert full["unchanged"] is False and len(full["items"]) == 7
    assert {"KS-SAMPLE-JY-SY-0007", "KS-SAMPLE-GJJ-TQ-0001"} <= {i["code"] for i in full["items"]}
    same = client.get_catalog("411502", since_version=full["version"])
    assert same == {"version": full["version"], "unchanged": True, "items": []}


def test_face_verify_rule(client: PlatformClient) -> None:
    good = client.face_verify(id_number(), "张三", jpeg(), LIVENESS)
    assert good["match"] and good["score"] == 0.9 and good["threshold"] == 0.6
    assert good["proof"]["proof_id"] and good["proof"]["expires_at"].endswith("+08:00")
    for args in [
        (id_number(), jpeg(32), LIVENESS),  # too small
        (id_number(), b"\xff\xd8not a jpeg", LIVENESS),
        (id_number(), jpeg(), {**LIVENESS, "passed": False}),
        (id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1"), jpeg(), LIVENESS),  # bad checksum
    ]:
        bad = client.face_verify(args[0], "张三", args[1], args[2])
        assert bad == {"match": False, "score": 0.1, "threshold": 0.6, "proof": None}


# -- face-verify with the real matcher (seeded demo people with a reference photo) ----------------

WANG = "411502195803120031"  # reference photo obama2.jpg (fictitious demo identities)
LI = "510107199007081247"  # reference photo biden.jpg


@pytest.fixture(scope="module")
def faces() -> Path:
    try:
        return shared_dir() / "testdata" / "faces"
    except FileNotFoundError as err:
        pytest.skip(f"face models not available: {err}")


def test_card_holder_matches_and_gets_a_proof(client: PlatformClient, faces: Path) -> None:
    result = client.face_verify(WANG, "王建国", (faces / "obama.jpg").read_bytes(), LIVENESS)
    assert result["match"] is True and result["threshold"] == 0.45
    assert 0.6 <= result["score"] <= 1.0
    proof_id = result["proof"]["proof_id"]
    accepted = client.submit_application(json_body(application(proof_id, WANG)), str(uuid.uuid4()))
    assert accepted["status"] == "submitted"


def test_someone_else_does_not_match(client: PlatformClient, faces: Path) -> None:
    for idn, photo in [(WANG, "biden.jpg"), (LI, "obama.jpg"), (LI, "obama2.jpg")]:
        result = client.face_verify(idn, "x", (faces / photo).read_bytes(), LIVENESS)
        assert result["match"] is False and result["proof"] is None, photo
        assert result["score"] < 0.3 and result["threshold"] == 0.45


def test_other_seeded_person_matches_own_face(client: PlatformClient, faces: Path) -> None:
    image = Image.open(faces / "two_people.jpg")
    biden_alone = io.BytesIO()
    image.crop((image.width // 2, 0, image.width, image.height)).save(biden_alone, "JPEG")
    assert client.face_verify(LI, "李秀兰", biden_alone.getvalue(), LIVENESS)["match"] is True
    both = client.face_verify(LI, "李秀兰", (faces / "two_people.jpg").read_bytes(), LIVENESS)
    assert both == {"match": False, "score": 0.0, "threshold": 0.45, "proof": None}  # who is it?


def test_failed_liveness_or_no_face_never_matches(client: PlatformClient, faces: Path) -> None:
    spoof = client.face_verify(
        WANG, "王建国", (faces / "obama.jpg").read_bytes(), {**LIVENESS, "passed": False}
    )
    assert spoof["match"] is False and spoof["proof"] is None and spoof["score"] >= 0.6
    for image in (jpeg(), jpeg(32), b"\xff\xd8not a jpeg"):
        blank = client.face_verify(WANG, "王建国", image, LIVENESS)
        assert blank == {"match": False, "score": 0.0, "threshold": 0.45, "proof": None}


def test_unseeded_person_keeps_the_deterministic_rule(client: PlatformClient, faces: Path) -> None:
    result = client.face_verify(id_number(), "张三", (faces / "biden.jpg").read_bytes(), LIVENESS)
    assert result["match"] is True and (result["score"], result["threshold"]) == (0.9, 0.6)


def test_without_models_seeded_people_use_the_deterministic_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shared" / "models").mkdir(parents=True)  # a shared dir without the model files
    monkeypatch.setenv("KIOSK_SHARED_DIR", str(tmp_path / "shared"))
    with (
        ServerThread(tmp_path / "p.db", {TERMINAL: SECRET}, CATALOG) as server,
        PlatformClient(server.base_url, TERMINAL, SECRET) as c,
    ):
        good = c.face_verify(WANG, "王建国", jpeg(), LIVENESS)  # no face at all, yet the stand-in matches
        assert good["match"] is True and (good["score"], good["threshold"]) == (0.9, 0.6)


def test_submit_then_query_application(client: PlatformClient, sim: ServerThread) -> None:
    idn = id_number("41150219750505002")
    body = application(proof_for(client, idn), idn)
    accepted = client.submit_application(json_body(body), str(uuid.uuid4()))
    case_no = accepted["case_no"]
    assert accepted["status"] == "submitted" and accepted["promised_days"] == 1
    assert case_no.startswith("KS") and len(case_no) == 18 and case_no[2:].isdigit()
    assert len(accepted["query_code"]) == 6 and accepted["query_code"].isdigit()

    status = client.get_application(case_no, accepted["query_code"])
    assert status["case_no"] == case_no and status["status"] == "submitted"
    assert status["item_code"] == ITEM and status["item_name"] == "失业登记"
    assert [t["status"] for t in status["timeline"]] == ["submitted"]
    assert client.find_application(body["terminal_ref"]) == status

    wrong = "000000" if accepted["query_code"] != "000000" else "111111"
    with pytest.raises(PlatformError) as err:
        client.get_application(case_no, wrong)
    assert err.value.code == 40401 and err.value.http_status == 404 and not err.value.retryable
    assert next(c for c in cases(sim) if c["case_no"] == case_no)["application"] == body


def test_material_upload_then_application_that_needs_it(client: PlatformClient) -> None:
    photo = jpeg(128)
    first = client.upload_material(photo, "image/jpeg")
    assert first == client.upload_material(photo, "image/jpeg")  # idempotent by content
    assert first["size"] == len(photo)
    idn = id_number("41150219600303003")
    body = application(
        proof_for(client, idn),
        idn,
        item_code="KS-SAMPLE-GJJ-TQ-0001",
        form={"phone": "13800000000", "bank_account": "6222000000000000", "reason": "正常退休"},
        materials=[
            {"code": "M01", "source": "scan", "license_id": None, "material_ids": [first["material_id"]]}
        ],
    )
    assert client.submit_application(json_body(body), str(uuid.uuid4()))["status"] == "submitted"
    with pytest.raises(ValueError):
        client.upload_material(photo, "text/plain")


def test_ratings(client: PlatformClient) -> None:
    idn = id_number("41150219900909004")
    accepted = client.submit_application(
        json_body(application(proof_for(client, idn), idn)), str(uuid.uuid4())
    )
    rating = {
        "case_no": accepted["case_no"],
        "item_code": ITEM,
        "satisfaction": 5,
        "reasons": [],
        "comment": None,
        "channel": 5,
        "rated_at": "2026-11-21T09:40:00+08:00",
    }
    key = str(uuid.uuid4())
    first = client.submit_rating(json_body(rating), key)
    assert first == client.submit_rating(json_body(rating), key)
    with pytest.raises(PlatformError) as err:
        client.submit_rating(json_body({**rating, "satisfaction": 1}), str(uuid.uuid4()))
    assert err.value.code == 40001 and [e.field for e in err.value.errors] == ["reasons"]
    assert client.submit_rating(
        json_body({**rating, "satisfaction": 2, "reasons": ["等待时间长"]}), str(uuid.uuid4())
    )


# -- idempotency and validation ----------------------------------------------------------------


def test_idempotent_replay_returns_the_same_case(client: PlatformClient, sim: ServerThread) -> None:
    idn = id_number("41150219820202005")
    body = json_body(application(proof_for(client, idn), idn))
    key = str(uuid.uuid4())
    first = client.submit_application(body, key)
    again = client.submit_application(body, key)
    assert again == first
    assert sum(1 for c in cases(sim) if c["case_no"] == first["case_no"]) == 1

    other = json_body(application(proof_for(client, idn), idn))
    with pytest.raises(PlatformError) as err:
        client.submit_application(other, key)
    assert err.value.code == 40901 and err.value.http_status == 409 and not err.value.retryable


def test_invalid_id_number_gives_field_errors(client: PlatformClient) -> None:
    idn = id_number("41150219820202006")
    bad_idn = idn[:-1] + ("1" if idn[-1] != "1" else "2")
    body = application(proof_for(client, idn), bad_idn, form={})
    with pytest.raises(PlatformError) as err:
        client.submit_application(json_body(body), str(uuid.uuid4()))
    e = err.value
    assert (e.code, e.http_status, e.retryable) == (40001, 400, False)
    assert {f.field for f in e.errors} == {"applicant.id_number", "form.phone"}
    assert e.request_id and citizen_message(e) == "填写的信息有误，请按提示修改后再提交。"


def test_unknown_item_and_bad_shape(client: PlatformClient) -> None:
    idn = id_number()
    with pytest.raises(PlatformError) as err:
        client.submit_application(json_body(application("p", idn, item_code="NOPE")), str(uuid.uuid4()))
    assert [f.field for f in err.value.errors] == ["item_code"]
    with pytest.raises(PlatformError) as err:
        client.submit_application(json_body({"terminal_ref": "x"}), str(uuid.uuid4()))
    assert err.value.code == 40001 and "item_code" in {f.field for f in err.value.errors}
    with pytest.raises(PlatformError) as err:
        client.submit_application(json_body(application("p", idn)), "not-a-uuid")
    assert err.value.code == 40001 and err.value.errors[0].field == "Idempotency-Key"


def test_proof_of_another_person_is_40302(client: PlatformClient) -> None:
    someone = id_number("41150219700707007")
    other = id_number("41150219700707008")
    with pytest.raises(PlatformError) as err:
        client.submit_application(
            json_body(application(proof_for(client, someone), other)), str(uuid.uuid4())
        )
    assert (err.value.code, err.value.http_status, err.value.retryable) == (40302, 403, False)
    assert err.value.citizen_message == "身份核验已失效，请重新核验身份。"


def test_proof_is_judged_when_the_citizen_submitted(tmp_path: Path) -> None:
    """15 minutes from face check to submission; the delivery itself may come much later (outbox)."""
    now = [time.time()]
    app = create_app(tmp_path / "p.db", {TERMINAL: SECRET}, CATALOG, clock=lambda: now[0])
    with (
        ServerThread(app=app) as server,
        PlatformClient(server.base_url, TERMINAL, SECRET, clock=lambda: now[0]) as c,
    ):
        idn = id_number()
        proof_id = proof_for(c, idn)
        in_time = application(proof_id, idn, submitted_at=rfc3339(now[0] + 14 * 60))
        too_late = application(proof_id, idn, submitted_at=rfc3339(now[0] + 15 * 60 + 1))
        now[0] += 2 * 3600  # both sides move, so the requests themselves are not skewed
        with pytest.raises(PlatformError) as err:
            c.submit_application(json_body(too_late), str(uuid.uuid4()))
        assert err.value.code == 40302
        assert c.submit_application(json_body(in_time), str(uuid.uuid4()))["status"] == "submitted"
        week_old = application(proof_id, idn, submitted_at=rfc3339(now[0] - 8 * 24 * 3600))
        with pytest.raises(PlatformError) as err:
            c.submit_application(json_body(week_old), str(uuid.uuid4()))
        assert err.value.code == 40001 and err.value.errors[0].field == "submitted_at"


# -- signing failures --------------------------------------------------------------------------


def expect_code(call: Callable[[], object], code: int, status: int, retryable: bool) -> PlatformError:
    with pytest.raises(PlatformError) as err:
        call()
    assert (err.value.code, err.value.http_status, err.value.retryable) == (code, status, retryable)
    return err.value


def test_wrong_secret_is_40101(sim: ServerThread) -> None:
    with PlatformClient(sim.base_url, TERMINAL, "b" * 64) as c:
        expect_code(lambda: c.get_catalog("411502"), 40101, 401, False)


def test_unknown_terminal_is_40301(sim: ServerThread) -> None:
    with PlatformClient(sim.base_url, "T0000000000", SECRET) as c:
        expect_code(lambda: c.get_catalog("411502"), 40301, 403, False)


def test_replayed_nonce_is_40103(sim: ServerThread) -> None:
    fixed = uuid.uuid4().hex
    with PlatformClient(sim.base_url, TERMINAL, SECRET, nonce_factory=lambda: fixed) as c:
        c.get_catalog("411502")
        expect_code(lambda: c.get_catalog("411502"), 40103, 401, True)


def test_clock_skew_is_40102(sim: ServerThread) -> None:
    with PlatformClient(sim.base_url, TERMINAL, SECRET, clock=lambda: time.time() - 301) as c:
        expect_code(lambda: c.get_catalog("411502"), 40102, 401, True)
    with PlatformClient(sim.base_url, TERMINAL, SECRET, clock=lambda: time.time() + 200) as c:
        assert c.get_catalog("411502")["version"]  # inside the 300 s window


# -- transport and contract failures -----------------------------------------------------------


class _Stub(http.server.BaseHTTPRequestHandler):
    """Answers every request with `server.reply` = (status, headers, body, delay_s)."""

    def do_GET(self) -> None:
        status, headers, body, delay = self.server.reply  # type: ignore[attr-defined]
        time.sleep(delay)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        # The client may have given up first (timeouts, size cap): that is the point of those tests.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _stub_client(stub: http.server.ThreadingHTTPServer, **kw: Any) -> PlatformClient:
    return PlatformClient(f"http://127.0.0.1:{stub.server_address[1]}", TERMINAL, SECRET, **kw)


ENV_OK = b'{"code":0,"message":"ok","request_id":"r1","data":%s}'


@pytest.mark.parametrize(
    ("status", "headers", "body", "fragment"),
    [
        (502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>", "without a valid envelope"),
        (200, {}, b"[1, 2]", "without a valid envelope"),
        (200, {}, b'{"code":"0","message":"ok","request_id":"r","data":{}}', "without a valid envelope"),
        (200, {}, b'{"code":40001,"message":"x","request_id":"r","data":null}', "disagrees"),
        (400, {}, ENV_OK % b"{}", "disagrees"),
        (200, {}, ENV_OK % b'{"version":"v1","unchanged":false}', "unexpected data shape"),
        (200, {}, ENV_OK % b'{"version":"v1","unchanged":"no","items":[]}', "unexpected data shape"),
        (200, {}, ENV_OK % b"null", "data is not an object"),
        (200, {"Content-Length": str(26 * 1024 * 1024)}, b"", "larger than"),
    ],
)
def test_malformed_responses_raise_protocol_errors(
    stub: http.server.ThreadingHTTPServer, status: int, headers: dict[str, str], body: bytes, fragment: str
) -> None:
    stub.reply = (status, headers, body, 0.0)  # type: ignore[attr-defined]
    with _stub_client(stub) as c, pytest.raises(PlatformProtocolError) as err:
        c.get_catalog("411502")
    assert fragment in err.value.message and err.value.retryable and err.value.code < 0


def test_streamed_oversize_body_is_refused(stub: http.server.ThreadingHTTPServer) -> None:
    stub.reply = (200, {"Connection": "close"}, b" " * 10_000 + ENV_OK % b"{}", 0.0)  # type: ignore[attr-defined]
    with _stub_client(stub, max_response_bytes=4096) as c, pytest.raises(PlatformProtocolError) as err:
        c.get_catalog("411502")
    assert "larger than 4096" in err.value.message


def test_unknown_code_follows_http_class(stub: http.server.ThreadingHTTPServer) -> None:
    stub.reply = (502, {}, b'{"code":50201,"message":"upstream","request_id":"r","data":null}', 0.0)  # type: ignore[attr-defined]
    with _stub_client(stub) as c:
        err = expect_code(lambda: c.get_catalog("411502"), 50201, 502, True)
    assert err.citizen_message == "网络暂时不通，请稍后再试。"


def test_read_timeout_is_a_retryable_transport_error(stub: http.server.ThreadingHTTPServer) -> None:
    stub.reply = (200, {}, ENV_OK % b"{}", 1.0)  # type: ignore[attr-defined]
    with _stub_client(stub, read_timeout_s=0.2) as c, pytest.raises(PlatformTransportError) as err:
        c.get_catalog("411502")
    assert err.value.retryable and err.value.code == -1
    assert citizen_message(err.value, queued=True) == "网络暂时不通，您的申请已保存，将自动提交。"


def test_connection_refused_is_a_retryable_transport_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with (
        PlatformClient(f"http://127.0.0.1:{port}", TERMINAL, SECRET) as c,
        pytest.raises(PlatformTransportError),
    ):
        c.get_catalog("411502")


def test_tls_verification_is_always_on() -> None:
    seen: list[dict[str, Any]] = []

    class Recorder(requests.Session):
        def request(self, method: str, url: str, **kw: Any) -> requests.Response:  # type: ignore[override]
            seen.append(kw)
            raise requests.ConnectionError("recorded")

    for ca in (None, "/etc/kiosk/platform-ca.pem"):
        c = PlatformClient("https://platform.example.cn", TERMINAL, SECRET, ca_file=ca, session=Recorder())
        with pytest.raises(PlatformTransportError):
            c.get_catalog("411502")
    assert [kw["verify"] for kw in seen] == [True, "/etc/kiosk/platform-ca.pem"]
    with pytest.raises(ValueError):
        PlatformClient("http://platform.example.cn", TERMINAL, SECRET)  # plain HTTP only on loopback


def test_logs_carry_no_personal_data(client: PlatformClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    idn = id_number("41150219880808009")
    body = application(proof_for(client, idn), idn)
    client.submit_application(json_body(body), str(uuid.uuid4()))
    with pytest.raises(PlatformError):
        client.submit_application(json_body({**body, "form": {}}), str(uuid.uuid4()))
    text = caplog.text
    assert "/applications" in text
    for secret in (idn, "张三", "13800000000"):
        assert secret not in text
