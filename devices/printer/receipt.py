"""The receipt printer driver: python-escpos over TCP, serial or a device file, GB18030 text."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from devices.base import N_, Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel
from devices.lifecycle import Lifecycle
from devices.printer import status as rt
from devices.printer.document import PAPER_COLUMNS, QR, Cut, Receipt, Rule, Text
from devices.printer.encode import encode_receipt
from devices.printer.transport import Link, parse_url

log = logging.getLogger(__name__)

KIND = "receipt_printer"


class ReceiptPrinter(Lifecycle):
    """An ESC/POS receipt printer named by URL; only DeviceError leaves its methods.

    Lifecycle (devices/lifecycle.py): `open()` claims and enables; without `open()` the printer
    still connects on first use, as before. A disabled or released printer refuses to print.
    Counters: `prints` (jobs sent), `cuts` (cut commands sent) and `errors`.
    `terminal_id` is what the EXTERNAL health check's test page shows (defaults to the name).
    """

    def __init__(
        self,
        url: str,
        *,
        paper_mm: int = 80,
        chinese_mode: bool = True,
        native_qr: bool = True,
        timeout_s: float = 5.0,
        name: str = KIND,
    ) -> None:
        if paper_mm not in PAPER_COLUMNS:
            raise DeviceError(
                Completion.UNSUPPORTED,
                N_("打印机配置有误，请联系工作人员。"),
                detail=f"unsupported paper width {paper_mm} mm",
                action=Action.MAINTENANCE,
            )
        self.name = name
        self.paper_mm = paper_mm
        self.chinese_mode = chinese_mode
        self.native_qr = native_qr
        self._link = Link(parse_url(url), timeout_s)
        # One job or status query at a time, so replies never interleave with another caller's.
        self._lock = threading.Lock()
        self.terminal_id = name
        self._lifecycle_init(f"receipt:{url}")

    def open(self) -> None:
        """Connect; the first open also claims and enables the printer (see devices/lifecycle.py)."""

        def do_open() -> None:
            with self._lock:
                self._link.open()

        self._lc_open(do_open)

    def close(self) -> None:
        def do_close() -> None:
            with self._lock:
                self._link.close()

        self._lc_close(do_close)

    def status(self) -> DeviceStatus:
        """Ask the printer (DLE EOT 1..4); a silent or unreachable printer is OFFLINE, paper unknown."""
        with self._lock:
            reading = self._read_status()
        return DeviceStatus(self.name, KIND, reading.state, reading.details, reading.action)

    def print_receipt(self, doc: Receipt) -> None:
        """Print one receipt (a cut is added if missing); refuses when paper is out or the cover open."""
        with self._operation("print_receipt"):
            self._print(doc)

    def print_test_page(self, terminal_id: str) -> None:
        with self._operation("print_test_page"):
            self._print(build_test_page(terminal_id, datetime.now(), self.paper_mm, self.native_qr))

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        """EXTERNAL health: print the test page (a technician looks at it at INTERACTIVE)."""
        self._print(build_test_page(self.terminal_id, datetime.now(), self.paper_mm, self.native_qr))
        return {"test_page": "printed"}

    def _print(self, doc: Receipt) -> None:
        job = encode_receipt(
            doc, paper_mm=self.paper_mm, chinese_mode=self.chinese_mode, native_qr=self.native_qr
        )
        with self._lock:
            self._link.open()
            _raise_unless_ready(self._read_status())
            self._link.send(job)
        self._count("prints")
        self._count("cuts", sum(isinstance(e, Cut) for e in doc) + (not doc or not isinstance(doc[-1], Cut)))
        # Only the size: the receipt itself holds personal data.
        log.info("receipt sent to %s (%d bytes)", self.name, len(job))

    def _read_status(self) -> rt.Reading:
        try:
            self._link.open()
            if not self._link.can_read:
                return rt.not_supported()
            replies: list[int] = []
            for n in rt.QUERIES:
                reply = self._link.query(rt.DLE_EOT + bytes([n]))
                if reply is None:
                    return rt.unknown(DeviceState.OFFLINE, "no_reply")
                replies.append(reply)
        except DeviceError as exc:
            log.info("printer %s status: %s", self.name, exc.detail)  # the poller reports the state change
            return rt.unknown(DeviceState.OFFLINE, "link_failed")
        return rt.interpret(replies)


def _raise_unless_ready(reading: rt.Reading) -> None:
    details = reading.details
    if reading.state in (DeviceState.ONLINE, DeviceState.BUSY):
        return  # a busy (cooling) printer takes the job and prints it when it can
    if details.get("cover_open"):
        raise DeviceError(
            Completion.DEVICE_NOT_READY,
            N_("打印机盖未关好，请联系工作人员。"),
            detail="cover open",
            action=Action.CLEAR,
        )
    if details.get("paper") == "out":
        raise DeviceError(
            Completion.DEVICE_NOT_READY,
            N_("打印机缺纸，请联系工作人员。"),
            detail="paper out",
            action=Action.CLEAR,
        )
    if reading.state == DeviceState.HARDWARE_ERROR:
        raise DeviceError(
            Completion.HARDWARE_ERROR,
            N_("打印机故障，请联系工作人员。"),
            detail=f"printer error: {details.get('error')}",
            action=Action.MAINTENANCE,
        )
    raise DeviceError(
        Completion.DEVICE_NOT_READY,
        N_("打印机暂时无法使用，请联系工作人员。"),
        detail=f"printer {reading.state.value}: {details.get('error')}",
        action=reading.action or Action.MAINTENANCE,
    )


def build_test_page(terminal_id: str, now: datetime, paper_mm: int, native_qr: bool) -> Receipt:
    stamp = now.strftime("%Y-%m-%d %H:%M:%S")
    return [
        Text("打印机测试页", align="center", bold=True, double=True),
        Rule(),
        Text(f"终端编号：{terminal_id}"),
        Text(f"时间：{stamp}"),
        Text(f"纸宽：{paper_mm}mm  二维码：{'打印机生成' if native_qr else '图像'}"),
        Text("测试 TEST 0123456789 中文打印正常"),
        QR(f"kiosk-test:{terminal_id}:{now.isoformat(timespec='seconds')}"),
        Text("如能扫描上方二维码，打印正常。", align="center"),
        Rule(),
        Cut(),
    ]
