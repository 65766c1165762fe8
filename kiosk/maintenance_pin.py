"""The technician PIN of maintenance mode: stored as an scrypt hash, never in clear, never logged.

Five wrong PINs in a row lock maintenance mode for 15 minutes. The count and the lock live in the
state DB (`flags`), so restarting the kiosk does not hand out five fresh tries. Times are wall-clock
seconds (monotonic time does not survive a restart); a lock that ends further ahead than 15 minutes
(the clock was set back) is cut to 15 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kiosk.atomic_file import atomic_write
from kiosk.config import Config

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT_S = 15 * 60
PIN_MIN, PIN_MAX = 6, 12
LOCK_FLAG = "maintenance_pin_lock"
# scrypt with 16 MiB of memory per try: cheap once per login, costly for guessing from a stolen file.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SCHEME = "scrypt"


class PinError(ValueError):
    """A PIN that may not be set (length, digits, too easy); the message says why, in Chinese."""


class Flags(Protocol):  # kiosk.state.StateDB
    def flag(self, name: str, default: str | None = None) -> str | None: ...
    def set_flag(self, name: str, value: str) -> None: ...


def pin_path(config: Config) -> Path:
    return config.maintenance.pin_file or config.storage.state_dir / "secrets" / "maintenance_pin"


def check_pin_rules(pin: str) -> None:
    if not (pin.isascii() and pin.isdigit()):
        raise PinError("密码只能由数字组成。")
    if not PIN_MIN <= len(pin) <= PIN_MAX:
        raise PinError(f"密码须为 {PIN_MIN}–{PIN_MAX} 位数字。")
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if len(set(pin)) == 1 or steps in ({1}, {-1}):
        raise PinError("密码太简单（相同或连续的数字），请换一个。")


def hash_pin(pin: str, *, salt: bytes | None = None) -> str:
    """One line: `scrypt$N$r$p$salt$hash` (base64), what the PIN file holds."""
    check_pin_rules(pin)
    salt = salt or secrets.token_bytes(16)
    digest = _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"{_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_hash(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest, validate=True)
        got = _scrypt(pin, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False  # a damaged file opens nothing
    return hmac.compare_digest(got, expected)


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32)


def write_pin_file(path: Path, pin: str) -> None:
    """Atomically (a half-written hash would lock technicians out), mode 0640 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
    atomic_write(path, (hash_pin(pin) + "\n").encode(), 0o640)


@dataclass(frozen=True)
class PinCheck:
    ok: bool
    locked_for_s: int = 0  # > 0: locked, no PIN was tried
    tries_left: int = MAX_FAILURES
    no_pin: bool = False  # no PIN has been set on this terminal

    @property
    def message(self) -> str:
        """For the technician on the PIN screen."""
        if self.ok:
            return ""
        if self.no_pin:
            return "本机未设置维护密码。请用 kiosk maintenance set-pin 设置。"
        if self.locked_for_s > 0:
            minutes = max(1, -(-self.locked_for_s // 60))
            return f"密码错误次数过多，维护功能已锁定，请 {minutes} 分钟后再试。"
        return f"密码错误，还可尝试 {self.tries_left} 次。"


class PinGuard:
    """Verifies the technician PIN against the hash file and keeps the failure count and lock."""

    def __init__(self, pin_file: Path, flags: Flags, *, clock: Callable[[], float] = time.time) -> None:
        self.pin_file, self._flags, self._clock = pin_file, flags, clock

    def has_pin(self) -> bool:
        return self._stored() is not None

    def locked_for(self) -> int:
        """Seconds left of the lock (0 when not locked)."""
        state = self._state()
        left = min(state.get("locked_until", 0.0) - self._clock(), LOCKOUT_S)
        return max(0, int(-(-left // 1)))

    def verify(self, pin: str) -> PinCheck:
        state = self._state()
        now = self._clock()
        locked_until = float(state.get("locked_until", 0.0))
        if locked_until > now:
            if locked_until - now > LOCKOUT_S:  # the clock went back: never longer than a full lock
                locked_until = now + LOCKOUT_S
                self._save({"failures": MAX_FAILURES, "locked_until": locked_until})
            return PinCheck(False, locked_for_s=int(-(-(locked_until - now) // 1)), tries_left=0)
        failures = int(state.get("failures", 0)) if locked_until == 0 else 0  # a served lock starts afresh
        stored = self._stored()
        if stored is None:
            return PinCheck(False, no_pin=True)
        if verify_hash(pin, stored):
            if failures or locked_until:
                self._save({"failures": 0, "locked_until": 0.0})
            log.info("maintenance: PIN accepted")
            return PinCheck(True)
        failures += 1
        if failures >= MAX_FAILURES:
            self._save({"failures": failures, "locked_until": now + LOCKOUT_S})
            log.warning("maintenance: %d wrong PINs, locked for %d s", failures, LOCKOUT_S)
            return PinCheck(False, locked_for_s=LOCKOUT_S, tries_left=0)
        self._save({"failures": failures, "locked_until": 0.0})
        log.warning("maintenance: wrong PIN (%d of %d)", failures, MAX_FAILURES)
        return PinCheck(False, tries_left=MAX_FAILURES - failures)

    def status(self) -> dict[str, Any]:
        state = self._state()
        return {
            "pin_set": self.has_pin(),
            "pin_file": str(self.pin_file),
            "failures": int(state.get("failures", 0)),
            "locked_for_s": self.locked_for(),
        }

    def _stored(self) -> str | None:
        try:
            text = self.pin_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text or None

    def _state(self) -> dict[str, Any]:
        raw = self._flags.flag(LOCK_FLAG)
        try:
            value = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            value = {"failures": MAX_FAILURES, "locked_until": self._clock() + LOCKOUT_S}  # damaged: lock
        return value if isinstance(value, dict) else {}

    def _save(self, state: dict[str, Any]) -> None:
        self._flags.set_flag(LOCK_FLAG, json.dumps(state))
