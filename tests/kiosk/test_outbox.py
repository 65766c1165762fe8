"""Outbox: encryption at rest, exactly-once delivery across a crash, retry and failure handling,
per-session order. Delivery runs against the platform simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.exceptions import InvalidTag
from PIL import Image

from kiosk.idnumber import check_character
from kiosk.outbox import DELIVERED_KEPT_S, Outbox, OutboxUnavailable, load_or_create_key, material_ref
from kiosk.platform import PlatformClient, PlatformError, PlatformTransportError, json_body
from kiosk.platform_sim import ServerThread
from kiosk.platform_sim.core import rfc3339

TERMINAL = "T4115020001"
SECRET = "c" * 64
CATALOG = Path(__file__).resolve().parents[2] / "assets" / "catalog" / "seed_catalog.json"
IDN = "41150219800101001" + check_character("41150219800101001")
NAME = "李四"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(tmp_path / "platform.db", {TERMINAL: SECRET}, CATALOG) as server:
        yield server


@pytest.fixture
def client(sim: ServerThread) -> Iterator[PlatformClient]:
    with PlatformClient(sim.base_url, TERMINAL, SECRET, connect_timeout_s=1.0, read_timeout_s=5.0) as c:
        yield c


@pytest.fixture
def key(tmp_path: Path) -> bytes:
    return load_or_create_key(tmp_path / "secrets" / "outbox.key")


def proof(client: PlatformClient, idn: str = IDN) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (96, 96), (90, 80, 70)).save(buf, "JPEG")
    result = client.face_verify(
        idn, NAME, buf.getvalue(), {"method": "presence", "passed": True, "score": 0.9}
    )
    return result["proof"]["proof_id"]


def application(proof_id: str, idn: str = IDN, **fields: Any) -> bytes:
    return json_body(
        {
            "terminal_ref": f"{TERMINAL}-{uuid.uuid4().hex[:12]}",
            "item_code": "KS-SAMPLE-JY-SY-0007",
            "mode": "online",
            "applicant": {"name": NAME, "id_type": "resident", "id_number": idn, "phone": "13900000000"},
            "proof_id": proof_id,
            "form": {"phone": "13900000000"},
            "materials": [],
            "commitment": None,
            "delivery": {"method": "online", "address": None},
            "submitted_at": rfc3339(time.time()),
        }
        | fields
    )


def sim_cases(sim: ServerThread) -> list[dict[str, Any]]:
    return requests.get(sim.base_url + "/ops/cases", timeout=5).json()


# -- storage -----------------------------------------------------------------------------------


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "k" / "outbox.key"
    path.parent.mkdir()
    key = load_or_create_key(path)
    assert len(key) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    path.write_bytes(b"short")
    with pytest.raises(ValueError):
        load_or_create_key(path)


@pytest.mark.parametrize("cipher", ["aes-gcm", "sm4-gcm"])
def test_bodies_and_responses_are_encrypted_at_rest(
    tmp_path: Path, key: bytes, client: PlatformClient, cipher: str
) -> None:
    db = tmp_path / "state.db"
    body = application(proof(client))
    with Outbox(db, key, cipher=cipher) as box:
        rec = box.enqueue("application", body, session_ref="s1")
        assert box.body(rec.id) == body
        delivered = box.deliver(client, rec.id)
        assert delivered.state == "delivered"
        case = box.response(rec.id)
        assert case is not None and case["case_no"].startswith("KS")
        files = [p for p in tmp_path.iterdir() if p.name.startswith("state.db")]
        raw = b"".join(p.read_bytes() for p in files)  # the main file, the WAL and its index
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for plaintext in (IDN, NAME, "13900000000", case["case_no"], case["query_code"]):
        assert plaintext.encode() not in raw
    with Outbox(db, key) as box:  # the record's own cipher is used to open it, whatever the default
        assert box.body(rec.id) == body and box.response(rec.id) == case
    with Outbox(db, os.urandom(32)) as box, pytest.raises(InvalidTag):
        box.body(rec.id)  # another key cannot open it


def test_enqueue_is_idempotent_per_key(tmp_path: Path, key: bytes) -> None:
    with Outbox(tmp_path / "o.db", key) as box:
        first = box.enqueue("rating", b'{"a":1}', session_ref="s", idempotency_key="k-1")
        assert box.enqueue("rating", b'{"a":1}', session_ref="s", idempotency_key="k-1") == first
        with pytest.raises(ValueError):
            box.enqueue("rating", b'{"a":2}', session_ref="s", idempotency_key="k-1")
        generated = box.enqueue("application", b"{}", session_ref="s")
        assert uuid.UUID(generated.idempotency_key).version == 4
        with pytest.raises(ValueError):
            box.enqueue("other", b"{}", session_ref="s")
        assert box.counts()["pending"] == 2


# -- delivery ----------------------------------------------------------------------------------


class Crash(BaseException):
    """Stands for kill -9 right after the platform accepted the request."""


class CrashAfterSend:
    def __init__(self, real: PlatformClient) -> None:
        self.real = real
        self.answers: list[dict[str, Any]] = []

    def submit_application(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        self.answers.append(self.real.submit_application(body_bytes, idempotency_key))
        raise Crash

    def submit_rating(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        raise AssertionError("not used")


def _killed_after_send(db: Path, key: bytes, client: PlatformClient) -> tuple[Outbox, Any, CrashAfterSend]:
    """An application enqueued, then the process "killed" right after the platform took it."""
    box = Outbox(db, key)
    rec = box.enqueue("application", application(proof(client)), session_ref="s1")
    crashing = CrashAfterSend(client)
    with pytest.raises(Crash):
        box.deliver(crashing, rec.id)
    return box, rec, crashing


def test_exactly_once_across_a_crash(
    tmp_path: Path, key: bytes, client: PlatformClient, sim: ServerThread
) -> None:
    db = tmp_path / "state.db"
    box, rec, crashing = _killed_after_send(db, key, client)
    assert box.get(rec.id).state == "sending"  # nothing ran after the "kill"
    box.close()

    with Outbox(db, key) as box:  # restart: the record is back to pending, same key, same bytes
        again = box.get(rec.id)
        assert again.state == "pending" and again.idempotency_key == rec.idempotency_key
        done = box.deliver(client, rec.id)
        assert done.state == "delivered" and done.attempts == 2
        assert box.response(rec.id) == crashing.answers[0]
        assert box.deliver(client, rec.id) == done  # delivered records are not sent again
    assert [c["case_no"] for c in sim_cases(sim)] == [crashing.answers[0]["case_no"]]


def test_a_claim_lost_to_a_power_cut_only_means_the_same_bytes_again(
    tmp_path: Path, key: bytes, client: PlatformClient, sim: ServerThread
) -> None:
    """The claim is committed without waiting for the disk (speed: two fsyncs fewer per record). A
    power cut may undo it after the send: the record is pending again as if never claimed, and its
    resend (same key, same bytes) is answered idempotently. Every other write stays durable."""
    db = tmp_path / "state.db"
    box, rec, crashing = _killed_after_send(db, key, client)
    assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again after the claim
    box._db.execute("UPDATE outbox SET state='pending', claim=NULL, attempts=0 WHERE id=?", (rec.id,))
    box.close()
    with Outbox(db, key) as box:
        done = box.deliver(client, rec.id)
        assert done.state == "delivered" and box.response(rec.id) == crashing.answers[0]
        assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert [c["case_no"] for c in sim_cases(sim)] == [crashing.answers[0]["case_no"]]


def test_stale_claim_is_released_by_deliver_pending(
    tmp_path: Path, key: bytes, client: PlatformClient
) -> None:
    clock = Clock()
    db = tmp_path / "state.db"
    box = Outbox(db, key, clock=clock, lease_s=60)
    rec = box.enqueue("application", application(proof(client)), session_ref="s1")
    with pytest.raises(Crash):
        box.deliver(CrashAfterSend(client), rec.id)
    # Another process (recover_sending=False, like the UI) honours the claim until the lease ends.
    other = Outbox(db, key, clock=clock, lease_s=60, recover_sending=False)
    assert other.deliver_pending(client) == [] and other.get(rec.id).state == "sending"
    clock.now += 61
    assert [r.state for r in other.deliver_pending(client)] == ["delivered"]
    other.close()
    box.close()


def test_unreachable_platform_keeps_the_record_pending(
    tmp_path: Path, key: bytes, client: PlatformClient, sim: ServerThread
) -> None:
    clock = Clock()
    body = application(proof(client))
    sim.stop()
    with Outbox(tmp_path / "state.db", key, clock=clock) as box:
        rec = box.enqueue("application", body, session_ref="s1")
        other = box.enqueue("application", application("p2"), session_ref="s2")
        attempted = box.deliver_pending(client)
        assert len(attempted) == 1  # stops at the first transport failure
        failed = attempted[0]
        assert (failed.id, failed.state, failed.attempts, failed.last_code) == (rec.id, "pending", 1, -1)
        assert failed.next_attempt_at > clock.now
        assert box.counts() == {
            "pending": 2,
            "sending": 0,
            "delivered": 0,
            "failed": 0,
            "oldest_pending_age_s": 0,
        }
        clock.now += 0.5  # the first backoff is at least 1 s: only the untried record is due
        assert [r.id for r in box.deliver_pending(client)] == [other.id]

        restarted = ServerThread(app=sim.app, port=sim.port).start()  # same state, same address
        try:
            clock.now += 600
            results = box.deliver_pending(client)
            stored = sim_cases(restarted)
        finally:
            restarted.stop()
        by_id = {r.id: r for r in results}
        assert by_id[rec.id].state == "delivered" and by_id[rec.id].attempts == 2
        assert box.body(rec.id) == body
        # The other record carries a made-up proof: a permanent refusal, not a retry.
        assert (by_id[other.id].state, by_id[other.id].last_code) == ("failed", 40302)
        case = box.response(rec.id)
    assert case is not None and [c["case_no"] for c in stored] == [case["case_no"]]


def test_permanent_refusal_marks_failed_with_code(tmp_path: Path, key: bytes, client: PlatformClient) -> None:
    bad = IDN[:-1] + ("0" if IDN[-1] != "0" else "1")
    with Outbox(tmp_path / "state.db", key) as box:
        rec = box.enqueue("application", application(proof(client), idn=bad), session_ref="s1")
        out = box.deliver(client, rec.id)
        assert out.state == "failed" and out.last_code == 40001 and out.last_request_id
        assert "applicant.id_number" in (out.last_message or "")
        assert bad not in (out.last_message or "")
        assert box.deliver(client, rec.id) == out  # never re-sent
        assert box.response(rec.id) is None
        assert box.counts()["failed"] == 1


class Scripted:
    """A fake client answering from a script; records every (kind, body, key) it was given."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, bytes, str]] = []

    def _answer(self, kind: str, body: bytes, key: str) -> dict[str, Any]:
        self.calls.append((kind, body, key))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def submit_application(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        return self._answer("application", body_bytes, idempotency_key)

    def submit_rating(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        return self._answer("rating", body_bytes, idempotency_key)

    def upload_material(self, data: bytes, content_type: str) -> dict[str, Any]:
        return self._answer(content_type, data, "")


def test_retries_resend_identical_bytes_and_key_and_honour_retry_after(tmp_path: Path, key: bytes) -> None:
    clock = Clock()
    busy = PlatformError(42901, "rate limited", http_status=429, retry_after_s=120)
    fake = Scripted(PlatformTransportError("down"), busy, {"case_no": "KS1", "query_code": "123456"})
    with Outbox(tmp_path / "o.db", key, clock=clock) as box:
        rec = box.enqueue("application", b'{"x":"\xe4\xb8\xad"}', session_ref="s")
        assert box.deliver(fake, rec.id).state == "pending"
        after_busy = box.deliver(fake, rec.id)
        assert after_busy.last_code == 42901 and after_busy.next_attempt_at >= clock.now + 120
        clock.now += 119
        assert box.deliver_pending(fake) == []
        clock.now += 0.2 * 120 + 2  # RetryPolicy spreads a fleet over up to 20% past Retry-After
        assert [r.state for r in box.deliver_pending(fake)] == ["delivered"]
    assert {(k, b, key_) for k, b, key_ in fake.calls} == {
        ("application", b'{"x":"\xe4\xb8\xad"}', rec.idempotency_key)
    }
    assert len(fake.calls) == 3


def test_session_order_is_kept(tmp_path: Path, key: bytes) -> None:
    unavailable = PlatformError(50301, "maintenance", http_status=503)
    fake = Scripted(unavailable, {"rating_id": "r-b"}, {"case_no": "KS-A"}, {"rating_id": "r-a"})
    clock = Clock()
    with Outbox(tmp_path / "o.db", key, clock=clock) as box:
        a1 = box.enqueue("application", b"a1", session_ref="A")
        a2 = box.enqueue("rating", b"a2", session_ref="A")
        b1 = box.enqueue("rating", b"b1", session_ref="B")
        first = box.deliver_pending(fake)
        assert [r.id for r in first] == [a1.id, b1.id]  # a2 waits behind a1
        assert box.deliver(fake, a2.id).state == "pending"  # even when asked directly
        clock.now += 3600
        second = box.deliver_pending(fake)
        assert [(r.id, r.state) for r in second] == [(a1.id, "delivered"), (a2.id, "delivered")]
    assert [c[1] for c in fake.calls] == [b"a1", b"b1", b"a1", b"a2"]


def test_unexpected_client_bug_keeps_record_and_raises(tmp_path: Path, key: bytes) -> None:
    fake = Scripted(RuntimeError("bug"), RuntimeError("bug"))
    with Outbox(tmp_path / "o.db", key) as box:
        rec = box.enqueue("rating", b"r", session_ref="s")
        with pytest.raises(RuntimeError):
            box.deliver(fake, rec.id)
        assert box.get(rec.id).state == "pending"
        assert box.get(rec.id).last_message == "internal error: RuntimeError"


def test_logs_carry_no_personal_data(
    tmp_path: Path, key: bytes, client: PlatformClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    with Outbox(tmp_path / "state.db", key) as box:
        rec = box.enqueue("application", application(proof(client)), session_ref="s1")
        box.deliver(client, rec.id)
        case = box.response(rec.id)
    assert case is not None and rec.id in caplog.text
    for secret in (IDN, NAME, "13900000000", case["query_code"]):
        assert secret not in caplog.text


# -- materials ---------------------------------------------------------------------------------

PAGE = b"\xff\xd8\xff\xe0 a scanned page \xff\xd9"
RETIREMENT_FORM = {"phone": "13900000000", "bank_account": "6222020000000000", "reason": "正常退休"}


def case_with_scan(box: Outbox, proof_id: str, session_ref: str, pages: list[bytes]) -> str:
    """A 退休提取公积金 case whose M01 is scanned pages: the materials and the application in one commit."""
    with box.transaction():
        refs = [
            material_ref(box.enqueue("material", p, session_ref=session_ref, content_type="image/jpeg").id)
            for p in pages
        ]
        materials = [{"code": "M01", "source": "scan", "license_id": None, "material_ids": refs}]
        body = application(
            proof_id, item_code="KS-SAMPLE-GJJ-TQ-0001", form=RETIREMENT_FORM, materials=materials
        )
        return box.enqueue("application", body, session_ref=session_ref).id


def test_materials_are_uploaded_first_and_their_ids_sent_in_the_application(
    tmp_path: Path, key: bytes, client: PlatformClient, sim: ServerThread
) -> None:
    pages = [PAGE, PAGE + b"page 2"]
    with Outbox(tmp_path / "o.db", key) as box:
        app_id = case_with_scan(box, proof(client), "s1", pages)
        attempted = box.deliver_pending(client)
        assert [r.kind for r in attempted] == ["material", "material", "application"]
        assert all(r.state == "delivered" for r in attempted)
        sent = json.loads(box.body(app_id))
        uploaded = [box.response(r.id)["material_id"] for r in attempted[:2]]
        assert sent["materials"][0]["material_ids"] == uploaded
        assert "outbox-material:" not in box.body(app_id).decode()
        assert [c["case_no"] for c in sim_cases(sim)] == [box.response(app_id)["case_no"]]


def test_resolved_application_is_resent_byte_identical(tmp_path: Path, key: bytes) -> None:
    clock = Clock()
    fake = Scripted(
        {"material_id": "MAT1", "size": len(PAGE)}, PlatformTransportError("down"), {"case_no": "K"}
    )
    with Outbox(tmp_path / "o.db", key, clock=clock) as box:
        app_id = case_with_scan(box, "p", "s", [PAGE])
        box.deliver_pending(fake)
        assert box.get(app_id).state == "pending"
        clock.now += 3600
        assert [r.state for r in box.deliver_pending(fake)] == ["delivered"]
    (_, first, key1), (_, second, key2) = fake.calls[1:]
    assert first == second and key1 == key2
    assert json.loads(first)["materials"][0]["material_ids"] == ["MAT1"]


def test_refused_material_fails_its_application_without_sending_it(tmp_path: Path, key: bytes) -> None:
    too_big = PlatformError(41301, "material too large", http_status=413)
    fake = Scripted(too_big)
    with Outbox(tmp_path / "o.db", key) as box:
        app_id = case_with_scan(box, "p", "s", [PAGE])
        box.deliver_pending(fake)
        failed = box.get(app_id)
    assert failed.state == "failed" and failed.last_code == 41301
    assert "material too large" in (failed.last_message or "")
    assert [c[0] for c in fake.calls] == ["image/jpeg"]  # the application never went out


def test_material_needs_a_known_content_type(tmp_path: Path, key: bytes) -> None:
    with Outbox(tmp_path / "o.db", key) as box:
        with pytest.raises(ValueError, match="content_type"):
            box.enqueue("material", PAGE, session_ref="s")
        with pytest.raises(ValueError, match="unsupported"):
            box.enqueue("material", PAGE, session_ref="s", content_type="text/html")


# -- storage trouble -----------------------------------------------------------------------------


def test_corrupt_file_is_a_clear_error(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "o.db"
    db.write_bytes(b"this was a database once" * 100)
    with pytest.raises(OutboxUnavailable) as err:
        Outbox(db, key)
    assert err.value.reason == "corrupt"


def test_damaged_page_is_found_when_opening(tmp_path: Path, key: bytes) -> None:
    db = tmp_path / "o.db"
    with Outbox(db, key) as box:
        for i in range(40):
            box.enqueue("rating", os.urandom(2000), session_ref=f"s{i}")
    raw = bytearray(db.read_bytes())
    raw[4096 * 3 : 4096 * 3 + 64] = b"\x00" * 64  # a b-tree page header, as a failing disk leaves it
    db.write_bytes(bytes(raw))
    with pytest.raises(OutboxUnavailable) as err:
        Outbox(db, key)
    assert err.value.reason == "corrupt"


def test_full_disk_stores_nothing_of_the_case(tmp_path: Path, key: bytes) -> None:
    with Outbox(tmp_path / "o.db", key) as box:
        box.enqueue("rating", b"earlier", session_ref="s0")
        # SQLite's own page limit gives the same SQLITE_FULL a full file system gives.
        pages = box._db.execute("PRAGMA page_count").fetchone()[0]
        box._db.execute(f"PRAGMA max_page_count={pages + 2}")
        with pytest.raises(OutboxUnavailable) as err:
            case_with_scan(box, "p", "s1", [os.urandom(64 * 1024)])
        assert err.value.reason == "full"
        assert box.counts()["pending"] == 1  # no orphan material left behind by the failed case


def test_delivered_records_are_deleted_after_the_idempotency_window(tmp_path: Path, key: bytes) -> None:
    clock = Clock()
    refused = PlatformError(40001, "bad rating", http_status=400)
    # Case A: its material goes, its application waits for the platform. Case B: done. Case F: refused.
    fake = Scripted(
        {"rating_id": "r-b"},
        refused,
        {"material_id": "MAT1", "size": len(PAGE)},
        PlatformTransportError("down"),  # the drain stops here until the next cycle
    )
    with Outbox(tmp_path / "o.db", key, clock=clock) as box:
        rating_b = box.enqueue("rating", b"b", session_ref="B")
        rating_f = box.enqueue("rating", b"f", session_ref="F")
        app_a = case_with_scan(box, "p", "A", [PAGE])
        box.deliver_pending(fake)
        clock.now += DELIVERED_KEPT_S - 60
        assert box.prune_delivered() == 0  # within the platform's 7 days: kept
        clock.now += 120
        assert box.prune_delivered() == 1  # B's rating; A's material is still needed by A's application
        with pytest.raises(KeyError):
            box.get(rating_b.id)
        counts = box.counts()
        assert (counts["delivered"], counts["pending"], counts["failed"]) == (1, 1, 1)
        fake.answers.append({"case_no": "KS-A"})
        assert [r.state for r in box.deliver_pending(fake)] == ["delivered"]
        assert json.loads(box.body(app_a))["materials"][0]["material_ids"] == ["MAT1"]
        clock.now += DELIVERED_KEPT_S + 1
        assert box.prune_delivered() == 2  # A's material and application
        assert box.get(rating_f.id).state == "failed"  # staff follow refusals up: kept
