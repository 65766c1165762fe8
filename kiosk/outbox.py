"""Durable, encrypted queue of platform writes (applications, ratings), delivered exactly once.

- A write is committed here (WAL, synchronous=FULL) before the receipt prints; that commit is the
  durability point.
- The body is stored as the exact bytes to send, sealed with AES-GCM (or SM4-GCM) under a key from the
  secrets directory; associated data binds each ciphertext to its record id and role, so ciphertexts
  cannot be swapped between records. The platform's response is sealed the same way.
- Exactly once: each record has one idempotency key, fixed at enqueue; every retry resends the same
  key and byte-identical body, so the platform answers a re-send with the original response.
- A record is claimed (`sending`) before the call. One left in `sending` by a crash goes back to
  `pending` when the outbox is opened (or once its claim is older than the lease) and is simply re-sent.
- Per session order: a record is not sent while an earlier record of the same session is undelivered,
  so a case goes materials → application → rating.
- Materials (§5.6) are records of their own. The application refers to each by `material_ref(id)`;
  the platform's `material_id`s replace those references when the application is first claimed, and
  the resolved bytes are sealed back into the record, so every (re)send is byte-identical. A material
  that failed for good fails its application with the material's reason instead of sending it.
- Storage trouble (disk full, a corrupt or unreadable file) raises `OutboxUnavailable`: the caller
  must not accept a case it could not store.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.application import canonical_json
from kiosk.outbox_terms import STATES, OutboxUnavailable
from kiosk.platform.errors import CODE_TRANSPORT, PlatformError
from kiosk.platform.retry import RetryPolicy
from kiosk.signing import hmac_sm3_hex

if TYPE_CHECKING:
    from kiosk.config import StorageConfig

log = logging.getLogger(__name__)

__all__ = [
    "KINDS",
    "MATERIAL_TYPES",
    "STATES",
    "Outbox",
    "OutboxRecord",
    "OutboxUnavailable",
    "load_or_create_key",
    "material_ref",
]

KINDS = ("material", "application", "rating")
MATERIAL_TYPES = ("image/jpeg", "image/png", "application/pdf")  # §5.6
_MATERIAL_REF = "outbox-material:"
KEY_BYTES = 32
# Delivered records (sealed bodies: scanned pages, signatures) are kept as long as the platform keeps
# an idempotency key (§3: 7 days), then deleted: the file does not grow for the terminal's lifetime.
DELIVERED_KEPT_S = 7 * 86400
_NONCE_BYTES = 12
_TAG_BYTES = 16

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    session_ref TEXT NOT NULL, idempotency_key TEXT NOT NULL UNIQUE, content_type TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL, claim TEXT, claimed_at REAL,
    last_code INTEGER, last_message TEXT, last_request_id TEXT, delivered_at REAL,
    reviewed_at REAL,  -- a failed record that staff have followed up (see `acknowledge_failed`)
    -- The sealed bodies last: a material's 200 KB would otherwise have to be walked (overflow
    -- pages) to read any column after it, on every scan for due records.
    alg TEXT NOT NULL, response_nonce BLOB, response_ct BLOB,
    body_nonce BLOB NOT NULL, body_ct BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at, seq);
CREATE INDEX IF NOT EXISTS outbox_session ON outbox (session_ref, seq);
-- deliver_pending's cursor (state='pending' AND seq > ? ORDER BY seq LIMIT 1): walks pending rows in
-- seq order from the cursor; with only outbox_due it sorted every due row per pick (quadratic drain).
CREATE INDEX IF NOT EXISTS outbox_pending_seq ON outbox (state, seq);
"""
_RECORD_COLUMNS = (
    "id, seq, kind, session_ref, idempotency_key, content_type, state, attempts, created_at, updated_at, "
    "next_attempt_at, last_code, last_message, last_request_id, delivered_at"
)
# An earlier undelivered record of the same session blocks this one (keeps per-session order).
_NOT_BLOCKED = (
    "NOT EXISTS (SELECT 1 FROM outbox AS e WHERE e.session_ref = outbox.session_ref "
    "AND e.seq < outbox.seq AND e.state IN ('pending', 'sending'))"
)


class Submitter(Protocol):
    """What the outbox needs from `PlatformClient`."""

    def submit_application(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]: ...

    def submit_rating(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]: ...

    def upload_material(self, data: bytes, content_type: str) -> dict[str, Any]: ...


def _storage_error(err: Exception) -> OutboxUnavailable:
    text = str(err).lower()
    disk_full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    if disk_full or (isinstance(err, sqlite3.OperationalError) and "full" in text):
        reason = "full"
    elif isinstance(err, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
        reason = "corrupt"
    else:
        reason = "io"
    return OutboxUnavailable(reason, f"{type(err).__name__}: {err}")


def material_ref(record_id: str) -> str:
    """What an application body carries in place of a material id until the material is uploaded."""
    return _MATERIAL_REF + record_id


@dataclass(frozen=True)
class OutboxRecord:
    id: str
    seq: int
    kind: str
    session_ref: str
    idempotency_key: str
    content_type: str | None
    state: str
    attempts: int
    created_at: float
    updated_at: float
    next_attempt_at: float
    last_code: int | None
    last_message: str | None
    last_request_id: str | None
    delivered_at: float | None


def load_or_create_key(path: Path) -> bytes:
    """Read the 32-byte outbox key, creating it (mode 0600, fsynced; directory 0700) on first use."""
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise ValueError(f"outbox key file {path} must hold exactly {KEY_BYTES} bytes") from None
        if path.stat().st_mode & 0o077:
            log.warning("outbox key file %s is readable by group/others; expected mode 0600", path)
        return key
    key = os.urandom(KEY_BYTES)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


class _Sealer:
    """AEAD with a fresh random 96-bit nonce per message; ciphertext includes the 16-byte tag."""

    def __init__(self, alg: str, key: bytes) -> None:
        if alg == "aes-gcm":
            self._aes: AESGCM | None = AESGCM(key)
            self._sm4_key = b""
        elif alg == "sm4-gcm":
            self._aes = None
            # SM4 takes 128-bit keys: derive one instead of reusing raw key bytes across algorithms.
            self._sm4_key = bytes.fromhex(hmac_sm3_hex(key, b"kiosk outbox sm4-gcm"))[:16]
        else:
            raise ValueError(f"unknown cipher {alg!r}")

    def seal(self, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
        nonce = os.urandom(_NONCE_BYTES)
        if self._aes is not None:
            return nonce, self._aes.encrypt(nonce, plaintext, aad)
        enc = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        return nonce, enc.update(plaintext) + enc.finalize() + enc.tag

    def open(self, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        if self._aes is not None:
            return self._aes.decrypt(nonce, ciphertext, aad)
        body, tag = ciphertext[:-_TAG_BYTES], ciphertext[-_TAG_BYTES:]
        dec = Cipher(algorithms.SM4(self._sm4_key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(aad)
        return dec.update(body) + dec.finalize()


class _MaterialFailed(Exception):
    def __init__(self, record: OutboxRecord) -> None:
        super().__init__(record.id)
        self.record = record


def _aad(record_id: str, role: str) -> bytes:
    return f"kiosk-outbox\x00{record_id}\x00{role}".encode()


class Outbox:
    def __init__(
        self,
        db_path: Path,
        key: bytes,
        *,
        cipher: str = "aes-gcm",
        recover_sending: bool = True,
        lease_s: float = 120.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"outbox key must be {KEY_BYTES} bytes")
        self._cipher = cipher
        self._sealers = {alg: _Sealer(alg, key) for alg in ("aes-gcm", "sm4-gcm")}
        if cipher not in self._sealers:
            raise ValueError(f"unknown cipher {cipher!r}")
        self._lease_s = lease_s
        self._retry = retry or RetryPolicy(base_s=2.0, max_s=300.0)
        self._clock = clock
        self._lock = threading.RLock()  # one connection shared by threads, used under this lock
        try:
            self._db = self._connect(Path(db_path))
        except (sqlite3.DatabaseError, OSError) as err:
            raise _storage_error(err) from err
        if recover_sending:
            # A process opening while another may be mid-send passes False; deliver_pending then
            # releases only claims older than the lease.
            with self._tx():
                n = self._db.execute(
                    "UPDATE outbox SET state='pending', claim=NULL, next_attempt_at=? WHERE state='sending'",
                    (self._clock(),),
                ).rowcount
            if n:
                log.warning("outbox: %d record(s) left in sending by an earlier run, back to pending", n)

    @classmethod
    def open(cls, storage: StorageConfig, *, recover_sending: bool = True) -> Outbox:
        """The terminal's outbox as configured in `[storage]` (file and key)."""
        return cls(
            storage.outbox_db, load_or_create_key(storage.outbox_key_file), recover_sending=recover_sending
        )

    @staticmethod
    def _connect(db_path: Path) -> sqlite3.Connection:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(db_path, os.O_RDWR | os.O_CREAT, 0o600))  # create private before sqlite does
        db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=10.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # Find damage now, not when the one page holding a citizen's case is read.
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({problem})")
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    # -- writing -----------------------------------------------------------------------------------

    def enqueue(
        self,
        kind: str,
        body: bytes,
        *,
        session_ref: str,
        idempotency_key: str | None = None,
        content_type: str | None = None,
    ) -> OutboxRecord:
        """Store a write durably; returns after the commit. Re-enqueueing the same key and body is a no-op.

        A material needs its `content_type`; refer to it from the application with `material_ref`.
        Raises `OutboxUnavailable` when the record could not be stored.
        """
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}")
        if not body or not session_ref:
            raise ValueError("body and session_ref are required")
        if (kind == "material") != (content_type is not None):
            raise ValueError("content_type is required for materials and only for them")
        if content_type is not None and content_type not in MATERIAL_TYPES:
            raise ValueError(f"unsupported material type {content_type!r}")
        key = idempotency_key or str(uuid.uuid4())
        record_id = uuid.uuid4().hex
        now = self._clock()
        nonce, ct = self._sealers[self._cipher].seal(body, _aad(record_id, "body"))
        try:
            with self._tx():
                row = self._db.execute(
                    "SELECT id, kind FROM outbox WHERE idempotency_key=?", (key,)
                ).fetchone()
                if row is not None:
                    if row[1] != kind or self.body(row[0]) != body:
                        raise ValueError("idempotency key already used for a different body")
                    return self._get_locked(row[0])
                self._db.execute(
                    "INSERT INTO outbox (id, kind, session_ref, idempotency_key, content_type, alg,"
                    " body_nonce, body_ct, state, created_at, updated_at, next_attempt_at)"
                    " VALUES (?,?,?,?,?,?,?,?, 'pending', ?,?,?)",
                    (record_id, kind, session_ref, key, content_type, self._cipher, nonce, ct, now, now, now),
                )
                record = self._get_locked(record_id)
        except (sqlite3.DatabaseError, OSError) as err:
            log.error("outbox: could not store a %s record: %s", kind, type(err).__name__)
            raise _storage_error(err) from err
        log.info("outbox: queued %s record %s (%d bytes)", kind, record_id, len(body))
        return record

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group several enqueues (a case's materials and its application) into one commit."""
        return self._tx()

    # -- delivery ----------------------------------------------------------------------------------

    def deliver(self, client: Submitter, record_id: str) -> OutboxRecord:
        """Send one record now (ignoring its backoff). Returns the record's state afterwards.

        A record that is delivered, failed, claimed elsewhere or blocked by an earlier record of its
        session is returned unchanged.
        """
        record, _ = self._deliver(client, record_id)
        return record

    def deliver_pending(self, client: Submitter, limit: int = 50) -> list[OutboxRecord]:
        """Send due records oldest first, each at most once per call; returns those attempted.

        The next record is chosen after each delivery, so a session's later record can follow its
        earlier one in the same call. Stops early when the platform is unreachable, since every further
        attempt would only wait out the same timeout.
        """
        now = self._clock()
        with self._tx():
            stale = self._db.execute(
                "UPDATE outbox SET state='pending', claim=NULL WHERE state='sending' AND claimed_at < ?",
                (now - self._lease_s,),
            ).rowcount
        if stale:
            log.warning("outbox: %d stale sending claim(s) released", stale)
        attempted: list[OutboxRecord] = []
        # A cursor on seq visits each record once per call. A record blocked by an earlier one of its
        # session has a higher seq than that one, so it is still ahead when the earlier one is sent.
        after, visited = 0, 0
        while visited < limit:
            with self._lock:
                row = self._db.execute(
                    "SELECT id, seq FROM outbox WHERE state='pending' AND next_attempt_at <= ? AND seq > ?"
                    f" AND {_NOT_BLOCKED} ORDER BY seq LIMIT 1",
                    (now, after),
                ).fetchone()
            if row is None:
                break
            record_id, after = row
            visited += 1
            try:
                record, tried = self._deliver(client, record_id)
            except Exception:
                log.exception("outbox: record %s: unexpected error while delivering", record_id)
                continue
            if tried:
                attempted.append(record)
                if record.state == "pending" and record.last_code == CODE_TRANSPORT:
                    break
        return attempted

    def deliver_session(self, client: Submitter, session_ref: str) -> list[OutboxRecord]:
        """Send a session's pending records now, in order (its materials, then the application), for a
        citizen who is waiting; stops at an unreachable platform. Returns the records afterwards."""
        sql = "SELECT id FROM outbox WHERE session_ref=? AND state='pending' ORDER BY seq"
        with self._lock:
            ids = [row[0] for row in self._db.execute(sql, (session_ref,))]
        out = []
        for record_id in ids:
            record = self.deliver(client, record_id)
            out.append(record)
            if record.state == "pending" and record.last_code == CODE_TRANSPORT:
                break
        return out

    def _deliver(self, client: Submitter, record_id: str) -> tuple[OutboxRecord, bool]:
        claim, now = uuid.uuid4().hex, self._clock()
        # The claim need not reach the disk before the send: see _tx.
        with self._tx(durable=False):
            claimed = self._db.execute(
                "UPDATE outbox SET state='sending', claim=?, claimed_at=?, attempts=attempts+1, updated_at=?"
                f" WHERE id=? AND state='pending' AND {_NOT_BLOCKED}",
                (claim, now, now, record_id),
            ).rowcount
            record = self._get_locked(record_id)
            if not claimed:
                return record, False
            alg, body = self._open_body(record_id)
            if record.kind == "application" and _MATERIAL_REF.encode() in body:
                try:
                    body, alg = self._resolve_materials(record, body), self._cipher
                except _MaterialFailed as failed:
                    msg = f"material {failed.record.id} failed: {failed.record.last_message}"
                    cols = {"last_code": failed.record.last_code, "last_message": msg}
                    out = self._settle(record.id, claim, "failed", **cols, last_request_id=None)
                    log.error("outbox: record %s failed: a material was refused", record.id)
                    return out, True
        try:
            data = self._send(client, record, body)
        except PlatformError as err:
            delay = self._retry.next_delay(record.attempts, err)
            if delay is not None:
                return self._retry_later(record, claim, delay, err.code, err.message, err.request_id)
            fields = ", ".join(e.field for e in err.errors)  # names only: reasons may quote values
            cols = {
                "last_code": err.code,
                "last_message": err.message + (f" [fields: {fields}]" if fields else ""),
            }
            out = self._settle(record.id, claim, "failed", **cols, last_request_id=err.request_id)
            log.error("outbox: record %s failed: code %d request_id=%s", record.id, err.code, err.request_id)
            return out, True
        except Exception as exc:
            # A bug, not a platform answer: keep the record (pending) and let the caller see it.
            msg = f"internal error: {type(exc).__name__}"
            self._retry_later(record, claim, self._retry.max_s, None, msg, None)
            raise
        nonce, ct = self._sealers[alg].seal(json.dumps(data).encode(), _aad(record.id, "response"))
        cols = {"response_nonce": nonce, "response_ct": ct, "last_code": 0, "last_message": None}
        # Not guarded by the claim: whoever holds the platform's answer knows the record is delivered.
        out = self._settle(
            record.id, None, "delivered", **cols, last_request_id=None, delivered_at=self._clock()
        )
        log.info("outbox: %s record %s delivered, attempt %d", record.kind, record.id, record.attempts)
        return out, True

    @staticmethod
    def _send(client: Submitter, record: OutboxRecord, body: bytes) -> dict[str, Any]:
        if record.kind == "material":
            assert record.content_type is not None  # enforced by enqueue
            return client.upload_material(body, record.content_type)
        if record.kind == "application":
            return client.submit_application(body, record.idempotency_key)
        return client.submit_rating(body, record.idempotency_key)

    def _resolve_materials(self, record: OutboxRecord, body: bytes) -> bytes:
        """Swap each `material_ref` for the platform's material id, then seal the result back (inside the
        caller's claim transaction) so this is done once and every send carries the same bytes."""

        def resolve(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, str) and value.startswith(_MATERIAL_REF):
                material = self._get_locked(value.removeprefix(_MATERIAL_REF))
                if material.kind != "material" or material.session_ref != record.session_ref:
                    raise ValueError(f"record {record.id} refers to a material of another case")
                if material.state != "delivered":
                    raise _MaterialFailed(material)  # never pending here: it would block this record
                return self.response(material.id)["material_id"]
            return value

        resolved = canonical_json(resolve(json.loads(body)))
        nonce, ct = self._sealers[self._cipher].seal(resolved, _aad(record.id, "body"))
        self._db.execute(
            "UPDATE outbox SET alg=?, body_nonce=?, body_ct=? WHERE id=?",
            (self._cipher, nonce, ct, record.id),
        )
        return resolved

    def _retry_later(
        self,
        record: OutboxRecord,
        claim: str,
        delay: float,
        code: int | None,
        msg: str,
        req_id: str | None,
    ) -> tuple[OutboxRecord, bool]:
        """Back to pending, due after `delay` (from the RetryPolicy: backoff with jitter, Retry-After)."""
        cols = {"next_attempt_at": self._clock() + delay, "last_code": code, "last_message": msg}
        out = self._settle(record.id, claim, "pending", **cols, last_request_id=req_id)
        log.warning(
            "outbox: record %s attempt %d: code %s, retry in %.0fs", record.id, record.attempts, code, delay
        )
        return out, True

    def _settle(self, record_id: str, claim: str | None, state: str, **columns: Any) -> OutboxRecord:
        """Leave `sending`. With a claim, only if this claim still holds (a stale claim may have been
        released and the record re-sent by someone else meanwhile)."""
        columns.update(state=state, claim=None, updated_at=self._clock())
        sql = "UPDATE outbox SET " + ", ".join(f"{c}=?" for c in columns) + " WHERE id=?"
        args = [*columns.values(), record_id]
        if claim is not None:
            sql += " AND state='sending' AND claim=?"
            args.append(claim)
        with self._tx():
            self._db.execute(sql, args)
            return self._get_locked(record_id)

    # -- reading -----------------------------------------------------------------------------------

    def get(self, record_id: str) -> OutboxRecord:
        with self._lock:
            return self._get_locked(record_id)

    def records(self, *, state: str | None = None, limit: int = 50) -> list[OutboxRecord]:
        """Newest first; for operators and technicians (nothing personal: bodies stay sealed)."""
        where, args = ("WHERE state=?", [state]) if state else ("", [])
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_RECORD_COLUMNS} FROM outbox {where} ORDER BY seq DESC LIMIT ?", [*args, limit]
            ).fetchall()
        return [OutboxRecord(*row) for row in rows]

    def unreviewed_failures(self) -> tuple[int, float | None]:
        """(count, age in s of the oldest) of failed records staff have not acknowledged yet."""
        with self._lock:
            n, oldest = self._db.execute(
                "SELECT COUNT(*), MIN(updated_at) FROM outbox WHERE state='failed' AND reviewed_at IS NULL"
            ).fetchone()
        return n, None if oldest is None else max(0.0, self._clock() - oldest)

    def acknowledge_failed(self, record_ids: list[str] | None = None) -> int:
        """Staff have followed up these failed records (all when None); returns how many were marked."""
        sql = "UPDATE outbox SET reviewed_at=? WHERE state='failed' AND reviewed_at IS NULL"
        args: list[Any] = [self._clock()]
        if record_ids is not None:
            sql += f" AND id IN ({','.join('?' * len(record_ids))})"
            args += record_ids
        with self._tx():
            return self._db.execute(sql, args).rowcount

    def body(self, record_id: str) -> bytes:
        """The exact bytes that are (re)sent for this record."""
        return self._open_body(record_id)[1]

    def _open_body(self, record_id: str) -> tuple[str, bytes]:
        with self._lock:
            row = self._db.execute(
                "SELECT alg, body_nonce, body_ct FROM outbox WHERE id=?", (record_id,)
            ).fetchone()
        if row is None:
            raise KeyError(record_id)
        return row[0], self._sealers[row[0]].open(row[1], row[2], _aad(record_id, "body"))

    def response(self, record_id: str) -> dict[str, Any] | None:
        """The platform's `data` for a delivered record, else None."""
        with self._lock:
            row = self._db.execute(
                "SELECT alg, response_nonce, response_ct FROM outbox WHERE id=?", (record_id,)
            ).fetchone()
        if row is None:
            raise KeyError(record_id)
        if row[2] is None:
            return None
        return json.loads(self._sealers[row[0]].open(row[1], row[2], _aad(record_id, "response")))

    def prune_delivered(self, older_than_s: float = DELIVERED_KEPT_S) -> int:
        """Delete records delivered more than `older_than_s` ago whose case has nothing left to send
        (an application still pending needs its delivered materials' ids). Failed records stay for
        staff. Returns how many went; their pages are reused by SQLite, so the file stops growing."""
        with self._tx():
            gone = self._db.execute(
                "DELETE FROM outbox WHERE state = 'delivered' AND delivered_at < ? AND NOT EXISTS "
                "(SELECT 1 FROM outbox AS e WHERE e.session_ref = outbox.session_ref "
                "AND e.state IN ('pending', 'sending'))",
                (self._clock() - older_than_s,),
            ).rowcount
        if gone:
            log.info("outbox: %d delivered records older than %d days deleted", gone, older_than_s // 86400)
        return gone

    def counts(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
            oldest = self._db.execute(
                "SELECT MIN(created_at) FROM outbox WHERE state IN ('pending', 'sending')"
            ).fetchone()[0]
        out: dict[str, Any] = dict.fromkeys(STATES, 0)
        out.update(dict(rows))
        out["oldest_pending_age_s"] = None if oldest is None else max(0, int(self._clock() - oldest))
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------------

    def _get_locked(self, record_id: str) -> OutboxRecord:
        row = self._db.execute(f"SELECT {_RECORD_COLUMNS} FROM outbox WHERE id=?", (record_id,)).fetchone()
        if row is None:
            raise KeyError(record_id)
        return OutboxRecord(*row)

    @contextlib.contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT under the thread lock. IMMEDIATE takes SQLite's write lock up front,
        so two processes (UI and agent) cannot both claim one record. Nested use joins the outer one.

        `durable=False` commits without waiting for the disk (synchronous=NORMAL: atomic and at once
        visible to the other process, but a power cut may undo it; the next durable commit carries it
        to disk). Only for changes whose loss is harmless: a lost claim puts the record back to pending,
        and it is sent again with its fixed key and body, which the platform answers idempotently."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            if not durable:
                self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    if self._db.in_transaction:  # SQLITE_FULL and some I/O errors have rolled back already
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if not durable:
                    self._db.execute("PRAGMA synchronous=FULL")
