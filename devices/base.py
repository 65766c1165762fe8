"""The device contract shared by every driver (vocabulary from XFS4IoT, lifecycle from UPOS).

Drivers translate pyserial / escpos / OpenCV / OS exceptions into `DeviceError` with a completion
code and the action the fault needs, so nothing raw reaches the core or the screen.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


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


class DeviceError(Exception):
    """The only exception type that leaves a driver.

    `message` is a short plain-Chinese sentence fit for the citizen; `detail` is for the log and
    must never contain personal data.
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
