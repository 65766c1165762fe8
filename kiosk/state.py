"""Device status snapshots and persistent device counters in the terminal's state DB.

The UI writes here and the agent reads (SQLite in WAL mode is the only IPC between them, see
ARCHITECTURE §2). The file may be the outbox's `state.db`: these tables have their own names.
Only device names, states and fault descriptions are stored, never personal data.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devices.base import CountersChanged, DeviceErrorEvent, DeviceEvent, DeviceStatus, StatusChanged
from devices.manager import DeviceManager, Listener

COUNTERS = ("reads", "prints", "cuts", "errors")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS device_status (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    details TEXT NOT NULL,
    action TEXT,
    changed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    command_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT,
    acked INTEGER NOT NULL DEFAULT 0,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flags (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_counters (
    name TEXT NOT NULL,
    counter TEXT NOT NULL,
    value INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, counter)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StateDB:
    """`record_status` keeps the latest snapshot per device (with when it last changed);
    `bump` / `counters` keep per-device counters that survive restarts."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # manager workers write from several threads
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- remote commands and terminal flags (the agent writes, the UI reads) ----------------------

    def command_result(self, command_id: str) -> str | None:
        """The recorded result of a command, or None if it was never handled (commands run once)."""
        with self._lock:
            row = self._db.execute("SELECT result FROM commands WHERE command_id=?", (command_id,)).fetchone()
        return row[0] if row else None

    def record_command(self, command_id: str, name: str, result: str, detail: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO commands (command_id, name, result, detail, at)"
                " VALUES (?, ?, ?, ?, ?)",
                (command_id, name, result, detail, _now()),
            )

    def unacked_commands(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT command_id, name, result, detail FROM commands WHERE acked=0 ORDER BY at"
            ).fetchall()
        return [{"command_id": r[0], "name": r[1], "result": r[2], "detail": r[3]} for r in rows]

    def mark_acked(self, command_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE commands SET acked=1 WHERE command_id=?", (command_id,))

    def set_flag(self, name: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO flags (name, value, at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value=excluded.value, at=excluded.at",
                (name, value, _now()),
            )

    def flag(self, name: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM flags WHERE name=?", (name,)).fetchone()
        return row[0] if row else default

    # -- status snapshots -------------------------------------------------------------------------

    def record_status(self, status: DeviceStatus) -> None:
        snap = status.as_dict()
        details = json.dumps(snap["details"], ensure_ascii=False, sort_keys=True, default=str)
        now = _now()
        with self._lock:
            self._db.execute(
                """INSERT INTO device_status (name, kind, state, details, action, changed_at, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(name) DO UPDATE SET
                     changed_at = CASE WHEN device_status.kind IS excluded.kind
                                        AND device_status.state IS excluded.state
                                        AND device_status.details IS excluded.details
                                        AND device_status.action IS excluded.action
                                       THEN device_status.changed_at ELSE excluded.changed_at END,
                     kind = excluded.kind, state = excluded.state, details = excluded.details,
                     action = excluded.action, updated_at = excluded.updated_at""",
                (snap["name"], snap["kind"], snap["state"], details, snap["action"], now, now),
            )

    def statuses(self) -> list[dict[str, Any]]:
        """`[{"name", "kind", "state", "details", "action", "changed_at", "updated_at"}]` by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, kind, state, details, action, changed_at, updated_at "
                "FROM device_status ORDER BY name"
            ).fetchall()
        return [
            {
                "name": name,
                "kind": kind,
                "state": state,
                "details": json.loads(details),
                "action": action,
                "changed_at": changed_at,
                "updated_at": updated_at,
            }
            for name, kind, state, details, action, changed_at, updated_at in rows
        ]

    # -- counters ---------------------------------------------------------------------------------

    def bump(self, name: str, counter: str, n: int = 1) -> int:
        """Add `n` to a device's counter (e.g. reads, prints, cuts, errors); returns the new value."""
        with self._lock:
            (value,) = self._db.execute(
                """INSERT INTO device_counters (name, counter, value) VALUES (?, ?, ?)
                   ON CONFLICT(name, counter) DO UPDATE SET value = value + excluded.value
                   RETURNING value""",
                (name, counter, n),
            ).fetchone()
        return int(value)

    def counters(self, name: str) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT counter, value FROM device_counters WHERE name = ? ORDER BY counter", (name,)
            ).fetchall()
        return {counter: int(value) for counter, value in rows}


def attach(manager: DeviceManager, db: StateDB) -> Listener:
    """Record every status change of `manager`'s devices in `db` and count their errors.

    Returns the listener, for `manager.remove_listener`."""

    def on_event(event: DeviceEvent) -> None:
        if isinstance(event, StatusChanged):
            db.record_status(event.status)
        elif isinstance(event, DeviceErrorEvent):
            db.bump(event.name, "errors")
        elif isinstance(event, CountersChanged):
            for counter, n in event.deltas.items():
                db.bump(event.name, counter, n)

    manager.add_listener(on_event)
    return on_event
