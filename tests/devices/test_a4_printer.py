"""The A4 driver against a real cupsd started in a temp dir, with a file-writing test backend.

Needs the Debian packages cups-daemon and cups-client (lpadmin, cupsdisable); skipped without cupsd.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from devices.base import Action, Completion, DeviceError, DeviceState
from devices.printer.a4 import A4Printer, interpret
from devices.printer.ipp import IppError, _decode

CUPSD = shutil.which("cupsd") or ("/usr/sbin/cupsd" if os.path.exists("/usr/sbin/cupsd") else None)
needs_cupsd = pytest.mark.skipif(
    CUPSD is None or shutil.which("lpadmin") is None,
    reason="cupsd/lpadmin not installed (apt-get install cups-daemon cups-client)",
)
QUEUE = "kioskA4"

# A backend that copies the job to the path in its device URI, or fails as a real printer would
# when a "<path>.fault" file names a printer-state-reason (media-empty-error, media-jam-error, ...).
BACKEND = """#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct kiosktest "Unknown" "Kiosk test backend"'; exit 0; fi
out="${DEVICE_URI#kiosktest://}"
if [ -f "$out.fault" ]; then
  echo "STATE: +$(cat "$out.fault")" >&2
  echo "ERROR: injected fault" >&2
  exit 4
fi
if [ -f "$out.delay" ]; then sleep "$(cat "$out.delay")"; fi
if [ $# -ge 6 ]; then cat "$6" > "$out.tmp"; else cat > "$out.tmp"; fi
mv "$out.tmp" "$out"
exit 0
"""

CUPSD_CONF = """LogLevel warn
Listen 127.0.0.1:{port}
Listen {root}/cups.sock
WebInterface No
Browsing No
DefaultAuthType None
MaxJobTime 0
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order allow,deny
    Allow all
  </Limit>
</Policy>
"""

FILES_CONF = """FileDevice Yes
ServerRoot {root}
ServerBin {root}/bin
RequestRoot {root}/spool
CacheDir {root}/cache
StateDir {root}/state
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
SystemGroup root
"""


@dataclass
class Cups:
    root: Path
    server: str  # host:port
    socket: str
    out: Path
    proc: subprocess.Popen[bytes]

    def admin(self, *args: str) -> None:
        subprocess.run((*args[:1], "-h", self.server, *args[1:]), check=True, timeout=20, capture_output=True)

    def fault(self, reason: str | None) -> None:
        path = Path(f"{self.out}.fault")
        if reason is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (root / "log" / "error_log").read_text(errors="replace") if (root / "log").exists() else ""
            pytest.fail(f"cupsd exited ({proc.returncode}): {log[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("cupsd did not start listening")


@pytest.fixture
def cups(tmp_path: Path) -> Iterator[Cups]:
    assert CUPSD is not None
    root = tmp_path / "cups"
    for sub in ("spool", "cache", "state", "log", "bin/backend"):
        (root / sub).mkdir(parents=True)
    for sub in ("daemon", "filter", "notifier"):
        if Path("/usr/lib/cups", sub).exists():
            (root / "bin" / sub).symlink_to(Path("/usr/lib/cups", sub))
    backend = root / "bin" / "backend" / "kiosktest"
    backend.write_text(BACKEND)
    backend.chmod(0o700)  # 0700: cupsd runs it as root, so it may write into the 0700 temp dir
    port = free_port()
    (root / "cupsd.conf").write_text(CUPSD_CONF.format(port=port, root=root))
    (root / "cups-files.conf").write_text(FILES_CONF.format(root=root))
    proc = subprocess.Popen(
        [CUPSD, "-f", "-c", str(root / "cupsd.conf"), "-s", str(root / "cups-files.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc, root)
        env = Cups(root, f"127.0.0.1:{port}", str(root / "cups.sock"), tmp_path / "out.pdf", proc)
        env.admin("lpadmin", "-p", QUEUE, "-E", "-v", f"kiosktest://{env.out}", "-m", "raw")
        # Keep the job and stop the queue on a backend error, as a kiosk queue should.
        env.admin("lpadmin", "-p", QUEUE, "-o", "printer-error-policy=stop-printer")
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_pdf() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(buf, "PDF")
    return buf.getvalue()


def printer(cups: Cups, **kw: object) -> A4Printer:
    return A4Printer(f"cups://{QUEUE}", server=cups.server, timeout_s=20, **kw)  # type: ignore[arg-type]


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@needs_cupsd
def test_prints_a_pdf_to_the_queue(cups: Cups) -> None:
    pdf = make_pdf()
    with printer(cups) as p:
        p.open()
        job = p.print_pdf(pdf, "社保参保证明")
        assert job.startswith(f"{QUEUE}-")
        p.wait_job(job, 20)
    assert cups.out.read_bytes() == pdf


@needs_cupsd
def test_unix_socket_server(cups: Cups) -> None:
    p = A4Printer(f"cups://{QUEUE}", server=cups.socket, timeout_s=20)
    p.wait_job(p.print_pdf(make_pdf(), "t"), 20)
    assert cups.out.read_bytes().startswith(b"%PDF")


@needs_cupsd
def test_idle_queue_is_online(cups: Cups) -> None:
    st = printer(cups).status()
    assert st.kind == "a4_printer"
    assert st.state == DeviceState.ONLINE
    assert st.action is None
    assert st.details["queue"] == "idle"
    assert st.details["accepting"] is True
    assert st.details["jobs"] == 0
    assert st.details["paper"] == "ok"
    assert st.details["cover_open"] is False


@needs_cupsd
def test_stopped_queue_is_reported_and_refuses_jobs(cups: Cups) -> None:
    cups.admin("cupsdisable", QUEUE)
    p = printer(cups)
    st = p.status()
    assert st.details["queue"] == "stopped"
    assert st.state == DeviceState.OFFLINE
    assert st.action == Action.MAINTENANCE
    with pytest.raises(DeviceError) as err:
        p.print_pdf(make_pdf(), "t")
    assert err.value.completion == Completion.DEVICE_NOT_READY
    assert not cups.out.exists()


@needs_cupsd
def test_queue_not_accepting_refuses_jobs(cups: Cups) -> None:
    cups.admin("cupsreject", QUEUE)
    p = printer(cups)
    assert p.status().details["accepting"] is False
    with pytest.raises(DeviceError):
        p.print_pdf(make_pdf(), "t")


@needs_cupsd
@pytest.mark.parametrize(
    ("reason", "paper", "cover"),
    [
        ("media-empty-error", "out", False),
        ("media-jam-error", "jammed", False),
        ("door-open-error", "ok", True),
    ],
)
def test_printer_faults_need_staff_and_fail_the_job(cups: Cups, reason: str, paper: str, cover: bool) -> None:
    cups.fault(reason)
    p = printer(cups)
    job = p.print_pdf(make_pdf(), "t")
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 20)
    assert err.value.action == Action.CLEAR
    st = p.status()
    assert reason in st.details["reasons"]
    assert st.state == DeviceState.USER_ERROR
    assert st.action == Action.CLEAR
    assert st.details["paper"] == paper
    assert st.details["cover_open"] is cover
    assert st.details["queue"] == "stopped"
    # The failed job was canceled, so it cannot come out after the citizen has left.
    assert st.details["jobs"] == 0
    with pytest.raises(DeviceError):
        p.print_pdf(make_pdf(), "t")


@needs_cupsd
def test_wait_job_times_out_and_cancels_the_job(cups: Cups) -> None:
    Path(f"{cups.out}.delay").write_text("5")
    p = printer(cups)
    job = p.print_pdf(make_pdf(), "t")
    start = time.monotonic()
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 0.5)
    assert err.value.completion == Completion.TIMEOUT
    assert time.monotonic() - start < 5
    wait_for(lambda: p.status().details["jobs"] == 0)


@needs_cupsd
def test_wait_job_can_be_cancelled(cups: Cups) -> None:
    Path(f"{cups.out}.delay").write_text("5")
    p = printer(cups)
    job = p.print_pdf(make_pdf(), "t")
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 20, stop)
    assert err.value.completion == Completion.CANCELED


@needs_cupsd
def test_job_canceled_elsewhere_is_an_error(cups: Cups) -> None:
    Path(f"{cups.out}.delay").write_text("5")
    p = printer(cups)
    job = p.print_pdf(make_pdf(), "t")
    cups.admin("cancel", job)
    with pytest.raises(DeviceError) as err:
        p.wait_job(job, 10)
    assert err.value.completion == Completion.CANCELED


@needs_cupsd
def test_unknown_queue_is_offline(cups: Cups) -> None:
    p = A4Printer("cups://nosuch", server=cups.server)
    st = p.status()
    assert st.state == DeviceState.OFFLINE
    assert st.action == Action.MAINTENANCE
    with pytest.raises(DeviceError):
        p.open()
    with pytest.raises(DeviceError):
        p.print_pdf(make_pdf(), "t")


@needs_cupsd
def test_unknown_job_is_a_device_error(cups: Cups) -> None:
    with pytest.raises(DeviceError):
        printer(cups).wait_job(f"{QUEUE}-9999", 2)
    with pytest.raises(DeviceError):
        printer(cups).wait_job("other-1", 2)


@needs_cupsd
def test_cupsd_going_away_is_offline(cups: Cups) -> None:
    p = printer(cups)
    assert p.status().state == DeviceState.ONLINE
    cups.proc.terminate()
    cups.proc.wait(10)
    st = p.status()
    assert st.state == DeviceState.OFFLINE
    assert st.details["paper"] == "unknown"
    with pytest.raises(DeviceError):
        p.print_pdf(make_pdf(), "t")


@needs_cupsd
def test_document_contents_never_reach_the_log(cups: Cups, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    p = printer(cups)
    p.wait_job(p.print_pdf(make_pdf(), "张三的证明"), 20)
    assert "张三" not in caplog.text


# -- no cupsd needed ------------------------------------------------------------------------------


def test_cupsd_not_running_is_offline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = A4Printer("cups://kioskA4", server=f"127.0.0.1:{port}", timeout_s=2)
    st = p.status()
    assert st.state == DeviceState.OFFLINE
    assert st.action == Action.MAINTENANCE
    with pytest.raises(DeviceError) as err:
        p.print_pdf(make_pdf(), "t")
    assert err.value.completion == Completion.DEVICE_NOT_READY
    with pytest.raises(DeviceError):
        p.wait_job("kioskA4-1", 1)


def test_missing_socket_is_offline(tmp_path: Path) -> None:
    p = A4Printer("cups://kioskA4", server=str(tmp_path / "nope.sock"), timeout_s=2)
    assert p.status().state == DeviceState.OFFLINE


@pytest.mark.parametrize("bad", ["ipp://x/printers/q", "cups://", "cups://a/b", "kioskA4", "cups://a b"])
def test_bad_urls(bad: str) -> None:
    with pytest.raises(DeviceError) as err:
        A4Printer(bad)
    assert err.value.completion == Completion.UNSUPPORTED


def test_not_a_pdf_is_refused_before_contacting_cups() -> None:
    p = A4Printer("cups://q", server="127.0.0.1:1")
    with pytest.raises(DeviceError) as err:
        p.print_pdf(b"hello", "t")
    assert err.value.completion == Completion.INVALID_DATA


def test_interpret_reasons() -> None:
    base = {"printer-state": 3, "printer-is-accepting-jobs": True, "queued-job-count": 0}
    state, details, action = interpret({**base, "printer-state-reasons": ["none"]})
    assert (state, action, details["paper"]) == (DeviceState.ONLINE, None, "ok")
    state, details, action = interpret({**base, "printer-state-reasons": ["media-low-warning"]})
    assert (state, action, details["paper"]) == (DeviceState.ONLINE, Action.CLEAR, "low")
    state, details, action = interpret({**base, "printer-state-reasons": ["toner-empty-error"]})
    assert (state, action, details["error"]) == (
        DeviceState.HARDWARE_ERROR,
        Action.MAINTENANCE,
        "toner-empty",
    )
    state, details, action = interpret({**base, "printer-state-reasons": ["cover-open"]})
    assert (state, action, details["cover_open"]) == (DeviceState.USER_ERROR, Action.CLEAR, True)
    state, _, _ = interpret({**base, "printer-state-reasons": ["other-warning", "cups-x-report"]})
    assert state == DeviceState.ONLINE
    state, details, _ = interpret({**base, "printer-state": 4, "printer-state-reasons": []})
    assert (state, details["queue"]) == (DeviceState.ONLINE, "processing")


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x02\x00",
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x01\x21\x00\x05ab",
        b"\x02\x00\x00\x00\x00\x00\x00\x01\x21\x00\x00\x00\x00",
    ],
)
def test_malformed_ipp_is_an_ipp_error(payload: bytes) -> None:
    with pytest.raises(IppError):
        _decode(payload)
