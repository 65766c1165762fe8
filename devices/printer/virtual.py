"""A virtual ESC/POS receipt printer on a real transport (TCP socket or pty) that renders jobs to PNG.

The driver under test talks to it exactly as to a real printer; tests and the demo flip its state
(paper low/out, cover open, offline, silent) to inject faults.

Running out of paper mid-job: set `paper_out_after_lines = N` (the roll has N text lines left).
When a job reaches text line N+1 the printer switches `paper` to "out" at once (so DLE EOT reports
paper out from then on, even while the rest of the job is still arriving) and drops the rest of the
job: the job is recorded with `error = "paper_out"`, `lines` = the N lines that did come out, and no
PNG (`png_path` None). The setting is one-shot: it goes back to None when it fires, and the roll is
"replaced" by setting `paper = "full"` again. A job sent while paper is already out is refused whole
(`error = "paper out"`), as before.
"""

from __future__ import annotations

import logging
import os
import re
import select
import socket
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from devices.printer.document import columns
from devices.printer.sim_parser import Block, QrBlock, StreamParser, TextLine
from devices.printer.sim_render import Renderer

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often the serving threads look at the stop flag
_ERROR_BITS = {"mechanical": 0x04, "cutter": 0x08, "unrecoverable": 0x20, "overheat": 0x40}


@dataclass
class Job:
    png_path: Path | None  # None when the job was not printed (see error)
    lines: list[str]
    qr_data: list[str]
    raw: bytes
    error: str | None = None


class VirtualEscposPrinter:
    def __init__(self, render_dir: Path, *, paper_mm: int = 80, font_path: str | None = None) -> None:
        self.render_dir = Path(render_dir)
        self.render_dir.mkdir(parents=True, exist_ok=True)
        # Settable state, answered through DLE EOT.
        self.paper: Literal["full", "low", "out"] = "full"
        self.cover_open = False
        self.online = True
        self.silent = False  # answers no status query at all
        self.error: Literal["mechanical", "cutter", "unrecoverable", "overheat"] | None = None
        self.paper_out_after_lines: int | None = None  # run out after this many text lines of a job

        self.jobs: list[Job] = []
        self.errors: list[str] = []
        self.job_ready = threading.Event()
        self._jobs_changed = threading.Condition()
        self._taken = 0
        self._renderer = Renderer(columns(paper_mm) * 12, font_path)
        self._parser = StreamParser(self._status_byte, self._on_job, on_line=self._on_line)
        self._job_lines = 0  # text lines of the job being parsed
        self._ran_out_after: int | None = None  # the job being parsed ran out after this many lines
        self._parser_lock = threading.Lock()  # the TCP and pty threads share one printer
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_number = 1 + max(
            (int(m.group(1)) for p in self.render_dir.glob("receipt-*.png") if (m := _NUMBER.match(p.name))),
            default=0,
        )

    # -- transports -------------------------------------------------------------------------------

    def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve ESC/POS on TCP (one client at a time); return the bound port."""
        server = socket.create_server((host, port))
        server.settimeout(_POLL_S)
        self._spawn(self._serve_tcp, server)
        return server.getsockname()[1]

    def start_pty(self) -> str:
        """Serve ESC/POS on a pseudo-terminal; return the slave path to open as a serial port."""
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation: bytes pass as on a real serial line
        path = os.ttyname(slave)
        self._spawn(self._serve_pty, master, slave)
        return path

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()

    def __enter__(self) -> VirtualEscposPrinter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def wait_for_job(self, timeout: float = 5.0) -> Job:
        """Return the next job not yet returned here; TimeoutError if none arrives in time."""
        with self._jobs_changed:
            if not self._jobs_changed.wait_for(lambda: len(self.jobs) > self._taken, timeout):
                raise TimeoutError(f"no print job within {timeout} s")
            self._taken += 1
            return self.jobs[self._taken - 1]

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        if not self._threads:
            self._stop.clear()  # allow serving again after stop()
        thread = threading.Thread(target=target, args=args, daemon=True, name="virtual-escpos")
        thread.start()
        self._threads.append(thread)

    def _serve_tcp(self, server: socket.socket) -> None:
        with server:
            while not self._stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                with conn:
                    self._serve_connection(conn)

    def _serve_connection(self, conn: socket.socket) -> None:
        conn.settimeout(_POLL_S)
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
                if not data:
                    return  # client gone: go back to accepting
                reply = self._receive(data)
                if reply:
                    conn.sendall(reply)
            except TimeoutError:
                continue
            except OSError:
                return

    def _serve_pty(self, master: int, slave: int) -> None:
        # Keeping our own slave fd open stops reads on the master failing (EIO) between clients.
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([master], [], [], _POLL_S)
                if not ready:
                    continue
                try:
                    data = os.read(master, 65536)
                except OSError:
                    continue
                reply = self._receive(data)
                if reply:
                    os.write(master, reply)
        finally:
            os.close(master)
            os.close(slave)

    # -- the printer ------------------------------------------------------------------------------

    def _receive(self, data: bytes) -> bytes:
        with self._parser_lock:
            return self._parser.feed(data)

    def _status_byte(self, n: int) -> int | None:
        if self.silent:
            return None
        out = self.paper == "out"
        if n == 1:
            offline = not self.online or self.cover_open or out or self.error is not None
            return 0x12 | (0x08 if offline else 0)
        if n == 2:
            return (
                0x12 | (0x04 if self.cover_open else 0) | (0x20 if out else 0) | (0x40 if self.error else 0)
            )
        if n == 3:
            return 0x12 | _ERROR_BITS.get(self.error or "", 0)
        if n == 4:
            return 0x12 | (0x0C if self.paper in ("low", "out") else 0) | (0x60 if out else 0)
        return None

    def _on_line(self, line: TextLine) -> None:
        self._job_lines += 1
        limit = self.paper_out_after_lines
        if limit is None or self._ran_out_after is not None or self.paper == "out":
            return
        if self._job_lines > limit:  # this line no longer fits on the roll
            self.paper = "out"
            self.paper_out_after_lines = None
            self._ran_out_after = limit
            log.warning("virtual printer: paper ran out after %d lines of a job", limit)

    def _on_job(self, blocks: list[Block], raw: bytes) -> None:
        ran_out_after, self._ran_out_after, self._job_lines = self._ran_out_after, None, 0
        if ran_out_after is not None:
            blocks = _before_line(blocks, ran_out_after)  # what came out before the paper ran out
        lines = [b.text for b in blocks if isinstance(b, TextLine)]
        qr_data = [b.data.decode("utf-8", errors="replace") for b in blocks if isinstance(b, QrBlock)]
        # A job that ran out is dropped from there on: recorded with error "paper_out" and no PNG.
        job = Job(
            None, lines, qr_data, raw, error="paper_out" if ran_out_after is not None else self._refusal()
        )
        if job.error is None:
            png_path = self.render_dir / f"receipt-{self._next_number:03d}.png"
            try:
                self._renderer.render(blocks, png_path)
                job.png_path = png_path
                self._next_number += 1
            except (OSError, ValueError) as exc:
                job.error = f"render failed: {exc}"
        if job.error:
            self.errors.append(job.error)
            log.warning("virtual printer: job not printed (%s)", job.error)
        with self._jobs_changed:
            self.jobs.append(job)
            self._jobs_changed.notify_all()
        self.job_ready.set()

    def _refusal(self) -> str | None:
        if self.paper == "out":
            return "paper out"
        if self.cover_open:
            return "cover open"
        if not self.online:
            return "offline"
        if self.error in ("mechanical", "cutter", "unrecoverable"):
            return f"{self.error} error"
        return None


_NUMBER = re.compile(r"receipt-(\d+)\.png$")


def _before_line(blocks: list[Block], n: int) -> list[Block]:
    """The blocks before the (n+1)-th text line."""
    seen = 0
    for i, block in enumerate(blocks):
        if isinstance(block, TextLine):
            if seen == n:
                return blocks[:i]
            seen += 1
    return blocks
