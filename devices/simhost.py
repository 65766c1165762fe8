"""Starts the simulators that `sim://` device URLs name and gives back the real URLs to open.

The drivers then talk to the simulators over real transports (a pty for the ID card reader, a TCP
socket for the receipt printer, IPP over HTTP on 127.0.0.1 for the A4 printer), exactly as they would
to hardware. A `sim://camera?…` URL stays as it is (the camera driver plays it itself) but its
`CameraFeed` is kept here, in `cameras[name]`, so a scripted scene (`show`, `show_sequence`) and an
`unplug()` outlive the driver being rebuilt.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from devices.camera import CameraFeed  # camera first: camera_sim, imported by it, builds on it
from devices.camera_sim import share_feed, unshare_feed
from devices.idcard.simulator import SamSimulator, load_identities
from devices.printer.ipp_sim import DEFAULT_QUEUE, IppPrinterSimulator
from devices.printer.virtual import VirtualEscposPrinter
from devices.scanner import ScannerSimulator

FIND_CARD = bytes([0x20, 0x01])
READ_BASE = bytes([0x30, 0x01])


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


class SimHost:
    """Owns the running simulators of one terminal; `stop()` ends them all."""

    def __init__(self) -> None:
        self.idcard: SamSimulator | None = None
        self.printer: VirtualEscposPrinter | None = None
        self.a4printer: IppPrinterSimulator | None = None
        self.scanner: ScannerSimulator | None = None
        self.cameras: dict[str, CameraFeed] = {}
        self._camera_urls: dict[str, str] = {}
        self._auto_stop = threading.Event()

    def resolve(self, name: str, url: str, options: dict | None = None) -> str:
        """Start the simulator `url` names (if any) and return the URL the driver should open."""
        parts = urlsplit(url)
        if parts.scheme != "sim":
            return url
        if parts.netloc == "camera":  # loaded lazily: a bad source fails the driver's open, not this
            self.cameras[name] = share_feed(url, options)
            self._camera_urls[name] = url
            return url
        query = _query(url)
        if parts.netloc == "idcard":
            self.idcard = SamSimulator(load_identities(query["identities"]), stable_port=True).start()
            if query.get("auto") == "1":
                threading.Thread(target=self._auto_present, daemon=True, name="sim-card-hand").start()
            return f"serial://{self.idcard.port}?baud=115200"
        if parts.netloc == "printer":
            paper_mm = int((options or {}).get("paper_mm", query.get("paper_mm", 80)))
            self.printer = VirtualEscposPrinter(Path(query["render"]), paper_mm=paper_mm)
            return f"tcp://127.0.0.1:{self.printer.start_tcp()}"
        if parts.netloc == "a4printer":
            # sim://a4printer?out=DIR[&delay=S][&queue=NAME][&render=0] → cups://NAME?server=127.0.0.1:PORT
            self.a4printer = IppPrinterSimulator(
                Path(query["out"]),
                queue=query.get("queue", DEFAULT_QUEUE),
                job_delay_s=float(query.get("delay", 0)),
                render=query.get("render", "1") != "0",
            )
            self.a4printer.start()
            return self.a4printer.url
        if parts.netloc == "scanner":
            self.scanner = ScannerSimulator(stable_port=True).start()
            return f"serial://{self.scanner.port}?baud=9600"
        raise ValueError(f"device {name}: unknown simulator {url}")

    def _auto_present(self) -> None:
        """For the interactive demo: a 'hand' puts the first card down once the kiosk has been
        looking for a card for a moment, and takes it away a few seconds after it was read."""
        sim = self.idcard
        assert sim is not None
        seen = 0
        polls_without_card = 0
        while not self._auto_stop.wait(0.2):
            frames = sim.received[seen:]
            seen += len(frames)
            polls_without_card += sum(1 for f in frames if f[7:9] == FIND_CARD)
            if polls_without_card >= 6:
                sim.insert(0)
                polls_without_card = -(10**9)  # until the card is read
            if any(f[7:9] == READ_BASE for f in frames):
                self._auto_stop.wait(4.0)
                sim.remove()
                polls_without_card = 0

    def stop(self) -> None:
        self._auto_stop.set()
        if self.idcard is not None:
            self.idcard.stop()
        if self.printer is not None:
            self.printer.stop()
        if self.a4printer is not None:
            self.a4printer.stop()
        if self.scanner is not None:
            self.scanner.stop()
        for name, feed in self.cameras.items():
            unshare_feed(self._camera_urls[name], feed)
