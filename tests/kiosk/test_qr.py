"""kiosk.qr: payload decoding, strict classification (hostile payloads too), real QR images, QrReader."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest
import qrcode

from kiosk import qr
from kiosk.platform_sim.identity import QR_PREFIX
from kiosk.qr import (
    MAX_PAYLOAD_CHARS,
    PayloadError,
    QrReader,
    Scan,
    classify,
    classify_bytes,
    decode_payload,
    qr_report,
    safe_text,
    scan_frame,
    zbar_decode,
)
from kiosk.receipt import receipt_qr_payload

RECEIPT = receipt_qr_payload("KS2026112290253950", "111192")
IDENTITY = "YSB-QR:DEMO-WANGJG-0001"
CHINESE = "办件编号：王建国的回执"
# UTF-8 bytes that are also valid Shift-JIS: zbar's text mode guesses Shift-JIS for these.
SJIS_VICTIM = "办件编号王建国"


# -- helpers --------------------------------------------------------------------------------------


def qr_image(data: str | bytes, box: int = 6) -> np.ndarray:
    """A grey QR image in byte mode (bytes in, no ECI: what most generators write)."""
    code = qrcode.QRCode(box_size=box, border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data.encode("utf-8") if isinstance(data, str) else data)
    code.make(fit=True)
    return np.array(code.make_image().convert("L"), dtype=np.uint8)


def frame_with(code: np.ndarray, centre: tuple[int, int] = (640, 360), colour: bool = True) -> np.ndarray:
    """A 1280×720 camera-like frame (noisy grey background) with `code` pasted around `centre`."""
    rng = np.random.default_rng(1)
    frame = rng.integers(90, 160, size=(720, 1280), dtype=np.uint8)
    h, w = code.shape
    y, x = centre[1] - h // 2, centre[0] - w // 2
    frame[y : y + h, x : x + w] = code
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if colour else frame


def rotated(code: np.ndarray, degrees: float) -> np.ndarray:
    h, w = code.shape
    side = int(np.hypot(h, w)) + 2
    canvas = np.full((side, side), 255, np.uint8)
    canvas[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = code
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), degrees, 1.0)
    return cv2.warpAffine(canvas, matrix, (side, side), borderValue=255)


# -- decode_payload -------------------------------------------------------------------------------


def test_decode_utf8() -> None:
    assert decode_payload(RECEIPT.encode()) == RECEIPT
    assert decode_payload(CHINESE.encode("utf-8")) == CHINESE


def test_decode_repairs_zbar_shift_jis_mojibake() -> None:
    mangled = SJIS_VICTIM.encode("utf-8").decode("cp932").encode("utf-8")  # zbar's text-mode output
    assert mangled.decode("utf-8") != SJIS_VICTIM
    assert decode_payload(mangled) == SJIS_VICTIM


def test_decode_repairs_real_zbar_text_mode_output() -> None:
    # libzbar itself, asked for text: it guesses Shift-JIS for these UTF-8 bytes.
    [symbol] = zbar_decode(qr_image(SJIS_VICTIM), binary=False)
    assert symbol.data != SJIS_VICTIM.encode("utf-8")
    assert decode_payload(symbol.data) == SJIS_VICTIM
    [raw] = zbar_decode(qr_image(SJIS_VICTIM))  # binary mode: the bytes themselves
    assert raw.data == SJIS_VICTIM.encode("utf-8")


def test_decode_keeps_genuine_text() -> None:
    for text in ("日本語のテキスト", "简体中文：政务服务", "Straße", IDENTITY):
        assert decode_payload(text.encode("utf-8")) == text


def test_decode_gb18030() -> None:
    assert decode_payload("政务服务中心".encode("gb18030")) == "政务服务中心"


@pytest.mark.parametrize("data", [b"\xff\xfe\x80\x81", b"\x80", bytes([0x81, 0x30, 0xFF])])
def test_decode_garbage_is_an_error(data: bytes) -> None:
    with pytest.raises(PayloadError) as info:
        decode_payload(data)
    assert info.value.message  # a sentence for the citizen
    assert info.value.detail == f"{len(data)} bytes are neither UTF-8 nor GB18030"  # no content


def test_decode_refuses_huge_before_decoding() -> None:
    with pytest.raises(PayloadError, match="exceeds"):
        decode_payload(b"a" * 10_240)


# -- classify -------------------------------------------------------------------------------------


def test_receipt_valid() -> None:
    scan = classify(RECEIPT)
    assert scan.ok and scan.kind == "receipt"
    assert (scan.case_no, scan.query_code) == ("KS2026112290253950", "111192")
    assert "111192" not in repr(scan)  # the query code is the key to the case: not in logs


def test_receipt_parameter_order_does_not_matter() -> None:
    scan = classify("kiosk-receipt:v1?query_code=111192&case_no=KS2026112290253950")
    assert scan.ok and scan.case_no == "KS2026112290253950"


def test_identity_valid() -> None:
    assert QR_PREFIX == qr.IDENTITY_QR_PREFIX
    for payload, token in ((IDENTITY, "DEMO-WANGJG-0001"), ("YSB-QR:DEMO-LIXL-0002", "DEMO-LIXL-0002")):
        scan = classify(payload)
        assert scan.ok and scan.kind == "identity" and scan.token == token
        assert token not in repr(scan)
    assert classify("YSB-QR:SIM-" + "ab" * 12).ok  # what the simulator issues


@pytest.mark.parametrize(
    ("payload", "kind", "reason"),
    [
        ("x" * 10_240, "unknown", "too long"),
        ("\x1b[2J", "unknown", "control characters"),
        (RECEIPT + "\n", "unknown", "control characters"),
        ("YSB-QR:DEMO\u202eWANGJG-0001", "unknown", "control characters"),  # bidi override
        ("https://evil.example/login?next=kiosk", "unknown", "url or other scheme"),
        ("javascript:alert(1)", "unknown", "url or other scheme"),
        ("data:text/html,<script>", "unknown", "url or other scheme"),
        ("www.evil.example", "unknown", "url or other scheme"),
        ("hello", "unknown", "unknown format"),
        ("", "unknown", "unknown format"),
        (RECEIPT + "&x=1", "receipt", "receipt parameters"),
        (RECEIPT + "&case_no=KS2026112290253950", "receipt", "receipt query malformed"),
        ("kiosk-receipt:v2?case_no=KS2026112290253950&query_code=111192", "receipt", "receipt version"),
        ("kiosk-receipt:https://evil.example/", "receipt", "receipt version"),
        ("kiosk-receipt:v1?case_no=KS2026112290253950", "receipt", "receipt parameters"),
        ("kiosk-receipt:v1?case_no=KS2026113290253950&query_code=111192", "receipt", "case_no format"),
        ("kiosk-receipt:v1?case_no=KS202611229025395&query_code=111192", "receipt", "case_no format"),
        ("kiosk-receipt:v1?case_no=ks2026112290253950&query_code=111192", "receipt", "case_no format"),
        (
            "kiosk-receipt:v1?case_no=KS2026112290253950&query_code=１１１１９２",
            "receipt",
            "query_code format",
        ),
        ("kiosk-receipt:v1?case_no=KS2026112290253950&query_code=11119", "receipt", "query_code format"),
        ("kiosk-receipt:v1?case_no=KS2026112290253950&query_code=111192%00", "receipt", "query_code format"),
        ("YSB-QR:", "identity", "identity token format"),
        ("YSB-QR:short", "identity", "identity token format"),
        ("YSB-QR:https://evil.example/x", "identity", "identity token format"),
        ("YSB-QR:DEMO WANGJG 0001", "identity", "identity token format"),
        ("YSB-QR:" + "A" * 201, "identity", "identity token format"),
    ],
)
def test_hostile_and_malformed_payloads_are_refused(payload: str, kind: str, reason: str) -> None:
    scan = classify(payload)
    assert not scan.ok
    assert (scan.kind, scan.reason) == (kind, reason)
    assert scan.refusal and any("\u4e00" <= ch <= "\u9fff" for ch in scan.refusal)  # a Chinese sentence
    assert scan.case_no is None and scan.query_code is None and scan.token is None


def test_limit_is_the_documented_one() -> None:
    assert not classify("YSB-QR:" + "A" * (MAX_PAYLOAD_CHARS - 6)).ok
    assert len(RECEIPT) < MAX_PAYLOAD_CHARS


def test_refusals_log_kind_and_length_never_the_payload(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kiosk.qr")
    for payload in ("https://evil.example/secret-path", RECEIPT, IDENTITY, "\x1b[2Jsecret"):
        classify(payload)
    classify_bytes(b"\xff\xfesecret")
    text = caplog.text
    for secret in ("evil.example", "111192", "KS2026112290253950", "WANGJG", "secret", "\x1b"):
        assert secret not in text


def test_classify_bytes_turns_undecodable_into_a_refusal() -> None:
    scan = classify_bytes(b"\xff\xfe\x80")
    assert not scan.ok and scan.kind == "unknown" and scan.refusal == qr.MSG_UNREADABLE
    assert classify_bytes(RECEIPT.encode()).ok


# -- real images ----------------------------------------------------------------------------------


def test_scan_frame_receipt_and_identity_at_1280x720() -> None:
    for payload, kind in ((RECEIPT, "receipt"), (IDENTITY, "identity")):
        [scan] = scan_frame(frame_with(qr_image(payload)))
        assert scan.ok and scan.kind == kind and scan.text == payload


def test_scan_frame_chinese_payload_comes_back_exact() -> None:
    for text in (CHINESE, SJIS_VICTIM):
        [scan] = scan_frame(frame_with(qr_image(text)))
        assert scan.text == text  # raw bytes from zbar, decoded as UTF-8: no mojibake
        assert scan.kind == "unknown" and not scan.ok


def test_scan_frame_gb18030_payload() -> None:
    [scan] = scan_frame(frame_with(qr_image("政务服务中心".encode("gb18030"))))
    assert scan.text == "政务服务中心"


@pytest.mark.parametrize("degrees", [15, 45, 90, 180, 200])
def test_scan_frame_rotated(degrees: float) -> None:
    [scan] = scan_frame(frame_with(rotated(qr_image(RECEIPT, box=5), degrees)))
    assert scan.ok and scan.case_no == "KS2026112290253950"


def test_scan_frame_small_code() -> None:
    small = qr_image(RECEIPT, box=3)  # ~120 px: held far from the camera
    assert small.shape[0] < 140
    [scan] = scan_frame(frame_with(small, colour=False))
    assert scan.ok


def test_scan_frame_roi_excludes_the_edges_and_full_frame_finds_them() -> None:
    frame = frame_with(qr_image(IDENTITY, box=4), centre=(120, 120))
    assert scan_frame(frame) == []
    [scan] = scan_frame(frame, roi=(0, 0, 1280, 720))
    assert scan.ok


def test_scan_frame_hostile_code_is_refused_not_followed() -> None:
    [scan] = scan_frame(frame_with(qr_image("https://evil.example/phish")))
    assert scan.refusal == qr.MSG_URL


def test_scan_frame_two_codes() -> None:
    frame = frame_with(qr_image(RECEIPT, box=4), centre=(500, 360))
    code = qr_image(IDENTITY, box=4)
    h, w = code.shape
    frame[360 - h // 2 : 360 - h // 2 + h, 780 - w // 2 : 780 - w // 2 + w] = code[:, :, None]
    kinds = sorted(scan.kind for scan in scan_frame(frame))
    assert kinds == ["identity", "receipt"]


def test_empty_and_blank_frames() -> None:
    assert scan_frame(np.zeros((720, 1280, 3), np.uint8)) == []
    assert scan_frame(np.zeros((720, 1280), np.uint8), roi=(2000, 2000, 10, 10)) == []


# -- report ---------------------------------------------------------------------------------------


def test_qr_report(tmp_path) -> None:
    path = tmp_path / "codes.png"
    frame = frame_with(qr_image(RECEIPT, box=4), centre=(300, 360))
    code = qr_image("\x1b[2J" + "A" * 300, box=3)
    h, w = code.shape
    frame[360 - h // 2 : 360 - h // 2 + h, 900 - w // 2 : 900 - w // 2 + w] = code[:, :, None]
    cv2.imwrite(str(path), frame)
    report = qr_report(path)
    json.dumps(report)  # what --json prints
    codes = {code["kind"]: code for code in report["codes"]}
    assert codes["receipt"] == {"type": "QRCODE", "text": RECEIPT, "kind": "receipt", "valid": True}
    hostile = codes["unknown"]
    assert hostile["text"].startswith("\\x1b[2J") and "\x1b" not in hostile["text"]
    assert hostile["text"].endswith("…(+184 chars)")
    assert hostile["refusal"] == qr.MSG_TOO_LONG and hostile["valid"] is False


def test_qr_report_unreadable_file(tmp_path) -> None:
    (tmp_path / "x.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not an image"):
        qr_report(tmp_path / "x.png")


def test_safe_text() -> None:
    assert safe_text("a\x00b\u202ec\n") == "a\\x00b\\u202ec\\n"
    assert safe_text("中文") == "中文"


# -- QrReader -------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeCamera:
    """read_frame returns the next of `frames` (cycling); each read costs `cost_s` on the clock."""

    def __init__(self, clock: FakeClock, frames: list[str | None], cost_s: float = 0.01) -> None:
        self.clock, self.frames, self.cost_s = clock, frames, cost_s
        self.reads = 0

    def read_frame(self, timeout_s: float) -> str | None:
        frame = self.frames[self.reads % len(self.frames)]
        self.reads += 1
        self.clock.now += self.cost_s
        return frame


def fake_scan(frame: str | None, roi: object) -> list[Scan]:
    """Frames are payload strings here: the reader's logic is tested without images."""
    return [] if frame in (None, "") else [classify(frame)]


def reader(clock: FakeClock, camera: object, **kwargs: object) -> QrReader:
    return QrReader(camera, clock=clock, sleep=clock.sleep, scan=fake_scan, **kwargs)  # type: ignore[arg-type]


def test_reader_returns_first_valid_and_reports_refusals_once() -> None:
    clock = FakeClock()
    refused: list[Scan] = []
    camera = FakeCamera(clock, ["", "https://evil.example/", "https://evil.example/", RECEIPT])
    scan = reader(clock, camera, on_refused=refused.append).read(timeout_s=5)
    assert scan is not None and scan.kind == "receipt"
    assert [s.reason for s in refused] == ["url or other scheme"]


def test_reader_throttles_decodes() -> None:
    clock = FakeClock()
    camera = FakeCamera(clock, [""], cost_s=0.001)
    r = reader(clock, camera, max_rate=5.0)
    start = clock.now
    assert r.read(timeout_s=2.0) is None
    assert r.decodes <= 10 + 1  # 5 per second for 2 s (plus the first, which needs no wait)
    assert r.decodes >= 9
    assert all(s <= 0.2 + 1e-9 for s in clock.sleeps)
    assert clock.now - start <= 2.0 + 0.2


def test_reader_deduplicates_within_window() -> None:
    clock = FakeClock()
    camera = FakeCamera(clock, [RECEIPT])
    r = reader(clock, camera, max_rate=10.0, dedup_s=3.0)
    assert r.read(timeout_s=1) is not None
    assert r.read(timeout_s=5) is None  # held in view all the time: every sighting extends the window
    camera.frames = [""]
    assert r.read(timeout_s=4) is None  # taken away for longer than the window
    camera.frames = [RECEIPT]
    again = r.read(timeout_s=1)
    assert again is not None and again.case_no == "KS2026112290253950"


def test_reader_dedups_per_code() -> None:
    clock = FakeClock()
    camera = FakeCamera(clock, [RECEIPT, IDENTITY])
    r = reader(clock, camera, max_rate=10.0)
    first, second = r.read(timeout_s=1), r.read(timeout_s=1)
    assert first is not None and second is not None
    assert {first.kind, second.kind} == {"receipt", "identity"}


def test_reader_with_latest_frame_source() -> None:
    clock = FakeClock()

    class Capture:
        def __init__(self) -> None:
            self.calls = 0

        def latest(self) -> str | None:
            self.calls += 1
            clock.now += 0.001
            return None if self.calls < 3 else IDENTITY

    scan = reader(clock, Capture()).read(timeout_s=2)
    assert scan is not None and scan.token == "DEMO-WANGJG-0001"


def test_reader_on_real_frames() -> None:
    frames = [frame_with(qr_image(IDENTITY))]

    class Camera:
        def read_frame(self, timeout_s: float) -> np.ndarray:
            return frames[0]

    scan = QrReader(Camera(), max_rate=100.0).read(timeout_s=5)
    assert scan is not None and scan.kind == "identity"


def test_reader_needs_a_camera() -> None:
    with pytest.raises(TypeError):
        QrReader(object())
