"""What a flow needs from the outside world, gathered in one object (devices, platform, storage)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from devices.base import DeviceStatus
from devices.printer.document import Receipt
from kiosk.catalog import Catalog
from kiosk.config import Config
from kiosk.face import FaceDetector
from kiosk.face_verify import FaceVerifier


class CardReader(Protocol):
    def wait_for_card(self, timeout_s: float, cancel: Any = None) -> Any: ...
    def status(self) -> DeviceStatus: ...


class FrameSource(Protocol):
    def read_frame(self, timeout_s: float = 2.0) -> np.ndarray: ...


class Printer(Protocol):
    def print_receipt(self, doc: Receipt) -> None: ...


@dataclass
class Services:
    config: Config
    catalog: Catalog
    idcard: CardReader
    camera: FrameSource
    face_detector: FaceDetector
    printer: Printer
    platform: Any  # kiosk.platform.client.PlatformClient
    outbox: Any  # kiosk.outbox.Outbox, or None when it could not be opened (then `guard` says so)
    guard: Any = None  # kiosk.service.ServiceGuard
    face_verifier: FaceVerifier | None = None  # kiosk.face_verify (platform or local, per [face] match)
    document_camera: FrameSource | None = None  # the 高拍仪, when the terminal has one
    scanner: Any = None  # a serial or keyboard-wedge code scanner (devices.scanner), when there is one
    a4_printer: Any = None  # devices.printer.A4Printer (certificates), when the terminal has one
    state: Any = None  # kiosk.state.StateDB: flags shared with the agent (help requests, in service)
