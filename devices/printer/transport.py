"""Open a printer named by URL with python-escpos, send jobs, and read status replies with a deadline.

Every escpos / pyserial / socket exception is turned into a DeviceError here, at the I/O boundary.
"""

from __future__ import annotations

import logging
import re
import socket
import termios
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import serial
from escpos import exceptions as escpos_errors
from escpos.escpos import Escpos
from escpos.printer import File, Network, Serial, Usb

from devices.base import N_, Action, Completion, DeviceError

log = logging.getLogger(__name__)

# Everything the escpos printer classes let through from their transports; termios.error (raised by
# pyserial on an unplugged port) is not an OSError.
IO_ERRORS = (OSError, ValueError, AssertionError, termios.error, serial.SerialException, escpos_errors.Error)

_CONFIG_MESSAGE = N_("打印机配置有误，请联系工作人员。")


@dataclass(frozen=True)
class Endpoint:
    scheme: Literal["tcp", "serial", "file", "usb"]
    target: str  # host name, device path, or VID:PID (hex)
    port: int = 9100
    baud: int = 9600

    def __str__(self) -> str:
        return (
            f"tcp://{self.target}:{self.port}" if self.scheme == "tcp" else f"{self.scheme}://{self.target}"
        )


def parse_url(url: str) -> Endpoint:
    """tcp://host:port, serial:///dev/ttyUSB0?baud=19200, a bare device path, file:///dev/usb/lp0, or
    usb://VID:PID (hex, e.g. usb://0416:5011) for printers that speak USB bulk natively."""
    if url.startswith("/"):
        return Endpoint("serial", url)
    try:
        parts = urlsplit(url)
        if parts.scheme == "tcp" and parts.hostname:
            return Endpoint("tcp", parts.hostname, port=parts.port or 9100)
        if parts.scheme == "serial" and parts.path:
            baud = parse_qs(parts.query).get("baud", ["9600"])[0]
            return Endpoint("serial", parts.path, baud=int(baud))
        if parts.scheme == "file" and parts.path:
            return Endpoint("file", parts.path)
        if parts.scheme == "usb" and re.fullmatch(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}", parts.netloc):
            return Endpoint("usb", parts.netloc.lower())
    except ValueError as exc:  # a bad port or baud number
        raise DeviceError(
            Completion.INVALID_DATA,
            _CONFIG_MESSAGE,
            detail=f"bad printer url: {exc}",
            action=Action.MAINTENANCE,
        ) from exc
    raise DeviceError(
        Completion.UNSUPPORTED,
        _CONFIG_MESSAGE,
        detail=f"unsupported printer url {url!r}",
        action=Action.MAINTENANCE,
    )


def link_error(exc: BaseException, doing: str, endpoint: Endpoint) -> DeviceError:
    """Translate a transport exception into the device contract."""
    if isinstance(exc, TimeoutError | serial.SerialTimeoutException):
        completion, message = Completion.TIMEOUT, N_("打印机无响应，请联系工作人员。")
    elif doing == "connecting":
        completion, message = Completion.DEVICE_NOT_READY, N_("打印机未连接，请联系工作人员。")
    else:
        completion, message = Completion.HARDWARE_ERROR, N_("打印机通信故障，请联系工作人员。")
    detail = f"{type(exc).__name__} while {doing} {endpoint}: {exc}"
    return DeviceError(completion, message, detail=detail, action=Action.MAINTENANCE)


class _Network(Network):
    """escpos's Network leaks its socket when connect fails, one per reconnect attempt; this does not."""

    def open(self, raise_not_found: bool = True) -> None:
        self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)


class Link:
    """One connection to the printer; after any I/O error it closes itself so the next call reconnects."""

    def __init__(self, endpoint: Endpoint, timeout_s: float) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._printer: Escpos | None = None

    @property
    def can_read(self) -> bool:
        return self.endpoint.scheme != "file"  # escpos opens the device file write-only

    def open(self) -> None:
        if self._printer is not None:
            return
        printer = self._make()
        try:
            printer.open()
            if isinstance(printer, Serial):
                printer.device.write_timeout = self.timeout_s  # a stalled port must not hang a job
        except IO_ERRORS as exc:
            printer._device = False  # so escpos's __del__ does not try to close a half-open device
            raise link_error(exc, "connecting", self.endpoint) from exc
        self._printer = printer
        log.info("printer connected: %s", self.endpoint)

    def close(self) -> None:
        printer, self._printer = self._printer, None
        if printer is None:
            return
        try:
            printer.close()
        except IO_ERRORS as exc:
            log.warning("error closing printer %s: %s", self.endpoint, type(exc).__name__)

    def send(self, data: bytes) -> None:
        printer = self._require()
        try:
            printer._raw(data)
            if isinstance(printer, Serial):
                printer.device.flush()
        except IO_ERRORS as exc:
            self.close()
            raise link_error(exc, "sending to", self.endpoint) from exc

    def query(self, command: bytes) -> int | None:
        """Send a real-time command and return the one-byte reply, or None if none came in time."""
        printer = self._require()
        try:
            device = printer.device
            if isinstance(device, socket.socket):
                return self._query_socket(device, command)
            if isinstance(device, serial.Serial):
                device.reset_input_buffer()  # drop a late reply to an earlier query
                device.write(command)
                reply = device.read(1)
                return reply[0] if reply else None
            if isinstance(printer, Usb):
                printer._raw(command)
                reply = printer._read()  # bulk IN; a USB timeout raises USBTimeoutError (an OSError)
                return reply[-1] if reply else None
            return None
        except IO_ERRORS as exc:
            self.close()
            raise link_error(exc, "querying", self.endpoint) from exc

    def _query_socket(self, sock: socket.socket, command: bytes) -> int | None:
        sock.setblocking(False)
        try:
            while sock.recv(256):  # drop a late reply to an earlier query
                pass
            raise ConnectionResetError("printer closed the connection")
        except BlockingIOError:
            pass
        finally:
            sock.settimeout(self.timeout_s)
        sock.sendall(command)
        try:
            reply = sock.recv(1)
        except TimeoutError:
            return None
        if not reply:
            raise ConnectionResetError("printer closed the connection")
        return reply[0]

    def _require(self) -> Escpos:
        self.open()
        assert self._printer is not None
        return self._printer

    def _make(self) -> Escpos:
        ep = self.endpoint
        if ep.scheme == "tcp":
            return _Network(ep.target, ep.port, timeout=self.timeout_s)
        if ep.scheme == "serial":
            return Serial(ep.target, baudrate=ep.baud, timeout=self.timeout_s)
        if ep.scheme == "usb":
            vendor, product = (int(part, 16) for part in ep.target.split(":"))
            return Usb(vendor, product, timeout=int(self.timeout_s * 1000))
        return File(ep.target)
