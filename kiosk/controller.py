"""The application core the UI drives: one citizen session at a time, its flow and its idle timer."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kiosk import memory, metrics
from kiosk.catalog import CatalogSource, Item
from kiosk.flow import Flow, FlowError
from kiosk.help_request import clear_help, request_help
from kiosk.i18n import _
from kiosk.service import IN_SERVICE, ServiceState
from kiosk.services import Services
from kiosk.session import IdleState, IdleTimer, Session

log = logging.getLogger(__name__)
ELDERLY_TIME_FACTOR = 2  # 长者模式: twice as long before the countdown and the wipe


class KioskController:
    def __init__(self, services: Services, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        metrics.instrument(services)  # face match and upload latency reach /metrics via the state DB
        cfg = services.config.session
        self.idle = IdleTimer(cfg.idle_timeout_s, cfg.warning_s, clock)
        self.session: Session | None = None
        self.flow: Flow | None = None
        self._elderly = False
        self.last_wiped: Session | None = None  # kept only so tests and the scenario can check the wipe
        self.last_outcome: dict[str, Any] | None = None  # non-personal: what the last session did
        self._synced_catalog = CatalogSource(services.config.storage.state_dir)
        if services.guard is not None:  # closed while a device every item needs is down
            services.guard.use_catalog(lambda: self.services.catalog, services.config.devices.keys())

    @property
    def elderly(self) -> bool:
        """长者模式: larger type and voice (the UI's part) and twice the time before the idle wipe."""
        return self._elderly

    @elderly.setter
    def elderly(self, on: bool) -> None:
        cfg = self.services.config.session
        factor = ELDERLY_TIME_FACTOR if on else 1
        self.idle.timeout_s, self.idle.warning_s = cfg.idle_timeout_s * factor, cfg.warning_s * factor
        self._elderly = on

    def service_state(self) -> ServiceState:
        """Every rule of kiosk.service; the guard applies the device rule to this catalog."""
        guard = self.services.guard
        return IN_SERVICE if guard is None else guard.check()

    def refresh_catalog(self) -> bool:
        """Between two citizens: take up the catalog the agent synced since (True when it changed)."""
        if self.session is not None:
            return False
        catalog = self._synced_catalog()
        if catalog.version == self.services.catalog.version:
            return False
        log.info("catalog %s → %s", self.services.catalog.version, catalog.version)
        self.services.catalog = catalog
        return True

    def start(self, item: Item, mode: str = "online") -> Flow:
        """Raises FlowError (with what to do instead) when the kiosk cannot take a case now."""
        service = self.service_state()
        if not service.in_service:
            raise FlowError(_(service.message))
        if self.services.document_camera is None and any("scan" in m.accepts for m in item.materials):
            raise FlowError(_("本机没有高拍仪，这个事项请到人工窗口办理。"))
        if self.session is not None:
            self.end_session("new session")
        self.session = Session()
        self.flow = Flow(self.services, self.session, item, mode)
        self.flow.time_factor = ELDERLY_TIME_FACTOR if self.elderly else 1
        if self.services.state is not None:
            metrics.record_session_start(self.services.state)
        self.idle.touch()
        log.info("session %s started item=%s mode=%s", self.session.id[:8], item.code, mode)
        return self.flow

    def request_help(self, screen: str) -> None:
        if self.services.state is not None:
            request_help(self.services.state, screen)

    def end_session(self, reason: str) -> None:
        """Wipe whatever the citizen left behind; called on finish, cancel and timeout."""
        if self.session is not None:
            if self.services.state is not None:
                clear_help(self.services.state)  # staff helped, or the citizen has gone
            log.info("session %s ended: %s", self.session.id[:8], reason)
            if self.services.state is not None:  # sessions and submissions by result, for /metrics
                metrics.record_session_end(self.services.state, self.session, self.flow, reason)
            case = self.session.case or {}
            self.last_outcome = {
                "item_code": self.session.item_code,
                "mode": self.session.mode,
                "case_no": case.get("case_no"),
                "rating": self.session.rating,
                "reason": reason,
            }
            self.session.wipe()
            self.last_wiped = self.session
            if self.services.face_detector is not None:  # built again by the next face check
                self.services.face_detector.release()
        # The wiped session's frames and pages go back to the system; without a session, those of
        # the screens used meanwhile (a query's scanned frames).
        memory.release_freed_later()
        self.session, self.flow = None, None

    @property
    def busy(self) -> bool:
        return self.flow is not None and self.flow.busy

    def user_activity(self) -> None:
        self.idle.touch()

    def tick(self, away_from_home: bool) -> IdleState:
        """Called every second by the UI; on expiry the session is wiped before the UI goes home."""
        if not away_from_home or self.busy:  # never wipe under a submission in flight
            self.idle.touch()
            return IdleState.ACTIVE
        state = self.idle.state()
        if state is IdleState.EXPIRED:
            self.end_session("idle timeout")
            self.idle.touch()
        return state
