"""A minimal IPP/1.1 client (RFC 8010/8011) over HTTP, TCP or a Unix socket: just what the A4 driver needs.

The CUPS command-line clients cannot tell a completed job from a canceled or aborted one, nor list
the printer-state-reasons reliably, so the driver asks cupsd directly. Only `IppError` leaves here.
The same encoder and decoder serve the other side too (`decode_request`, `encode_response`), for the
simulated printer in ipp_sim.py, so the two ends cannot drift apart.
"""

from __future__ import annotations

import getpass
import http.client
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

# Operations
PRINT_JOB = 0x0002
CANCEL_JOB = 0x0008
GET_JOB_ATTRIBUTES = 0x0009
GET_PRINTER_ATTRIBUTES = 0x000B

# Delimiter and value tags
_OPERATION = 0x01
_JOB = 0x02
_END = 0x03
_PRINTER = 0x04
_INTEGER = 0x21
_BOOLEAN = 0x22
_ENUM = 0x23
_TEXT = 0x41
_NAME = 0x42
_KEYWORD = 0x44
_URI = 0x45
_CHARSET = 0x47
_LANGUAGE = 0x48
_MIME = 0x49

OPERATION_GROUP, JOB_GROUP, PRINTER_GROUP = _OPERATION, _JOB, _PRINTER

STATUS_OK = 0x0000
STATUS_BAD_REQUEST = 0x0400
STATUS_NOT_POSSIBLE = 0x0404
STATUS_NOT_FOUND = 0x0406
STATUS_DOCUMENT_FORMAT_NOT_SUPPORTED = 0x040A
STATUS_OPERATION_NOT_SUPPORTED = 0x0501
STATUS_VERSION_NOT_SUPPORTED = 0x0503
STATUS_NOT_ACCEPTING_JOBS = 0x0506

Attribute = tuple[int, str, Any]  # (value tag, name, value or list of values)


class IppError(Exception):
    """Transport failure (`status` None) or an IPP error status from the server."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status


class _Groups:
    groups: list[dict[str, list[Any]]]

    def first(self, name: str, default: Any = None) -> Any:
        for group in self.groups:
            values = group.get(name)
            if values:
                return values[0]
        return default

    def all(self, name: str) -> list[Any]:
        for group in self.groups:
            if name in group:
                return list(group[name])
        return []


@dataclass
class Response(_Groups):
    status: int
    groups: list[dict[str, list[Any]]] = field(default_factory=list)


@dataclass
class Request(_Groups):
    """A request as a server sees it: the document (Print-Job) follows the attributes."""

    operation: int
    request_id: int
    groups: list[dict[str, list[Any]]] = field(default_factory=list)
    data: bytes = b""
    version: tuple[int, int] = (1, 1)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class IppClient:
    """Talks to one IPP server: `server` is "host:port" or the path of a Unix socket."""

    def __init__(self, server: str, timeout_s: float) -> None:
        self.server = server
        self.timeout_s = timeout_s
        self._request_id = 0

    def printer_uri(self, queue: str) -> str:
        host = "localhost" if self.server.startswith("/") else self.server
        return f"ipp://{host}/printers/{queue}"

    def request(
        self,
        operation: int,
        path: str,
        attributes: list[tuple[int, str, Any]],
        data: bytes = b"",
    ) -> Response:
        self._request_id = self._request_id % 0x7FFFFFFF + 1
        body = _encode(operation, self._request_id, attributes) + data
        if self.server.startswith("/"):
            conn: http.client.HTTPConnection = _UnixConnection(self.server, self.timeout_s)
        else:
            host, _, port = self.server.rpartition(":")
            if not host or not port.isdigit():
                host, port = self.server, "631"
            conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout_s)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/ipp"})
            reply = conn.getresponse()
            payload = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            raise IppError(f"cannot reach {self.server}: {type(exc).__name__}") from exc
        finally:
            conn.close()
        if reply.status != 200:
            raise IppError(f"HTTP {reply.status} from {self.server}")
        response = _decode(payload)
        if response.status >= 0x0100:
            raise IppError(f"IPP status 0x{response.status:04x}", response.status)
        return response


def operation_attributes(printer_uri: str) -> list[tuple[int, str, Any]]:
    return [
        (_CHARSET, "attributes-charset", "utf-8"),
        (_LANGUAGE, "attributes-natural-language", "en"),
        (_URI, "printer-uri", printer_uri),
        (_NAME, "requesting-user-name", _user()),
    ]


def _user() -> str:
    # The OS user: cupsd checks it against the peer credentials on its local socket, and only the
    # job's owner (or an admin) may cancel it under the default policy.
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "kiosk"


def name(attr: str, value: str) -> tuple[int, str, Any]:
    return (_NAME, attr, value)


def mime(attr: str, value: str | list[str]) -> tuple[int, str, Any]:
    return (_MIME, attr, value)


def integer(attr: str, value: int) -> tuple[int, str, Any]:
    return (_INTEGER, attr, value)


def keywords(attr: str, values: list[str]) -> tuple[int, str, Any]:
    return (_KEYWORD, attr, values)


def enum(attr: str, value: int | list[int]) -> tuple[int, str, Any]:
    return (_ENUM, attr, value)


def boolean(attr: str, value: bool) -> tuple[int, str, Any]:
    return (_BOOLEAN, attr, value)


def uri(attr: str, value: str) -> tuple[int, str, Any]:
    return (_URI, attr, value)


def text(attr: str, value: str) -> tuple[int, str, Any]:
    return (_TEXT, attr, value)


def response_attributes(message: str | None = None) -> list[tuple[int, str, Any]]:
    """The operation attributes every response starts with (RFC 8011 §4.1.4.2)."""
    attrs = [(_CHARSET, "attributes-charset", "utf-8"), (_LANGUAGE, "attributes-natural-language", "en")]
    if message:
        attrs.append(text("status-message", message))
    return attrs


def encode_response(
    status: int,
    request_id: int,
    groups: list[tuple[int, list[Attribute]]],
    version: tuple[int, int] = (1, 1),
) -> bytes:
    """A server's answer: `groups` are (OPERATION_GROUP / JOB_GROUP / PRINTER_GROUP, attributes);
    `version` should be the request's (IPP/2.0 clients such as ipptool check it)."""
    return _encode_message(status, request_id, groups, version)


def decode_request(payload: bytes) -> Request:
    """Parse a request (attributes, then the document); IppError when malformed or truncated."""
    try:
        major, minor, operation, request_id = struct.unpack_from(">BBHI", payload, 0)
        groups, end = _parse_groups(payload)
    except (struct.error, ValueError, IndexError) as exc:
        raise IppError(f"malformed IPP request: {exc}") from exc
    if end is None:  # a request without end-of-attributes may have lost its document too
        raise IppError("malformed IPP request: no end-of-attributes tag")
    return Request(operation, request_id, groups, payload[end:], (major, minor))


def _encode(operation: int, request_id: int, attributes: list[tuple[int, str, Any]]) -> bytes:
    return _encode_message(operation, request_id, [(_OPERATION, attributes)])


def _encode_message(
    code: int, request_id: int, groups: list[tuple[int, list[Attribute]]], version: tuple[int, int] = (1, 1)
) -> bytes:
    # `code` is the operation in a request and the status in a response: same place, same size.
    out = bytearray(struct.pack(">BBHI", *version, code, request_id))
    for group_tag, attributes in groups:
        out.append(group_tag)
        for tag, attr, value in attributes:
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                attr_name = attr.encode("ascii") if i == 0 else b""
                if tag in (_INTEGER, _ENUM):
                    raw = struct.pack(">i", v)
                elif tag == _BOOLEAN:
                    raw = b"\x01" if v else b"\x00"
                else:
                    raw = str(v).encode("utf-8")
                out += struct.pack(">BH", tag, len(attr_name)) + attr_name
                out += struct.pack(">H", len(raw)) + raw
    out.append(_END)
    return bytes(out)


def _decode(payload: bytes) -> Response:
    try:
        _, _, status, _ = struct.unpack_from(">BBHI", payload, 0)
        groups, _ = _parse_groups(payload)
        return Response(status, groups)
    except (struct.error, ValueError, IndexError) as exc:
        raise IppError(f"malformed IPP response: {exc}") from exc


def _parse_groups(payload: bytes) -> tuple[list[dict[str, list[Any]]], int | None]:
    """The attribute groups after the 8-byte header, and the offset just past end-of-attributes
    (None when the message stops without one)."""
    groups: list[dict[str, list[Any]]] = []
    pos = 8
    group: dict[str, list[Any]] | None = None
    last = ""
    while pos < len(payload):
        tag = payload[pos]
        pos += 1
        if tag == _END:
            return groups, pos
        if tag < 0x10:  # a new attribute group
            group = {}
            groups.append(group)
            continue
        (name_len,) = struct.unpack_from(">H", payload, pos)
        attr = payload[pos + 2 : pos + 2 + name_len].decode("utf-8", "replace")
        pos += 2 + name_len
        (value_len,) = struct.unpack_from(">H", payload, pos)
        raw = payload[pos + 2 : pos + 2 + value_len]
        if len(raw) != value_len:
            raise ValueError("truncated value")
        pos += 2 + value_len
        if group is None:
            raise ValueError("attribute outside a group")
        if attr:
            last = attr
            group.setdefault(attr, [])
        if not last:
            raise ValueError("additional value without an attribute")
        group[last].append(_value(tag, raw))
    return groups, None


def _value(tag: int, raw: bytes) -> Any:
    if tag in (_INTEGER, _ENUM) and len(raw) == 4:
        return struct.unpack(">i", raw)[0]
    if tag == _BOOLEAN and len(raw) == 1:
        return raw != b"\x00"
    if 0x40 <= tag <= 0x4F or tag in (_TEXT, _NAME):
        return raw.decode("utf-8", "replace")
    return raw
