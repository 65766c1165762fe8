"""QR codes at the kiosk: payload bytes → text, classification, strict validation, camera reading.

Two codes are accepted: our own receipt QR (`kiosk-receipt:v1?case_no=…&query_code=…`, built by
kiosk/receipt.py) and the provincial app's identity code (`YSB-QR:<token>`, platform-api §5.4).
Everything else — URLs, other apps' codes, huge or control-character payloads — is refused with a
short Chinese sentence and is never opened or followed. Logs carry the kind, length and refusal
reason only: a payload can hold a query code or a login token.

Decoding: zbar turns byte-mode QR data into text itself and, without an ECI header, guesses Shift-JIS
for bytes that are really UTF-8 (Chinese comes out as mojibake). pyzbar 0.1.9 has no option to get the
raw bytes, so `zbar_decode` drives libzbar through pyzbar's ctypes wrapper and sets ZBAR_CFG_BINARY
(zbar ≥ 0.23.1) on the QR symbology; with an older libzbar the setting is refused and zbar's text
comes back instead, which `decode_payload` repairs (Shift-JIS round trip).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from ctypes import c_void_p, cast, string_at
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from kiosk.i18n import N_
from kiosk.receipt import RECEIPT_QR_PREFIX

log = logging.getLogger(__name__)

IDENTITY_QR_PREFIX = "YSB-QR:"  # platform-api §5.4; the simulator's QR_PREFIX must stay equal
_RECEIPT_FAMILY = RECEIPT_QR_PREFIX.split(":", 1)[0] + ":"  # "kiosk-receipt:" — any version

# Our receipt QR is 61 characters and an identity code is the prefix plus at most _TOKEN_MAX; 256
# leaves room for longer provincial tokens while capping the work and log noise of a hostile code
# (a version-40 QR carries up to 2,953 bytes). Bytes are capped at 4× (UTF-8 worst case).
MAX_PAYLOAD_CHARS = 256
MAX_PAYLOAD_BYTES = 4 * MAX_PAYLOAD_CHARS
_TOKEN_MIN, _TOKEN_MAX = 8, 200

# [0-9], not \d: \d also matches full-width and other Unicode digits.
_CASE_NO_RE = re.compile(r"KS(?P<date>[0-9]{8})[0-9]{8}")
_QUERY_CODE_RE = re.compile(r"[0-9]{6}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9._-]+")  # URL-safe token characters, nothing that can hide a URL
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")

# Chinese msgids (kiosk.i18n): the screens show them translated; logs and JSON keep them as they are.
MSG_UNREADABLE = N_("二维码内容无法识别，请换一个二维码或人工办理。")
MSG_TOO_LONG = N_("二维码内容过长，不是本机能识别的二维码。")
MSG_CONTROL = N_("二维码含有异常字符，不是本机能识别的二维码。")
MSG_URL = N_("这是一个网址二维码，本机不会打开网址。请出示办件回执二维码或政务App身份码。")
MSG_UNKNOWN = N_("无法识别此二维码，请出示办件回执二维码或政务App身份码。")
MSG_BAD_RECEIPT = N_("回执二维码无效，请手动输入办件编号和查询码。")
MSG_BAD_IDENTITY = N_("身份码无效，请在政务App中刷新身份码后重试。")

Kind = Literal["receipt", "identity", "unknown"]


class PayloadError(ValueError):
    """Bytes that are no text we can read. `message` is for the citizen; `detail` has no content."""

    def __init__(self, detail: str, message: str = MSG_UNREADABLE) -> None:
        super().__init__(detail)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class Scan:
    """One classified code. `refusal` (a Chinese sentence) is None only for a valid code; `reason`
    is a short English tag for the log. Secrets and raw text stay out of repr() (and so out of logs)."""

    kind: Kind
    refusal: str | None = None
    reason: str = ""
    case_no: str | None = None
    query_code: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    text: str = field(default="", repr=False)
    length: int = 0  # characters of the decoded text (or bytes when undecodable)

    @property
    def ok(self) -> bool:
        return self.refusal is None


# -- bytes → text ---------------------------------------------------------------------------------

# glibc's SJIS (which zbar uses through iconv) maps 0x5C and 0x7E to ¥ and ‾; Python's codecs do not.
_SJIS_ASCII_FIX = str.maketrans({"\u00a5": "\\", "\u203e": "~"})


def _sjis_repair(text: str) -> str | None:
    """zbar's Shift-JIS guess undone: back to the original bytes, then UTF-8; None if it is not that."""
    if text.isascii():
        return None  # nothing was mangled
    fixed = text.translate(_SJIS_ASCII_FIX)
    for codec in ("shift_jis", "cp932"):
        try:
            original = fixed.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        if not original.isascii() and original != text:
            return original
    return None


def decode_payload(data: bytes) -> str:
    """Payload bytes → text: strict UTF-8 (with zbar's Shift-JIS mojibake repaired), else GB18030.

    Raises PayloadError for anything else, and for more than MAX_PAYLOAD_BYTES (checked first so a
    hostile code costs no decoding work).
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}", MSG_TOO_LONG)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 may still be zbar's text for a Shift-JIS guess (older libzbar, or a hardware
        # scanner doing the same). Genuine Chinese is rarely Shift-JIS-encodable to valid UTF-8.
        return _sjis_repair(text) or text
    try:
        return data.decode("gb18030")  # older Chinese generators write GBK bytes without an ECI
    except UnicodeDecodeError:
        raise PayloadError(f"{len(data)} bytes are neither UTF-8 nor GB18030") from None


# -- classification -------------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    # Cc: C0/C1 controls (terminal escapes, NUL, newlines); Cf: invisible format characters such as
    # bidi overrides and zero-width spaces that could make a code look like something else.
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text)


def _refuse(kind: Kind, message: str, reason: str, text: str) -> Scan:
    log.info("qr: refused %s code of %d chars: %s", kind, len(text), reason)
    return Scan(kind, refusal=message, reason=reason, text=text, length=len(text))


def classify(text: str) -> Scan:
    """Classify and validate decoded text strictly; a refused Scan has a sentence for the citizen."""
    if len(text) > MAX_PAYLOAD_CHARS:
        return _refuse("unknown", MSG_TOO_LONG, "too long", text)
    if _has_control(text):
        return _refuse("unknown", MSG_CONTROL, "control characters", text)
    if text.startswith(_RECEIPT_FAMILY):
        return _classify_receipt(text)
    if text.startswith(IDENTITY_QR_PREFIX):
        return _classify_identity(text)
    lowered = text.lower()
    if _SCHEME_RE.match(text) or "://" in text or lowered.startswith("www."):
        return _refuse("unknown", MSG_URL, "url or other scheme", text)
    return _refuse("unknown", MSG_UNKNOWN, "unknown format", text)


def _classify_receipt(text: str) -> Scan:
    if not text.startswith(RECEIPT_QR_PREFIX):
        return _refuse("receipt", MSG_BAD_RECEIPT, "receipt version", text)
    params: dict[str, str] = {}
    for pair in text[len(RECEIPT_QR_PREFIX) :].split("&"):
        key, sep, value = pair.partition("=")
        if not sep or key in params:
            return _refuse("receipt", MSG_BAD_RECEIPT, "receipt query malformed", text)
        params[key] = value  # no percent-decoding: valid values are plain ASCII alphanumerics
    if params.keys() != {"case_no", "query_code"}:
        return _refuse("receipt", MSG_BAD_RECEIPT, "receipt parameters", text)
    case_no, query_code = params["case_no"], params["query_code"]
    match = _CASE_NO_RE.fullmatch(case_no)
    if match is None or not _valid_date(match["date"]):
        return _refuse("receipt", MSG_BAD_RECEIPT, "case_no format", text)
    if not _QUERY_CODE_RE.fullmatch(query_code):
        return _refuse("receipt", MSG_BAD_RECEIPT, "query_code format", text)
    log.debug("qr: receipt code of %d chars", len(text))  # per frame: debug
    return Scan("receipt", case_no=case_no, query_code=query_code, text=text, length=len(text))


def _valid_date(yyyymmdd: str) -> bool:
    try:
        dt.datetime.strptime(yyyymmdd, "%Y%m%d")
    except ValueError:
        return False
    return True


def _classify_identity(text: str) -> Scan:
    token = text[len(IDENTITY_QR_PREFIX) :]
    if not (_TOKEN_MIN <= len(token) <= _TOKEN_MAX) or not _TOKEN_RE.fullmatch(token):
        return _refuse("identity", MSG_BAD_IDENTITY, "identity token format", text)
    log.debug("qr: identity code of %d chars", len(text))
    return Scan("identity", token=token, text=text, length=len(text))


def classify_bytes(data: bytes) -> Scan:
    """decode_payload + classify, for scanners: undecodable bytes become a refused Scan."""
    try:
        text = decode_payload(data)
    except PayloadError as err:
        log.info("qr: refused payload: %s", err.detail)
        return Scan("unknown", refusal=err.message, reason=err.detail, length=len(data))
    return classify(text)


# -- zbar -----------------------------------------------------------------------------------------

_ZBAR_CFG_ENABLE = 0
_ZBAR_CFG_BINARY = 4  # zbar.h, zbar ≥ 0.23.1; pyzbar 0.1.9's ZBarConfig predates it
_L800 = 808466521  # zbar's fourcc for 8-bit grey


@dataclass(frozen=True)
class ZbarSymbol:
    type: str
    data: bytes
    rect: tuple[int, int, int, int]  # x, y, w, h in the scanned image


def zbar_decode(grey: np.ndarray, *, binary: bool = True) -> list[ZbarSymbol]:
    """QR codes in an 8-bit grey image via libzbar; `binary` asks for the raw payload bytes."""
    from pyzbar import pyzbar as pz  # its private helpers: the public decode() cannot set BINARY
    from pyzbar import wrapper as zw

    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    height, width = grey.shape[:2]
    pixels = grey.tobytes()
    found: list[ZbarSymbol] = []
    with pz._image_scanner() as scanner:
        zw.zbar_image_scanner_set_config(scanner, 0, _ZBAR_CFG_ENABLE, 0)  # 0 = every symbology off
        zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.QRCODE, _ZBAR_CFG_ENABLE, 1)
        if binary and zw.zbar_image_scanner_set_config(scanner, zw.ZBarSymbol.QRCODE, _ZBAR_CFG_BINARY, 1):
            log.debug("libzbar has no ZBAR_CFG_BINARY; relying on the Shift-JIS repair")
        with pz._image() as image:
            zw.zbar_image_set_format(image, _L800)
            zw.zbar_image_set_size(image, width, height)
            zw.zbar_image_set_data(image, cast(pixels, c_void_p), len(pixels), None)
            if zw.zbar_scan_image(scanner, image) < 0:
                raise ValueError("zbar refused the image")
            for symbol in pz._symbols_for_image(image):
                data = string_at(zw.zbar_symbol_get_data(symbol), zw.zbar_symbol_get_data_length(symbol))
                xs = [zw.zbar_symbol_get_loc_x(symbol, i) for i in range(zw.zbar_symbol_get_loc_size(symbol))]
                ys = [zw.zbar_symbol_get_loc_y(symbol, i) for i in range(zw.zbar_symbol_get_loc_size(symbol))]
                rect = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)) if xs else (0, 0, 0, 0)
                found.append(ZbarSymbol("QRCODE", data, rect))
    return found


# -- frames ---------------------------------------------------------------------------------------

Roi = tuple[int, int, int, int]  # x, y, width, height in pixels
# The citizen is asked to hold the code to the middle of the screen's guide box: the centre half of
# the width and three quarters of the height hold it at every distance the camera can focus, and
# zbar's time grows with the pixels it scans.
DEFAULT_ROI_FRACTION = (0.5, 0.75)


def centre_roi(shape: tuple[int, ...], fraction: tuple[float, float] = DEFAULT_ROI_FRACTION) -> Roi:
    height, width = shape[:2]
    w, h = round(width * fraction[0]), round(height * fraction[1])
    return ((width - w) // 2, (height - h) // 2, w, h)


def to_grey(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return frame
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _scan_symbols(frame: np.ndarray, roi: Roi | None) -> list[ZbarSymbol]:
    x, y, w, h = roi if roi is not None else centre_roi(frame.shape)
    crop = frame[max(y, 0) : y + h, max(x, 0) : x + w]  # crop before converting: less work
    if crop.size == 0:
        return []
    return zbar_decode(to_grey(crop))


def scan_frame(frame: np.ndarray, roi: Roi | None = None) -> list[Scan]:
    """Every QR code in `roi` of a BGR or grey frame (default: `centre_roi`), classified.

    For the whole frame pass `roi=(0, 0, width, height)`.
    """
    return [classify_bytes(symbol.data) for symbol in _scan_symbols(frame, roi)]


class QrReader:
    """Pulls frames from a camera, decodes at most `max_rate` per second, and returns the first valid
    code that was not already seen within `dedup_s` (so a receipt held still is taken once).

    The camera is anything with `read_frame(timeout_s)` (devices.camera) or `latest()` (a capture
    thread's newest frame, None before the first). Refused codes are reported once per sighting
    window through `on_refused` (the screen shows the sentence), never returned.
    `clock` and `sleep` are injectable for tests.
    """

    def __init__(
        self,
        camera: Any,
        *,
        roi: Roi | None = None,
        max_rate: float = 8.0,
        dedup_s: float = 3.0,
        on_refused: Callable[[Scan], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        scan: Callable[[np.ndarray, Roi | None], list[Scan]] = scan_frame,
    ) -> None:
        if not hasattr(camera, "read_frame") and not hasattr(camera, "latest"):
            raise TypeError("camera needs read_frame(timeout_s) or latest()")
        self.camera, self.roi = camera, roi
        self.interval = 1.0 / max_rate
        self.dedup_s = dedup_s
        self.on_refused = on_refused
        self._clock, self._sleep, self._scan = clock, sleep, scan
        self._last_decode: float | None = None
        self._seen: collections.OrderedDict[tuple[str, str], float] = collections.OrderedDict()
        self.decodes = 0  # how many frames were decoded (tests and diagnostics)

    def _frame(self, timeout_s: float) -> np.ndarray | None:
        if hasattr(self.camera, "latest"):
            return self.camera.latest()
        return self.camera.read_frame(timeout_s)

    def _throttle(self, deadline: float) -> bool:
        """Wait for the next decode slot; False if it comes after `deadline`."""
        if self._last_decode is not None:
            wait = self._last_decode + self.interval - self._clock()
            if wait > 0:
                if self._clock() + wait > deadline:
                    return False
                self._sleep(wait)
        return True

    def _fresh(self, scan: Scan, now: float) -> bool:
        """True unless the same code was seen within dedup_s (every sighting extends the window)."""
        for key, seen in list(self._seen.items()):
            if now - seen > self.dedup_s:
                del self._seen[key]
        key = (scan.kind, scan.text or scan.reason)
        fresh = key not in self._seen
        self._seen[key] = now
        self._seen.move_to_end(key)
        return fresh

    def read(self, timeout_s: float = 10.0) -> Scan | None:
        """The first new valid Scan within `timeout_s`, or None. Camera DeviceErrors propagate."""
        deadline = self._clock() + timeout_s
        while self._clock() < deadline:
            if not self._throttle(deadline):
                return None
            frame = self._frame(max(deadline - self._clock(), 0.0))
            self._last_decode = self._clock()
            if frame is None:
                continue  # a capture thread with no frame yet; the throttle paces the polling
            self.decodes += 1
            for scan in self._scan(frame, self.roi):
                if not self._fresh(scan, self._last_decode):
                    continue
                if scan.ok:
                    return scan
                if self.on_refused is not None:
                    self.on_refused(scan)
        return None


# -- report for `kiosk vision qr` ------------------------------------------------------------------

_REPORT_TEXT_MAX = 120


def safe_text(text: str, limit: int = _REPORT_TEXT_MAX) -> str:
    """Text fit for a terminal: control and invisible characters escaped, long text truncated."""
    shown = "".join(
        ch if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn") else ascii(ch)[1:-1]
        for ch in text[:limit]
    )
    return shown + (f"…(+{len(text) - limit} chars)" if len(text) > limit else "")


def qr_report(path: Path) -> dict[str, Any]:
    """Every QR code in an image file (whole image), for `kiosk vision qr IMG [--json]`."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
    codes = []
    for symbol in _scan_symbols(image, (0, 0, image.shape[1], image.shape[0])):
        scan = classify_bytes(symbol.data)
        text = safe_text(scan.text) if scan.text else safe_text(ascii(symbol.data[:_REPORT_TEXT_MAX]))
        code: dict[str, Any] = {"type": symbol.type, "text": text, "kind": scan.kind, "valid": scan.ok}
        if scan.refusal:
            code["refusal"] = scan.refusal
        codes.append(code)
    return {"codes": codes}
