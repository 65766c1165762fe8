"""Keeps every device of a terminal alive: one worker thread and one lock per device.

Each worker builds its driver through a factory, polls `status()` for health, and when the device
goes away (the factory raises DeviceError, or the status is offline / no_device / power_off) closes
the driver and rebuilds it with exponential backoff until it works again. Like Home Assistant, it
logs once when a device goes away and once when it returns, not on every retry.

Listeners receive DeviceEvents (StatusChanged with only the changed fields, DeviceErrorEvent with
the action the fault needs) on the device's worker thread; a UI must hand them to its main thread.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from devices.base import (
    N_,
    Action,
    Completion,
    CountersChanged,
    DeviceError,
    DeviceErrorEvent,
    DeviceEvent,
    DeviceState,
    DeviceStatus,
    StatusChanged,
    status_changes,
)

log = logging.getLogger(__name__)

Factory = Callable[[], Any]
"""Builds and opens one driver (anything with `status()` and `close()`); raises DeviceError when
the device cannot be reached."""
Listener = Callable[[DeviceEvent], None]

GONE_STATES = frozenset({DeviceState.OFFLINE, DeviceState.NO_DEVICE, DeviceState.POWER_OFF})
_ERROR_STATES = {
    DeviceState.OFFLINE: Completion.DEVICE_NOT_READY,
    DeviceState.NO_DEVICE: Completion.DEVICE_NOT_READY,
    DeviceState.POWER_OFF: Completion.DEVICE_NOT_READY,
    DeviceState.HARDWARE_ERROR: Completion.HARDWARE_ERROR,
    DeviceState.USER_ERROR: Completion.USER_ERROR,
}
_NOT_READY = N_("设备暂时无法使用，请联系工作人员。")


class _Slot:
    """Everything the manager knows about one device."""

    def __init__(self, name: str, factory: Factory) -> None:
        self.name = name
        self.factory = factory
        self.lock = threading.Lock()  # held by the worker while it polls and by `use()` callers
        self.wake = threading.Event()
        self.driver: Any = None
        self.status = DeviceStatus(name, name, DeviceState.STARTING)
        self.available: bool | None = None  # None until the first attempt
        self.counted: dict[str, int] = {}  # the driver's counters as last published
        self.thread: threading.Thread | None = None


class DeviceManager:
    """One worker thread and one lock per device; see the module docstring."""

    def __init__(
        self,
        factories: dict[str, Factory],
        *,
        poll_interval_s: float = 2.0,
        backoff: tuple[float, float] = (0.5, 8.0),
    ) -> None:
        if backoff[0] <= 0 or backoff[1] < backoff[0]:
            raise ValueError(f"bad backoff {backoff}: need 0 < first <= last")
        self.poll_interval_s = poll_interval_s
        self.backoff = backoff
        self._slots = {name: _Slot(name, factory) for name, factory in factories.items()}
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self._stop = threading.Event()
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._slots)

    def start(self) -> DeviceManager:
        if self._started:
            return self
        self._stop.clear()
        self._started = True
        for slot in self._slots.values():
            slot.thread = threading.Thread(
                target=self._run, args=(slot,), daemon=True, name=f"device-{slot.name}"
            )
            slot.thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the workers and close every driver."""
        self._stop.set()
        for slot in self._slots.values():
            slot.wake.set()
        for slot in self._slots.values():
            if slot.thread is not None:
                slot.thread.join(timeout_s)
                slot.thread = None
            with slot.lock:
                self._close(slot)
        self._started = False

    def __enter__(self) -> DeviceManager:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- use and observe --------------------------------------------------------------------------

    @contextlib.contextmanager
    def use(self, name: str, timeout_s: float | None = None) -> Iterator[Any]:
        """Exclusive use of a device's driver: `with manager.use("printer") as printer: ...`.

        Raises DeviceError(timeout) when the device stays busy for `timeout_s`, and
        DeviceError(device_not_ready) when it is not connected. A DeviceError raised inside the
        block is published as a DeviceErrorEvent and makes the worker check the device at once.
        """
        slot = self._slot(name)
        if not slot.lock.acquire(timeout=-1 if timeout_s is None else timeout_s):
            raise DeviceError(
                Completion.TIMEOUT, _NOT_READY, detail=f"{name} busy for {timeout_s} s", action=Action.AUTO
            )
        try:
            if slot.driver is None:
                raise DeviceError(
                    Completion.DEVICE_NOT_READY,
                    _NOT_READY,
                    detail=f"{name} is not connected",
                    action=Action.AUTO,
                )
            try:
                yield slot.driver
            except DeviceError as err:
                self._publish_error(slot, err.completion, err.action or Action.MAINTENANCE, err.detail)
                slot.wake.set()
                raise
            finally:
                self._publish_counters(slot)
        finally:
            slot.lock.release()

    def wait_started(self, timeout_s: float = 10.0) -> list[DeviceStatus]:
        """Wait until every device has been tried once (connected or not); returns the statuses."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(slot.status.state is not DeviceState.STARTING for slot in self._slots.values()):
                break
            time.sleep(0.05)
        return self.statuses()

    def status(self, name: str) -> DeviceStatus:
        """The latest snapshot (STARTING until the first poll); never touches the device."""
        return self._slot(name).status

    def statuses(self) -> list[DeviceStatus]:
        return [slot.status for slot in self._slots.values()]

    def poke(self, name: str) -> None:
        """Ask the worker to check the device now rather than at the next poll."""
        self._slot(name).wake.set()

    def add_listener(self, callback: Listener) -> None:
        """`callback(event)` runs on the device's worker thread; it must be quick and not raise."""
        with self._listeners_lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Listener) -> None:
        with self._listeners_lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    # -- worker -----------------------------------------------------------------------------------

    def _slot(self, name: str) -> _Slot:
        try:
            return self._slots[name]
        except KeyError:
            raise KeyError(f"no device named {name!r}") from None

    def _run(self, slot: _Slot) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set():
            with slot.lock:
                status, error = self._check(slot)
                if status.state in GONE_STATES:
                    self._close(slot)
            self._publish_status(slot, status, error)
            if status.state in GONE_STATES:
                wait, delay = delay, min(delay * 2, self.backoff[1])
            else:
                wait, delay = self.poll_interval_s, self.backoff[0]
            slot.wake.wait(wait)
            slot.wake.clear()

    def _check(self, slot: _Slot) -> tuple[DeviceStatus, DeviceError | None]:
        """Open the driver if needed and read its status (called with the slot's lock held)."""
        try:
            if slot.driver is None:
                slot.driver = slot.factory()
            status = slot.driver.status()
            if status.name != slot.name:
                status = DeviceStatus(slot.name, status.kind, status.state, status.details, status.action)
            return status, None
        except DeviceError as err:
            return self._offline(slot, err.detail or err.completion.value), err
        except Exception as exc:  # a driver bug must not kill the worker; the type only, no data
            log.exception("device %s: unexpected %s", slot.name, type(exc).__name__)
            err = DeviceError(
                Completion.HARDWARE_ERROR,
                _NOT_READY,
                detail=f"unexpected {type(exc).__name__}",
                action=Action.MAINTENANCE,
            )
            return self._offline(slot, err.detail), err

    def _offline(self, slot: _Slot, detail: str) -> DeviceStatus:
        return DeviceStatus(
            slot.name, slot.status.kind, DeviceState.OFFLINE, {"error": detail}, Action.MAINTENANCE
        )

    def _publish_counters(self, slot: _Slot) -> None:
        """Errors are counted from DeviceErrorEvents; everything else the driver counts is sent on."""
        counters = getattr(slot.driver, "counters", None)
        if not counters:
            return
        deltas = {k: v - slot.counted.get(k, 0) for k, v in counters.items() if k != "errors"}
        deltas = {k: d for k, d in deltas.items() if d > 0}
        slot.counted = dict(counters)
        if deltas:
            self._emit(CountersChanged(slot.name, deltas))

    def _close(self, slot: _Slot) -> None:
        slot.counted = {}  # a rebuilt driver counts from zero again
        driver, slot.driver = slot.driver, None
        if driver is None:
            return
        try:
            driver.close()
        except Exception as exc:  # closing a vanished device must not fail
            log.warning("device %s: %s while closing", slot.name, type(exc).__name__)

    def _publish_status(self, slot: _Slot, status: DeviceStatus, error: DeviceError | None) -> None:
        previous, slot.status = slot.status, status
        available = status.state not in GONE_STATES
        was = slot.available
        slot.available = available
        if available and was is False:
            log.info("device %s returned: %s", slot.name, status.state.value)
        elif not available and was is True:
            log.warning("device %s went away: %s", slot.name, status.details.get("error", status.state.value))
        elif not available and was is None:
            log.warning(
                "device %s not available (%s); retrying in the background",
                slot.name,
                status.details.get("error", status.state.value),
            )
        changed = status_changes(previous, status)
        if changed:
            self._emit(StatusChanged(slot.name, changed, status))
        entered_error = status.state in _ERROR_STATES and (
            previous.state != status.state or previous.action != status.action
        )
        if entered_error:
            if error is not None:
                completion, action, detail = (
                    error.completion,
                    error.action or Action.MAINTENANCE,
                    error.detail,
                )
            else:
                completion = _ERROR_STATES[status.state]
                action = status.action or Action.MAINTENANCE
                detail = str(status.details.get("error") or status.state.value)
            self._publish_error(slot, completion, action, detail)

    def _publish_error(self, slot: _Slot, completion: Completion, action: Action, detail: str) -> None:
        self._emit(DeviceErrorEvent(slot.name, completion, action, detail))

    def publish(self, event: DeviceEvent) -> None:
        """Send an event that arose outside the polling (a card watcher's insert/remove) to listeners."""
        self._emit(event)

    def _emit(self, event: DeviceEvent) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:
                log.exception("device listener failed on %s: %s", type(event).__name__, type(exc).__name__)


class ManagedDevice:
    """Stands in for one device's driver in the application: every method call runs under the
    manager's lock on whatever driver is current, so a driver rebuilt after a replug is picked up
    without the caller noticing."""

    def __init__(self, manager: DeviceManager, name: str, timeout_s: float | None = None) -> None:
        self._manager, self._name, self._timeout_s = manager, name, timeout_s

    def __getattr__(self, attr: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._manager.use(self._name, self._timeout_s) as driver:
                return getattr(driver, attr)(*args, **kwargs)

        return call
