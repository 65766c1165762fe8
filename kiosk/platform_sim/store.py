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

    def proof_valid(self, proof_id: str, id_number: str, now: float) -> bool:
        row = self._exec("SELECT id_number, expires_at FROM proofs WHERE proof_id=?", (proof_id,)).fetchone()
        return row is not None and row["id_number"] == id_number and now < row["expires_at"]

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


def _case_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["timeline"] = json.loads(out["timeline"])
    out["application"] = json.loads(out["application"])
    return out
