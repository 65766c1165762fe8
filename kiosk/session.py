"""One citizen's session: everything personal lives here and goes with one `wipe()`.

The inactivity timer is headless (a clock is injected) so the UI and the tests share it.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Identity:
    """Who the citizen is, from the ID card (or, later, the provincial app's QR login)."""

    name: str
    id_number: str
    id_type: str  # platform-api §5.7: resident | hmt_permit | foreign_permanent
    source: str  # "idcard" | "qr"
    gender: str | None = None
    birth_date: str | None = None


@dataclass
class Proof:
    """The platform's identity proof that later calls carry (platform-api §5.3)."""

    proof_id: str
    expires_at: str


@dataclass
class Session:
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: float = field(default_factory=time.time)
    identity: Identity | None = None
    proof: Proof | None = None
    item_code: str | None = None
    mode: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    live_image: bytes | None = None
    scans: dict[str, list[bytes]] = field(default_factory=dict)  # material code → JPEG pages
    licenses: dict[str, dict[str, Any]] = field(default_factory=dict)  # material code → e-licence (§5.5)
    committed: set[str] = field(default_factory=set)  # material codes replaced by the signed commitment
    signature: bytes | None = None  # the handwritten signature under the 告知承诺书, PNG
    delivery: dict[str, Any] | None = None  # §5.7 `delivery`, address included
    certificate: bytes | None = None  # a fetched certificate (PDF) until it is printed
    terminal_ref: str | None = None
    case: dict[str, Any] | None = None
    rating: int | None = None
    wiped: bool = False

    def wipe(self) -> None:
        """Forget everything personal. Byte buffers are overwritten first, then every field is reset."""
        if isinstance(self.live_image, bytearray):
            self.live_image[:] = bytes(len(self.live_image))
        self.identity = None
        self.proof = None
        self.item_code = None
        self.mode = None
        self.form.clear()
        self.live_image = None
        self.scans.clear()
        self.licenses.clear()
        self.committed.clear()
        self.signature = None
        self.delivery = None
        self.certificate = None
        self.terminal_ref = None
        self.case = None
        self.rating = None
        self.wiped = True

    @property
    def personal_data_present(self) -> bool:
        return any(
            (self.identity, self.proof, self.form, self.live_image, self.scans, self.licenses, self.committed)
        ) or any(x is not None for x in (self.signature, self.delivery, self.certificate, self.case))


class IdleState(enum.StrEnum):
    ACTIVE = "active"
    WARNING = "warning"  # show the countdown: "还有 N 秒将返回首页"
    EXPIRED = "expired"  # wipe the session and go home


class IdleTimer:
    def __init__(
        self, timeout_s: float, warning_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if warning_s >= timeout_s:
            raise ValueError("warning_s must be shorter than idle_timeout_s")
        self.timeout_s, self.warning_s, self._clock = timeout_s, warning_s, clock
        self._last = clock()

    def touch(self) -> None:
        self._last = self._clock()

    def remaining(self) -> float:
        return max(0.0, self.timeout_s - (self._clock() - self._last))

    def state(self) -> IdleState:
        left = self.remaining()
        if left <= 0:
            return IdleState.EXPIRED
        return IdleState.WARNING if left <= self.warning_s else IdleState.ACTIVE
