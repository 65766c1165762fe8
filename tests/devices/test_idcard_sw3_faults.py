"""Each SW3 error code in the table, injected into the pty simulator, reaches the caller as the table says."""

from __future__ import annotations

import pytest
from test_idcard_reader import IDENTITIES

from devices.base import Action, Completion, DeviceError, DeviceState, HealthLevel
from devices.idcard import IdCardReader, SamSimulator
from devices.idcard import protocol as p

# Success codes are not errors, and 0x10 / 0x11 (the reader saw our frame garbled) are retried once.
_NOT_RAISED = {p.SW3_OK, p.SW3_FIND_OK, p.SW3_BAD_CHECKSUM, p.SW3_BAD_LENGTH}
READ_ERRORS = sorted(code for code in p.SW3_TABLE if code not in _NOT_RAISED)


def test_the_table_codes_are_covered() -> None:
    assert {0x31, 0x32, 0x33, 0x41, 0x60, 0x66} <= set(READ_ERRORS)


@pytest.mark.parametrize("sw3", READ_ERRORS, ids=lambda code: f"0x{code:02X}")
def test_sw3_on_read_is_the_tables_device_error(sim: SamSimulator, reader: IdCardReader, sw3: int) -> None:
    sim.insert(0)
    sim.inject(f"sw3:0x{sw3:02X}", on=p.READ_BASE)
    with pytest.raises(Exception) as info:  # whatever escapes: it must be a DeviceError
        reader.read_card(read_append=False)
    error = info.value
    assert isinstance(error, DeviceError), repr(error)
    entry = p.SW3_TABLE[sw3]
    assert (error.completion, error.action, error.message) == (entry.completion, entry.action, entry.message)
    assert error.message and any("\u4e00" <= ch <= "\u9fff" for ch in error.message)
    assert isinstance(error, p.Sw3Error) and error.sw3 == sw3
    assert f"0x{sw3:02X}" in error.detail and "read_base" in error.detail
    # The fault hit one reply only: the reader keeps working.
    assert reader.read_card(read_append=False).id_number == IDENTITIES[0]["id_number"]
    assert reader.status().state is DeviceState.ONLINE


@pytest.mark.parametrize("sw3", [p.SW3_BAD_CHECKSUM, p.SW3_BAD_LENGTH], ids=["0x10", "0x11"])
def test_garbled_frame_sw3_is_retried_transparently(
    sim: SamSimulator, reader: IdCardReader, sw3: int
) -> None:
    sim.insert(0)
    sim.inject(f"sw3:0x{sw3:02X}", on=p.READ_BASE)
    assert reader.read_card(read_append=False).id_number == IDENTITIES[0]["id_number"]
    assert sum(frame == p.build_command(*p.READ_BASE) for frame in sim.received) == 2


def test_sw3_fault_waits_for_its_command(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    sim.inject("sw3:0x41", on=p.READ_BASE)
    assert reader.find_card() is True  # FIND and status are not hit
    assert reader.status().state is DeviceState.ONLINE
    with pytest.raises(DeviceError) as info:
        reader.read_card(read_append=False)
    assert info.value.completion is Completion.USER_ERROR and info.value.action is Action.AUTO


@pytest.mark.parametrize("sw3", [0x60, 0x66])
def test_sam_failure_on_status_is_reported(sim: SamSimulator, reader: IdCardReader, sw3: int) -> None:
    entry = p.SW3_TABLE[sw3]
    sim.inject(f"sw3:0x{sw3:02X}", on=p.SAM_STATUS)
    status = reader.status()
    assert status.state is DeviceState.HARDWARE_ERROR
    assert status.action is entry.action is Action.MAINTENANCE
    assert status.details["sam_ok"] is False

    sim.inject(f"sw3:0x{sw3:02X}", on=p.SAM_STATUS)
    health = reader.check_health(HealthLevel.INTERNAL)
    assert health.state is not DeviceState.ONLINE
    assert health.action is Action.MAINTENANCE
    assert health.details["health"] == "failed" and health.details["sam_ok"] is False

    # One reply only: the SAM answers normally again.
    assert reader.check_health(HealthLevel.INTERNAL).state is DeviceState.ONLINE


@pytest.mark.parametrize("bad", ["sw3:", "sw3:zz", "sw3:0x100", "sw3:-1", "sw3:0xNN", "nonsense"])
def test_bad_fault_names_are_refused(sim: SamSimulator, bad: str) -> None:
    with pytest.raises(ValueError):
        sim.inject(bad)
