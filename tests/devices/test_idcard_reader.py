"""The driver against the simulator over a real pseudo-terminal."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import serial

from devices.base import Completion, DeviceError, DeviceState
from devices.idcard import IdCard, IdCardReader, SamSimulator
from devices.idcard import protocol as p
from devices.idcard.card import gb11643_check_char
from devices.idcard.simulator import WLT_HEADER, load_identities


def with_check(first17: str) -> str:
    return first17 + gb11643_check_char(first17)


# Fictional people; numbers computed with the MOD 11-2 rule.
IDENTITIES: list[dict[str, Any]] = [
    {
        "card_type": "resident",
        "name": "测试甲",
        "gender": "男",
        "nation": "汉",
        "birth_date": "1983-11-11",
        "address": "湖北省秭归县茅坪镇测试路1号",
        "id_number": with_check("42052719831111531"),
        "issuer": "秭归县公安局",
        "valid_from": "2015-03-01",
        "valid_to": "长期",
        "appended_address": "湖北省武汉市洪山区测试街2号",
    },
    {
        "card_type": "hmt_permit",
        "name": "测试乙",
        "gender": "女",
        "birth_date": "1990-01-01",
        "address": "广东省深圳市福田区测试大道88号",
        "id_number": with_check("81000019900101001"),
        "issuer": "深圳市公安局",
        "valid_from": "2020-05-06",
        "valid_to": "2025-05-06",
        "pass_number": "H12345678",
        "issue_count": 2,
        "fingerprint_bytes": 1024,
    },
    {
        "card_type": "foreign_permanent_2017",
        "english_name": "SMITH, JOHN ALEXANDER",
        "name": "史密斯",
        "gender": "男",
        "id_number": "USA110078050101",
        "nationality": "USA",
        "birth_date": "1978-05-01",
        "valid_from": "2016-07-01",
        "valid_to": "2026-07-01",
    },
    {
        "card_type": "foreign_permanent_2023",
        "name": "马克斯",
        "english_name": "MUSTERMANN-SCHMIDT MAXIMILIAN ALEXANDER",
        "gender": "男",
        "renewal_count": 1,
        "birth_date": "1985-06-15",
        "id_number": with_check("91184019850615001"),
        "valid_from": "2024-01-01",
        "valid_to": "2034-01-01",
        "nationality": "DEU",
        "previous_number": "A01",
    },
    {  # a resident card without an appended address and with a female check letter X
        "card_type": "resident",
        "name": "测试丙",
        "gender": "女",
        "nation": "满",
        "birth_date": "1949-12-31",
        "address": "北京市朝阳区测试胡同3号",
        "id_number": "11010519491231002X",
        "issuer": "北京市公安局朝阳分局",
        "valid_from": "2010-01-01",
        "valid_to": "2030-01-01",
    },
]

FIND = p.build_command(*p.FIND_CARD)
SELECT = p.build_command(*p.SELECT_CARD)
READ = p.build_command(*p.READ_BASE)
READ_FP = p.build_command(*p.READ_BASE_FP)
APPEND = p.build_command(*p.READ_APPEND)


def expected_json(identity: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if k != "fingerprint_bytes"}


# -- reading ---------------------------------------------------------------------------------------


def test_reads_a_resident_card(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    card = reader.read_card()
    data = card.to_json()
    assert {k: data[k] for k in IDENTITIES[0]} == IDENTITIES[0]
    assert card.id_number_valid
    assert len(card.photo_wlt) == 1024 and card.photo_wlt.startswith(WLT_HEADER)
    assert card.fingerprint is None
    assert sim.received == [FIND, SELECT, READ, APPEND]  # the §2 typical sequence, nothing else


@pytest.mark.parametrize("index", [1, 2, 3, 4])
def test_reads_every_card_type(sim: SamSimulator, reader: IdCardReader, index: int) -> None:
    sim.insert(index)
    card = reader.read_card()
    data = card.to_json()
    identity = expected_json(IDENTITIES[index])
    assert {k: data[k] for k in identity} == identity
    assert card.id_number_valid
    assert card.appended_address is None


def test_append_is_only_asked_of_cards_with_an_address(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(2)
    reader.read_card()
    assert APPEND not in sim.received
    sim.received.clear()
    reader.read_card(read_append=False)
    assert sim.received == [FIND, SELECT, READ]


def test_reads_fingerprints(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(1)
    card = reader.read_card(with_fingerprint=True)
    assert card.fingerprint is not None and len(card.fingerprint) == 1024
    assert card.to_json()["fingerprint_bytes"] == 1024
    assert READ_FP in sim.received
    sim.insert(0)  # this card has no fingerprint: fpLen 0
    assert reader.read_card(with_fingerprint=True).fingerprint is None


def test_no_card(sim: SamSimulator, reader: IdCardReader) -> None:
    assert reader.find_card() is False
    with pytest.raises(DeviceError) as info:
        reader.read_card()
    assert info.value.completion is Completion.USER_ERROR
    assert "身份证" in info.value.message
    sim.insert(0)
    assert reader.find_card() is True
    sim.remove()
    assert reader.find_card() is False


def test_status_and_sam_id(sim: SamSimulator, reader: IdCardReader) -> None:
    status = reader.status()
    assert (status.kind, status.state) == ("idcard", DeviceState.ONLINE)
    assert status.details == {"card_present": False, "sam_ok": True}
    sim.insert(0)
    assert reader.status().details["card_present"] is True
    assert reader.sam_id() == "05.02-20110721-0012345678-0123456789"
    reader.close()
    closed = reader.status()
    assert closed.state is DeviceState.OFFLINE
    assert closed.details == {"card_present": None, "sam_ok": None}


def test_operations_on_a_closed_reader_raise_device_error(sim: SamSimulator) -> None:
    assert sim.port is not None
    with pytest.raises(DeviceError) as info:
        IdCardReader(sim.port).find_card()
    assert info.value.completion is Completion.SEQUENCE_ERROR


def test_serial_url_with_baud(sim: SamSimulator) -> None:
    sim.insert(0)
    with IdCardReader(f"serial://{sim.port}?baud=57600") as r:
        assert r.baudrate == 57600
        assert r.read_card().card_type == "resident"


def test_bad_port_and_url_become_device_errors(tmp_path: Path) -> None:
    with pytest.raises(DeviceError) as info:
        IdCardReader(str(tmp_path / "ttyNOPE")).open()
    assert info.value.completion is Completion.DEVICE_NOT_READY
    with pytest.raises(DeviceError):
        IdCardReader("serial:///dev/ttyS0?baud=fast")
    with pytest.raises(DeviceError):
        IdCardReader("nosuchproto://x").open()


def test_unplugged_reader_raises_device_error_not_oserror() -> None:
    sim = SamSimulator(IDENTITIES, pace=False).start()
    assert sim.port is not None
    reader = IdCardReader(sim.port)
    reader.open()
    try:
        sim.stop()
        with pytest.raises(DeviceError) as info:
            reader.find_card()
        assert info.value.completion is Completion.DEVICE_NOT_READY
        assert reader.status().state is DeviceState.NO_DEVICE
    finally:
        reader.close()


def test_logs_carry_no_personal_data(
    sim: SamSimulator, reader: IdCardReader, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.insert(0)
    sim.inject("bad_checksum")  # the retry path logs too
    reader.read_card()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "read_base" in logged or "find_card" in logged
    for secret in ("测试甲", IDENTITIES[0]["id_number"], "秭归", "19831111", "洪山"):
        assert secret not in logged


# -- waiting ---------------------------------------------------------------------------------------


def test_wait_for_card_returns_when_a_card_arrives(sim: SamSimulator, reader: IdCardReader) -> None:
    threading.Timer(0.25, sim.insert, args=(4,)).start()
    started = time.monotonic()
    card = reader.wait_for_card(5.0, poll_interval_s=0.05)
    assert card.id_number == "11010519491231002X"
    assert 0.2 < time.monotonic() - started < 2.0


def test_wait_for_card_times_out_without_busy_polling(sim: SamSimulator, reader: IdCardReader) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceError) as info:
        reader.wait_for_card(0.5, poll_interval_s=0.1)
    elapsed = time.monotonic() - started
    assert info.value.completion is Completion.TIMEOUT
    assert 0.45 < elapsed < 1.5
    assert 3 <= sim.received.count(FIND) <= 8  # about one find per poll interval


def test_wait_for_card_can_be_cancelled(sim: SamSimulator, reader: IdCardReader) -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(DeviceError) as info:
        reader.wait_for_card(10.0, cancel=cancel, poll_interval_s=0.3)
    assert info.value.completion is Completion.CANCELED
    assert time.monotonic() - started < 1.0  # the poll sleep is interrupted, not sat out


def test_status_works_while_waiting(sim: SamSimulator, reader: IdCardReader) -> None:
    cancel = threading.Event()
    errors: list[DeviceError] = []

    def wait() -> None:
        try:
            reader.wait_for_card(5.0, cancel=cancel, poll_interval_s=0.05)
        except DeviceError as exc:
            errors.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    assert reader.status().state is DeviceState.ONLINE
    cancel.set()
    waiter.join(2.0)
    assert [e.completion for e in errors] == [Completion.CANCELED]


def test_two_threads_never_interleave(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    results: list[IdCard | DeviceError] = []

    def work() -> None:
        for _ in range(5):
            try:
                results.append(reader.read_card())
            except DeviceError as exc:
                results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10.0)
    assert len(results) == 10
    assert all(isinstance(r, IdCard) and r.id_number == IDENTITIES[0]["id_number"] for r in results)


# -- faults ----------------------------------------------------------------------------------------


def test_recovers_from_garbage_before_a_reply(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    sim.inject("garbage")
    sim.inject("garbage")
    sim.inject("garbage")
    assert reader.read_card().id_number == IDENTITIES[0]["id_number"]
    assert sim.received == [FIND, SELECT, READ, APPEND]  # resync, no retry needed


def test_retries_once_on_a_bad_checksum(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    sim.inject("bad_checksum", on=p.READ_BASE)
    card = reader.read_card()
    assert card.id_number == IDENTITIES[0]["id_number"]
    assert sim.received == [FIND, SELECT, READ, READ, APPEND]


def test_garbage_and_corruption_on_every_step(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    for command in (p.FIND_CARD, p.SELECT_CARD, p.READ_BASE, p.READ_APPEND):
        sim.inject("bad_checksum", on=command)  # first reply corrupt ...
        sim.inject("garbage", on=command)  # ... the retried one behind junk
    assert reader.read_card().appended_address == IDENTITIES[0]["appended_address"]
    assert sim.received == [FIND, FIND, SELECT, SELECT, READ, READ, APPEND, APPEND]


def test_gives_up_after_two_bad_checksums(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    sim.inject("bad_checksum")
    sim.inject("bad_checksum")
    with pytest.raises(DeviceError) as info:
        reader.find_card()
    assert info.value.completion is Completion.INVALID_DATA
    assert reader.find_card() is True  # and the link is fine afterwards


def test_silence_times_out_then_recovers(sim: SamSimulator, reader: IdCardReader) -> None:
    sim.insert(0)
    sim.inject("silence")
    started = time.monotonic()
    with pytest.raises(DeviceError) as info:
        reader.find_card()
    assert info.value.completion is Completion.TIMEOUT
    assert time.monotonic() - started < 1.0  # find's short timeout, not the read timeout
    assert reader.read_card().card_type == "resident"


def test_unknown_fault_is_rejected(sim: SamSimulator) -> None:
    with pytest.raises(ValueError):
        sim.inject("fire")


# -- simulator on the wire -------------------------------------------------------------------------


def raw_exchange(port: str, frame: bytes) -> p.Response:
    with serial.serial_for_url(port, baudrate=115200, timeout=0.05) as ser:
        ser.write(frame)
        return p.read_frame(ser.read, 1.0)


def test_simulator_answers_protocol_errors(sim: SamSimulator) -> None:
    assert sim.port is not None
    bad = bytearray(FIND)
    bad[-1] ^= 0xFF
    assert raw_exchange(sim.port, bytes(bad)).sw3 == p.SW3_BAD_CHECKSUM
    assert raw_exchange(sim.port, p.build_command(0x20, 0x07)).sw3 == p.SW3_BAD_COMMAND
    assert raw_exchange(sim.port, p.build_command(*p.SET_BAUD[9600])).sw3 == p.SW3_OK
    assert raw_exchange(sim.port, p.build_command(*p.SET_RF_FRAME_SIZE, b"\x50")).sw3 == p.SW3_OK
    assert raw_exchange(sim.port, READ).sw3 == p.SW3_READ_FAILED  # no card
    sim.insert(0)
    assert raw_exchange(sim.port, READ).sw3 == 0x23  # read before select
    sim.insert(4)
    raw_exchange(sim.port, SELECT)
    assert raw_exchange(sim.port, APPEND).sw3 == p.SW3_NO_CONTENT


def test_pacing_takes_rf_delay_and_wire_time() -> None:
    with SamSimulator(IDENTITIES, baudrate=38400, rf_delay_s=0.2, pace=True) as sim:
        assert sim.port is not None
        sim.insert(0)
        with IdCardReader(sim.port, baudrate=38400) as r:
            started = time.monotonic()
            card = r.read_card(read_append=False)
            elapsed = time.monotonic() - started
    assert card.card_type == "resident"
    wire = (16 + 21 + 1295) * 10 / 38400  # find + select + read replies
    assert 0.2 + wire * 0.9 < elapsed < 0.2 + wire + 1.0


def test_load_identities(tmp_path: Path) -> None:
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(IDENTITIES, ensure_ascii=False), encoding="utf-8")
    assert load_identities(path) == IDENTITIES
    path.write_text(json.dumps({"identities": IDENTITIES[:1]}), encoding="utf-8")
    assert load_identities(path) == IDENTITIES[:1]
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ValueError):
        load_identities(path)


def test_bad_identity_fails_at_construction() -> None:
    with pytest.raises(ValueError):
        SamSimulator([{"card_type": "resident", "name": "名" * 20}])
    with pytest.raises(ValueError):
        SamSimulator([{"card_type": "resident", "photo_wlt": b"short"}])
