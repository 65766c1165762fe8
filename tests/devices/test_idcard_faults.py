"""Unplug/replug over a stable port path and a card lifted mid-read, against the pty simulator."""

from __future__ import annotations

import os
import threading
import time

import pytest
from test_idcard_reader import IDENTITIES

from devices.base import Action, Completion, DeviceError, DeviceState
from devices.idcard import IdCardReader, SamSimulator
from devices.idcard import protocol as p
from devices.idcard.reader import MSG_CARD_PULLED

FIND = p.build_command(*p.FIND_CARD)
SELECT = p.build_command(*p.SELECT_CARD)
READ = p.build_command(*p.READ_BASE)


def wait_online(reader: IdCardReader, within_s: float = 5.0) -> DeviceState:
    deadline = time.monotonic() + within_s
    state = reader.status().state
    while state is not DeviceState.ONLINE and time.monotonic() < deadline:
        time.sleep(0.05)
        state = reader.status().state
    return state


# -- the simulator's stable port -------------------------------------------------------------------


def test_port_is_a_stable_link_to_the_current_pty(sim: SamSimulator) -> None:
    assert sim.port is not None and sim.pty_path is not None
    port = sim.port
    assert os.path.islink(port) and os.path.realpath(port) == os.path.realpath(sim.pty_path)
    sim.unplug()
    assert not os.path.lexists(port) and sim.pty_path is None and not sim.plugged
    sim.replug()
    assert sim.port == port and os.path.realpath(port) == os.path.realpath(sim.pty_path)
    link_dir = os.path.dirname(port)
    sim.stop()
    assert not os.path.exists(link_dir)


def test_default_port_is_the_pty_itself() -> None:
    with SamSimulator(IDENTITIES, pace=False) as sim:
        assert sim.port == sim.pty_path and sim.port is not None and sim.port.startswith("/dev/")


def test_replug_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        SamSimulator(IDENTITIES).replug()


# -- unplug / replug -------------------------------------------------------------------------------


def test_unplug_replug_loop(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    for cycle in range(5):
        assert reader.read_card(read_append=False).id_number == IDENTITIES[0]["id_number"], cycle
        sim.unplug()
        with pytest.raises(DeviceError) as info:
            reader.find_card()
        assert info.value.completion is Completion.DEVICE_NOT_READY
        assert info.value.action is Action.MAINTENANCE
        assert "读卡器" in info.value.message
        assert reader.is_lost
        status = reader.status()
        assert status.state in (DeviceState.NO_DEVICE, DeviceState.OFFLINE)
        assert status.details == {"card_present": None, "sam_ok": None}
        with pytest.raises(DeviceError) as again:  # still gone: reopen fails cleanly, no OSError
            reader.find_card()
        assert again.value.completion is Completion.DEVICE_NOT_READY
        sim.replug()
        assert wait_online(reader) is DeviceState.ONLINE, cycle  # same object, same path
        assert not reader.is_lost
    assert reader.read_card().appended_address == IDENTITIES[0]["appended_address"]


def test_wait_for_card_in_progress_gets_a_clear_message_on_unplug(
    sim: SamSimulator, reader: IdCardReader
) -> None:
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            reader.wait_for_card(10.0, poll_interval_s=0.05)
        except BaseException as exc:  # the test inspects whatever escapes
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    sim.unplug()
    waiter.join(5.0)
    assert not waiter.is_alive()
    assert len(outcome) == 1
    error = outcome[0]
    assert type(error) is DeviceError  # not OSError, termios.error or SerialException
    assert error.completion is Completion.DEVICE_NOT_READY
    assert error.message == "读卡器连接已断开，请联系工作人员。"
    sim.replug()
    sim.insert(4)
    assert reader.wait_for_card(5.0, poll_interval_s=0.05).id_number == IDENTITIES[4]["id_number"]


def test_explicit_reopen(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.unplug()
    with pytest.raises(DeviceError) as info:
        reader.reopen()
    assert info.value.completion is Completion.DEVICE_NOT_READY
    assert not reader.is_open
    sim.replug()
    reader.reopen()
    assert reader.is_open and reader.find_card() is False


def test_closed_reader_does_not_reopen_by_itself(sim: SamSimulator, reader: IdCardReader) -> None:
    reader.close()
    with pytest.raises(DeviceError) as info:
        reader.find_card()
    assert info.value.completion is Completion.SEQUENCE_ERROR
    assert reader.status().state is DeviceState.OFFLINE


def test_loss_and_return_are_logged_once(
    sim: SamSimulator, reader: IdCardReader, caplog: pytest.LogCaptureFixture
) -> None:
    sim.unplug()
    for _ in range(3):
        with pytest.raises(DeviceError):
            reader.find_card()
        reader.status()
    sim.replug()
    assert wait_online(reader) is DeviceState.ONLINE
    messages = [r.getMessage() for r in caplog.records]
    assert sum("disconnected" in m for m in messages) == 1
    assert sum("is back" in m for m in messages) == 1


# -- card pulled mid-read --------------------------------------------------------------------------


def test_card_pulled_mid_read(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    sim.inject("pull_mid_read")
    started = time.monotonic()
    with pytest.raises(DeviceError) as info:
        reader.read_card()
    assert info.value.completion is Completion.USER_ERROR
    assert info.value.message == MSG_CARD_PULLED == "读卡时证件被移开，请重新放置。"
    assert info.value.action is Action.AUTO
    assert time.monotonic() - started < 1.8  # the stalled reply is noticed before the 2 s read timeout
    assert sim.received[:3] == [FIND, SELECT, READ]  # the fault skipped find/select, hit the read
    assert reader.find_card() is False  # the card really is gone
    sim.insert(0)
    assert reader.read_card().id_number == IDENTITIES[0]["id_number"]  # and nothing stuck to the link


def test_card_pulled_mid_read_with_fingerprint(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(1)
    sim.inject("pull_mid_read", on=p.READ_BASE_FP)
    with pytest.raises(DeviceError) as info:
        reader.read_card(with_fingerprint=True)
    assert info.value.message == MSG_CARD_PULLED


def test_wait_for_card_rides_out_a_pulled_card(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(4)
    sim.inject("pull_mid_read")
    threading.Timer(0.8, sim.insert, args=(4,)).start()  # the citizen puts it back
    card = reader.wait_for_card(8.0, poll_interval_s=0.05)
    assert card.id_number == IDENTITIES[4]["id_number"]
    assert sim.received.count(READ) == 2
