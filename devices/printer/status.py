"""Read the four DLE EOT real-time status bytes (ESC/POS) into the device contract.

python-escpos's paper_status() reports plenty of paper when the printer says nothing, so the
driver queries and parses on its own: silence is never taken for "ok".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from devices.base import Action, DeviceState

DLE_EOT = b"\x10\x04"
QUERIES = (1, 2, 3, 4)  # printer, offline cause, error cause, roll paper sensor


@dataclass(frozen=True)
class Reading:
    state: DeviceState
    details: dict[str, Any]
    action: Action | None


def is_status_byte(value: int) -> bool:
    """Every DLE EOT reply has bits 1 and 4 set and bits 0 and 7 clear."""
    return value & 0x93 == 0x12


def unknown(state: DeviceState, error: str, action: Action | None = Action.MAINTENANCE) -> Reading:
    """A reading for when the printer could not be asked or did not answer."""
    return Reading(
        state, {"paper": "unknown", "cover_open": None, "error": error, "media_at_exit": None}, action
    )


def not_supported() -> Reading:
    """Write-only transports (file://) cannot read status: None means not supported."""
    return Reading(
        DeviceState.ONLINE, {"paper": None, "cover_open": None, "error": None, "media_at_exit": None}, None
    )


def interpret(replies: Sequence[int]) -> Reading:
    """Turn the replies to DLE EOT 1, 2, 3, 4 (in that order) into a state, details and action."""
    if len(replies) != len(QUERIES) or not all(is_status_byte(b) for b in replies):
        return unknown(DeviceState.HARDWARE_ERROR, "garbled_status")
    printer, cause, error_bits, sensor = replies
    if sensor & 0x60 or cause & 0x20:
        paper = "out"
    elif sensor & 0x0C:
        paper = "low"
    else:
        paper = "full"
    cover_open = bool(cause & 0x04)
    error = _error(error_bits)
    # media_at_exit: DLE EOT has no presenter sensor; None = not supported (so no MediaTaken events).
    details = {"paper": paper, "cover_open": cover_open, "error": error, "media_at_exit": None}

    if error in ("cutter", "unrecoverable", "mechanical"):
        return Reading(DeviceState.HARDWARE_ERROR, details, Action.MAINTENANCE)
    if cover_open or paper == "out":
        return Reading(DeviceState.USER_ERROR, details, Action.CLEAR)
    if error == "overheat":
        return Reading(DeviceState.BUSY, details, Action.AUTO)
    if printer & 0x08:  # offline for another reason, e.g. the feed button is held
        return Reading(DeviceState.OFFLINE, details, Action.AUTO)
    return Reading(DeviceState.ONLINE, details, Action.CLEAR if paper == "low" else None)


def _error(bits: int) -> str | None:
    if bits & 0x08:
        return "cutter"
    if bits & 0x20:
        return "unrecoverable"
    if bits & 0x04:
        return "mechanical"
    if bits & 0x40:
        return "overheat"  # recovers by itself once the head cools
    return None
