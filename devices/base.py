"""The device contract shared by every driver (vocabulary from XFS4IoT, lifecycle from UPOS).

Drivers translate pyserial / escpos / OpenCV / OS exceptions into `DeviceError` with a completion
code and the action the fault needs, so nothing raw reaches the core or the screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


class DeviceState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    POWER_OFF = "power_off"
    NO_DEVICE = "no_device"
    HARDWARE_ERROR = "hardware_error"
    USER_ERROR = "user_error"
    BUSY = "busy"
    STARTING = "starting"


class Completion(enum.StrEnum):
    """Closed set of results every device operation ends with."""

    SUCCESS = "success"
    CANCELED = "canceled"
    TIMEOUT = "timeout"
    DEVICE_NOT_READY = "device_not_ready"
    HARDWARE_ERROR = "hardware_error"
    USER_ERROR = "user_error"
    INVALID_DATA = "invalid_data"
    UNSUPPORTED = "unsupported"
    SEQUENCE_ERROR = "sequence_error"


class Action(enum.StrEnum):
    """Who must act on a fault, so operators can route alerts."""

    AUTO = "auto"  # the device recovers by itself
    CLEAR = "clear"  # hall staff: paper, jam, cover
    MAINTENANCE = "maintenance"  # a technician


def N_(text: str) -> str:
    """Mark a citizen-facing sentence for the kiosk's translation catalog (kiosk.i18n, which this
    layer cannot import). The sentence stays Chinese here; the kiosk translates it where it is shown."""
    return text


class DeviceError(Exception):
    """The only exception type that leaves a driver.

    `message` is a short plain-Chinese sentence fit for the citizen (marked with N_: a msgid for the
    kiosk's catalog); `detail` is for the log and must never contain personal data.
    """

    def __init__(
        self,
        completion: Completion,
        message: str,
        *,
        detail: str = "",
        action: Action | None = None,
    ) -> None:
        super().__init__(f"{completion.value}: {detail or message}")
        self.completion = completion
        self.message = message
        self.detail = detail
        self.action = action


@dataclass
class DeviceStatus:
    """A snapshot: the common state plus per-class details (None = not supported)."""

    name: str
    kind: str
    state: DeviceState
    details: dict[str, Any] = field(default_factory=dict)
    action: Action | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "details": dict(self.details),
            "action": self.action.value if self.action else None,
        }


class HealthLevel(enum.StrEnum):
    """How deep `check_health` goes (UPOS checkHealth levels)."""

    INTERNAL = "internal"  # the driver checks itself and the link; nothing moves
    EXTERNAL = "external"  # the device really works: reads a card, prints a test page
    INTERACTIVE = "interactive"  # a technician takes part (insert a card, look at the print)


# -- events ---------------------------------------------------------------------------------------
# Events carry device names, states and fault descriptions only, never personal data.


@dataclass(frozen=True)
class DeviceEvent:
    """Base of everything a device (or the DeviceManager) publishes to listeners."""

    name: str


@dataclass(frozen=True)
class StatusChanged(DeviceEvent):
    """The status of `name` changed. `changed` holds only the fields that changed, in `as_dict()`
    form (`state`, `kind`, `action`, and `details` with only the changed detail keys; a removed
    detail key maps to None); `status` is the whole new snapshot."""

    changed: dict[str, Any]
    status: DeviceStatus


@dataclass(frozen=True)
class DeviceErrorEvent(DeviceEvent):
    """A fault, with the action it needs (auto / clear for hall staff / maintenance for a technician)."""

    completion: Completion
    action: Action
    detail: str = ""


@dataclass(frozen=True)
class CardInserted(DeviceEvent):
    pass


@dataclass(frozen=True)
class CardRemoved(DeviceEvent):
    pass


@dataclass(frozen=True)
class MediaTaken(DeviceEvent):
    pass


@dataclass(frozen=True)
class CountersChanged(DeviceEvent):
    """What a driver's `counters` (reads, prints, cuts, …) gained during one use of the device."""

    deltas: dict[str, int] = field(default_factory=dict)


def status_changes(old: DeviceStatus | None, new: DeviceStatus) -> dict[str, Any]:
    """The fields of `new` that differ from `old` (everything when there is no `old`)."""
    after = new.as_dict()
    if old is None:
        return {key: value for key, value in after.items() if key != "name"}
    before = old.as_dict()
    changed: dict[str, Any] = {
        key: after[key] for key in ("kind", "state", "action") if before[key] != after[key]
    }
    old_details, new_details = before["details"], after["details"]
    details = {
        key: new_details.get(key)
        for key in old_details.keys() | new_details.keys()
        if old_details.get(key) != new_details.get(key)
    }
    if details:
        changed["details"] = details
    return changed


# -- lifecycle ------------------------------------------------------------------------------------


@runtime_checkable
class Device(Protocol):
    """The lifecycle every driver grows into: open -> claim -> enable ... disable -> release -> close.

    `open` reaches the hardware, `claim` takes it exclusively, `enable` lets it produce events;
    every method raises only DeviceError. Today's drivers have `open`, `close` and `status`;
    the DeviceManager works with those alone.
    """

    name: str

    def open(self) -> None: ...

    def claim(self, timeout_s: float) -> None: ...

    def enable(self) -> None: ...

    def disable(self) -> None: ...

    def release(self) -> None: ...

    def close(self) -> None: ...

    def status(self) -> DeviceStatus: ...

    def check_health(self, level: HealthLevel) -> DeviceStatus: ...
