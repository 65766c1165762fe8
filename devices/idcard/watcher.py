"""Card presence watching: one cheap `find` per poll interval, one read per insertion.

The watcher thread sleeps on an Event between polls (no busy waiting); each poll is a 10-byte
command and an 11-byte reply. After a card has been read (or failed to read) it is not read again
until `find` has answered "no card" (SW3 0x80) `removal_polls` times in a row, so a card left on the
reader is never read twice and a single missed RF answer does not count as a removal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from devices.base import CardInserted, CardRemoved, DeviceError, DeviceEvent
from devices.idcard.card import IdCard
from devices.idcard.reader import IdCardReader

log = logging.getLogger(__name__)


class CardWatcher:
    """Calls `on_inserted(card)` once per insertion (after reading it) and `on_removed()` when it goes.

    `on_error(error)` (optional) hears read failures of an insertion and reader faults; a fault that
    persists is reported once, not at every poll. Callbacks run on the watcher thread and must not
    block for long; an exception from a callback is logged and swallowed.
    """

    def __init__(
        self,
        reader: IdCardReader,
        on_inserted: Callable[[IdCard], None],
        on_removed: Callable[[], None],
        poll_interval_s: float = 0.5,
        *,
        on_error: Callable[[DeviceError], None] | None = None,
        with_fingerprint: bool = False,
        read_append: bool = True,
        removal_polls: int = 2,
    ) -> None:
        if poll_interval_s <= 0 or removal_polls < 1:
            raise ValueError("poll_interval_s must be > 0 and removal_polls >= 1")
        self.reader = reader
        self.poll_interval_s = poll_interval_s
        self.removal_polls = removal_polls
        self._on_inserted = on_inserted
        self._on_removed = on_removed
        self._on_error = on_error
        self._with_fingerprint = with_fingerprint
        self._read_append = read_append
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._present = False  # a card has been handled and has not been seen leaving yet
        self._announced = False  # on_inserted was called for the present card
        self._misses = 0
        self._last_fault: str | None = None
        self.polls = 0  # finds sent, for tests and benchmarks

    @property
    def card_present(self) -> bool:
        return self._present

    def start(self) -> CardWatcher:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="idcard-watcher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop polling; waits for an in-flight find or read to finish (bounded by its timeout)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def __enter__(self) -> CardWatcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.poll_interval_s)  # an interruptible sleep

    def poll_once(self) -> None:
        """One step of the state machine (public so tests can drive it without the thread)."""
        self.polls += 1
        try:
            found = self.reader.find_card()
        except DeviceError as exc:
            self._fault(exc)
            return
        self._last_fault = None
        if self._present:
            if found:
                self._misses = 0
                return
            self._misses += 1
            if self._misses >= self.removal_polls:
                self._present, self._misses = False, 0
                if self._announced:
                    self._announced = False
                    self._call(self._on_removed)
            return
        if not found:
            return
        # A new insertion: read it once, whatever the outcome, then wait for it to leave.
        self._present, self._misses = True, 0
        try:
            card = self.reader.read_card(self._with_fingerprint, self._read_append)
        except DeviceError as exc:
            log.info("card watcher: read failed: %s", exc.detail)
            if self._on_error is not None:
                self._call(self._on_error, exc)
            return
        self._announced = True
        self._call(self._on_inserted, card)

    def _fault(self, exc: DeviceError) -> None:
        key = exc.completion.value  # "disconnected" then "cannot open" is one fault, not two
        if key == self._last_fault:
            return
        self._last_fault = key
        log.warning("card watcher: reader fault: %s", exc.detail)
        if self._on_error is not None:
            self._call(self._on_error, exc)

    @staticmethod
    def _call(callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("card watcher: callback failed")


def card_event_watcher(
    reader: IdCardReader,
    name: str,
    publish: Callable[[DeviceEvent], None],
    on_card: Callable[[IdCard], None] | None = None,
    **kwargs: Any,
) -> CardWatcher:
    """A watcher whose insertions and removals are published as CardInserted / CardRemoved events.

    The events carry only the device name: the card's personal data goes to `on_card` alone, never
    onto the event bus (whose listeners write to the state DB and the logs)."""

    def inserted(card: IdCard) -> None:
        publish(CardInserted(name))
        if on_card is not None:
            on_card(card)

    return CardWatcher(reader, inserted, lambda: publish(CardRemoved(name)), **kwargs)
