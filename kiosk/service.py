"""Whether this kiosk may take cases now, and if not, why and what the citizen should do.

A kiosk that cannot store a case must not start one: a citizen would spend ten minutes on it and
then be turned away. So storage is checked before a session starts, not only at submit:
- the operator's `out_of_service` command (flag `in_service` in the state DB);
- the outbox could not be opened (damaged file) or its last write failed (disk full);
- free space in the state directory is below `storage.min_free_mb`;
- a device that every item needs is down (`devices_state`, from the device states in the state DB and
  the catalog the guard is given with `use_catalog`).
Each reason clears by itself once its cause is gone (except a damaged file, which needs a technician
and a restart). The UI and the agent each keep a guard: the UI closes by it, the agent reports it in the
heartbeat and in `/metrics` (`kiosk_in_service`), so operators see the same answer the citizen does.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from kiosk.catalog import Catalog, Item, unavailable_reason
from kiosk.config import StorageConfig
from kiosk.i18n import N_

log = logging.getLogger(__name__)

# Chinese msgids: the 暂停服务 screen and the flow translate them (kiosk.i18n).
CLOSED_REMOTE = N_("本机暂停服务，请到人工窗口办理。")
CLOSED_STORAGE = N_("本机暂时无法保存申请，工作人员正在处理。请到人工窗口办理。")
CLOSED_DEVICES = N_("本机设备出现故障，工作人员正在处理。请到人工窗口办理。")
WRITE_FAILURE_HOLD_S = 60.0  # after a failed write, stay closed at least this long before retrying


@dataclass(frozen=True)
class ServiceState:
    in_service: bool
    # "remote", "outbox_corrupt", "outbox_full", "outbox_io", "disk_low", "devices"
    reason: str | None = None
    message: str = ""  # for the citizen: what to do instead

    def storage_status(self, free_mb: int) -> dict[str, Any] | None:
        """The storage problem as a heartbeat device entry (operators see it next to the printers)."""
        if self.reason is None or self.reason == "remote":
            return None
        return {
            "name": "storage",
            "kind": "storage",
            "state": "hardware_error",
            "details": {"reason": self.reason, "free_mb": free_mb},
            "action": "maintenance",
        }


IN_SERVICE = ServiceState(True)


def devices_state(
    items: Collection[Item], device_states: Mapping[str, str], installed: Collection[str]
) -> ServiceState:
    """Out of service while no item of the catalog can be done here: a device that every item needs
    (the ID card reader, the face camera) is down. Back by itself once the device is; a device that
    only some items need leaves the others open (the catalog marks those few as unavailable)."""
    if items and all(unavailable_reason(item, device_states, installed) for item in items):
        return ServiceState(False, "devices", CLOSED_DEVICES)
    return IN_SERVICE


class ServiceGuard:
    def __init__(
        self,
        storage: StorageConfig,
        flags: Any = None,  # kiosk.state.StateDB, for the operator's in/out of service flag
        *,
        outbox_error: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        free_bytes: Callable[[], int] | None = None,
    ) -> None:
        self._storage, self._flags, self._clock = storage, flags, clock
        self._free_bytes = free_bytes or (lambda: shutil.disk_usage(storage.state_dir).free)
        self._broken = outbox_error  # set when the outbox could not be opened: stays until restart
        self._failed_write: tuple[str, float] | None = None
        self.hold_s = WRITE_FAILURE_HOLD_S
        self._lock = threading.Lock()
        self._catalog: Callable[[], Catalog] | None = None
        self._installed: Collection[str] = ()

    def use_catalog(self, catalog: Callable[[], Catalog], installed: Collection[str]) -> None:
        """Apply the device rule too: `catalog()` is the catalog in use, `installed` the configured
        device roles (their states come from the state DB given as `flags`)."""
        self._catalog, self._installed = catalog, installed

    def outbox_failed(self, reason: str) -> None:
        """A write to the outbox failed (`OutboxUnavailable.reason`); no new case until it can work."""
        with self._lock:
            self._failed_write = (reason, self._clock())
        log.error("out of service: outbox write failed (%s)", reason)

    def free_mb(self) -> int:
        try:
            return self._free_bytes() // 2**20
        except OSError:
            return 0

    def check(self) -> ServiceState:
        if self._flags is not None and self._flags.flag("in_service", "true") == "false":
            return ServiceState(False, "remote", CLOSED_REMOTE)
        if self._broken:
            return ServiceState(False, f"outbox_{self._broken}", CLOSED_STORAGE)
        low = self.free_mb() < self._storage.min_free_mb
        with self._lock:
            if self._failed_write is not None:
                reason, at = self._failed_write
                if low or self._clock() - at < self.hold_s:
                    return ServiceState(False, f"outbox_{reason}", CLOSED_STORAGE)
                self._failed_write = None
                log.info("outbox write failure cleared: %d MB free", self.free_mb())
        if low:
            return ServiceState(False, "disk_low", CLOSED_STORAGE)
        if self._catalog is not None and self._flags is not None:
            states = {row["name"]: row["state"] for row in self._flags.statuses()}
            return devices_state(self._catalog().items, states, self._installed)
        return IN_SERVICE
