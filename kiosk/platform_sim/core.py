"""Shared pieces of the simulator: the §4 envelope, errors, time formatting and the per-app context
that the route modules receive."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from kiosk.platform.errors import CODE_TO_HTTP
from kiosk.platform_sim import validation as v
from kiosk.platform_sim.store import SimStore

__all__ = [
    "CST",
    "PROOF_TTL_S",
    "ApiError",
    "SimContext",
    "envelope",
    "invalid",
    "issue_proof",
    "ok",
    "parse_rfc3339",
    "rfc3339",
]

CST = dt.timezone(dt.timedelta(hours=8))  # the platform writes times with +08:00
PROOF_TTL_S = 15 * 60  # §5.3: a proof is valid 15 minutes, only for that id_number


class ApiError(Exception):
    def __init__(
        self, code: int, message: str, data: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{code} {message}")
        self.code, self.message, self.data, self.headers = code, message, data, headers


def envelope(code: int, message: str, data: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    request_id = uuid.uuid4().hex
    return JSONResponse(
        {"code": code, "message": message, "request_id": request_id, "data": data},
        status_code=CODE_TO_HTTP[code],
        headers={"X-Request-Id": request_id, **(headers or {})},
    )


def ok(data: Any) -> JSONResponse:
    return envelope(0, "ok", data)


def invalid(errors: v.Errors) -> ApiError:
    return ApiError(40001, "invalid parameter", {"errors": errors})


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds")


def parse_rfc3339(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def issue_proof(store: SimStore, terminal_id: str, id_number: str, now: float) -> dict[str, str]:
    """An identity proof (§5.3, §5.4) for this terminal and person."""
    proof = {"proof_id": uuid.uuid4().hex, "expires_at": rfc3339(now + PROOF_TTL_S)}
    store.add_proof(proof["proof_id"], terminal_id, id_number, now + PROOF_TTL_S)
    return proof


Authenticate = Callable[[Request], Awaitable[tuple[str, bytes]]]


@dataclass
class SimContext:
    """What the route modules share: storage, the terminal registry (id → app_secret), the clock."""

    store: SimStore
    terminals: dict[str, str]
    clock: Callable[[], float]
    catalog: dict[str, Any]
    items: dict[str, dict[str, Any]]
    authenticate: Authenticate
    heartbeat_interval_s: int = 60
    case_schedule: tuple[tuple[str, float], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
