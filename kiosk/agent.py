"""`kiosk agent`: the background process that talks to the platform for the terminal.

Each cycle delivers what waits in the outbox, sends the heartbeat (device states from the state DB,
outbox backlog, disk), and runs the signed remote commands it gets back — once each, only if the
signature verifies and the command has not expired — then acks them. The UI and the agent share
only the SQLite state DB.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from kiosk import metrics, metrics_export, sdnotify
from kiosk.atomic_file import atomic_write
from kiosk.catalog import Catalog, CatalogSource, synced_catalog_file
from kiosk.config import Config
from kiosk.help_request import pending_help
from kiosk.outbox import Outbox
from kiosk.platform.client import PlatformClient
from kiosk.platform.commands import verify_command
from kiosk.platform.errors import PlatformError
from kiosk.platform.models import Command
from kiosk.service import ServiceGuard
from kiosk.state import StateDB

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0
CATALOG_SYNC_S = 3600.0  # hourly chores: catalog version check (`sync_catalog` forces one), outbox pruning
_UNKNOWN_BACKLOG = {"pending": 0, "sending": 0, "oldest_pending_age_s": None}  # outbox unreadable


@dataclass
class CycleReport:
    delivered: int = 0
    failed: int = 0
    heartbeat: bool = False
    commands: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    catalog: str | None = None  # what a catalog check found, when the cycle made one
    pruned: int = 0  # delivered outbox records deleted after their retention (same hourly check)

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "heartbeat": self.heartbeat,
            "commands": self.commands,
            "error": self.error,
            "catalog": self.catalog,
            "pruned": self.pruned,
        }


class Agent:
    def __init__(
        self,
        config: Config,
        outbox: Outbox | None,
        client: PlatformClient,
        state: StateDB,
        app_secret: str,
        *,
        guard: ServiceGuard | None = None,
        clock: Any = time.time,
    ) -> None:
        """`outbox` is None when it could not be opened: the agent then still sends heartbeats, which
        say so (out of service, a `storage` entry needing maintenance)."""
        self.config, self.outbox, self.client, self.state = config, outbox, client, state
        self.guard = guard or ServiceGuard(config.storage, state)
        # The device rule on the catalog the UI uses: heartbeat and /metrics say what the citizen sees.
        self._catalog = CatalogSource(config.storage.state_dir)
        self.guard.use_catalog(self._catalog, config.devices.keys())
        self._secret = app_secret
        self._clock = clock
        self._started = clock()
        self._next_catalog_sync = self._started  # the first cycle checks the platform's version
        self.interval_s = DEFAULT_INTERVAL_S

    # -- one cycle --------------------------------------------------------------------------------
    def run_once(self) -> CycleReport:
        report = CycleReport()
        submitter = metrics.timed_submitter(self.client, self.state)  # upload latency histogram
        for record in self.outbox.deliver_pending(submitter) if self.outbox else ():
            report.delivered += record.state == "delivered"
            report.failed += record.state == "failed"
        self._ack_pending(report)
        try:
            result = self.client.heartbeat(self.heartbeat_body())
        except PlatformError as err:
            report.error = f"heartbeat: code {err.code}"
            log.warning("heartbeat failed: code=%s", err.code)
            metrics.record_heartbeat(self.state, False)
            return report
        report.heartbeat = True
        offset_ms = getattr(self.client, "clock_offset_ms", None)
        metrics.record_heartbeat(self.state, True, offset_ms, self._clock())
        for command in result.commands:
            self._handle(command, report)
        if self._clock() >= self._next_catalog_sync:  # at start, then hourly; or by command (above)
            report.catalog = self._sync_catalog()[1]
            if self.outbox is not None:
                report.pruned = self.outbox.prune_delivered()
        return report

    def heartbeat_body(self) -> dict[str, Any]:
        counts = (
            self.outbox.counts()
            if self.outbox
            else {"pending": 0, "sending": 0, "oldest_pending_age_s": None}
        )
        service, free_mb = self.guard.check(), self.guard.free_mb()
        devices = [
            {k: s[k] for k in ("name", "kind", "state", "details", "action")} for s in self.state.statuses()
        ]
        storage = service.storage_status(free_mb)  # a storage fault is shown to operators as a device
        if storage is not None:
            devices.insert(0, storage)
        refused = self._refused_cases()
        if refused is not None:
            devices.insert(0, refused)
        help_call = pending_help(self.state)  # a citizen waiting for staff comes first
        if help_call is not None:
            devices.insert(0, help_call)
        return {
            "software_version": metadata.version("kiosk"),
            "uptime_s": int(self._clock() - self._started),
            "in_service": service.in_service,
            "devices": devices,
            "outbox": {
                "pending": counts["pending"] + counts["sending"],
                "oldest_age_s": counts["oldest_pending_age_s"],
            },
            "disk_free_mb": free_mb,
            "sessions_today": metrics.sessions_today(self.state, self._clock()),
        }

    def _refused_cases(self) -> dict[str, Any] | None:
        """Cases the platform refused for good, until staff acknowledge them (`kiosk outbox ack`): the
        citizen holds a receipt for each and must be contacted. Shown as hall-staff work."""
        if self.outbox is None:
            return None
        count, oldest = self.outbox.unreviewed_failures()
        if not count:
            return None
        return {
            "name": "outbox",
            "kind": "outbox",
            "state": "user_error",
            "details": {"failed": count, "oldest_failed_age_s": int(oldest or 0)},
            "action": "clear",
        }

    # -- commands ---------------------------------------------------------------------------------
    def _handle(self, command: Command, report: CycleReport) -> None:
        if self.state.command_result(command.command_id) is None:  # a redelivered command runs once
            if not verify_command(command, self._secret, self.client.platform_now()):
                result, detail = "rejected", "bad signature or expired"
            else:
                result, detail = self._execute(command)
            log.info("command %s %s: %s", command.command_id, command.name, result)
            self.state.record_command(command.command_id, command.name, result, detail)
        self._ack_pending(report)

    def _execute(self, command: Command) -> tuple[str, str | None]:
        if command.name in ("out_of_service", "in_service"):
            self.state.set_flag("in_service", "true" if command.name == "in_service" else "false")
            return "done", None
        if command.name == "sync_catalog":
            return self._sync_catalog()
        # restart, upload_logs and print_test_page need the UI process or systemd (provisioning issue)
        return "rejected", f"{command.name} is not supported by this terminal yet"

    def _sync_catalog(self) -> tuple[str, str | None]:
        """Fetch the catalog if the platform has a newer version than the terminal's (§5.2
        since_version); the UI takes it up between two citizens."""
        state_dir = self.config.storage.state_dir
        current = self._catalog().version
        try:
            data = self.client.get_catalog(self.config.terminal.region_code, since_version=current)
        except PlatformError as err:
            log.warning("catalog sync failed: code=%s", err.code)
            return "failed", f"catalog: code {err.code}"
        finally:
            self._next_catalog_sync = self._clock() + CATALOG_SYNC_S
        if data.get("unchanged"):
            return "done", f"catalog {current} unchanged"
        try:
            Catalog(version=data["version"], items=data["items"])  # never store what the UI would refuse
        except (KeyError, ValueError) as err:
            log.error("catalog %s from the platform does not validate: %s", data.get("version"), err)
            return "failed", f"catalog {data.get('version')} invalid"
        payload = json.dumps({"version": data["version"], "items": data["items"]}, ensure_ascii=False)
        atomic_write(synced_catalog_file(state_dir), payload.encode("utf-8"), 0o640)  # never half of one
        log.info("catalog %s → %s", current, data["version"])
        return "done", f"catalog {data['version']}"

    def _ack_pending(self, report: CycleReport) -> None:
        """Acks survive a lost connection: whatever was recorded but not acked is acked next time."""
        for pending in self.state.unacked_commands():
            try:
                self.client.ack_command(pending["command_id"], pending["result"], pending["detail"])
            except PlatformError as err:
                log.warning("ack of %s failed: code=%s", pending["command_id"], err.code)
                return
            self.state.mark_acked(pending["command_id"])
            report.commands.append(
                {"command_id": pending["command_id"], "name": pending["name"], "result": pending["result"]}
            )

    # -- loop -------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Cycles until `stop` is set (SIGTERM); a cycle that fails is logged and the next one tried.
        Under systemd (kiosk-agent.service, Type=notify) it says READY, pings the watchdog after every
        cycle (a hung cycle gets the agent restarted) and STOPPING when told to stop."""
        metrics_server = self.serve_metrics()
        sdnotify.ready()
        while not stop.is_set():
            try:
                self.run_once()
            except Exception as err:  # keep the agent alive; the log has the type, not the data
                log.exception("agent cycle failed: %s", type(err).__name__)
            sdnotify.watchdog()
            stop.wait(self.interval_s)
        sdnotify.stopping()
        if metrics_server is not None:
            metrics_server.close()

    def serve_metrics(self, port: int | None = None) -> metrics_export.MetricsServer | None:
        """/metrics on 127.0.0.1 (`[agent] metrics_port`, 0 = off), read from the state DB at each scrape.
        An explicit `port` overrides the config (0 = any free port: tests)."""
        if port is None and not self.config.agent.metrics_port:
            return None
        terminal_id = self.config.terminal.id
        collector = metrics_export.KioskCollector(
            self.state, outbox=self.outbox, guard=self.guard, terminal_id=terminal_id, clock=self._clock
        )
        return metrics_export.serve(collector, self.config.agent.metrics_port if port is None else port)
