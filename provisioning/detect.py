"""`kiosk provision detect`: what is plugged into this terminal, and the `[devices.*]` config it implies.

Serial ports are asked, in this order, the ESC/POS real-time status (DLE EOT 1: harmless to anything else,
a printer answers one status byte) and the SAM reader's status command (`AA AA AA 96 69 00 03 11 FF ED`,
a GA 467 reader answers a framed reply). A port that answers neither is "unknown" (a code scanner, a
modem, nothing). Cameras come from /dev/v4l/by-id (stable across replugs) with the resolutions OpenCV
can set; A4 printers are CUPS queues.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import serial
from serial.tools import list_ports

from devices.base import DeviceError
from devices.idcard import protocol as sam
from devices.printer import status as escpos_status

PRINTER_BAUDS = (9600, 19200, 38400, 115200)  # common receipt printer settings, the factory default first
READER_BAUDS = (115200, 9600)  # README: 115200, some older modules 9600
CAMERA_SIZES = ((640, 480), (1280, 720), (1920, 1080), (2592, 1944), (3264, 2448), (4000, 3000))
BY_ID = Path("/dev/serial/by-id")
V4L_BY_ID = Path("/dev/v4l/by-id")


@dataclass
class SerialFinding:
    port: str  # what was opened
    kind: str  # "idcard", "printer" or "unknown"
    baud: int | None = None
    vid_pid: str | None = None  # "1a86:7523"
    serial_number: str | None = None
    description: str | None = None
    stable_path: str | None = None  # /dev/serial/by-id/… when udev made one
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"serial://{self.stable_path or self.port}?baud={self.baud}"


@dataclass
class CameraFinding:
    path: str
    openable: bool
    sizes: list[tuple[int, int]] = field(default_factory=list)
    error: str | None = None

    @property
    def largest(self) -> tuple[int, int] | None:
        return max(self.sizes, key=lambda s: s[0] * s[1]) if self.sizes else None


@dataclass
class Findings:
    serial: list[SerialFinding] = field(default_factory=list)
    cameras: list[CameraFinding] = field(default_factory=list)
    cups_queues: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "serial": [{**asdict(f), "url": f.url if f.kind != "unknown" else None} for f in self.serial],
            "cameras": [asdict(c) for c in self.cameras],
            "cups_queues": list(self.cups_queues),
            "notes": list(self.notes),
            "devices": proposed_devices(self),
        }


# -- serial ports ----------------------------------------------------------------------------------


def _read_available(ser: serial.SerialBase, want: int, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    data = b""
    while len(data) < want and time.monotonic() < deadline:
        data += ser.read(want - len(data))
    return data


def probe_printer(ser: serial.SerialBase, timeout_s: float) -> dict[str, Any] | None:
    """DLE EOT 1..4 (real-time, never printed); the decoded status when it answers like a printer."""
    replies = []
    for n in escpos_status.QUERIES:
        ser.reset_input_buffer()
        ser.write(escpos_status.DLE_EOT + bytes([n]))
        reply = _read_available(ser, 1, timeout_s)
        if len(reply) != 1 or not escpos_status.is_status_byte(reply[0]):
            return None
        replies.append(reply[0])
    reading = escpos_status.interpret(replies)
    return {"state": reading.state.value, **reading.details}


def probe_reader(ser: serial.SerialBase, timeout_s: float) -> dict[str, Any] | None:
    """SAM status (11 FF); the reader's answer when a valid frame comes back."""
    ser.reset_input_buffer()
    ser.write(sam.build_command(*sam.SAM_STATUS))
    try:
        reply = sam.read_frame(ser.read, timeout_s)
    except DeviceError:
        return None
    return {"sam_ok": reply.sw3 == sam.SW3_OK, "sw3": f"0x{reply.sw3:02X}"}


def probe_port(port: str, *, timeout_s: float = 0.3, bauds: Sequence[int] | None = None) -> SerialFinding:
    """Identify what answers on `port` (a printer first: DLE EOT is harmless to a reader, while a SAM frame
    sent to a printer at the wrong speed could come out as garbage on paper)."""
    finding = SerialFinding(port=port, kind="unknown")
    attempts: list[tuple[str, int]] = [("printer", b) for b in (bauds or PRINTER_BAUDS)]
    attempts += [("idcard", b) for b in (bauds or READER_BAUDS)]
    for kind, baud in attempts:
        try:
            with serial.serial_for_url(port, baudrate=baud, timeout=0.02, write_timeout=1.0) as ser:
                answer = (probe_printer if kind == "printer" else probe_reader)(ser, timeout_s)
        except (OSError, serial.SerialException, ValueError) as exc:
            finding.details = {"error": f"{type(exc).__name__}: {exc}"}
            return finding
        if answer is not None:
            finding.kind, finding.baud, finding.details = kind, baud, answer
            return finding
    return finding


def _by_id_links(directory: Path) -> dict[str, str]:
    """real device path → stable by-id link."""
    links: dict[str, str] = {}
    if directory.is_dir():
        for link in sorted(directory.iterdir()):
            links[os.path.realpath(link)] = str(link)
    return links


def list_serial_ports() -> list[Any]:
    return list(list_ports.comports())


def detect_serial(
    ports: Iterable[str] = (),
    *,
    timeout_s: float = 0.3,
    bauds: Sequence[int] | None = None,
    lister: Callable[[], list[Any]] | None = None,
    by_id: Path = BY_ID,
) -> list[SerialFinding]:
    """Probe the serial ports pyserial lists plus `ports` (a pty is never listed: pass it). pyserial leaves
    out the ttyS stubs with no UART behind them, so a real COM port (a printer on ttyS1) is probed too."""
    links = _by_id_links(by_id)
    infos = {info.device: info for info in (lister or list_serial_ports)()}
    findings = []
    for port in [*infos, *(p for p in ports if p not in infos)]:
        finding = probe_port(port, timeout_s=timeout_s, bauds=bauds)
        info = infos.get(port)
        if info is not None and getattr(info, "vid", None) is not None:
            finding.vid_pid = f"{info.vid:04x}:{info.pid:04x}"
            finding.serial_number = info.serial_number
            finding.description = info.description
        finding.stable_path = links.get(os.path.realpath(port))
        findings.append(finding)
    return findings


# -- cameras and CUPS ------------------------------------------------------------------------------


def probe_camera(path: str, sizes: Sequence[tuple[int, int]] = CAMERA_SIZES) -> CameraFinding:
    """Open with OpenCV (V4L2) and keep the sizes the camera really switches to."""
    import cv2  # only here: detect without cameras need not load OpenCV

    cap = cv2.VideoCapture(path, cv2.CAP_V4L2)
    try:
        if not cap.isOpened():
            return CameraFinding(path, openable=False, error="cannot open (busy, or not a capture node)")
        found: list[tuple[int, int]] = []
        for width, height in sizes:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            got = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            if got == (width, height) and got not in found:
                found.append(got)
        return CameraFinding(path, openable=True, sizes=found)
    finally:
        cap.release()


def detect_cameras(directory: Path = V4L_BY_ID) -> list[CameraFinding]:
    """Capture nodes only (`-video-index0`; index1 is the metadata node of UVC cameras)."""
    if not directory.is_dir():
        return []
    return [probe_camera(str(p)) for p in sorted(directory.glob("*-video-index0"))]


def detect_cups(lpstat: str | None = None) -> tuple[list[str], str | None]:
    """Queue names from `lpstat -e`; (queues, note when CUPS cannot be asked)."""
    lpstat = lpstat or shutil.which("lpstat")
    if lpstat is None:
        return [], "lpstat not installed (apt-get install cups-client): no A4 printer queues listed"
    try:
        out = subprocess.run([lpstat, "-e"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"lpstat failed: {type(exc).__name__}"
    if out.returncode != 0:
        return [], f"lpstat -e: {out.stderr.strip() or 'exit ' + str(out.returncode)} (is cupsd running?)"
    return [line.strip() for line in out.stdout.splitlines() if line.strip()], None


def detect(
    ports: Iterable[str] = (),
    *,
    timeout_s: float = 0.3,
    bauds: Sequence[int] | None = None,
    v4l_dir: Path = V4L_BY_ID,
    lpstat: str | None = None,
    lister: Callable[[], list[Any]] | None = None,
    by_id: Path = BY_ID,
) -> Findings:
    findings = Findings(
        serial=detect_serial(ports, timeout_s=timeout_s, bauds=bauds, lister=lister, by_id=by_id),
        cameras=detect_cameras(v4l_dir),
    )
    findings.cups_queues, note = detect_cups(lpstat)
    if note:
        findings.notes.append(note)
    return findings


# -- the proposal ----------------------------------------------------------------------------------


def proposed_devices(findings: Findings) -> dict[str, dict[str, Any]]:
    """`[devices.*]` for what was found: the first reader and printer, the face camera (the first that
    opens) and a document camera (the highest-resolution other one), the first CUPS queue."""
    devices: dict[str, dict[str, Any]] = {}
    for f in findings.serial:
        if f.kind == "idcard" and "idcard" not in devices:
            devices["idcard"] = {"url": f.url}
        elif f.kind == "printer" and "printer" not in devices:
            devices["printer"] = {"url": f.url, "paper_mm": 80}
    cameras = [c for c in findings.cameras if c.openable]
    if cameras:
        devices["face_camera"] = {"url": f"v4l2://{cameras[0].path}", "width": 640, "height": 480}
        others = sorted(cameras[1:], key=lambda c: -(c.largest or (0, 0))[0] * (c.largest or (0, 0))[1])
        if others:
            width, height = others[0].largest or (1920, 1080)
            devices["document_camera"] = {"url": f"v4l2://{others[0].path}", "width": width, "height": height}
    if findings.cups_queues:
        devices["a4_printer"] = {"url": f"cups://{findings.cups_queues[0]}"}
    return devices


def proposal_toml(findings: Findings) -> str:
    from provisioning.configure import render_toml

    devices = proposed_devices(findings)
    if not devices:
        return "# nothing identified: no [devices.*] to propose\n"
    return render_toml(
        {"devices": devices},
        header="Proposed by `kiosk provision detect`: pass to configure as --device NAME=URL",
    )


def report_lines(findings: Findings) -> list[str]:
    lines = ["serial ports:"]
    for f in findings.serial or []:
        ids = " ".join(x for x in (f.vid_pid, f.description) if x)
        what = f"{f.kind} at {f.baud} bps" if f.kind != "unknown" else "unknown (no printer or SAM reply)"
        lines.append(f"  {f.port:<28} {what}  {ids}  {f.details or ''}".rstrip())
    if not findings.serial:
        lines.append("  none (pass --port PATH for ports pyserial does not list)")
    lines.append("cameras:")
    for c in findings.cameras:
        sizes = ", ".join(f"{w}x{h}" for w, h in c.sizes) if c.openable else c.error
        lines.append(f"  {c.path}  {sizes}")
    if not findings.cameras:
        lines.append("  none under /dev/v4l/by-id")
    lines.append("CUPS queues: " + (", ".join(findings.cups_queues) or "none"))
    lines += [f"note: {n}" for n in findings.notes]
    return lines
