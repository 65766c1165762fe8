"""A simulated IPP printer on a real TCP socket: the A4 driver prints to it exactly as to cupsd.

It answers what devices/printer/a4.py asks (Print-Job with application/pdf, Get-Job-Attributes,
Get-Printer-Attributes, Cancel-Job) for one queue at `http://127.0.0.1:PORT/printers/QUEUE`, with the
encoder and decoder of ipp.py. Each printed job is written to `out_dir` as `a4-NNN.pdf`, byte for
byte what the driver sent, and rendered to `a4-NNN-pM.png` when pypdfium2 is installed (screenshots,
demo artifacts). Numbering goes on after the files already there, so nothing is overwritten.

Faults, settable at any time from tests and the demo, reported as cupsd reports them for a queue
with printer-error-policy=stop-printer (compare tests/devices/test_a4_printer.py):

- `paper = "out" | "jammed" | "low"`: media-empty-error / media-jam-error / media-low-warning;
- `cover_open = True`: door-open-error;
- `online = False`: the queue is stopped ("paused"), as after `cupsdisable`;
- `accepting = False`: Print-Job is refused, as after `cupsreject`;
- `job_delay_s = S`: each job stays "processing" S seconds (a slow printer; 0 = at once);
- `fail_next_job = "media-empty" | "media-jam" | "door-open"`: one-shot: the next job to start
  printing stops there, the printer takes that fault (paper out / jammed / cover open) and the job
  is left "processing-stopped" with nothing written, as when a printer runs out mid-job.

An error stops the printer (printer-state stopped) and jobs wait until it is cleared (`paper = "ok"`,
`cover_open = False`, `online = True`); unlike cupsd the queue then restarts by itself, so a demo
operator needs no `cupsenable`. `stop()` and `start(port)` take the printer away and bring it back.
"""

from __future__ import annotations

import http.server
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from devices.printer import ipp

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "kioskA4"
RENDER_DPI = 100  # A4 at 100 dpi is 827 × 1169 px: enough to read a certificate in a screenshot
_POLL_S = 0.1  # how often the job thread looks at faults set from outside (plain attributes)
_MAX_BODY = 64 * 1024 * 1024

# RFC 8011 job-state and printer-state enums
PENDING, PENDING_HELD, PROCESSING, PROCESSING_STOPPED, CANCELED, ABORTED, COMPLETED = 3, 4, 5, 6, 7, 8, 9
IDLE, BUSY, STOPPED = 3, 4, 5
_ACTIVE = (PENDING, PENDING_HELD, PROCESSING, PROCESSING_STOPPED)
_JOB_REASONS = {
    PENDING: "none",
    PROCESSING: "job-printing",
    PROCESSING_STOPPED: "printer-stopped",
    CANCELED: "job-canceled-by-user",
    ABORTED: "document-format-error",
    COMPLETED: "job-completed-successfully",
}
_STATE_NAMES = {
    PENDING: "pending",
    PENDING_HELD: "pending-held",
    PROCESSING: "processing",
    PROCESSING_STOPPED: "processing-stopped",
    CANCELED: "canceled",
    ABORTED: "aborted",
    COMPLETED: "completed",
}
_FORMATS = ["application/pdf", "application/octet-stream"]
_VERSIONS = ((1, 0), (1, 1), (2, 0))  # the message format is the same; answer in the client's version
_NUMBER = re.compile(r"a4-(\d+)\.pdf$")
_OPERATIONS = {  # what A4Printer uses, and the method answering it
    ipp.PRINT_JOB: "_print_job",
    ipp.CANCEL_JOB: "_cancel_job",
    ipp.GET_JOB_ATTRIBUTES: "_get_job_attributes",
    ipp.GET_PRINTER_ATTRIBUTES: "_get_printer_attributes",
}
_render_lock = threading.Lock()  # PDFium is not thread-safe; several simulators may share a process

Fault = Literal["media-empty", "media-jam", "door-open"]


@dataclass
class A4Job:
    id: int
    name: str
    user: str
    data: bytes  # the document exactly as received
    state: int = PENDING
    pdf_path: Path | None = None  # set once printed
    png_paths: list[Path] = field(default_factory=list)

    @property
    def state_name(self) -> str:
        """As a4.py names it: "completed", "processing-stopped", …"""
        return _STATE_NAMES[self.state]


class IppPrinterSimulator:
    """One simulated IPP printer queue; `start()` serves it on 127.0.0.1 and returns the port."""

    def __init__(
        self, out_dir: Path, *, queue: str = DEFAULT_QUEUE, job_delay_s: float = 0.0, render: bool = True
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.queue = queue
        self.render = render
        # Settable state (see the module docstring).
        self.paper: Literal["ok", "low", "out", "jammed"] = "ok"
        self.cover_open = False
        self.online = True
        self.accepting = True
        self.job_delay_s = job_delay_s
        self.fail_next_job: Fault | None = None

        self.jobs: list[A4Job] = []  # every job received, in order, whatever became of it
        self.port: int | None = None
        self._by_id: dict[int, A4Job] = {}
        self._changed = threading.Condition()
        self._returned = 0  # jobs handed out by wait_for_job
        self._next_id = 1 + max(
            (int(m.group(1)) for p in self.out_dir.glob("a4-*.pdf") if (m := _NUMBER.match(p.name))),
            default=0,
        )
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # -- running ----------------------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The address as A4Printer's `server` takes it: 127.0.0.1:PORT."""
        if self.port is None:
            raise RuntimeError("the IPP simulator is not started")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The device URL A4Printer opens."""
        return f"cups://{self.queue}?server={self.server}"

    @property
    def printer_uri(self) -> str:
        return f"ipp://{self.server}/printers/{self.queue}"

    def start(self, port: int | None = None) -> int:
        """Serve on 127.0.0.1:`port` and return it. By default the port it had before stop() (so the
        driver's URL works again: a printer switched back on), else any free one."""
        if self._server is not None:
            return self.port or 0
        self._stop.clear()
        self._server = _Server(("127.0.0.1", (self.port or 0) if port is None else port), _Handler, self)
        self.port = self._server.server_address[1]
        for target, name in ((self._server.serve_forever, "ipp-sim-http"), (self._work, "ipp-sim-jobs")):
            kwargs = {"poll_interval": _POLL_S} if name == "ipp-sim-http" else {}
            thread = threading.Thread(target=target, kwargs=kwargs, daemon=True, name=name)
            thread.start()
            self._threads.append(thread)
        log.info("IPP printer simulator on %s (queue %s)", self.server, self.queue)
        return self.port

    def stop(self) -> None:
        """Close the socket (the driver then sees the printer gone); jobs and settings stay."""
        server, self._server = self._server, None
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> IppPrinterSimulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def wait_for_job(self, timeout: float = 10.0) -> A4Job:
        """The next job (not yet returned here) that has finished: completed, canceled or aborted."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: len(self.jobs) > self._returned and self.jobs[self._returned].state not in _ACTIVE,
                timeout,
            ):
                raise TimeoutError(f"no finished A4 job within {timeout} s")
            self._returned += 1
            return self.jobs[self._returned - 1]

    def wait_until(self, job_id: int, states: tuple[int, ...], timeout: float = 10.0) -> A4Job:
        """Wait until job `job_id` is in one of `states` (tests: see a job canceled without sleeping)."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: job_id in self._by_id and self._by_id[job_id].state in states, timeout
            ):
                raise TimeoutError(f"job {job_id} not in {states} within {timeout} s")
            return self._by_id[job_id]

    # -- printer state ----------------------------------------------------------------------------

    def reasons(self) -> list[str]:
        reasons = []
        if self.paper == "out":
            reasons.append("media-empty-error")
        elif self.paper == "jammed":
            reasons.append("media-jam-error")
        elif self.paper == "low":
            reasons.append("media-low-warning")
        if self.cover_open:
            reasons.append("door-open-error")
        if not self.online:
            reasons.append("paused")
        return reasons or ["none"]

    def _ready(self) -> bool:
        return self.online and not self.cover_open and self.paper not in ("out", "jammed")

    def _printer_state(self) -> int:
        if not self._ready():
            return STOPPED
        return BUSY if any(j.state == PROCESSING for j in self.jobs) else IDLE

    def _take_fault(self, fault: Fault) -> None:
        if fault == "media-empty":
            self.paper = "out"
        elif fault == "media-jam":
            self.paper = "jammed"
        else:
            self.cover_open = True

    # -- the job thread ---------------------------------------------------------------------------

    def _work(self) -> None:
        """Prints queued jobs one at a time while the printer is ready."""
        while not self._stop.is_set():
            with self._changed:
                job = next((j for j in self.jobs if j.state in (PENDING, PROCESSING_STOPPED)), None)
                if job is None or not self._ready():
                    self._changed.wait(_POLL_S)  # also a poll: faults are plain attributes
                    continue
                job.state = PROCESSING
                self._changed.notify_all()
                fault, self.fail_next_job = self.fail_next_job, None
                if fault is not None:
                    self._take_fault(fault)
                    job.state = PROCESSING_STOPPED
                    log.warning("IPP simulator: job %d stopped (%s)", job.id, fault)
                    self._changed.notify_all()
                    continue
                if not self._print_time_passes(job):
                    continue
            pdf, pngs = self._output(job)  # outside the lock: rendering takes a moment
            with self._changed:
                if job.state == PROCESSING:
                    job.pdf_path, job.png_paths, job.state = pdf, pngs, COMPLETED
                    log.info("IPP simulator: job %d printed (%d bytes)", job.id, len(job.data))
                else:  # canceled while it was being written
                    for path in (pdf, *pngs):
                        path.unlink(missing_ok=True)
                self._changed.notify_all()

    def _print_time_passes(self, job: A4Job) -> bool:
        """Hold the job `job_delay_s` (lock held, released while waiting); False if it was canceled,
        stopped by a fault meanwhile, or the simulator is stopping."""
        deadline = time.monotonic() + self.job_delay_s
        while job.state == PROCESSING and not self._stop.is_set():
            if not self._ready():
                job.state = PROCESSING_STOPPED
                self._changed.notify_all()
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            self._changed.wait(min(remaining, _POLL_S))
        if job.state == PROCESSING:  # switched off mid-job: it prints again once back, as cupsd retries
            job.state = PENDING
        return False

    def _output(self, job: A4Job) -> tuple[Path, list[Path]]:
        pdf = self.out_dir / f"a4-{job.id:03d}.pdf"
        pdf.write_bytes(job.data)
        return pdf, self._render(job) if self.render else []

    def _render(self, job: A4Job) -> list[Path]:
        try:
            import pypdfium2
        except ImportError:  # the PDF is the record; the PNGs are only for screenshots
            log.info("IPP simulator: pypdfium2 not installed, job %d not rendered", job.id)
            return []
        paths = []
        try:
            with _render_lock:
                document = pypdfium2.PdfDocument(job.data)
                try:
                    for number, page in enumerate(document, 1):
                        path = self.out_dir / f"a4-{job.id:03d}-p{number}.png"
                        page.render(scale=RENDER_DPI / 72).to_pil().save(path)
                        paths.append(path)
                finally:
                    document.close()
        except (pypdfium2.PdfiumError, OSError, ValueError) as exc:
            log.warning("IPP simulator: job %d not rendered: %s", job.id, exc)
        return paths

    # -- IPP operations ---------------------------------------------------------------------------

    def handle(self, path: str, body: bytes) -> bytes:
        """Answer one IPP request body posted to `path`."""
        try:
            request = ipp.decode_request(body)
        except ipp.IppError as exc:
            return ipp.encode_response(ipp.STATUS_BAD_REQUEST, 0, [_op(str(exc))])
        rid = request.request_id
        if request.version not in _VERSIONS:
            return ipp.encode_response(ipp.STATUS_VERSION_NOT_SUPPORTED, rid, [_op()])
        target = str(request.first("printer-uri", ""))
        name = _OPERATIONS.get(request.operation)
        if path.rstrip("/") != f"/printers/{self.queue}" or not target.endswith(f"/printers/{self.queue}"):
            status, groups = ipp.STATUS_NOT_FOUND, [_op("no such printer")]
        elif name is None:
            status, groups = ipp.STATUS_OPERATION_NOT_SUPPORTED, [_op()]
        else:
            with self._changed:
                status, groups = getattr(self, name)(request)
                self._changed.notify_all()
        return ipp.encode_response(status, rid, groups, request.version)

    def _print_job(self, request: ipp.Request) -> tuple[int, list[tuple[int, list[ipp.Attribute]]]]:
        document_format = request.first("document-format", "application/octet-stream")
        if document_format not in _FORMATS:
            return ipp.STATUS_DOCUMENT_FORMAT_NOT_SUPPORTED, [_op(f"{document_format} not supported")]
        if not self.accepting:
            return ipp.STATUS_NOT_ACCEPTING_JOBS, [_op("not accepting jobs")]
        job = A4Job(
            self._next_id,
            str(request.first("job-name", "")),
            str(request.first("requesting-user-name", "")),
            request.data,
        )
        self._next_id += 1
        if not job.data.startswith(b"%PDF-"):  # a real printer cannot interpret it either
            job.state = ABORTED
        self.jobs.append(job)
        self._by_id[job.id] = job
        return ipp.STATUS_OK, [_op(), (ipp.JOB_GROUP, self._job_attributes(job))]

    def _get_job_attributes(self, request: ipp.Request) -> tuple[int, list[tuple[int, list[ipp.Attribute]]]]:
        job = self._by_id.get(request.first("job-id"))
        if job is None:
            return ipp.STATUS_NOT_FOUND, [_op("no such job")]
        attrs = _requested(self._job_attributes(job), request)
        return ipp.STATUS_OK, [_op(), (ipp.JOB_GROUP, attrs)]

    def _cancel_job(self, request: ipp.Request) -> tuple[int, list[tuple[int, list[ipp.Attribute]]]]:
        job = self._by_id.get(request.first("job-id"))
        if job is None:
            return ipp.STATUS_NOT_FOUND, [_op("no such job")]
        if job.state not in _ACTIVE:
            return ipp.STATUS_NOT_POSSIBLE, [_op(f"job is already {job.state_name}")]
        job.state = CANCELED
        log.info("IPP simulator: job %d canceled", job.id)
        return ipp.STATUS_OK, [_op()]

    def _get_printer_attributes(
        self, request: ipp.Request
    ) -> tuple[int, list[tuple[int, list[ipp.Attribute]]]]:
        attrs = [
            ipp.uri("printer-uri-supported", self.printer_uri),
            ipp.name("printer-name", self.queue),
            ipp.text("printer-make-and-model", "Kiosk IPP simulator"),
            ipp.enum("printer-state", self._printer_state()),
            ipp.keywords("printer-state-reasons", self.reasons()),
            ipp.boolean("printer-is-accepting-jobs", self.accepting),
            ipp.integer("queued-job-count", sum(1 for j in self.jobs if j.state in _ACTIVE)),
            ipp.mime("document-format-supported", _FORMATS),
            ipp.enum("operations-supported", list(_OPERATIONS)),
        ]
        return ipp.STATUS_OK, [_op(), (ipp.PRINTER_GROUP, _requested(attrs, request))]

    def _job_attributes(self, job: A4Job) -> list[ipp.Attribute]:
        return [
            ipp.integer("job-id", job.id),
            ipp.uri("job-uri", f"ipp://{self.server}/jobs/{job.id}"),
            ipp.uri("job-printer-uri", self.printer_uri),
            ipp.enum("job-state", job.state),
            ipp.keywords("job-state-reasons", [_JOB_REASONS.get(job.state, "none")]),
            ipp.name("job-name", job.name or f"job {job.id}"),
            ipp.name("job-originating-user-name", job.user or "anonymous"),
        ]


def _op(message: str | None = None) -> tuple[int, list[ipp.Attribute]]:
    return (ipp.OPERATION_GROUP, ipp.response_attributes(message))


def _requested(attrs: list[ipp.Attribute], request: ipp.Request) -> list[ipp.Attribute]:
    wanted = set(request.all("requested-attributes"))
    if not wanted or "all" in wanted:
        return attrs
    return [a for a in attrs if a[1] in wanted]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a client left hanging must not keep stop() waiting

    def __init__(self, address: tuple[str, int], handler: type[_Handler], sim: IppPrinterSimulator) -> None:
        super().__init__(address, handler)
        self.sim = sim


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10  # a silent client gives up its thread
    error_message_format = "%(code)d %(message)s\n"

    def do_POST(self) -> None:
        if self.headers.get_content_type() != "application/ipp":
            self.send_error(400, "expected application/ipp")
            return
        body = self._body()
        if body is None:
            return
        reply = self.server.sim.handle(self.path.split("?")[0], body)
        self.send_response(200)
        self.send_header("Content-Type", "application/ipp")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def _body(self) -> bytes | None:
        # CUPS clients (lp, ipptool) send chunked bodies; http.client sends a Content-Length.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                try:
                    size = int(self.rfile.readline(100).split(b";")[0].strip(), 16)
                except ValueError:
                    self.send_error(400, "bad chunk size")
                    return None
                if size == 0:
                    while self.rfile.readline(1000) not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    self.send_error(413)
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(10)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.send_error(411)
            return None
        if int(length) > _MAX_BODY:
            self.send_error(413)
            return None
        return self.rfile.read(int(length))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("IPP simulator %s: " + format, self.client_address[0], *args)
