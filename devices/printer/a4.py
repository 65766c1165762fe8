"""The A4 printer driver: PDFs through a CUPS queue named by URL (`cups://QUEUE`, or
`cups://QUEUE?server=HOST:PORT` for a cupsd or IPP printer elsewhere, e.g. the simulator in ipp_sim.py).

It speaks IPP to cupsd (see ipp.py) to submit a PDF, follow the job to completion and read the
queue's state and printer-state-reasons. Only DeviceError leaves its methods.
"""

from __future__ import annotations

import io
import logging
import os
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from devices.base import N_, Action, Completion, DeviceError, DeviceState, DeviceStatus, HealthLevel
from devices.lifecycle import Lifecycle
from devices.printer import ipp

log = logging.getLogger(__name__)

KIND = "a4_printer"
DEFAULT_SOCKET = "/run/cups/cups.sock"
POLL_S = 0.25

_QUEUE_STATES = {3: "idle", 4: "processing", 5: "stopped"}
_JOB_STATES = {
    3: "pending",
    4: "pending-held",
    5: "processing",
    6: "processing-stopped",
    7: "canceled",
    8: "aborted",
    9: "completed",
}
_PRINTER_ATTRS = [
    "printer-state",
    "printer-state-reasons",
    "printer-is-accepting-jobs",
    "queued-job-count",
]
_PAPER_OUT = ("media-empty", "media-needed")
_COVER = ("door-open", "cover-open", "interlock-open")


_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z])")


class A4Printer(Lifecycle):
    """An A4 printer behind a CUPS queue; `server` is "host:port" or a Unix socket path.

    Lifecycle (devices/lifecycle.py): `open()` claims and enables; without `open()` it still
    works as before. A disabled or released printer refuses `print_pdf` (following or canceling
    a job already submitted stays allowed). Counters: `jobs` (submitted), `pages` (page objects
    in the submitted PDFs, at least 1 a job; pages inside compressed object streams are not
    seen), `jobs_completed` and `errors`.
    """

    def __init__(
        self, url: str, *, server: str | None = None, timeout_s: float = 60.0, name: str = KIND
    ) -> None:
        self.name = name
        self.queue, url_server = _parse_url(url)
        self.server = server or url_server or os.environ.get("CUPS_SERVER") or _default_server()
        self.timeout_s = timeout_s
        # Each IPP request has its own short timeout; timeout_s bounds a whole job in wait_job.
        self._client = ipp.IppClient(self.server, min(timeout_s, 10.0))
        self._uri = self._client.printer_uri(self.queue)
        self._lock = threading.Lock()
        self._lifecycle_init(f"cups:{self.server}/{self.queue}")

    def open(self) -> None:
        """Nothing to hold open: each call is one HTTP request. Checks the queue exists.

        The first open also claims and enables the printer (see devices/lifecycle.py)."""
        self._lc_open(self._printer_attributes)

    def close(self) -> None:
        self._lc_close(lambda: None)

    # -- status -----------------------------------------------------------------------------------

    def status(self) -> DeviceStatus:
        """Queue state and printer-state-reasons; OFFLINE when cupsd or the queue cannot be found."""
        try:
            attrs = self._printer_attributes()
        except DeviceError as exc:
            details: dict[str, Any] = {
                "queue": None,
                "accepting": None,
                "reasons": [],
                "paper": "unknown",
                "cover_open": None,
                "jobs": None,
                "error": exc.detail,
            }
            return DeviceStatus(self.name, KIND, DeviceState.OFFLINE, details, Action.MAINTENANCE)
        state, details, action = interpret(attrs)
        return DeviceStatus(self.name, KIND, state, details, action)

    # -- printing ---------------------------------------------------------------------------------

    def print_pdf(self, data: bytes, title: str) -> str:
        """Submit a PDF and return the job id ("QUEUE-N"); refuses when the queue cannot print."""
        with self._operation("print_pdf"):
            return self._submit(data, title)

    def _submit(self, data: bytes, title: str) -> str:
        if not data.startswith(b"%PDF-"):
            raise DeviceError(
                Completion.INVALID_DATA,
                N_("文件格式有误，无法打印，请联系工作人员。"),
                detail="not a PDF",
                action=Action.MAINTENANCE,
            )
        state, details, action = interpret(self._printer_attributes())
        _raise_unless_ready(state, details, action)
        attrs = [
            *ipp.operation_attributes(self._uri),
            ipp.name("job-name", title[:255] or "kiosk"),
            ipp.mime("document-format", "application/pdf"),
        ]
        with self._lock:
            response = self._call(ipp.PRINT_JOB, attrs, data)
        job = response.first("job-id")
        if not isinstance(job, int):
            raise DeviceError(
                Completion.HARDWARE_ERROR,
                N_("打印机暂时无法使用，请联系工作人员。"),
                detail="cupsd returned no job-id",
                action=Action.MAINTENANCE,
            )
        job_id = f"{self.queue}-{job}"
        self._count("jobs")
        self._count("pages", max(1, len(_PAGE_OBJECT.findall(data))))
        # Only the id and size: the title and document may hold personal data.
        log.info("A4 job %s submitted (%d bytes)", job_id, len(data))
        return job_id

    def wait_job(
        self, job_id: str, timeout_s: float | None = None, cancel: threading.Event | None = None
    ) -> None:
        """Follow a job until completed; DeviceError if it is canceled, aborted, stopped or late.

        A job that will not complete is canceled in CUPS, so it cannot come out later when the
        citizen has gone. Setting `cancel` cancels the job and raises CANCELED.
        """
        with self._counting():
            self._wait_job(job_id, timeout_s, cancel)
        self._count("jobs_completed")

    def _exercise(self, level: HealthLevel) -> dict[str, object]:
        """EXTERNAL health: print a one-page test PDF and follow the job to completion."""
        job_id = self._submit(a4_test_page_pdf(self.name), "kiosk A4 test page")
        self._wait_job(job_id, None, None)
        self._count("jobs_completed")
        return {"test_job": job_id}

    def _wait_job(self, job_id: str, timeout_s: float | None, cancel: threading.Event | None) -> None:
        number = _job_number(job_id, self.queue)
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            job_state = self._job_state(number)
            if job_state == "completed":
                log.info("A4 job %s completed", job_id)
                return
            if job_state in ("canceled", "aborted"):
                raise DeviceError(
                    Completion.HARDWARE_ERROR if job_state == "aborted" else Completion.CANCELED,
                    N_("打印未完成，请联系工作人员。"),
                    detail=f"job {job_id} {job_state}",
                    action=Action.MAINTENANCE if job_state == "aborted" else None,
                )
            if job_state in ("processing-stopped", "pending", "pending-held"):
                state, details, action = interpret(self._printer_attributes())
                if details["queue"] == "stopped" or job_state == "processing-stopped":
                    self._cancel_quietly(number)
                    _raise_unless_ready(state, details, action)
                    raise DeviceError(
                        Completion.DEVICE_NOT_READY,
                        N_("打印机暂时无法使用，请联系工作人员。"),
                        detail=f"job {job_id} {job_state}",
                        action=Action.MAINTENANCE,
                    )
            if cancel is not None and cancel.is_set():
                self._cancel_quietly(number)
                raise DeviceError(Completion.CANCELED, N_("打印已取消。"), detail=f"job {job_id} canceled")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._cancel_quietly(number)
                raise DeviceError(
                    Completion.TIMEOUT,
                    N_("打印超时，请联系工作人员。"),
                    detail=f"job {job_id} not done in time ({job_state})",
                    action=Action.MAINTENANCE,
                )
            if cancel is not None:
                cancel.wait(min(POLL_S, remaining))
            else:
                time.sleep(min(POLL_S, remaining))

    def cancel_job(self, job_id: str) -> None:
        number = _job_number(job_id, self.queue)
        attrs = [*ipp.operation_attributes(self._uri), ipp.integer("job-id", number)]
        with self._lock:
            self._call(ipp.CANCEL_JOB, attrs)

    # -- internals --------------------------------------------------------------------------------

    def _cancel_quietly(self, number: int) -> None:
        try:
            self.cancel_job(f"{self.queue}-{number}")
        except DeviceError as exc:
            log.info("A4 job %s-%d: cancel failed (%s)", self.queue, number, exc.detail)

    def _job_state(self, number: int) -> str:
        attrs = [
            *ipp.operation_attributes(self._uri),
            ipp.integer("job-id", number),
            ipp.keywords("requested-attributes", ["job-state", "job-state-reasons"]),
        ]
        with self._lock:
            response = self._call(ipp.GET_JOB_ATTRIBUTES, attrs)
        return _JOB_STATES.get(response.first("job-state"), "unknown")

    def _printer_attributes(self) -> dict[str, Any]:
        attrs = [
            *ipp.operation_attributes(self._uri),
            ipp.keywords("requested-attributes", _PRINTER_ATTRS),
        ]
        with self._lock:
            response = self._call(ipp.GET_PRINTER_ATTRIBUTES, attrs)
        return {
            "printer-state": response.first("printer-state"),
            "printer-state-reasons": response.all("printer-state-reasons"),
            "printer-is-accepting-jobs": response.first("printer-is-accepting-jobs"),
            "queued-job-count": response.first("queued-job-count"),
        }

    def _call(self, operation: int, attrs: list[tuple[int, str, Any]], data: bytes = b"") -> ipp.Response:
        try:
            return self._client.request(operation, f"/printers/{self.queue}", attrs, data)
        except ipp.IppError as exc:
            if exc.status == ipp.STATUS_NOT_FOUND:
                raise DeviceError(
                    Completion.DEVICE_NOT_READY,
                    N_("打印机暂时无法使用，请联系工作人员。"),
                    detail=f"no such CUPS queue or job on {self.queue}",
                    action=Action.MAINTENANCE,
                ) from exc
            raise DeviceError(
                Completion.DEVICE_NOT_READY if exc.status is None else Completion.HARDWARE_ERROR,
                N_("打印机暂时无法使用，请联系工作人员。"),
                detail=f"CUPS {self.queue}: {exc}",
                action=Action.MAINTENANCE,
            ) from exc


def a4_test_page_pdf(name: str) -> bytes:
    """A one-page A4 PDF (150 dpi) drawn with Pillow: a frame, the device name and the time."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((60, 60, 1180, 1694), outline=0, width=6)
    draw.text((120, 140), f"Kiosk A4 test page - {name}", fill=0, font_size=48)
    draw.text((120, 220), time.strftime("%Y-%m-%d %H:%M:%S"), fill=0, font_size=36)
    for i in range(8):
        draw.rectangle((120 + i * 130, 400, 220 + i * 130, 500), fill=i * 32)
    buf = io.BytesIO()
    image.save(buf, "PDF", resolution=150)
    return buf.getvalue()


def interpret(attrs: dict[str, Any]) -> tuple[DeviceState, dict[str, Any], Action | None]:
    """Map Get-Printer-Attributes values onto the device contract."""
    queue = _QUEUE_STATES.get(attrs.get("printer-state"), "unknown")
    raw = [str(r) for r in attrs.get("printer-state-reasons") or [] if r != "none"]
    reasons = [r for r in raw if not r.endswith("-report")]
    errors = {_base(r) for r in reasons if not r.endswith("-warning")}
    bases = {_base(r) for r in reasons}
    accepting = bool(attrs.get("printer-is-accepting-jobs"))

    if bases & set(_PAPER_OUT):
        paper = "out"
    elif "media-jam" in bases:
        paper = "jammed"
    elif "media-low" in bases:
        paper = "low"
    else:
        paper = "ok"
    cover_open = bool(bases & set(_COVER))
    other = sorted(errors - set(_PAPER_OUT) - set(_COVER) - {"media-jam", "media-low", "paused"})
    details: dict[str, Any] = {
        "queue": queue,
        "accepting": accepting,
        "reasons": reasons,
        "paper": paper,
        "cover_open": cover_open,
        "jobs": attrs.get("queued-job-count"),
        "error": other[0] if other else None,
    }
    if paper in ("out", "jammed") or cover_open:
        return DeviceState.USER_ERROR, details, Action.CLEAR
    if other:
        return DeviceState.HARDWARE_ERROR, details, Action.MAINTENANCE
    if queue == "stopped" or not accepting:
        details["error"] = "queue_stopped" if queue == "stopped" else "not_accepting"
        return DeviceState.OFFLINE, details, Action.MAINTENANCE
    if queue == "unknown":
        details["error"] = "unknown_state"
        return DeviceState.OFFLINE, details, Action.MAINTENANCE
    return DeviceState.ONLINE, details, Action.CLEAR if paper == "low" else None


def _raise_unless_ready(state: DeviceState, details: dict[str, Any], action: Action | None) -> None:
    if state == DeviceState.ONLINE:
        return
    if details.get("cover_open"):
        message, detail = N_("打印机盖未关好，请联系工作人员。"), "cover open"
    elif details.get("paper") == "out":
        message, detail = N_("打印机缺纸，请联系工作人员。"), "paper out"
    elif details.get("paper") == "jammed":
        message, detail = N_("打印机卡纸，请联系工作人员。"), "paper jam"
    elif state == DeviceState.HARDWARE_ERROR:
        raise DeviceError(
            Completion.HARDWARE_ERROR,
            N_("打印机故障，请联系工作人员。"),
            detail=f"printer error: {details.get('error')}",
            action=Action.MAINTENANCE,
        )
    else:
        message, detail = N_("打印机暂时无法使用，请联系工作人员。"), f"queue {details.get('error')}"
    raise DeviceError(Completion.DEVICE_NOT_READY, message, detail=detail, action=action)


def _base(reason: str) -> str:
    for suffix in ("-error", "-warning", "-report"):
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    return reason


def _parse_url(url: str) -> tuple[str, str | None]:
    """The queue and the server the URL names (`?server=host:port` or a socket path), if any."""
    parts = urlsplit(url)
    queue = unquote(parts.netloc)
    bad_name = not queue or any(c.isspace() or c in "/#?" for c in queue)
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        query = {"": []}
    servers = query.pop("server", [None])
    bad_query = bool(query) or len(servers) != 1 or servers[0] == ""
    if parts.scheme != "cups" or bad_name or parts.path not in ("", "/") or bad_query:
        raise DeviceError(
            Completion.UNSUPPORTED,
            N_("打印机配置有误，请联系工作人员。"),
            detail=f"not a cups://QUEUE[?server=HOST:PORT] url: {url!r}",
            action=Action.MAINTENANCE,
        )
    return queue, servers[0]


def _job_number(job_id: str, queue: str) -> int:
    prefix, _, number = job_id.rpartition("-")
    if prefix != queue or not number.isdigit():
        raise DeviceError(
            Completion.INVALID_DATA,
            N_("打印任务有误，请联系工作人员。"),
            detail=f"not a job of {queue}: {job_id!r}",
            action=Action.MAINTENANCE,
        )
    return int(number)


def _default_server() -> str:
    return DEFAULT_SOCKET if os.path.exists(DEFAULT_SOCKET) else "localhost:631"
