"""Fault injection for `/terminal/v1/*` requests: latency, random errors (500/503/429 with Retry-After),
dropped connections (closed without any response) and a maintenance window.

Set with the unsigned `POST /admin/faults` (`{"latency_ms", "error_rate", "status", "retry_after_s",
"drop_rate", "maintenance"}`), cleared with `DELETE /admin/faults`, read with `GET /admin/faults`.
A rate of 1.0 always fires, so tests are deterministic. Order per request: latency, drop, maintenance,
error.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import Field
from starlette.types import Receive, Scope, Send

from kiosk.platform_sim import validation as v
from kiosk.platform_sim.core import envelope, invalid, ok

log = logging.getLogger(__name__)

__all__ = ["Faults", "SimApp", "register"]

_ERROR_CODES = {500: 50001, 503: 50301, 429: 42901}
_MESSAGES = {50001: "internal error (injected)", 50301: "maintenance", 42901: "rate limited"}


class Faults(v._Model):
    latency_ms: Annotated[int, Field(ge=0, le=120_000)] = 0
    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    status: Literal[500, 503, 429] = 500
    retry_after_s: Annotated[int, Field(ge=0)] | None = None
    drop_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    maintenance: bool = False


class SimApp(FastAPI):
    """FastAPI with the fault layer in front of the whole stack, so a drop can close the raw connection."""

    faults: Faults | None = None
    fault_random: random.Random = random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults
        if faults is None or scope["type"] != "http" or not scope["path"].startswith("/terminal/v1/"):
            await super().__call__(scope, receive, send)
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        rnd = self.fault_random
        if faults.drop_rate and rnd.random() < faults.drop_rate:
            await _drop(scope, receive, send)
            return
        code = None
        if faults.maintenance:
            code = 50301
        elif faults.error_rate and rnd.random() < faults.error_rate:
            code = _ERROR_CODES[faults.status]
        if code is None:
            await super().__call__(scope, receive, send)
            return
        headers = {}
        if faults.retry_after_s is not None and code in (42901, 50301):
            headers["Retry-After"] = str(faults.retry_after_s)
        elif code == 42901:
            headers["Retry-After"] = "1"
        await _drain(receive)
        await envelope(code, _MESSAGES[code], None, headers)(scope, receive, send)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _drop(scope: Scope, receive: Receive, send: Send) -> None:
    """Close the connection without a response. uvicorn's `send` is a method of the request cycle, which
    holds the transport; elsewhere this degrades to a 500 from the server."""
    await _drain(receive)
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("injected drop")
    log.info("simulator: dropping a connection (injected)")
    transport.close()
    for _ in range(3):  # let connection_lost run, so the server knows the client is gone
        await asyncio.sleep(0)


def register(app: SimApp) -> None:
    @app.post("/admin/faults")
    async def set_faults(request: Request) -> JSONResponse:
        faults, errors = v.parse(Faults, await request.body() or b"{}")
        if faults is None:
            raise invalid(errors)
        app.faults = faults
        log.info("simulator: faults set %s", faults.model_dump())
        return ok(faults.model_dump())

    @app.get("/admin/faults")
    async def get_faults() -> JSONResponse:
        return ok(None if app.faults is None else app.faults.model_dump())

    @app.delete("/admin/faults")
    async def clear_faults() -> JSONResponse:
        app.faults = None
        return ok({})
