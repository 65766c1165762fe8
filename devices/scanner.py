"""Barcode / QR scanners: a serial (or USB-CDC) scanner, a keyboard-wedge (HID) scanner, simulators.

Both drivers return the raw payload bytes of one code (terminator stripped); turning them into text
and deciding what they mean is the caller's job (kiosk.qr.decode_payload / classify_bytes), so this
module knows nothing about payload formats. Payloads are never logged, only their length.

Serial: the scanner sends `<payload>CR`, `LF` or `CRLF` per code. URLs as for the ID card reader:
`serial:///dev/ttyACM0?baud=9600` or a bare path; `sim://scanner` is resolved to a `ScannerSimulator`
pty by the simulator host.

Keyboard wedge: the scanner types the code as a US keyboard and presses Enter. The driver reads
`struct input_event` records from `/dev/input/by-id/…-event-kbd` (URL `hid:///dev/input/by-id/…`)
and grabs the device (EVIOCGRAB) so the keystrokes do not also land in the kiosk UI. A wedge can
only deliver what a US keyboard types (printable ASCII), so Chinese payloads need serial mode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import shutil
import struct
import tempfile
import time
from urllib.parse import urlsplit

import serial

from devices.base import N_, Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel
from devices.pty_sim import PtyPort, PtySimulator, SimulatorBase
from devices.reconnecting import PORT_ERRORS as _PORT_ERRORS
from devices.reconnecting import ReconnectingDevice, close_serial, open_serial, split_serial_url

log = logging.getLogger(__name__)

MSG_DISCONNECTED = N_("扫码器连接已断开，请联系工作人员。")
MSG_NOT_CONNECTED = N_("扫码器未连接，请联系工作人员。")
MSG_TOO_LONG = N_("条码内容过长，无法识别。")
MAX_LINE = 4096  # far above any code we accept (kiosk.qr caps text at 256); only bounds the buffer
_POLL_S = 0.02  # pyserial read timeout; read_code loops on it until its deadline
# A scanner sends one code in a burst; bytes left without a terminator this long are line noise
# (a cable plugged mid-code, a half-typed line) and must not be glued to the next code.
_STALE_S = 1.0
_TERMINATORS = b"\r\n"


def _lost(what: str, exc: BaseException | str) -> DeviceError:
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return DeviceError(
        Completion.DEVICE_NOT_READY,
        MSG_DISCONNECTED,
        detail=f"{what}: port lost: {reason}",
        action=Action.MAINTENANCE,
    )


def _too_long(n: int) -> DeviceError:
    return DeviceError(
        Completion.INVALID_DATA,
        MSG_TOO_LONG,
        detail=f"code longer than {n} bytes dropped",
        action=Action.AUTO,
    )


def _citizens_code(exc: DeviceError) -> bool:
    """An overlong code is the citizen's (or an attacker's) code, not a device fault."""
    return exc.completion is Completion.INVALID_DATA


class _LineAssembler:
    """Bytes → terminated lines, across partial reads; drops stale partial lines and overlong ones."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.buf = bytearray()
        self.last_rx = 0.0
        self.overflow = False  # inside an overlong line: discard up to its terminator

    def feed(self, chunk: bytes, now: float) -> None:
        if self.buf and now - self.last_rx > _STALE_S:
            log.info("scanner: dropped %d stale bytes without terminator", len(self.buf))
            self.buf.clear()
        self.buf += chunk
        self.last_rx = now

    def next_line(self) -> bytes | None:
        """One complete line (may be b"" for an empty line), or None; raises for an overlong one."""
        ends = [i for i in (self.buf.find(b"\r"), self.buf.find(b"\n")) if i >= 0]
        if not ends:
            if len(self.buf) > self.max_line:
                self.buf.clear()
                if not self.overflow:
                    self.overflow = True
                    raise _too_long(self.max_line)
            return None
        end = min(ends)
        line = bytes(self.buf[:end])
        del self.buf[: end + 1]
        if self.overflow:  # the tail of an overlong line that was already refused
            self.overflow = False
            return b""
        if len(line) > self.max_line:
            raise _too_long(self.max_line)
        return line


class _Scanner(ReconnectingDevice):
    """What both scanner drivers share: open/close/reopen (devices/reconnecting.py), `read_code`'s
    counting and logging, and a status that is the port's state. A driver provides how to open and
    drop its handle, `_read_locked` (bytes from the handle turned into one code) and `_status_details`.
    """

    kind = "scanner"
    _noun = "scanner"

    def _not_open_error(self, what: str) -> DeviceError:
        return DeviceError(
            Completion.SEQUENCE_ERROR,
            MSG_NOT_CONNECTED,
            detail="scanner not open",
            action=Action.MAINTENANCE,
        )

    def read_code(self, timeout_s: float = 1.0) -> bytes | None:
        """The next code's raw bytes (terminator stripped), or None when none came within `timeout_s`.

        Empty lines (the LF of a CRLF, a bare Enter) are skipped. Raises DeviceError: DEVICE_NOT_READY
        (unplugged / still gone), INVALID_DATA (a code longer than `max_line`, dropped), SEQUENCE_ERROR.
        """
        with self._operation("read_code", _citizens_code), self._lock:
            self._reopen_if_lost_locked("read_code")
            code = self._read_locked(timeout_s)
        if code is not None:
            self._count("scans")
            self._log.info("%s: code of %d bytes", self.name, len(code))
        return code

    def _read_locked(self, timeout_s: float) -> bytes | None:
        """One code from the open handle within `timeout_s`, or None; `_port_lost_locked` on a loss."""
        raise NotImplementedError

    def _status_details(self) -> dict[str, object]:
        raise NotImplementedError

    def status(self) -> DeviceStatus:
        """Never raises. A scanner has no portable status query: the port's state is the status."""
        details = self._status_details()
        if self._lost:
            return DeviceStatus(self.name, self.kind, DeviceState.NO_DEVICE, details, Action.MAINTENANCE)
        if not self._is_open():
            return DeviceStatus(self.name, self.kind, DeviceState.OFFLINE, details)
        return DeviceStatus(self.name, self.kind, DeviceState.ONLINE, details)


class SerialScanner(_Scanner):
    """A serial / USB-CDC scanner. Thread-safe; `read_code` returns one code's bytes or None.

    Lifecycle (devices/lifecycle.py): `open()` claims and enables; a lost port (unplug) raises
    DeviceError(DEVICE_NOT_READY) once, status() says NO_DEVICE, and the next read_code reopens.
    Counters: `scans` (codes delivered), `errors` (faults, not citizens' overlong codes), `dropped`.
    """

    def __init__(
        self, url: str, *, baudrate: int = 9600, name: str = "scanner", max_line: int = MAX_LINE
    ) -> None:
        self.url, self.name = url, name
        self._port, self.baudrate = split_serial_url(url, baudrate, MSG_NOT_CONNECTED)
        self._lines = _LineAssembler(max_line)
        self._ser: serial.SerialBase | None = None
        self._reconnecting_init(f"serial:{self._port}")

    def _is_open(self) -> bool:
        return self._ser is not None

    def _open_locked(self) -> None:
        self._ser = open_serial(self._port, self.baudrate, timeout=_POLL_S, message=MSG_NOT_CONNECTED)
        self._lines.buf.clear()  # half a code from before an unplug is not the start of the next
        self._opened_locked(self._port, f" at {self.baudrate} bps")

    def _drop_locked(self) -> None:
        ser, self._ser = self._ser, None
        close_serial(ser, self.name, log)

    def _read_locked(self, timeout_s: float) -> bytes | None:
        ser = self._ser
        assert ser is not None
        deadline = time.monotonic() + timeout_s
        while True:
            line = self._next_line()
            if line:
                return line
            if line is None and time.monotonic() >= deadline:
                return None
            if line is not None:
                continue  # an empty line: look for the next one at once
            try:
                chunk = ser.read(max(1, min(ser.in_waiting, 4096)))
            except _PORT_ERRORS as exc:
                error = _lost("read", exc)
                self._port_lost_locked(error)
                raise error from exc
            if chunk:
                self._lines.feed(chunk, time.monotonic())

    def _next_line(self) -> bytes | None:
        try:
            return self._lines.next_line()
        except DeviceError:
            self._count("dropped")
            log.warning("%s: overlong code dropped", self.name)
            raise

    def _status_details(self) -> dict[str, object]:
        return {"port": self._port}

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        """EXTERNAL: the line is still there (a vanished tty fails the ioctl); nobody scans."""
        with self._lock:
            ser = self._ser
            if ser is None:
                raise _lost("health", "port not open")
            try:
                waiting = ser.in_waiting
            except _PORT_ERRORS as exc:
                error = _lost("health", exc)
                self._port_lost_locked(error)
                raise error from exc
        return {"bytes_waiting": waiting}


# -- keyboard wedge ---------------------------------------------------------------------------------

# struct input_event on 64-bit Linux: struct timeval (two longs), __u16 type, __u16 code, __s32 value.
INPUT_EVENT = struct.Struct("llHHi")
EV_SYN, EV_KEY, EV_MSC = 0, 1, 4
KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
_EVIOCGRAB = 0x40044590  # _IOW('E', 0x90, int)
_OVERFLOW = b"\x00overflow"  # marker for an overlong line; never a real line (NUL cannot be typed)
_SUBSTITUTE = 0x1A  # ASCII SUB for a key we cannot map: the code is then refused, not silently altered


def _us_keymap() -> dict[int, tuple[str, str]]:
    """Linux keycode → (plain, shifted) character on a US layout."""
    keymap: dict[int, tuple[str, str]] = {}
    for code, plain, shifted in zip(range(2, 14), "1234567890-=", "!@#$%^&*()_+", strict=True):
        keymap[code] = (plain, shifted)
    rows = (
        (16, "qwertyuiop[]", "QWERTYUIOP{}"),
        (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
        (44, "zxcvbnm,./", "ZXCVBNM<>?"),
    )
    for first, plain_row, shifted_row in rows:
        for i, (plain, shifted) in enumerate(zip(plain_row, shifted_row, strict=True)):
            keymap[first + i] = (plain, shifted)
    keymap[43] = ("\\", "|")
    keymap[57] = (" ", " ")
    keymap[15] = ("\t", "\t")
    keypad = {71: "7", 72: "8", 73: "9", 74: "-", 75: "4", 76: "5", 77: "6", 78: "+", 79: "1", 80: "2"}
    keypad |= {81: "3", 82: "0", 83: ".", 55: "*", 98: "/"}
    keymap |= {code: (ch, ch) for code, ch in keypad.items()}
    return keymap


US_KEYMAP = _us_keymap()
CHAR_TO_KEY: dict[str, tuple[int, bool]] = {}  # for simulators: char → (keycode, needs shift)
for _code, (_plain, _shifted) in sorted(US_KEYMAP.items()):
    if _code < 55 or _code == 57:  # main block only; the keypad duplicates digits
        CHAR_TO_KEY.setdefault(_plain, (_code, False))
        CHAR_TO_KEY.setdefault(_shifted, (_code, True))


class _KeyDecoder:
    """input_event stream → characters, tracking shift and caps lock, Enter ending a line."""

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.pending = bytearray()  # bytes of a partial input_event (pipes may split records)
        self.line = bytearray()
        self.shift: set[int] = set()
        self.caps = False
        self.last_key = 0.0
        self.overflow = False

    def feed(self, data: bytes, now: float) -> list[bytes]:
        """The lines Enter completed in `data` (an overlong line comes back as `_OVERFLOW`)."""
        self.pending += data
        usable = len(self.pending) - len(self.pending) % INPUT_EVENT.size
        lines: list[bytes] = []
        for _sec, _usec, ev_type, code, value in INPUT_EVENT.iter_unpack(bytes(self.pending[:usable])):
            if ev_type != EV_KEY:
                continue  # EV_SYN, EV_MSC scan codes, LEDs
            line = self._key(code, value, now)
            if line is not None:
                lines.append(line)
        del self.pending[:usable]
        return lines

    def _key(self, code: int, value: int, now: float) -> bytes | None:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            (self.shift.add if value else self.shift.discard)(code)
            return None
        if value == 0:
            return None  # releases; 1 = press, 2 = autorepeat (counts as a press)
        if code == KEY_CAPSLOCK:
            self.caps = not self.caps
            return None
        if self.line and now - self.last_key > _STALE_S:
            log.info("scanner: dropped %d stale keystrokes without Enter", len(self.line))
            self.line.clear()
        self.last_key = now
        if code in (KEY_ENTER, KEY_KPENTER):
            line, self.line = bytes(self.line), bytearray()
            if self.overflow:
                self.overflow = False
                return _OVERFLOW
            return line
        if len(self.line) >= self.max_line:
            self.line.clear()
            self.overflow = True
        if self.overflow:
            return None
        chars = US_KEYMAP.get(code)
        if chars is None:
            self.line.append(_SUBSTITUTE)
            return None
        plain, shifted = chars
        shifted_now = bool(self.shift)
        if plain.isalpha() and self.caps:
            shifted_now = not shifted_now
        self.line += (shifted if shifted_now else plain).encode("ascii")
        return None


class HidScanner(_Scanner):
    """A keyboard-wedge scanner read from its evdev node; `read_code` returns one code's bytes or None.

    `grab=True` takes the device exclusively (EVIOCGRAB) so its keystrokes reach only this driver; a
    node that is not an evdev device (a FIFO in tests) cannot be grabbed and is read anyway.
    Counters: `scans`, `errors`, `dropped`.
    """

    def __init__(
        self, url: str, *, name: str = "scanner", grab: bool = True, max_line: int = MAX_LINE
    ) -> None:
        self.url, self.name, self.grab = url, name, grab
        parts = urlsplit(url)
        self._path = parts.netloc + parts.path if parts.scheme == "hid" else url
        self._keys = _KeyDecoder(max_line)
        self._lines: list[bytes] = []
        self._fd: int | None = None
        self._grabbed = False
        self._reconnecting_init(f"evdev:{self._path}")

    def _is_open(self) -> bool:
        return self._fd is not None

    def _open_locked(self) -> None:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise DeviceError(
                Completion.DEVICE_NOT_READY,
                MSG_NOT_CONNECTED,
                detail=f"cannot open {self._path}: {type(exc).__name__}: {exc}",
                action=Action.MAINTENANCE,
            ) from exc
        self._grabbed = False
        if self.grab:
            try:
                fcntl.ioctl(fd, _EVIOCGRAB, 1)
                self._grabbed = True
            except OSError as exc:
                if exc.errno == errno.EBUSY:  # another program holds it: its keys would never reach us
                    os.close(fd)
                    raise DeviceError(
                        Completion.DEVICE_NOT_READY,
                        MSG_NOT_CONNECTED,
                        detail=f"{self._path} is grabbed by another program",
                        action=Action.MAINTENANCE,
                    ) from exc
                log.info(
                    "%s: %s cannot be grabbed (%s); reading without grab", self.name, self._path, exc.errno
                )
        self._fd = fd
        self._keys = _KeyDecoder(self._keys.max_line)  # no half code or held shift across a replug
        self._opened_locked(self._path)

    def _drop_locked(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing also ends the grab

    def _read_locked(self, timeout_s: float) -> bytes | None:
        fd = self._fd
        assert fd is not None
        deadline = time.monotonic() + timeout_s
        while True:
            while self._lines:
                line = self._lines.pop(0)
                if line == _OVERFLOW:
                    self._count("dropped")
                    raise _too_long(self._keys.max_line)
                if line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
                if not ready:
                    continue
                data = os.read(fd, INPUT_EVENT.size * 64)
            except BlockingIOError:
                continue
            except OSError as exc:  # ENODEV when the USB device goes away
                error = _lost("read", exc)
                self._port_lost_locked(error)
                raise error from exc
            if not data:  # EOF: a pipe whose writer went away; an evdev node never reads empty
                error = _lost("read", "end of input")
                self._port_lost_locked(error)
                raise error
            self._lines += self._keys.feed(data, time.monotonic())

    def _status_details(self) -> dict[str, object]:
        return {"port": self._path, "grabbed": self._grabbed if self._fd is not None else None}

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        """EXTERNAL: the node is still there; nobody scans."""
        if self._fd is None or not os.path.exists(self._path):
            with self._lock:
                error = _lost("health", "device node gone")
                self._port_lost_locked(error)
            raise error
        return {"grabbed": self._grabbed}


# -- simulators ---------------------------------------------------------------------------------------

PORT_NAME = "usb-SIM_Barcode_Scanner-if00-port0"
HID_NAME = "usb-SIM_Barcode_Scanner-event-kbd"


class ScannerSimulator(PtySimulator):
    """A serial scanner on a real pty: `scan(payload)` types a code as the scanner would send it.

    `port` is a stable symlink (like /dev/serial/by-id/…) when `stable_port`, else the pty slave.
    `unplug()` closes the pty (the driver sees EIO) and removes the link; `replug()` restores both.
    """

    def __init__(self, *, stable_port: bool = False, terminator: bytes = b"\r\n") -> None:
        self.stable_port, self.terminator = stable_port, terminator
        self._pty = PtyPort(PORT_NAME if stable_port else None, prefix="scansim-")

    def start(self) -> ScannerSimulator:
        if not self._pty.started:
            self._pty.start()
            self.replug()
        return self

    def stop(self) -> None:
        self._pty.stop()

    @property
    def plugged(self) -> bool:
        return self._pty.master is not None

    def replug(self) -> None:
        if self._pty.master is None:
            self._pty.plug()  # RuntimeError before start()

    def unplug(self) -> None:
        self._pty.unplug()

    def write_raw(self, data: bytes) -> None:
        """Bytes on the wire as they are (garbage, a code without terminator, split writes)."""
        master = self._pty.master
        if master is None:
            raise RuntimeError("scanner unplugged")
        os.write(master, data)

    def scan(self, payload: bytes, *, chunks: int = 1, gap_s: float = 0.0) -> None:
        """Send one code plus the terminator, in `chunks` writes `gap_s` apart (a slow UART)."""
        data = payload + self.terminator
        step = max(1, -(-len(data) // chunks))
        for start in range(0, len(data), step):
            self.write_raw(data[start : start + step])
            if gap_s:
                time.sleep(gap_s)


def key_events(text: str, *, enter: bool = True) -> bytes:
    """The input_event records a US-layout wedge scanner sends to type `text` (ASCII) and Enter."""
    out = bytearray()

    def event(ev_type: int, code: int, value: int) -> None:
        out.extend(INPUT_EVENT.pack(0, 0, ev_type, code, value))

    def key(code: int, value: int) -> None:
        event(EV_MSC, 4, code)  # MSC_SCAN, as real keyboards send before each key event
        event(EV_KEY, code, value)
        event(EV_SYN, 0, 0)

    for ch in text:
        code, shift = CHAR_TO_KEY[ch]  # KeyError: a wedge cannot type it
        if shift:
            key(KEY_LEFTSHIFT, 1)
        key(code, 1)
        key(code, 0)
        if shift:
            key(KEY_LEFTSHIFT, 0)
    if enter:
        key(KEY_ENTER, 1)
        key(KEY_ENTER, 0)
    return bytes(out)


class HidScannerSimulator(SimulatorBase):
    """A keyboard-wedge scanner as a FIFO named like /dev/input/by-id/…-event-kbd, fed input_events.

    The simulator holds the FIFO open read-write so the driver never sees end-of-input while it is
    "plugged"; `unplug()` closes it (the driver reads EOF) and removes the node; `replug()` restores.
    """

    def __init__(self) -> None:
        self.path: str | None = None
        self._dir: str | None = None
        self._fd: int | None = None

    def start(self) -> HidScannerSimulator:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="hidsim-")
            self.path = os.path.join(self._dir, HID_NAME)
            self.replug()
        return self

    def stop(self) -> None:
        if self._dir is not None:
            self.unplug()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @property
    def url(self) -> str:
        assert self.path is not None
        return f"hid://{self.path}"

    def replug(self) -> None:
        assert self.path is not None
        if self._fd is not None:
            return
        os.mkfifo(self.path)
        self._fd = os.open(self.path, os.O_RDWR)

    def unplug(self) -> None:
        if self._fd is None:
            return
        assert self.path is not None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None

    def write_raw(self, data: bytes) -> None:
        if self._fd is None:
            raise RuntimeError("scanner unplugged")
        os.write(self._fd, data)

    def scan(self, text: str, *, enter: bool = True) -> None:
        """Type `text` (printable ASCII) as key presses, then Enter."""
        self.write_raw(key_events(text, enter=enter))


def open_scanner(url: str, *, name: str = "scanner") -> SerialScanner | HidScanner:
    """`hid://…` → HidScanner, anything else (serial://, a path, a pyserial URL) → SerialScanner."""
    scanner: SerialScanner | HidScanner = (
        HidScanner(url, name=name) if url.startswith("hid://") else SerialScanner(url, name=name)
    )
    scanner.open()
    return scanner
