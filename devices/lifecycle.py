"""The UPOS lifecycle, health checks and usage counters shared by every driver (one mixin).

States: CLOSED -> open() -> ENABLED; disable() -> CLAIMED; release() -> OPEN; claim() -> CLAIMED;
enable() -> ENABLED; close() -> CLOSED from anywhere.

`open()` implies claim + enable, so code that only calls `open()` and then operations keeps working
exactly as before; a UPOS caller's `claim()` and `enable()` right after `open()` are no-ops. A driver
that was never opened keeps its old behaviour (the reader and the camera refuse with SEQUENCE_ERROR,
the printers connect on first use); only a device that was opened and then disabled or released
refuses operations with DeviceError(SEQUENCE_ERROR).

A claim is exclusive within the process: a second driver instance on the same resource (serial
port, printer URL, CUPS queue, camera) is refused with SEQUENCE_ERROR until the first releases or
closes. Across processes the serial reader also holds an OS lock on its port (pyserial's
`exclusive=True`, a flock).

`counters` is a `collections.Counter` of usage (reads, prints, cuts, pages, jobs, frames) and
`errors` (every DeviceError an operation raises, except CANCELED and "nobody came" timeouts); the
application persists them, the driver only counts in memory.
"""

from __future__ import annotations

import collections
import enum
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

from devices.base import N_, Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel

MSG_DISABLED = N_("设备暂停使用，请联系工作人员。")


class LifecycleState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"  # opened, not claimed (after release())
    CLAIMED = "claimed"  # claimed, not enabled (after disable())
    ENABLED = "enabled"


# Process-wide claims: resource key -> owner instance.
_claims: dict[str, object] = {}
_claims_changed = threading.Condition()

_FAILED_STATE = {
    Completion.DEVICE_NOT_READY: DeviceState.OFFLINE,
    Completion.TIMEOUT: DeviceState.OFFLINE,
    Completion.SEQUENCE_ERROR: DeviceState.OFFLINE,
    Completion.USER_ERROR: DeviceState.USER_ERROR,
}


def _sequence_error(detail: str) -> DeviceError:
    return DeviceError(Completion.SEQUENCE_ERROR, MSG_DISABLED, detail=detail, action=Action.MAINTENANCE)


class Lifecycle:
    """Mixin: call `_lifecycle_init(key)` in `__init__`; wrap hardware open/close with `_lc_open` /
    `_lc_close`; run public operations inside `with self._operation("what"):`; implement
    `_exercise(level)` for EXTERNAL / INTERACTIVE health checks."""

    name: str
    counters: collections.Counter[str]

    def status(self) -> DeviceStatus:  # provided by the driver
        raise NotImplementedError

    def _lifecycle_init(self, claim_key: str) -> None:
        self.counters = collections.Counter()
        self._lc_state = LifecycleState.CLOSED
        self._lc_key = claim_key
        self._lc_lock = threading.RLock()
        self._count_lock = threading.Lock()

    @property
    def lifecycle_state(self) -> LifecycleState:
        return self._lc_state

    def close(self) -> None:  # provided by the driver
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Printers connect on first use; a driver that must open at once (the reader) overrides this."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- lifecycle --------------------------------------------------------------------------------

    def _lc_open(self, do_open: Callable[[], None]) -> None:
        """Open the hardware; a fresh open also claims (without waiting) and enables."""
        with self._lc_lock:
            fresh = self._lc_state is LifecycleState.CLOSED
            if fresh:
                self._take_claim(0.0)
            try:
                do_open()
            except BaseException:
                if fresh:
                    self._drop_claim()
                raise
            if fresh:
                self._lc_state = LifecycleState.ENABLED

    def _lc_close(self, do_close: Callable[[], None]) -> None:
        with self._lc_lock:
            try:
                do_close()
            finally:
                self._drop_claim()
                self._lc_state = LifecycleState.CLOSED

    def claim(self, timeout_s: float) -> None:
        """Take the device exclusively, waiting up to `timeout_s` for another holder in this process."""
        with self._lc_lock:
            if self._lc_state is LifecycleState.CLOSED:
                raise _sequence_error(f"{self.name}: claim before open")
            if self._lc_state is LifecycleState.OPEN:
                self._take_claim(timeout_s)
                self._lc_state = LifecycleState.CLAIMED

    def enable(self) -> None:
        with self._lc_lock:
            if self._lc_state not in (LifecycleState.CLAIMED, LifecycleState.ENABLED):
                raise _sequence_error(f"{self.name}: enable while {self._lc_state.value}")
            self._lc_state = LifecycleState.ENABLED

    def disable(self) -> None:
        with self._lc_lock:
            if self._lc_state not in (LifecycleState.CLAIMED, LifecycleState.ENABLED):
                raise _sequence_error(f"{self.name}: disable while {self._lc_state.value}")
            self._lc_state = LifecycleState.CLAIMED

    def release(self) -> None:
        """Give up the claim (disabling first); the device stays open."""
        with self._lc_lock:
            if self._lc_state not in (LifecycleState.CLAIMED, LifecycleState.ENABLED):
                raise _sequence_error(f"{self.name}: release while {self._lc_state.value}")
            self._drop_claim()
            self._lc_state = LifecycleState.OPEN

    def _take_claim(self, timeout_s: float) -> None:
        with _claims_changed:
            free = _claims_changed.wait_for(
                lambda: _claims.get(self._lc_key, self) is self, timeout=max(timeout_s, 0.0)
            )
            if not free:
                raise _sequence_error(f"{self.name}: {self._lc_key} is claimed by another driver instance")
            _claims[self._lc_key] = self

    def _drop_claim(self) -> None:
        with _claims_changed:
            if _claims.get(self._lc_key) is self:
                del _claims[self._lc_key]
                _claims_changed.notify_all()

    # -- operations and counters ------------------------------------------------------------------

    def _require_enabled(self, what: str) -> None:
        state = self._lc_state
        if state in (LifecycleState.OPEN, LifecycleState.CLAIMED):
            raise _sequence_error(f"{self.name}: {what} while {state.value}")

    def _count(self, key: str, n: int = 1) -> None:
        with self._count_lock:
            self.counters[key] += n

    @contextmanager
    def _counting(self, not_a_fault: Callable[[DeviceError], bool] | None = None) -> Iterator[None]:
        """Count every DeviceError raised inside as an error, except CANCELED and `not_a_fault`."""
        try:
            yield
        except DeviceError as exc:
            if exc.completion is not Completion.CANCELED and not (not_a_fault and not_a_fault(exc)):
                self._count("errors")
            raise

    @contextmanager
    def _operation(
        self, what: str, not_a_fault: Callable[[DeviceError], bool] | None = None
    ) -> Iterator[None]:
        """A public operation: refused while disabled or released; its DeviceErrors are counted."""
        self._require_enabled(what)
        with self._counting(not_a_fault):
            yield

    # -- health -----------------------------------------------------------------------------------

    def _exercise(self, level: HealthLevel) -> dict[str, Any]:
        """Really use the device (EXTERNAL / INTERACTIVE); return extra details; raise DeviceError."""
        raise NotImplementedError

    def check_health(self, level: HealthLevel) -> DeviceStatus:
        """UPOS checkHealth; never raises.

        INTERNAL: the device's own status query, nothing moves. EXTERNAL: the device really works
        (see the driver's `_exercise`). INTERACTIVE: for now the same as EXTERNAL; it is the level at
        which a technician confirms the result (the maintenance screen asks). Allowed while enabled
        or disabled (a technician disables the device before testing it), refused after release().
        A failure is a non-online DeviceStatus with details {"health": "failed", "error": ...}.
        """
        level = HealthLevel(level)
        if self._lc_state is LifecycleState.OPEN:
            return _failed(self.status(), _sequence_error(f"{self.name}: check_health while released"))
        before = self.status()
        if before.state is not DeviceState.ONLINE:
            error = before.details.get("error") or f"state {before.state.value}"
            return _failed(before, str(error))
        if level is HealthLevel.INTERNAL:
            return _ok(before, level, {})
        try:
            with self._counting():
                extra = self._exercise(level)
        except DeviceError as exc:
            return _failed(self.status(), exc)
        return _ok(self.status(), level, extra)


def _ok(status: DeviceStatus, level: HealthLevel, extra: dict[str, Any]) -> DeviceStatus:
    details = {**status.details, **extra, "health": "ok", "health_level": level.value}
    return DeviceStatus(status.name, status.kind, status.state, details, status.action)


def _failed(status: DeviceStatus, error: DeviceError | str) -> DeviceStatus:
    """`status` taken after the failure; when it still looks online the error decides the state."""
    detail = error if isinstance(error, str) else error.detail or error.message
    state, action = status.state, status.action
    if state is DeviceState.ONLINE or state is DeviceState.BUSY:
        completion = Completion.HARDWARE_ERROR if isinstance(error, str) else error.completion
        state = _FAILED_STATE.get(completion, DeviceState.HARDWARE_ERROR)
        action = None if isinstance(error, str) else error.action
    details = {**status.details, "health": "failed", "error": detail}
    return DeviceStatus(status.name, status.kind, state, details, action or Action.MAINTENANCE)
