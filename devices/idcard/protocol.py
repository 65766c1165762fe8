"""Framing and status codes of the SAM (GA 467) ID card reader link — see docs idcard-protocol §1–§3.

Pure functions only: no serial port here, so the driver and the simulator share one implementation
and the parser can be fuzzed without hardware.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from devices.base import N_, Action, Completion, DeviceError

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
HEADER_LEN = len(PREAMBLE) + 2  # preamble + big-endian length
MIN_RESPONSE_LEN = 4  # SW1 SW2 SW3 CHK
MAX_FRAME_LEN = 4096  # largest real reply body is 2314 (30 10 with fingerprint); anything bigger is noise
MAX_GARBAGE = 8192  # give up resyncing after this many junk bytes instead of chewing a babbling line forever


class Command(NamedTuple):
    """CMD + Para of one host command, so `build_command(*FIND_CARD)` reads naturally."""

    cmd: int
    para: int


RESET_SAM = Command(0x10, 0xFF)
SAM_STATUS = Command(0x11, 0xFF)
READ_SAM_ID = Command(0x12, 0xFF)
FIND_CARD = Command(0x20, 0x01)
SELECT_CARD = Command(0x20, 0x02)
READ_BASE = Command(0x30, 0x01)
READ_APPEND = Command(0x30, 0x03)
READ_MID = Command(0x30, 0x05)  # [L] only an enum in libsamv; kept so the simulator can refuse it knowingly
READ_BASE_FP = Command(0x30, 0x10)
SET_RF_FRAME_SIZE = Command(0x61, 0xFF)  # takes one data byte (max SAM<->card RF frame size)
SET_BAUD = {
    115200: Command(0x60, 0x00),
    57600: Command(0x60, 0x01),
    38400: Command(0x60, 0x02),
    19200: Command(0x60, 0x03),
    9600: Command(0x60, 0x04),
}

COMMAND_NAMES: dict[Command, str] = {
    RESET_SAM: "reset_sam",
    SAM_STATUS: "sam_status",
    READ_SAM_ID: "read_sam_id",
    FIND_CARD: "find_card",
    SELECT_CARD: "select_card",
    READ_BASE: "read_base",
    READ_APPEND: "read_append",
    READ_MID: "read_mid",
    READ_BASE_FP: "read_base_fp",
    SET_RF_FRAME_SIZE: "set_rf_frame_size",
    **{command: f"set_baud_{baud}" for baud, command in SET_BAUD.items()},
}

# SW3 values the driver branches on by name.
SW3_OK = 0x90
SW3_FIND_OK = 0x9F
SW3_NO_CONTENT = 0x91
SW3_BAD_CHECKSUM = 0x10
SW3_BAD_LENGTH = 0x11
SW3_BAD_COMMAND = 0x21
SW3_READ_FAILED = 0x41
SW3_NO_CARD = 0x80
SW3_SELECT_FAILED = 0x81


class Sw3Info(NamedTuple):
    completion: Completion
    message: str  # for the citizen
    action: Action | None
    meaning: str  # English, for logs


MSG_RETRY_CARD = N_("读卡失败，请重新放置身份证。")
MSG_CALL_STAFF = N_("读卡器故障，请联系工作人员。")

SW3_TABLE: dict[int, Sw3Info] = {
    0x90: Sw3Info(Completion.SUCCESS, N_("操作成功。"), None, "success"),
    0x9F: Sw3Info(Completion.SUCCESS, N_("已找到证件。"), None, "find card OK"),
    0x91: Sw3Info(Completion.INVALID_DATA, N_("证件中没有该项信息。"), Action.AUTO, "item has no content"),
    0x10: Sw3Info(
        Completion.INVALID_DATA, MSG_RETRY_CARD, Action.AUTO, "reader got a bad checksum from host"
    ),
    0x11: Sw3Info(Completion.INVALID_DATA, MSG_RETRY_CARD, Action.AUTO, "reader got a bad length from host"),
    0x21: Sw3Info(Completion.UNSUPPORTED, MSG_CALL_STAFF, Action.MAINTENANCE, "command or parameter error"),
    0x23: Sw3Info(Completion.SEQUENCE_ERROR, MSG_RETRY_CARD, Action.AUTO, "unauthorised operation"),
    0x24: Sw3Info(Completion.HARDWARE_ERROR, MSG_CALL_STAFF, Action.MAINTENANCE, "unknown reader error"),
    0x31: Sw3Info(
        Completion.USER_ERROR,
        N_("无法识别该证件，请确认证件有效。"),
        Action.AUTO,
        "card failed to authenticate SAM",
    ),
    0x32: Sw3Info(
        Completion.USER_ERROR,
        N_("无法识别该证件，请确认证件有效。"),
        Action.AUTO,
        "SAM failed to authenticate card",
    ),
    0x33: Sw3Info(Completion.USER_ERROR, MSG_RETRY_CARD, Action.AUTO, "information verification error"),
    0x40: Sw3Info(
        Completion.USER_ERROR,
        N_("无法识别的证件类型，请放置身份证或居住证。"),
        Action.AUTO,
        "unknown card type",
    ),
    0x41: Sw3Info(
        Completion.USER_ERROR,
        N_("读卡失败，请将证件平放在感应区，不要移动。"),
        Action.AUTO,
        "read failed (card moved?)",
    ),
    0x47: Sw3Info(Completion.USER_ERROR, MSG_RETRY_CARD, Action.AUTO, "get challenge failed"),
    0x60: Sw3Info(Completion.HARDWARE_ERROR, MSG_CALL_STAFF, Action.MAINTENANCE, "SAM self-test failed"),
    0x66: Sw3Info(Completion.HARDWARE_ERROR, MSG_CALL_STAFF, Action.MAINTENANCE, "SAM not authorised"),
    0x80: Sw3Info(Completion.USER_ERROR, N_("请将身份证放在感应区。"), Action.AUTO, "no card found"),
    0x81: Sw3Info(Completion.USER_ERROR, MSG_RETRY_CARD, Action.AUTO, "select card failed"),
    0xFF: Sw3Info(Completion.HARDWARE_ERROR, MSG_CALL_STAFF, Action.MAINTENANCE, "communication fault"),
}
_UNKNOWN_SW3 = Sw3Info(Completion.HARDWARE_ERROR, MSG_CALL_STAFF, Action.MAINTENANCE, "undocumented SW3")


@dataclass(frozen=True)
class Response:
    sw1: int
    sw2: int
    sw3: int
    data: bytes = b""


def xor(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def _frame(body: bytes) -> bytes:
    length = (len(body) + 1).to_bytes(2, "big")  # the length counts the checksum too
    return PREAMBLE + length + body + bytes([xor(length + body)])


def build_command(cmd: int, para: int, data: bytes = b"") -> bytes:
    return _frame(bytes([cmd, para]) + data)


def build_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    return _frame(bytes([sw1, sw2, sw3]) + data)


def sw3_info(sw3: int) -> Sw3Info:
    return SW3_TABLE.get(sw3, _UNKNOWN_SW3)


class Sw3Error(DeviceError):
    """A DeviceError that remembers the reader's SW3, so callers can branch without parsing text."""

    def __init__(self, sw3: int, completion: Completion, message: str, *, detail: str, action: Action | None):
        super().__init__(completion, message, detail=detail, action=action)
        self.sw3 = sw3


def sw3_error(response: Response, what: str) -> Sw3Error:
    """The error for a reply whose SW3 the caller did not expect."""
    info = sw3_info(response.sw3)
    # A "success" code where the caller wanted another one is a protocol confusion, not success.
    completion = Completion.HARDWARE_ERROR if info.completion is Completion.SUCCESS else info.completion
    detail = f"{what}: SW3=0x{response.sw3:02X} ({info.meaning}), SW1SW2={response.sw1:02X}{response.sw2:02X}"
    return Sw3Error(response.sw3, completion, info.message, detail=detail, action=info.action)


class ReplyCutOff(DeviceError):
    """The reply started but stopped part way (card lifted mid-read, cable pulled): a TIMEOUT."""

    def __init__(self, received: int) -> None:
        super().__init__(
            Completion.TIMEOUT,
            N_("读卡器无响应，请稍后再试。"),
            detail=f"reply cut off after {received} bytes",
            action=Action.AUTO,
        )
        self.received = received


def _invalid(detail: str) -> DeviceError:
    return DeviceError(Completion.INVALID_DATA, MSG_RETRY_CARD, detail=detail, action=Action.AUTO)


class _Source:
    """Pulls exact byte counts out of a `read(n)` callable that may return short or empty chunks."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        deadline: float,
        clock: Callable[[], float],
        gap_s: float | None = None,
    ) -> None:
        self._read = read
        self._deadline = deadline
        self._clock = clock
        self._gap_s = gap_s
        self._last_rx: float | None = None  # None until the first byte: the slow RF wait is not a gap
        self.received = 0
        self._buf = bytearray()

    def take(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._read(n - len(self._buf))
            if chunk:
                self._buf += chunk
                self.received += len(chunk)
                if self._gap_s is not None:
                    self._last_rx = self._clock()
                continue
            now = self._clock()
            if now >= self._deadline:
                raise DeviceError(
                    Completion.TIMEOUT,
                    N_("读卡器无响应，请稍后再试。"),
                    detail=f"no complete reply before deadline ({len(self._buf)} of {n} bytes pending)",
                    action=Action.AUTO,
                )
            if self._gap_s is not None and self._last_rx is not None and now - self._last_rx >= self._gap_s:
                raise ReplyCutOff(self.received)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out


def _preamble_overlap(window: bytes) -> int:
    """Length of the longest proper suffix of `window` that starts the preamble (e.g. trailing AA AA)."""
    for k in range(min(len(window), len(PREAMBLE) - 1), 0, -1):
        if window[-k:] == PREAMBLE[:k]:
            return k
    return 0


def read_frame(
    read: Callable[[int], bytes],
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    gap_s: float | None = None,
) -> Response:
    """Read one reply frame, skipping junk before the preamble.

    `read(n)` returns up to n bytes (b"" when nothing arrived yet, like pyserial with a short timeout).
    Raises DeviceError(TIMEOUT) if the frame is not complete in `timeout` seconds, ReplyCutOff (a
    TIMEOUT) if bytes stop for `gap_s` seconds once some have arrived, and
    DeviceError(INVALID_DATA) on a bad length, a bad checksum or too much junk.
    """
    source = _Source(read, clock() + timeout, clock, gap_s)
    window = b""
    skipped = 0
    while True:
        window += source.take(len(PREAMBLE) - len(window))
        if window == PREAMBLE:
            break
        keep = _preamble_overlap(window)
        skipped += len(window) - keep
        if skipped > MAX_GARBAGE:
            raise _invalid(f"no preamble within {skipped} bytes")
        window = window[len(window) - keep :]
    length_bytes = source.take(2)
    length = int.from_bytes(length_bytes, "big")
    if not MIN_RESPONSE_LEN <= length <= MAX_FRAME_LEN:
        raise _invalid(f"implausible frame length {length} (skipped {skipped} junk bytes)")
    body = source.take(length)
    if xor(length_bytes + body[:-1]) != body[-1]:
        raise _invalid(f"checksum mismatch in {length + HEADER_LEN}-byte frame")
    return Response(sw1=body[0], sw2=body[1], sw3=body[2], data=body[3:-1])
