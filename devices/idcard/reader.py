"""Driver for a SAM (GA 467) 2nd-gen ID card reader on a serial line (protocol doc §2, §5)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import serial

from devices.base import N_, Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel
from devices.idcard import protocol as p
from devices.idcard.card import PHOTO_LEN, TEXT_LEN, IdCard, parse_card
from devices.reconnecting import PORT_ERRORS as _PORT_ERRORS
from devices.reconnecting import ReconnectingDevice, close_serial, open_serial, split_serial_url

log = logging.getLogger(__name__)

_APPEND_LEN = 70
_SERIAL_POLL_S = 0.02  # pyserial read timeout; read_frame loops on it until the command's deadline
_STATUS_LOCK_WAIT_S = 0.5  # status() reports BUSY rather than queueing behind a multi-second read
_RETRYABLE_SW3 = (p.SW3_BAD_CHECKSUM, p.SW3_BAD_LENGTH)  # the reader saw our frame garbled
_TRANSIENT_SW3 = (p.SW3_NO_CARD, p.SW3_SELECT_FAILED, p.SW3_READ_FAILED)  # card lifted mid-read
_BAUD_SETTLE_S = 0.02
_REPLY_GAP_S = 0.5  # a reply that stalls this long after it started is cut off (card lifted, cable pulled)
MSG_DISCONNECTED = N_("读卡器连接已断开，请联系工作人员。")
MSG_NOT_CONNECTED = N_("读卡器未连接，请联系工作人员。")
MSG_CARD_PULLED = N_("读卡时证件被移开，请重新放置。")


@dataclass(frozen=True)
class ReaderTimeouts:
    """Per-command reply timeouts in seconds (§5.2); the wire time of the reply is added on top."""

    status_s: float = 1.0
    sam_id_s: float = 1.0
    find_s: float = 0.3
    select_s: float = 0.3
    read_s: float = 2.0
    read_fp_s: float = 3.0
    append_s: float = 1.5


def _io_error(what: str, exc: BaseException) -> DeviceError:
    if isinstance(exc, serial.SerialTimeoutException):
        return DeviceError(
            Completion.TIMEOUT, p.MSG_CALL_STAFF, detail=f"{what}: write timed out", action=Action.MAINTENANCE
        )
    # EIO / "readiness to read but no data" / termios EIO: the device node is gone (USB unplugged).
    return DeviceError(
        Completion.DEVICE_NOT_READY,
        MSG_DISCONNECTED,
        detail=f"{what}: port lost: {type(exc).__name__}: {exc}",
        action=Action.MAINTENANCE,
    )


class IdCardReader(ReconnectingDevice):
    """Thread-safe: one lock serialises every exchange so two callers never interleave frames.

    Lifecycle (devices/lifecycle.py): `open()` claims and enables; `disable()` makes the card
    operations refuse with SEQUENCE_ERROR while `status()` and `check_health()` keep working.
    Counters: `reads` (successful card reads) and `errors`.
    """

    _noun = "reader"

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        timeouts: ReaderTimeouts | None = None,
        name: str = "idcard",
    ) -> None:
        self.url = url
        self.name = name
        self._port, self.baudrate = split_serial_url(url, baudrate, p.MSG_CALL_STAFF)
        self.timeouts = timeouts or ReaderTimeouts()
        self._ser: serial.SerialBase | None = None
        self._reconnecting_init(f"serial:{self._port}")

    # -- lifecycle (open, close, reopen after a loss: devices/reconnecting.py) --------------------

    def reopen(self) -> None:
        """Close and open the port again (same path, e.g. a /dev/serial/by-id link after a replug).

        Operations do this by themselves after the port was lost; this is for a manager that
        wants to probe on its own schedule. Raises DeviceError(DEVICE_NOT_READY) while it is gone.
        """

        def do_reopen() -> None:
            with self._lock:
                self._drop_locked()
                self._want_open = True
                self._open_locked()

        self._lc_open(do_reopen)

    def _is_open(self) -> bool:
        return self._ser is not None

    def _open_locked(self) -> None:
        self._ser = open_serial(
            self._port, self.baudrate, timeout=_SERIAL_POLL_S, message=MSG_NOT_CONNECTED, write_timeout=1.0
        )
        self._opened_locked(self._port, f" at {self.baudrate} bps")

    def _drop_locked(self) -> None:
        ser, self._ser = self._ser, None
        close_serial(ser, self.name, log)

    def _not_open_error(self, what: str) -> DeviceError:
        return DeviceError(
            Completion.SEQUENCE_ERROR,
            p.MSG_CALL_STAFF,
            detail=f"{what}: reader not open",
            action=Action.MAINTENANCE,
        )

    def _ensure_open_locked(self, what: str) -> serial.SerialBase:
        self._reopen_if_lost_locked(what)
        assert self._ser is not None
        return self._ser

    @property
    def is_open(self) -> bool:
        return self._is_open()

    @property
    def is_lost(self) -> bool:
        """True between a detected unplug and the successful reopen."""
        return self._lost

    # -- public operations -----------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        """Never raises: a snapshot for health monitoring."""

        def snapshot(
            state: DeviceState,
            card: bool | None = None,
            sam: bool | None = None,
            action: Action | None = None,
        ) -> DeviceStatus:
            details = {"card_present": card, "sam_ok": sam}
            return DeviceStatus(self.name, "idcard", state, details, action)

        if not self._lock.acquire(timeout=_STATUS_LOCK_WAIT_S):
            return snapshot(DeviceState.BUSY)
        try:
            if self._ser is None and not self._want_open:
                return snapshot(DeviceState.OFFLINE)
            reply = self._transact(p.SAM_STATUS, self.timeouts.status_s)
            if reply.sw3 != p.SW3_OK:
                log.warning("%s: SAM status SW3=0x%02X", self.name, reply.sw3)
                return snapshot(DeviceState.HARDWARE_ERROR, sam=False, action=Action.MAINTENANCE)
            return snapshot(DeviceState.ONLINE, card=self._find_locked(), sam=True)
        except DeviceError as exc:
            if exc.completion is Completion.DEVICE_NOT_READY:  # unplugged; already logged once
                return snapshot(DeviceState.NO_DEVICE, action=Action.MAINTENANCE)
            log.warning("%s: status failed: %s", self.name, exc.detail)
            state = (
                DeviceState.OFFLINE if exc.completion is Completion.TIMEOUT else DeviceState.HARDWARE_ERROR
            )
            return snapshot(state, action=Action.MAINTENANCE)
        finally:
            self._lock.release()

    def sam_id(self) -> str:
        """The SAM serial in the YinanSoft style `%02d.%02d-%08d-%010d-%010d` (SDKs differ, §2.1)."""
        with self._operation("sam_id"):
            return self._sam_id()

    def _sam_id(self) -> str:
        with self._lock:
            reply = self._transact(p.READ_SAM_ID, self.timeouts.sam_id_s)
        if reply.sw3 != p.SW3_OK:
            raise p.sw3_error(reply, "read_sam_id")
        if len(reply.data) < 16:
            raise _bad_payload(f"SAM id payload is {len(reply.data)} bytes")
        d = reply.data
        parts = [int.from_bytes(d[a:b], "little") for a, b in ((0, 2), (2, 4), (4, 8), (8, 12), (12, 16))]
        return "{:02d}.{:02d}-{:08d}-{:010d}-{:010d}".format(*parts)

    def set_baud_rate(self, baud: int) -> None:
        """Switch the reader's UART (CMD 0x60, §2) and then our port to `baud`.

        The reader answers at the old speed and switches afterwards, so the port follows only
        after a successful reply. Allowed: 115200, 57600, 38400, 19200, 9600. A later automatic
        reopen keeps the new speed.
        """
        with self._operation("set_baud_rate"):
            self._set_baud_rate(baud)

    def _set_baud_rate(self, baud: int) -> None:
        command = p.SET_BAUD.get(baud)
        if command is None:
            raise DeviceError(
                Completion.UNSUPPORTED,
                p.MSG_CALL_STAFF,
                detail=f"unsupported baud rate {baud}; allowed: {sorted(p.SET_BAUD)}",
                action=Action.MAINTENANCE,
            )
        with self._lock:
            reply = self._transact(command, self.timeouts.status_s)
            if reply.sw3 != p.SW3_OK:
                raise p.sw3_error(reply, f"set_baud_{baud}")
            ser = self._ser
            try:
                if ser is not None:
                    time.sleep(_BAUD_SETTLE_S)  # let the reader finish switching its UART
                    ser.baudrate = baud
            except (*_PORT_ERRORS, ValueError) as exc:
                error = _io_error("set_baud", exc)
                self._port_lost_locked(error)
                raise error from exc
            self.baudrate = baud
            log.info("%s: line speed now %d bps", self.name, baud)

    def find_card(self) -> bool:
        with self._operation("find_card"), self._lock:
            return self._find_locked()

    def read_card(self, with_fingerprint: bool = False, read_append: bool = True) -> IdCard:
        """find + select + read (+ newest appended address), §2 typical sequence."""
        with self._operation("read_card"), self._lock:
            if not self._find_locked():
                raise p.sw3_error(p.Response(0, 0, p.SW3_NO_CARD), "find_card")
            card = self._select_and_read(with_fingerprint, read_append)
        self._count("reads")
        return card

    def wait_for_card(
        self,
        timeout_s: float,
        cancel: threading.Event | None = None,
        poll_interval_s: float = 0.3,
        *,
        with_fingerprint: bool = False,
        read_append: bool = True,
    ) -> IdCard:
        """Poll `find` until a card lies on the reader, then read it.

        A card lifted half-way through a read is retried until the deadline: the citizen just
        puts it back. The lock is released between polls so status() keeps working meanwhile.
        Its own "no card in time" timeout is not counted as an error (nobody came).
        """
        with self._operation("wait_for_card", _nobody_came):
            card = self._wait_for_card(timeout_s, cancel, poll_interval_s, with_fingerprint, read_append)
        self._count("reads")
        return card

    def _wait_for_card(
        self,
        timeout_s: float,
        cancel: threading.Event | None,
        poll_interval_s: float,
        with_fingerprint: bool,
        read_append: bool,
    ) -> IdCard:
        stop = cancel or threading.Event()  # Event.wait is an interruptible sleep, not a busy loop
        deadline = time.monotonic() + timeout_s
        while True:
            if stop.is_set():
                raise DeviceError(Completion.CANCELED, N_("已取消读卡。"), detail="wait_for_card cancelled")
            with self._lock:
                try:
                    if self._find_locked():
                        return self._select_and_read(with_fingerprint, read_append)
                except DeviceError as exc:
                    if not _is_transient(exc):
                        raise
                    log.info("%s: card read interrupted (%s), polling again", self.name, exc.detail)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceError(
                    Completion.TIMEOUT,
                    N_("未检测到身份证，请将证件放在感应区。"),
                    detail=f"{_NO_CARD_IN_TIME} {timeout_s:.1f} s",
                    action=Action.AUTO,
                )
            stop.wait(min(poll_interval_s, remaining))

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        """EXTERNAL health: SAM status (already checked by status()) and a SAM id read."""
        return {"sam_id": self._sam_id()}

    # -- internals (caller holds the lock) -------------------------------------------------------

    def _find_locked(self) -> bool:
        reply = self._transact(p.FIND_CARD, self.timeouts.find_s)
        if reply.sw3 == p.SW3_FIND_OK:
            return True
        if reply.sw3 == p.SW3_NO_CARD:  # the normal idle answer, not an error
            return False
        raise p.sw3_error(reply, "find_card")

    def _select_and_read(self, with_fingerprint: bool, read_append: bool) -> IdCard:
        reply = self._transact(p.SELECT_CARD, self.timeouts.select_s)
        if reply.sw3 != p.SW3_OK:
            raise p.sw3_error(reply, "select_card")
        try:
            if with_fingerprint:
                reply = self._transact(p.READ_BASE_FP, self.timeouts.read_fp_s, reply_bytes=2321)
            else:
                reply = self._transact(p.READ_BASE, self.timeouts.read_s, reply_bytes=1295)
        except DeviceError as exc:
            if exc.completion in (Completion.TIMEOUT, Completion.INVALID_DATA):
                self._raise_if_card_pulled(exc)
            raise
        if reply.sw3 != p.SW3_OK:
            raise p.sw3_error(reply, "read_base_fp" if with_fingerprint else "read_base")
        text, photo, fingerprint = _split_base(reply.data, with_fingerprint)
        card = parse_card(text, photo, fingerprint)
        if read_append and card.card_type in ("resident", "hmt_permit"):  # only these carry an address
            card.appended_address = self._read_append()
        log.info("%s: read %s card (id valid: %s)", self.name, card.card_type, card.id_number_valid)
        return card

    def _raise_if_card_pulled(self, exc: DeviceError) -> None:
        """A read reply that broke off: if the card is gone now, say so plainly (nothing is kept)."""
        try:
            present = self._find_locked()
        except DeviceError:
            return  # the link itself is in trouble: the original error tells more
        if not present:
            raise p.Sw3Error(
                p.SW3_READ_FAILED,  # so wait_for_card treats it as transient, like SW3 0x41
                Completion.USER_ERROR,
                MSG_CARD_PULLED,
                detail=f"card removed during read ({exc.detail})",
                action=Action.AUTO,
            ) from exc

    def _read_append(self) -> str | None:
        reply = self._transact(p.READ_APPEND, self.timeouts.append_s, reply_bytes=81)
        if reply.sw3 == p.SW3_NO_CONTENT:
            return None
        if reply.sw3 == p.SW3_BAD_COMMAND:  # some modules lack 30 03; the base address still stands
            log.warning("%s: reader does not support read-append", self.name)
            return None
        if reply.sw3 != p.SW3_OK:
            raise p.sw3_error(reply, "read_append")
        text = reply.data[:_APPEND_LEN].decode("utf-16-le", errors="replace").rstrip(" \x00")
        return text or None

    def _transact(self, command: p.Command, timeout_s: float, *, reply_bytes: int = 32) -> p.Response:
        """Send one command and return its reply, retrying once on a garbled frame either way."""
        what = p.COMMAND_NAMES.get(command, f"{command.cmd:02X}{command.para:02X}")
        frame = p.build_command(*command)
        budget = timeout_s + reply_bytes * 10 / self.baudrate  # 8N1: 10 bit times per byte
        try:
            reply = self._exchange(frame, budget, what)
        except DeviceError as exc:
            if exc.completion is not Completion.INVALID_DATA:
                raise
            log.warning("%s: garbled reply (%s), retrying", self.name, exc.detail)
        else:
            if reply.sw3 not in _RETRYABLE_SW3:
                return reply
            log.warning("%s: %s rejected by reader (SW3=0x%02X), retrying", self.name, what, reply.sw3)
        return self._exchange(frame, budget, what)

    def _exchange(self, frame: bytes, timeout_s: float, what: str) -> p.Response:
        ser = self._ensure_open_locked(what)

        def read(n: int) -> bytes:
            try:
                return ser.read(n)
            except _PORT_ERRORS as exc:
                raise _io_error(f"{what} read", exc) from exc

        started = time.monotonic()
        try:
            try:
                ser.reset_input_buffer()  # late bytes of an earlier timed-out reply must not desync us
                ser.write(frame)
            except _PORT_ERRORS as exc:
                raise _io_error(f"{what} write", exc) from exc
            reply = p.read_frame(read, timeout_s, gap_s=_REPLY_GAP_S)
        except DeviceError as exc:  # say which command failed; read_frame cannot know
            if exc.completion is Completion.DEVICE_NOT_READY:
                self._port_lost_locked(exc)
                raise
            raise DeviceError(
                exc.completion, exc.message, detail=f"{what}: {exc.detail}", action=exc.action
            ) from exc
        log.debug(
            "%s: %s SW3=0x%02X in %.0f ms", self.name, what, reply.sw3, (time.monotonic() - started) * 1e3
        )
        return reply


_NO_CARD_IN_TIME = "no card within"


def _nobody_came(exc: DeviceError) -> bool:
    return exc.completion is Completion.TIMEOUT and exc.detail.startswith(_NO_CARD_IN_TIME)


def _is_transient(exc: DeviceError) -> bool:
    return isinstance(exc, p.Sw3Error) and exc.sw3 in _TRANSIENT_SW3


def _bad_payload(detail: str) -> DeviceError:
    return DeviceError(Completion.INVALID_DATA, p.MSG_RETRY_CARD, detail=detail, action=Action.AUTO)


def _split_base(data: bytes, with_fingerprint: bool) -> tuple[bytes, bytes, bytes | None]:
    """Cut the 30 01 / 30 10 payload into text, photo and fingerprint using its length header."""
    header = 6 if with_fingerprint else 4
    if len(data) < header:
        raise _bad_payload(f"read payload too short ({len(data)} bytes)")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    fp_len = int.from_bytes(data[4:6], "big") if with_fingerprint else 0
    if text_len != TEXT_LEN or header + text_len + photo_len + fp_len != len(data):
        raise _bad_payload(
            f"read payload of {len(data)} bytes does not match text={text_len} photo={photo_len} fp={fp_len}"
        )
    if photo_len != PHOTO_LEN:
        log.warning("unusual photo length %d", photo_len)  # keep it: the photo is opaque to us anyway
    text = data[header : header + text_len]
    photo = data[header + text_len : header + text_len + photo_len]
    fingerprint = data[header + text_len + photo_len :] if fp_len else None
    return text, photo, fingerprint
