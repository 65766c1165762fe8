"""Prometheus metrics of one terminal, served by the agent on 127.0.0.1 (`[agent] metrics_port`).

Two processes feed them and SQLite is the only IPC between them (ARCHITECTURE §2):

- what the UI sees happen (sessions, submissions, the face 1:1 match, uploads) is added to the
  `metric_values` table of the state DB by the small `record_…` / `observe_…` functions below, already
  aggregated (a counter is one row, a histogram one row per bucket plus `_sum` and `_count`), so the
  table never grows with traffic;
- everything else (device states, printer paper, outbox backlog, help calls, heartbeat, clock) is read
  from the state DB and the outbox at scrape time by `kiosk.metrics_export.KioskCollector`, which the
  agent serves.

This module is the writing side and the catalogue of names (`sample_names()`).

Nothing is kept in the agent's memory, so the values survive restarts of either process. Label values
come from closed sets (device names come from the config): no personal data can reach a metric.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.base import Action, DeviceState

log = logging.getLogger(__name__)

DEFAULT_PORT = 9466
LISTEN_ADDR = "127.0.0.1"  # never on the hall network: a collector on the terminal (or a tunnel) reads it
FLAG_HEARTBEAT_OK = "metrics.last_heartbeat_ok"  # Unix seconds of the last accepted heartbeat
FLAG_CLOCK_OFFSET = "metrics.clock_offset_ms"  # the platform client's learnt offset at that heartbeat

SESSION_RESULTS = ("submitted", "abandoned", "timeout")
SUBMISSION_RESULTS = ("delivered", "queued", "refused", "not_stored")
FACE_RESULTS = ("match", "mismatch", "error")
UPLOAD_KINDS = ("material", "application", "rating")
UPLOAD_RESULTS = ("ok", "error")
PAPER_VALUES = ("full", "ok", "low", "out", "jammed", "unknown")  # receipt printer and CUPS values
DEVICE_STATES = tuple(s.value for s in DeviceState)
ACTIONS = tuple(a.value for a in Action)

SCHEMA = """
CREATE TABLE IF NOT EXISTS metric_values (
    metric TEXT NOT NULL,
    labels TEXT NOT NULL,   -- canonical JSON of the label values (closed sets only)
    value REAL NOT NULL,
    PRIMARY KEY (metric, labels)
)
"""


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # "counter" or "histogram"
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


SESSIONS = Spec("kiosk_sessions", "counter", "Citizen sessions ended, by result.", ("result",))
SUBMISSIONS = Spec(
    "kiosk_submissions", "counter", "Applications the citizen submitted, by what became of them.", ("result",)
)
HEARTBEATS = Spec("kiosk_heartbeats", "counter", "Heartbeats sent to the platform, by result.", ("result",))
FACE_VERIFY = Spec(
    "kiosk_face_verify_duration_seconds",
    "histogram",
    "Time of the 1:1 face match (platform or local) the citizen waits for, by result.",
    ("result",),
    (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0),
)
UPLOAD = Spec(
    "kiosk_upload_duration_seconds",
    "histogram",
    "Time of one outbox delivery call to the platform (upload, application, rating), by kind and result.",
    ("kind", "result"),
    (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
SPECS = (SESSIONS, SUBMISSIONS, HEARTBEATS, FACE_VERIFY, UPLOAD)

# Every metric family the collector can emit (tests check dashboards and alerts against this).
GAUGES = (
    "kiosk_terminal_info",
    "kiosk_in_service",
    "kiosk_device_state",
    "kiosk_device_action",
    "kiosk_device_state_changed_timestamp_seconds",
    "kiosk_printer_paper",
    "kiosk_outbox_available",
    "kiosk_outbox_records",
    "kiosk_outbox_oldest_pending_age_seconds",
    "kiosk_outbox_failed_unacknowledged",
    "kiosk_outbox_oldest_failed_age_seconds",
    "kiosk_disk_free_bytes",
    "kiosk_help_request_waiting",
    "kiosk_help_request_waiting_seconds",
    "kiosk_last_heartbeat_success_timestamp_seconds",
    "kiosk_clock_offset_seconds",
)
COUNTERS = ("kiosk_device_operations",)


def sample_names() -> set[str]:
    """The sample names a scrape can contain (what a PromQL expression may refer to)."""
    names = set(GAUGES) | {f"{c}_total" for c in COUNTERS}
    for spec in SPECS:
        if spec.kind == "counter":
            names.add(f"{spec.name}_total")
        else:
            names |= {f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count"}
    return names


# -- writing (UI and agent) ------------------------------------------------------------------------


def db_path(state: Any) -> Path:
    """A StateDB or the path of its file."""
    return Path(getattr(state, "path", state))


def _closed(value: str, allowed: Iterable[str]) -> str:
    """Label values from a closed set only, so nothing personal can be smuggled into a metric."""
    return value if value in allowed else "other"


def labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


def _add(state: Any, rows: list[tuple[str, Mapping[str, str], float]]) -> None:
    """Add to the aggregated rows in one short transaction of a connection of its own (the caller's
    StateDB connection may be busy in another thread; writes are per session, so this is cheap)."""
    with contextlib.closing(sqlite3.connect(db_path(state), timeout=10.0, isolation_level=None)) as db:
        db.execute(SCHEMA)
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO metric_values (metric, labels, value) VALUES (?, ?, ?) "
                "ON CONFLICT(metric, labels) DO UPDATE SET value = value + excluded.value",
                [(metric, labels_key(labels), value) for metric, labels, value in rows],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _safe_add(state: Any, rows: list[tuple[str, Mapping[str, str], float]]) -> None:
    """A metric must never break a citizen's session or a delivery: failures are logged and dropped."""
    try:
        _add(state, rows)
    except (sqlite3.Error, OSError) as err:
        log.warning("metrics: could not record %s: %s", rows[0][0] if rows else "?", type(err).__name__)


def _inc(spec: Spec, labels: Mapping[str, str]) -> list[tuple[str, Mapping[str, str], float]]:
    return [(spec.name, labels, 1.0)]


def _observe(
    spec: Spec, labels: Mapping[str, str], seconds: float
) -> list[tuple[str, Mapping[str, str], float]]:
    seconds = max(0.0, float(seconds))
    first = bisect.bisect_left(spec.buckets, seconds)  # cumulative: every bucket with le >= value
    rows: list[tuple[str, Mapping[str, str], float]] = [
        (f"{spec.name}_bucket", {**labels, "le": repr(le)}, 1.0) for le in spec.buckets[first:]
    ]
    rows.append((f"{spec.name}_count", labels, 1.0))
    rows.append((f"{spec.name}_sum", labels, seconds))
    return rows


def record_session(state: Any, result: str) -> None:
    """A citizen session ended: `submitted` (an application was stored), `abandoned` or `timeout`."""
    _safe_add(state, _inc(SESSIONS, {"result": _closed(result, SESSION_RESULTS)}))


SESSIONS_BY_DAY = "sessions_by_day"  # state DB counters: one per local date (the heartbeat's figure)
_CHINA = dt.timezone(dt.timedelta(hours=8))  # the service halls' day (no daylight saving in China)


def _day(now: float) -> str:
    return dt.datetime.fromtimestamp(now, _CHINA).date().isoformat()


def record_session_start(state: Any, now: float | None = None) -> None:
    """A citizen started a session: counted for the heartbeat's `sessions_today` (§5.11)."""
    try:
        state.bump(SESSIONS_BY_DAY, _day(time.time() if now is None else now))
    except (sqlite3.Error, OSError) as err:
        log.warning("metrics: could not count a session: %s", type(err).__name__)


def sessions_today(state: Any, now: float) -> int:
    return state.counters(SESSIONS_BY_DAY).get(_day(now), 0)


def record_submission(state: Any, result: str) -> None:
    """`delivered` (case number at once), `queued` (the outbox delivers it later), `refused` (by the
    platform for good) or `not_stored` (the outbox could not take it)."""
    _safe_add(state, _inc(SUBMISSIONS, {"result": _closed(result, SUBMISSION_RESULTS)}))


def observe_face_verify(state: Any, seconds: float, result: str) -> None:
    _safe_add(state, _observe(FACE_VERIFY, {"result": _closed(result, FACE_RESULTS)}, seconds))


def observe_upload(state: Any, kind: str, seconds: float, result: str) -> None:
    labels = {"kind": _closed(kind, UPLOAD_KINDS), "result": _closed(result, UPLOAD_RESULTS)}
    _safe_add(state, _observe(UPLOAD, labels, seconds))


def record_heartbeat(
    state: Any, ok: bool, clock_offset_ms: int | None = None, now: float | None = None
) -> None:
    """The agent after each heartbeat: the time of the last accepted one and the clock offset learnt."""
    _safe_add(state, _inc(HEARTBEATS, {"result": "ok" if ok else "error"}))
    if ok:
        with contextlib.suppress(sqlite3.Error):
            state.set_flag(FLAG_HEARTBEAT_OK, repr(time.time() if now is None else now))
            if clock_offset_ms is not None:
                state.set_flag(FLAG_CLOCK_OFFSET, str(int(clock_offset_ms)))


def record_session_end(state: Any, session: Any, flow: Any, reason: str) -> None:
    """Called by the controller when a session ends, before the wipe. Reads only non-personal facts:
    whether an application was stored (`terminal_ref`), whether it has a case number, was refused."""
    stored_ref = getattr(session, "terminal_ref", None)
    submitted = bool(stored_ref) and flow is not None and getattr(flow, "submitted_at", None) is not None
    if submitted:
        if getattr(flow, "refused", False):
            outcome = "refused"
        elif getattr(session, "case", None):
            outcome = "delivered"
        elif str(getattr(flow, "step", "")) in ("receipt", "rating", "done"):
            outcome = "queued"
        else:
            outcome = "not_stored"  # the outbox refused the write: the citizen was told nothing was kept
        record_submission(state, outcome)
    if submitted and outcome != "not_stored":
        record_session(state, "submitted")
    else:
        record_session(state, "timeout" if reason == "idle timeout" else "abandoned")


class TimedFaceVerifier:
    """Wraps the face verifier (`verify(identity, live_jpeg, liveness)`) to time each 1:1 match."""

    def __init__(self, inner: Any, state: Any) -> None:
        self.inner, self._state = inner, state

    def verify(self, identity: Any, live_jpeg: bytes, liveness: Mapping[str, Any]) -> Any:
        started, result = time.monotonic(), "error"
        try:
            answer = self.inner.verify(identity, live_jpeg, liveness)
            result = "match" if getattr(answer, "match", False) else "mismatch"
            return answer
        finally:
            observe_face_verify(self._state, time.monotonic() - started, result)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class TimedSubmitter:
    """Wraps the platform client given to the outbox to time every delivery call."""

    def __init__(self, inner: Any, state: Any) -> None:
        self.inner, self._state = inner, state

    def _timed(self, kind: str, call: Any, *args: Any) -> Any:
        started, result = time.monotonic(), "error"
        try:
            answer = call(*args)
            result = "ok"
            return answer
        finally:
            observe_upload(self._state, kind, time.monotonic() - started, result)

    def upload_material(self, data: bytes, content_type: str) -> dict[str, Any]:
        return self._timed("material", self.inner.upload_material, data, content_type)

    def submit_application(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        return self._timed("application", self.inner.submit_application, body_bytes, idempotency_key)

    def submit_rating(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        return self._timed("rating", self.inner.submit_rating, body_bytes, idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def instrument(services: Any) -> None:
    """Time the UI's face matches and its immediate deliveries (the controller calls this once, at start):
    wraps `services.face_verifier` and `services.platform`, if there is a state DB to record into."""
    if getattr(services, "state", None) is None:
        return
    verifier = getattr(services, "face_verifier", None)
    if verifier is not None and not isinstance(verifier, TimedFaceVerifier):
        services.face_verifier = TimedFaceVerifier(verifier, services.state)
    if getattr(services, "platform", None) is not None:
        services.platform = timed_submitter(services.platform, services.state)


def timed_submitter(client: Any, state: Any) -> Any:
    """`client` with its delivery calls timed (once: a client that is already timed is kept)."""
    return client if isinstance(client, TimedSubmitter) else TimedSubmitter(client, state)
