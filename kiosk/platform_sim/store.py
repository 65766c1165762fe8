"""SQLite storage of the platform simulator: nonces, idempotency keys, identity proofs, cases, ratings,
materials. Plain text on purpose: this stands in for the platform, not for the terminal."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nonces (
    terminal_id TEXT NOT NULL, nonce TEXT NOT NULL, seen_ms INTEGER NOT NULL,
    PRIMARY KEY (terminal_id, nonce));
CREATE INDEX IF NOT EXISTS nonces_seen ON nonces (seen_ms);
CREATE TABLE IF NOT EXISTS idempotency (
    terminal_id TEXT NOT NULL, key TEXT NOT NULL, endpoint TEXT NOT NULL, body_sm3 TEXT NOT NULL,
    data TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (terminal_id, key));
CREATE TABLE IF NOT EXISTS proofs (
    proof_id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, id_number TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cases (
    case_no TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, terminal_ref TEXT NOT NULL,
    query_code TEXT NOT NULL, item_code TEXT NOT NULL, item_name TEXT NOT NULL, status TEXT NOT NULL,
    accepted_at TEXT NOT NULL, timeline TEXT NOT NULL, application TEXT NOT NULL,
    UNIQUE (terminal_id, terminal_ref));
CREATE TABLE IF NOT EXISTS ratings (
    rating_id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, case_no TEXT NOT NULL,
    satisfaction INTEGER NOT NULL, rating TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS materials (
    sha256 TEXT PRIMARY KEY, material_id TEXT NOT NULL UNIQUE, content_type TEXT NOT NULL,
    size INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS enrollment_tokens (
    token TEXT PRIMARY KEY, created_at REAL NOT NULL, used_at REAL, terminal_id TEXT);
CREATE TABLE IF NOT EXISTS terminals (
    terminal_id TEXT PRIMARY KEY, app_secret TEXT NOT NULL, enrolled_at REAL NOT NULL, info TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS heartbeats (
    terminal_id TEXT PRIMARY KEY, at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY, terminal_id TEXT NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL,
    expires_at TEXT NOT NULL, expires_ts REAL NOT NULL, signature TEXT NOT NULL, created_at REAL NOT NULL,
    acked_at REAL, result TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS qr_codes (
    token TEXT PRIMARY KEY, id_number TEXT NOT NULL, expires_at REAL);
"""


@dataclass(frozen=True)
class IdempotentResult:
    endpoint: str
    body_sm3: str
    data: dict[str, Any]


class SimStore:
    def __init__(self, db_path: Path) -> None:
        Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    # -- replay protection -------------------------------------------------------------------------

    def remember_nonce(self, terminal_id: str, nonce: str, now_ms: int, ttl_ms: int) -> bool:
        """Record a nonce; False when it was already seen within `ttl_ms`."""
        with self._lock:
            self._db.execute("DELETE FROM nonces WHERE seen_ms < ?", (now_ms - ttl_ms,))
            try:
                self._db.execute(
                    "INSERT INTO nonces (terminal_id, nonce, seen_ms) VALUES (?,?,?)",
                    (terminal_id, nonce, now_ms),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    # -- idempotency -------------------------------------------------------------------------------

    def idempotent_result(self, terminal_id: str, key: str) -> IdempotentResult | None:
        row = self._exec(
            "SELECT endpoint, body_sm3, data FROM idempotency WHERE terminal_id=? AND key=?",
            (terminal_id, key),
        ).fetchone()
        if row is None:
            return None
        return IdempotentResult(row["endpoint"], row["body_sm3"], json.loads(row["data"]))

    def save_idempotent(
        self, terminal_id: str, key: str, endpoint: str, body_sm3: str, data: dict[str, Any], now: float
    ) -> None:
        self._exec(
            "INSERT INTO idempotency (terminal_id, key, endpoint, body_sm3, data, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (terminal_id, key, endpoint, body_sm3, json.dumps(data, ensure_ascii=False), now),
        )

    # -- identity proofs ---------------------------------------------------------------------------

    def add_proof(self, proof_id: str, terminal_id: str, id_number: str, expires_at: float) -> None:
        self._exec("INSERT INTO proofs VALUES (?,?,?,?)", (proof_id, terminal_id, id_number, expires_at))

    def proof_subject(self, proof_id: str, terminal_id: str, now: float) -> str | None:
        """The ID number a live proof issued to this terminal is for; None if unknown or expired."""
        row = self._exec(
            "SELECT id_number, terminal_id, expires_at FROM proofs WHERE proof_id=?", (proof_id,)
        ).fetchone()
        if row is None or row["terminal_id"] != terminal_id or now >= row["expires_at"]:
            return None
        return str(row["id_number"])

    def proof_valid(
        self, proof_id: str, terminal_id: str, id_number: str, at: float, ttl_s: float, slack_s: float
    ) -> bool:
        """Was the proof, issued to this terminal for this person, live at time `at` (a terminal's time:
        `slack_s` allows for its clock being behind the platform's)?"""
        row = self._exec(
            "SELECT terminal_id, id_number, expires_at FROM proofs WHERE proof_id=?", (proof_id,)
        ).fetchone()
        if row is None or row["terminal_id"] != terminal_id or row["id_number"] != id_number:
            return False
        return row["expires_at"] - ttl_s - slack_s <= at < row["expires_at"]

    # -- cases -------------------------------------------------------------------------------------

    def case_exists(self, case_no: str) -> bool:
        return self._exec("SELECT 1 FROM cases WHERE case_no=?", (case_no,)).fetchone() is not None

    def terminal_ref_used(self, terminal_id: str, terminal_ref: str) -> bool:
        row = self._exec(
            "SELECT 1 FROM cases WHERE terminal_id=? AND terminal_ref=?", (terminal_id, terminal_ref)
        ).fetchone()
        return row is not None

    def add_case(self, case: dict[str, Any]) -> None:
        self._exec(
            "INSERT INTO cases (case_no, terminal_id, terminal_ref, query_code, item_code, item_name, status,"
            " accepted_at, timeline, application) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                case["case_no"],
                case["terminal_id"],
                case["terminal_ref"],
                case["query_code"],
                case["item_code"],
                case["item_name"],
                case["status"],
                case["accepted_at"],
                json.dumps(case["timeline"], ensure_ascii=False),
                json.dumps(case["application"], ensure_ascii=False),
            ),
        )

    def get_case(self, case_no: str) -> dict[str, Any] | None:
        return self._case_row("SELECT * FROM cases WHERE case_no=?", (case_no,))

    def case_by_ref(self, terminal_id: str, terminal_ref: str) -> dict[str, Any] | None:
        return self._case_row(
            "SELECT * FROM cases WHERE terminal_id=? AND terminal_ref=?", (terminal_id, terminal_ref)
        )

    def update_case(self, case_no: str, status: str, timeline: list[dict[str, Any]]) -> None:
        self._exec(
            "UPDATE cases SET status=?, timeline=? WHERE case_no=?",
            (status, json.dumps(timeline, ensure_ascii=False), case_no),
        )

    def all_cases(self) -> list[dict[str, Any]]:
        rows = self._exec("SELECT * FROM cases ORDER BY accepted_at, case_no").fetchall()
        return [_case_dict(r) for r in rows]

    def _case_row(self, sql: str, args: tuple[Any, ...]) -> dict[str, Any] | None:
        row = self._exec(sql, args).fetchone()
        return None if row is None else _case_dict(row)

    # -- ratings and materials ---------------------------------------------------------------------

    def add_rating(self, rating_id: str, terminal_id: str, rating: dict[str, Any]) -> None:
        self._exec(
            "INSERT INTO ratings VALUES (?,?,?,?,?)",
            (
                rating_id,
                terminal_id,
                rating["case_no"],
                rating["satisfaction"],
                json.dumps(rating, ensure_ascii=False),
            ),
        )

    def rating_count(self) -> int:
        return int(self._exec("SELECT COUNT(*) FROM ratings").fetchone()[0])

    def put_material(self, sha256: str, material_id: str, content_type: str, data: bytes) -> str:
        """Store once per content; returns the material id (the existing one for known content)."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO materials VALUES (?,?,?,?,?)",
                (sha256, material_id, content_type, len(data), data),
            )
            row = self._db.execute("SELECT material_id FROM materials WHERE sha256=?", (sha256,)).fetchone()
            return str(row["material_id"])

    def material_exists(self, material_id: str) -> bool:
        return (
            self._exec("SELECT 1 FROM materials WHERE material_id=?", (material_id,)).fetchone() is not None
        )

    # -- enrollment, heartbeats, commands, QR codes -------------------------------------------------

    def add_enrollment_token(self, token: str, now: float) -> None:
        self._exec("INSERT OR IGNORE INTO enrollment_tokens (token, created_at) VALUES (?,?)", (token, now))

    def use_enrollment_token(self, token: str, terminal_id: str, now: float) -> bool:
        """Mark an unused token used; False when unknown or already used."""
        cur = self._exec(
            "UPDATE enrollment_tokens SET used_at=?, terminal_id=? WHERE token=? AND used_at IS NULL",
            (now, terminal_id, token),
        )
        return cur.rowcount == 1

    def save_terminal(self, terminal_id: str, app_secret: str, info: dict[str, Any], now: float) -> None:
        self._exec(
            "INSERT OR REPLACE INTO terminals VALUES (?,?,?,?)",
            (terminal_id, app_secret, now, json.dumps(info, ensure_ascii=False)),
        )

    def enrolled_terminals(self) -> dict[str, str]:
        rows = self._exec("SELECT terminal_id, app_secret FROM terminals").fetchall()
        return {r["terminal_id"]: r["app_secret"] for r in rows}

    def terminal_infos(self) -> dict[str, dict[str, Any]]:
        """terminal_id → what the terminal sent at enrollment (hall name, hardware, …)."""
        out: dict[str, dict[str, Any]] = {}
        for row in self._exec("SELECT terminal_id, info FROM terminals").fetchall():
            try:
                info = json.loads(row["info"])
            except ValueError:
                continue
            if isinstance(info, dict):
                out[row["terminal_id"]] = info
        return out

    def save_heartbeat(self, terminal_id: str, at: float, body: dict[str, Any]) -> None:
        self._exec(
            "INSERT OR REPLACE INTO heartbeats VALUES (?,?,?)",
            (terminal_id, at, json.dumps(body, ensure_ascii=False)),
        )

    def heartbeats(self) -> dict[str, tuple[float, dict[str, Any]]]:
        rows = self._exec("SELECT terminal_id, at, body FROM heartbeats").fetchall()
        return {r["terminal_id"]: (float(r["at"]), json.loads(r["body"])) for r in rows}

    def add_command(self, cmd: dict[str, Any], terminal_id: str, expires_ts: float, now: float) -> None:
        self._exec(
            "INSERT INTO commands (command_id, terminal_id, name, args, expires_at, expires_ts, signature,"
            " created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                cmd["command_id"],
                terminal_id,
                cmd["name"],
                json.dumps(cmd["args"], ensure_ascii=False),
                cmd["expires_at"],
                expires_ts,
                cmd["signature"],
                now,
            ),
        )

    def pending_commands(self, terminal_id: str, now: float) -> list[dict[str, Any]]:
        """Unacknowledged, unexpired commands for a terminal, oldest first."""
        rows = self._exec(
            "SELECT command_id, name, args, expires_at, signature FROM commands"
            " WHERE terminal_id=? AND acked_at IS NULL AND expires_ts > ? ORDER BY created_at, command_id",
            (terminal_id, now),
        ).fetchall()
        return [
            {
                "command_id": r["command_id"],
                "name": r["name"],
                "args": json.loads(r["args"]),
                "expires_at": r["expires_at"],
                "signature": r["signature"],
            }
            for r in rows
        ]

    def ack_command(
        self, command_id: str, terminal_id: str, result: str, detail: str | None, now: float
    ) -> bool:
        """Record the outcome; False when the command is unknown for this terminal."""
        with self._lock:
            row = self._db.execute(
                "SELECT acked_at FROM commands WHERE command_id=? AND terminal_id=?",
                (command_id, terminal_id),
            ).fetchone()
            if row is None:
                return False
            if row["acked_at"] is None:
                self._db.execute(
                    "UPDATE commands SET acked_at=?, result=?, detail=? WHERE command_id=?",
                    (now, result, detail, command_id),
                )
            return True

    def command(self, command_id: str) -> dict[str, Any] | None:
        row = self._exec("SELECT * FROM commands WHERE command_id=?", (command_id,)).fetchone()
        return None if row is None else dict(row)

    def add_qr_code(self, token: str, id_number: str, expires_at: float | None) -> None:
        self._exec("INSERT OR REPLACE INTO qr_codes VALUES (?,?,?)", (token, id_number, expires_at))

    def qr_subject(self, token: str, now: float) -> str | None:
        row = self._exec("SELECT id_number, expires_at FROM qr_codes WHERE token=?", (token,)).fetchone()
        if row is None or (row["expires_at"] is not None and now >= row["expires_at"]):
            return None
        return str(row["id_number"])


def _case_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["timeline"] = json.loads(out["timeline"])
    out["application"] = json.loads(out["application"])
    return out
