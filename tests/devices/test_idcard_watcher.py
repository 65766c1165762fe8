"""CardWatcher: one read per insertion, removal detection, cheap idle polling."""

from __future__ import annotations

import queue
import time

import pytest
from test_idcard_reader import IDENTITIES

from devices.base import Completion, DeviceError
from devices.idcard import IdCard, IdCardReader, SamSimulator
from devices.idcard import protocol as p
from devices.idcard.watcher import CardWatcher

READ = p.build_command(*p.READ_BASE)
FIND = p.build_command(*p.FIND_CARD)


class Recorder:
    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()

    def inserted(self, card: IdCard) -> None:
        self.events.put(("inserted", card))

    def removed(self) -> None:
        self.events.put(("removed", None))

    def error(self, exc: DeviceError) -> None:
        self.events.put(("error", exc))

    def next(self, timeout: float = 5.0) -> tuple[str, object]:
        return self.events.get(timeout=timeout)

    def drain(self) -> list[tuple[str, object]]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out


def make(reader: IdCardReader, rec: Recorder, **kwargs: object) -> CardWatcher:
    return CardWatcher(reader, rec.inserted, rec.removed, on_error=rec.error, **kwargs)  # type: ignore[arg-type]


def test_state_machine_reads_each_insertion_once(sim: SamSimulator, reader: IdCardReader) -> None:
    rec = Recorder()
    watcher = make(reader, rec)
    watcher.poll_once()
    assert rec.drain() == []
    sim.insert(0)
    watcher.poll_once()
    kind, card = rec.next(0)
    assert kind == "inserted" and isinstance(card, IdCard) and card.id_number == IDENTITIES[0]["id_number"]
    for _ in range(5):  # the card stays on the reader: never read again
        watcher.poll_once()
    assert rec.drain() == [] and sim.received.count(READ) == 1 and watcher.card_present
    sim.remove()
    watcher.poll_once()  # one "no card" is not yet a removal (debounce)
    assert rec.drain() == [] and watcher.card_present
    watcher.poll_once()
    assert rec.drain() == [("removed", None)] and not watcher.card_present
    sim.insert(4)  # a new insertion is read
    watcher.poll_once()
    kind, card = rec.next(0)
    assert kind == "inserted" and isinstance(card, IdCard) and card.id_number == IDENTITIES[4]["id_number"]
    assert sim.received.count(READ) == 2


def test_single_missed_find_does_not_cause_a_double_read(sim: SamSimulator, reader: IdCardReader) -> None:
    rec = Recorder()
    watcher = make(reader, rec)
    sim.insert(0)
    watcher.poll_once()
    sim.remove()
    watcher.poll_once()  # an RF hiccup: one "no card"
    sim.insert(0)
    watcher.poll_once()
    watcher.poll_once()
    assert [kind for kind, _ in rec.drain()] == ["inserted"]
    assert sim.received.count(READ) == 1


def test_failed_read_is_reported_once_and_not_retried_until_removed(
    sim: SamSimulator, reader: IdCardReader
) -> None:
    rec = Recorder()
    watcher = make(reader, rec, removal_polls=1)
    sim.insert(0)
    sim.inject("pull_mid_read")
    watcher.poll_once()
    kind, exc = rec.next(0)
    assert kind == "error" and isinstance(exc, DeviceError)
    assert exc.message == "读卡时证件被移开，请重新放置。"
    watcher.poll_once()  # card gone: no removed event, nothing was announced
    assert rec.drain() == [] and not watcher.card_present
    sim.insert(0)
    watcher.poll_once()
    assert rec.next(0)[0] == "inserted"


def test_reader_fault_is_reported_once_and_watching_resumes(sim: SamSimulator, reader: IdCardReader) -> None:
    rec = Recorder()
    watcher = make(reader, rec)
    sim.unplug()
    for _ in range(4):
        watcher.poll_once()
    events = rec.drain()
    assert len(events) == 1 and events[0][0] == "error"
    assert isinstance(events[0][1], DeviceError) and events[0][1].completion is Completion.DEVICE_NOT_READY
    sim.replug()
    sim.insert(0)
    watcher.poll_once()
    assert rec.next(0)[0] == "inserted"


def test_callback_exceptions_do_not_kill_the_watcher(sim: SamSimulator, reader: IdCardReader) -> None:
    def boom(card: IdCard) -> None:
        raise RuntimeError("ui bug")

    removed: list[bool] = []
    watcher = CardWatcher(reader, boom, lambda: removed.append(True), removal_polls=1)
    sim.insert(0)
    watcher.poll_once()
    sim.remove()
    watcher.poll_once()
    assert removed == [True]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        CardWatcher(None, print, print, poll_interval_s=0)  # type: ignore[arg-type]


def test_thread_emits_events_and_stops(sim: SamSimulator, reader: IdCardReader) -> None:
    rec = Recorder()
    with make(reader, rec, poll_interval_s=0.05):
        sim.insert(1)
        assert rec.next()[0] == "inserted"
        sim.remove()
        assert rec.next() == ("removed", None)
        sim.insert(2)
        kind, card = rec.next()
        assert kind == "inserted" and isinstance(card, IdCard) and card.card_type == "foreign_permanent_2017"
    polls = sim.received.count(FIND)
    time.sleep(0.2)
    assert sim.received.count(FIND) == polls  # stopped means stopped


def test_idle_polling_is_cheap(sim: SamSimulator, reader: IdCardReader) -> None:
    """CPU of the whole process (driver + simulator thread + pytest) over ~3 s of idle watching."""
    rec = Recorder()
    watcher = make(reader, rec, poll_interval_s=0.5)
    cpu0, wall0 = time.process_time(), time.monotonic()
    with watcher:
        time.sleep(3.0)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    share = cpu / wall
    print(f"idle CardWatcher: {cpu * 1e3:.1f} ms CPU over {wall:.2f} s = {share:.2%} of one core")
    assert rec.drain() == []
    assert watcher.polls >= 3
    assert share < 0.25  # loose sanity bound: a busy loop would be ~100 %


def _wait(predicate, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_card_events_reach_manager_listeners_without_personal_data(
    sim: SamSimulator, reader: IdCardReader
) -> None:
    from devices.base import CardInserted, CardRemoved
    from devices.idcard.watcher import card_event_watcher
    from devices.manager import DeviceManager

    events: list = []
    cards: list = []
    manager = DeviceManager({})
    manager.add_listener(events.append)
    with card_event_watcher(reader, "idcard", manager.publish, cards.append, poll_interval_s=0.05):
        sim.insert(0)
        assert _wait(lambda: bool(cards))
        sim.remove()
        assert _wait(lambda: any(isinstance(e, CardRemoved) for e in events))
    assert events[0] == CardInserted("idcard") and events[-1] == CardRemoved("idcard")
    assert cards[0].id_number == IDENTITIES[0]["id_number"]
    assert all(IDENTITIES[0]["id_number"] not in repr(e) for e in events)
