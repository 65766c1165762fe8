"""set_baud_rate (CMD 0x60): the reader answers at the old speed, then both sides switch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_idcard_reader import IDENTITIES

from devices.base import Completion, DeviceError
from devices.idcard import IdCardReader, SamSimulator
from devices.idcard import protocol as p


@pytest.fixture
def sim() -> Iterator[SamSimulator]:
    with SamSimulator(IDENTITIES, pace=False, stable_port=True, strict_baud=True) as simulator:
        yield simulator


def test_set_baud_rate_switches_both_sides(sim: SamSimulator) -> None:
    assert sim.port is not None
    sim.insert(0)
    with IdCardReader(sim.port) as reader:
        assert sim.line_speed() == 115200
        reader.set_baud_rate(57600)
        assert (reader.baudrate, sim.baudrate, sim.line_speed()) == (57600, 57600, 57600)
        assert sim.received[-1] == p.build_command(0x60, 0x01)  # para per the §2 table
        assert reader.read_card().id_number == IDENTITIES[0]["id_number"]
        reader.set_baud_rate(9600)
        assert sim.received[-1] == p.build_command(0x60, 0x04)
        assert reader.find_card() is True
        reader.set_baud_rate(115200)
        assert reader.find_card() is True


def test_a_reader_at_the_old_speed_no_longer_gets_answers(sim: SamSimulator) -> None:
    assert sim.port is not None
    with IdCardReader(sim.port) as reader:
        reader.set_baud_rate(38400)
    with IdCardReader(sim.port, baudrate=115200) as stale:
        with pytest.raises(DeviceError) as info:
            stale.find_card()
        assert info.value.completion is Completion.TIMEOUT
    with IdCardReader(sim.port, baudrate=38400) as fresh:
        assert fresh.find_card() is False


def test_new_speed_survives_an_automatic_reopen(sim: SamSimulator) -> None:
    assert sim.port is not None
    with IdCardReader(sim.port) as reader:
        reader.set_baud_rate(19200)
        sim.unplug()
        with pytest.raises(DeviceError):
            reader.find_card()
        sim.replug()
        assert reader.find_card() is False  # reopened at 19200, which the simulator still speaks
        assert sim.line_speed() == 19200


def test_unsupported_baud_rate_is_refused_without_touching_the_line(sim: SamSimulator) -> None:
    assert sim.port is not None
    with IdCardReader(sim.port) as reader:
        with pytest.raises(DeviceError) as info:
            reader.set_baud_rate(4800)
        assert info.value.completion is Completion.UNSUPPORTED
        assert sim.received == []
        assert reader.baudrate == 115200


def test_reader_refusing_the_command_keeps_the_old_speed(sim: SamSimulator) -> None:
    assert sim.port is not None
    sim.inject("silence", on=p.SET_BAUD[57600])
    with IdCardReader(sim.port) as reader:
        with pytest.raises(DeviceError) as info:
            reader.set_baud_rate(57600)
        assert info.value.completion is Completion.TIMEOUT
        assert reader.baudrate == 115200
        # a silent reader may still have switched (the simulator did): the caller reopens at
        # either speed; here we check that the driver did not change its side on a failure
        assert sim.line_speed() == 115200


def test_pacing_follows_the_new_speed() -> None:
    with SamSimulator(IDENTITIES, pace=True, rf_delay_s=0.0, strict_baud=True) as sim:
        assert sim.port is not None
        with IdCardReader(sim.port) as reader:
            reader.set_baud_rate(9600)
            assert sim.baudrate == 9600
            assert reader.find_card() is False
