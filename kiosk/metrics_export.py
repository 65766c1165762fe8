"""The agent's side of the metrics: `KioskCollector` reads the state DB (and the outbox, and the storage
guard) at every scrape, `serve()` puts it on http://127.0.0.1:<port>/metrics. See `kiosk.metrics`."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from importlib import metadata
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from kiosk.help_request import pending_help
from kiosk.metrics import (
    ACTIONS,
    DEVICE_STATES,
    FLAG_CLOCK_OFFSET,
    FLAG_HEARTBEAT_OK,
    LISTEN_ADDR,
    PAPER_VALUES,
    SCHEMA,
    SPECS,
    Spec,
    db_path,
    labels_key,
)

log = logging.getLogger(__name__)


def stored_values(state: Any) -> dict[str, dict[str, float]]:
    """`{metric: {labels_json: value}}` from the state DB (empty before anything was recorded)."""
    path = db_path(state)
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path, timeout=10.0, isolation_level=None)) as db:
        db.execute(SCHEMA)
        rows = db.execute("SELECT metric, labels, value FROM metric_values").fetchall()
    out: dict[str, dict[str, float]] = {}
    for metric, labels, value in rows:
        out.setdefault(metric, {})[labels] = float(value)
    return out


def _counter_family(spec: Spec, values: Mapping[str, dict[str, float]]) -> Metric:
    family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    for key, value in sorted(values.get(spec.name, {}).items()):
        labels = json.loads(key)
        family.add_metric([labels.get(n, "") for n in spec.labels], value)
    return family


def _histogram_family(spec: Spec, values: Mapping[str, dict[str, float]]) -> Metric:
    family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    buckets, sums = values.get(f"{spec.name}_bucket", {}), values.get(f"{spec.name}_sum", {})
    for key, count in sorted(values.get(f"{spec.name}_count", {}).items()):
        labels = json.loads(key)
        cumulative = [
            (repr(le), buckets.get(labels_key({**labels, "le": repr(le)}), 0.0)) for le in spec.buckets
        ]
        cumulative.append(("+Inf", count))
        family.add_metric([labels.get(n, "") for n in spec.labels], cumulative, sums.get(key, 0.0))
    return family


class KioskCollector:
    """Reads the state DB (and the outbox, and the storage guard) at every scrape."""

    def __init__(
        self,
        state: Any,
        *,
        outbox: Any = None,
        guard: Any = None,
        terminal_id: str = "",
        clock: Any = time.time,
    ) -> None:
        self.state, self.outbox, self.guard = state, outbox, guard
        self.terminal_id = terminal_id
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        # Each part on its own: a damaged outbox must not hide the devices, and so on.
        for part in (self._terminal, self._devices, self._outbox, self._help, self._platform, self._stored):
            try:
                yield from part()
            except Exception as err:  # a scrape always answers; the log says which part failed
                log.warning("metrics: %s failed: %s", part.__name__, type(err).__name__)

    def _terminal(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "kiosk_terminal_info", "The terminal and its software version.", labels=["terminal_id", "version"]
        )
        info.add_metric([self.terminal_id, metadata.version("kiosk")], 1)
        yield info
        if self.guard is not None:
            service = self.guard.check()
            yield GaugeMetricFamily(
                "kiosk_in_service",
                "1 when the kiosk takes new cases, 0 when 暂停服务.",
                value=int(service.in_service),
            )
            yield GaugeMetricFamily(
                "kiosk_disk_free_bytes",
                "Free space under the state directory.",
                value=self.guard.free_mb() * 2**20,
            )

    def _devices(self) -> Iterator[Metric]:
        state = GaugeMetricFamily(
            "kiosk_device_state",
            "1 for the device's current state (one-hot).",
            labels=["device", "kind", "state"],
        )
        action = GaugeMetricFamily(
            "kiosk_device_action",
            "1 for who must act on the device now: auto, clear (hall staff), maintenance (technician).",
            labels=["device", "kind", "action"],
        )
        changed = GaugeMetricFamily(
            "kiosk_device_state_changed_timestamp_seconds",
            "When the device's status last changed.",
            labels=["device", "kind"],
        )
        paper = GaugeMetricFamily(
            "kiosk_printer_paper", "1 for the printer's paper level (one-hot).", labels=["device", "paper"]
        )
        for s in self.state.statuses():
            name, kind = s["name"], s["kind"]
            states = DEVICE_STATES if s["state"] in DEVICE_STATES else (*DEVICE_STATES, s["state"])
            for value in states:
                state.add_metric([name, kind, value], int(value == s["state"]))
            for value in ACTIONS:
                action.add_metric([name, kind, value], int(value == s["action"]))
            with contextlib.suppress(ValueError, TypeError):
                changed.add_metric([name, kind], _parse_ts(s["changed_at"]))
            level = (s["details"] or {}).get("paper") if isinstance(s["details"], dict) else None
            if isinstance(level, str):  # None: the device cannot tell (file:// printers)
                shown = level if level in PAPER_VALUES else "other"
                for value in PAPER_VALUES if shown != "other" else (*PAPER_VALUES, "other"):
                    paper.add_metric([name, value], int(value == shown))
        counters = CounterMetricFamily(
            "kiosk_device_operations",
            "Device counters kept in the state DB (reads, prints, cuts, errors).",
            labels=["device", "counter"],
        )
        for s in self.state.statuses():
            for counter, value in self.state.counters(s["name"]).items():
                counters.add_metric([s["name"], counter], value)
        yield from (state, action, changed, paper, counters)

    def _outbox(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "kiosk_outbox_available", "1 when the outbox could be opened.", value=int(self.outbox is not None)
        )
        if self.outbox is None:
            return
        counts = self.outbox.counts()
        records = GaugeMetricFamily("kiosk_outbox_records", "Outbox records by state.", labels=["state"])
        for name in ("pending", "sending", "delivered", "failed"):
            records.add_metric([name], counts.get(name, 0))
        yield records
        yield GaugeMetricFamily(
            "kiosk_outbox_oldest_pending_age_seconds",
            "Age of the oldest record waiting for delivery (0 when none waits).",
            value=counts.get("oldest_pending_age_s") or 0,
        )
        failed, oldest = self.outbox.unreviewed_failures()
        yield GaugeMetricFamily(
            "kiosk_outbox_failed_unacknowledged",
            "Cases the platform refused for good that staff have not followed up (kiosk outbox ack).",
            value=failed,
        )
        yield GaugeMetricFamily(
            "kiosk_outbox_oldest_failed_age_seconds",
            "Age of the oldest such refusal (0 when none).",
            value=oldest or 0,
        )

    def _help(self) -> Iterator[Metric]:
        call = pending_help(self.state, now=self._clock())
        yield GaugeMetricFamily(
            "kiosk_help_request_waiting",
            "1 while a citizen's 呼叫工作人员 is unanswered.",
            value=int(call is not None),
        )
        yield GaugeMetricFamily(
            "kiosk_help_request_waiting_seconds",
            "How long the citizen has been waiting (0 when nobody waits).",
            value=call["details"]["waiting_s"] if call else 0,
        )

    def _platform(self) -> Iterator[Metric]:
        # 0 until the first accepted heartbeat, so a terminal that never reached the platform alerts too
        yield GaugeMetricFamily(
            "kiosk_last_heartbeat_success_timestamp_seconds",
            "Unix time of the last heartbeat the platform accepted (0: none yet).",
            value=float(self.state.flag(FLAG_HEARTBEAT_OK) or 0),
        )
        offset = self.state.flag(FLAG_CLOCK_OFFSET)
        yield GaugeMetricFamily(
            "kiosk_clock_offset_seconds",
            "Platform clock minus this terminal's clock, as learnt by the platform client.",
            value=int(offset or 0) / 1000.0,
        )

    def _stored(self) -> Iterator[Metric]:
        values = stored_values(self.state)
        for spec in SPECS:
            yield _counter_family(spec, values) if spec.kind == "counter" else _histogram_family(spec, values)


def _parse_ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class MetricsServer:
    """The `/metrics` endpoint on 127.0.0.1 in a daemon thread; `port=0` picks a free port (tests)."""

    def __init__(self, collector: KioskCollector, port: int, addr: str = LISTEN_ADDR) -> None:
        registry = CollectorRegistry(auto_describe=False)  # no scrape at registration
        registry.register(collector)
        self._httpd, self._thread = start_http_server(port, addr=addr, registry=registry)
        self.port = int(self._httpd.server_port)
        log.info("metrics on http://%s:%d/metrics", addr, self.port)

    @property
    def url(self) -> str:
        return f"http://{LISTEN_ADDR}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def serve(collector: KioskCollector, port: int) -> MetricsServer | None:
    """Start the endpoint (port 0: any free port); None when the port is taken (logged: the agent
    delivers cases and sends heartbeats without it)."""
    try:
        return MetricsServer(collector, port)
    except OSError as err:
        log.error("metrics: cannot listen on %s:%d: %s", LISTEN_ADDR, port, err.strerror)
        return None
