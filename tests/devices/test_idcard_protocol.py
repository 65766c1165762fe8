"""Framing of the SAM ID card reader protocol against the frames in docs (idcard-protocol §1-§3)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.base import Action, Completion, DeviceError
from devices.idcard import protocol as p


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def reader_of(data: bytes, chunk: int | None = None):
    """A read(n) callable over fixed bytes; `chunk` limits every read like a slow line."""
    stream = io.BytesIO(data)

    def read(n: int) -> bytes:
        return stream.read(n if chunk is None else min(n, chunk))

    return read


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (p.RESET_SAM, "AA AA AA 96 69 00 03 10 FF EC"),
        (p.SAM_STATUS, "AA AA AA 96 69 00 03 11 FF ED"),
        (p.READ_SAM_ID, "AA AA AA 96 69 00 03 12 FF EE"),
        (p.FIND_CARD, "AA AA AA 96 69 00 03 20 01 22"),
        (p.SELECT_CARD, "AA AA AA 96 69 00 03 20 02 21"),
        (p.READ_BASE, "AA AA AA 96 69 00 03 30 01 32"),
        (p.READ_APPEND, "AA AA AA 96 69 00 03 30 03 30"),
        (p.READ_BASE_FP, "AA AA AA 96 69 00 03 30 10 23"),
        (p.SET_BAUD[115200], "AA AA AA 96 69 00 03 60 00 63"),
        (p.SET_BAUD[9600], "AA AA AA 96 69 00 03 60 04 67"),
    ],
)
def test_command_frames_match_the_protocol_table(command: p.Command, expected: str) -> None:
    assert p.build_command(*command) == h(expected)


def test_command_with_data_counts_it_in_the_length() -> None:
    assert p.build_command(*p.SET_RF_FRAME_SIZE, b"\x50") == h("AA AA AA 96 69 00 04 61 FF 50 CA")


def test_baud_table_covers_the_five_rates() -> None:
    assert sorted(p.SET_BAUD) == [9600, 19200, 38400, 57600, 115200]
    assert [c.para for _, c in sorted(p.SET_BAUD.items(), reverse=True)] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("sw3", "data", "expected"),
    [
        (0x80, b"", "AA AA AA 96 69 00 04 00 00 80 84"),
        (0x9F, bytes(4), "AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97"),
        (0x90, bytes(8), "AA AA AA 96 69 00 0C 00 00 90" + " 00" * 8 + " 9C"),
    ],
)
def test_response_frames_match_the_documented_samples(sw3: int, data: bytes, expected: str) -> None:
    frame = p.build_response(sw3, data)
    assert frame == h(expected)
    assert p.read_frame(reader_of(frame), 0.1) == p.Response(0, 0, sw3, data)


def test_read_base_reply_is_1295_bytes_with_the_documented_header() -> None:
    frame = p.build_response(0x90, h("01 00 04 00") + bytes(256) + bytes(1024))
    assert len(frame) == 1295
    assert frame.startswith(h("AA AA AA 96 69 05 08 00 00 90 01 00 04 00"))


@pytest.mark.parametrize(
    ("fp_len", "total", "length"), [(0, 1297, 0x050A), (512, 1809, 0x070A), (1024, 2321, 0x090A)]
)
def test_fingerprint_reply_sizes(fp_len: int, total: int, length: int) -> None:
    data = h("01 00 04 00") + fp_len.to_bytes(2, "big") + bytes(256 + 1024 + fp_len)
    frame = p.build_response(0x90, data)
    assert len(frame) == total
    assert int.from_bytes(frame[5:7], "big") == length
    assert p.read_frame(reader_of(frame), 0.1).data == data


def test_sw1_sw2_are_carried() -> None:
    frame = p.build_response(0x41, sw1=0x6A, sw2=0x82)
    assert p.read_frame(reader_of(frame), 0.1) == p.Response(0x6A, 0x82, 0x41, b"")


@pytest.mark.parametrize(
    "junk",
    [
        b"\x00\x13\x37",
        b"\xaa",
        b"\xaa\xaa",
        b"\xaa\xaa\xaa\x96",  # false start: a truncated preamble right before the real one
        b"\xaa\xaa\xaa\xaa\xaa",
        b"\x96\x69\xaa\x96\x69" * 20,
    ],
)
def test_resyncs_on_junk_before_the_preamble(junk: bytes) -> None:
    frame = p.build_response(0x9F, bytes(4))
    assert p.read_frame(reader_of(junk + frame), 0.1).sw3 == 0x9F


def test_reads_a_frame_delivered_one_byte_at_a_time() -> None:
    frame = p.build_response(0x90, bytes(range(200)))
    assert p.read_frame(reader_of(b"\x01\x02" + frame, chunk=1), 0.1).data == bytes(range(200))


def test_bad_checksum_is_invalid_data() -> None:
    frame = bytearray(p.build_response(0x90, b"\x01\x02"))
    frame[-1] ^= 0x01
    with pytest.raises(DeviceError) as info:
        p.read_frame(reader_of(bytes(frame)), 0.1)
    assert info.value.completion is Completion.INVALID_DATA
    assert "checksum" in info.value.detail


@pytest.mark.parametrize("length", [0, 1, 3, 4097, 0xFFFF])
def test_absurd_lengths_are_rejected(length: int) -> None:
    frame = p.PREAMBLE + length.to_bytes(2, "big") + bytes(16)
    with pytest.raises(DeviceError) as info:
        p.read_frame(reader_of(frame), 0.1)
    assert info.value.completion is Completion.INVALID_DATA


@pytest.mark.parametrize("data", [b"", b"\x00\x01\x02", p.PREAMBLE, p.build_response(0x90, bytes(10))[:-1]])
def test_incomplete_input_times_out(data: bytes) -> None:
    with pytest.raises(DeviceError) as info:
        p.read_frame(reader_of(data), 0.0)
    assert info.value.completion is Completion.TIMEOUT
    assert info.value.message  # a citizen-facing sentence is always there


def test_endless_junk_gives_up() -> None:
    with pytest.raises(DeviceError) as info:
        p.read_frame(reader_of(b"\x55" * (p.MAX_GARBAGE + 10)), 0.1)
    assert info.value.completion is Completion.INVALID_DATA


def test_timeout_waits_for_the_deadline_on_a_silent_line() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def silent(n: int) -> bytes:
        now[0] += 0.25  # each empty read costs the serial timeout
        return b""

    with pytest.raises(DeviceError) as info:
        p.read_frame(silent, 1.0, clock=clock)
    assert info.value.completion is Completion.TIMEOUT
    assert now[0] == 1.0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_only_ever_raise_device_error(data: bytes) -> None:
    try:
        response = p.read_frame(reader_of(data), 0.0)
    except DeviceError as exc:
        assert exc.completion in (Completion.INVALID_DATA, Completion.TIMEOUT)
    else:
        assert isinstance(response, p.Response)


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=40),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=2400),
)
def test_build_then_read_round_trips(junk: bytes, sw1: int, sw2: int, sw3: int, data: bytes) -> None:
    junk = junk.replace(b"\xaa", b"")  # junk must not hide a false preamble that eats the real one
    frame = p.build_response(sw3, data, sw1=sw1, sw2=sw2)
    assert p.read_frame(reader_of(junk + frame), 0.1) == p.Response(sw1, sw2, sw3, data)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64))
def test_command_length_and_checksum(cmd: int, para: int, data: bytes) -> None:
    frame = p.build_command(cmd, para, data)
    assert frame[:5] == p.PREAMBLE
    assert int.from_bytes(frame[5:7], "big") == len(frame) - 7
    assert p.xor(frame[5:]) == 0  # XOR over length..checksum cancels out


DOCUMENTED_SW3 = [
    0x90, 0x9F, 0x91, 0x10, 0x11, 0x21, 0x23, 0x24, 0x31, 0x32, 0x33,
    0x40, 0x41, 0x47, 0x60, 0x66, 0x80, 0x81, 0xFF,
]  # fmt: skip


def test_sw3_table_covers_every_documented_code() -> None:
    assert sorted(p.SW3_TABLE) == sorted(DOCUMENTED_SW3)
    for sw3, info in p.SW3_TABLE.items():
        assert isinstance(info.completion, Completion), hex(sw3)
        assert info.action is None or isinstance(info.action, Action)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in info.message), hex(sw3)
        assert info.meaning.isascii()


def test_success_codes_and_faults_are_classified() -> None:
    assert p.SW3_TABLE[0x90].completion is Completion.SUCCESS
    assert p.SW3_TABLE[0x9F].completion is Completion.SUCCESS
    assert p.SW3_TABLE[0x60].action is Action.MAINTENANCE
    assert p.SW3_TABLE[0x41].completion is Completion.USER_ERROR


def test_sw3_error_carries_code_and_english_detail() -> None:
    error = p.sw3_error(p.Response(0x6A, 0x82, 0x41), "read_base")
    assert isinstance(error, DeviceError)
    assert error.sw3 == 0x41
    assert error.completion is Completion.USER_ERROR
    assert "SW3=0x41" in error.detail and "SW1SW2=6A82" in error.detail
    unknown = p.sw3_error(p.Response(0, 0, 0x55), "find_card")
    assert unknown.completion is Completion.HARDWARE_ERROR
    assert p.sw3_error(p.Response(0, 0, 0x90), "find_card").completion is Completion.HARDWARE_ERROR
