"""§5.1 enrollment, §5.11 heartbeat with signed commands, §5.12 command acknowledgement, and the operator
side: `POST /admin/enrollment-tokens`, `POST /admin/terminals/{id}/commands`, `GET /ops/terminals`, and
the HTML fleet page `GET /ops` whose forms post to `POST /ops/terminals/{id}/commands` (303 back to /ops).

Admin and ops endpoints are unsigned and not part of the terminal API (the simulator is meant for
loopback use). A command is delivered with every heartbeat until it is acknowledged or expires.
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import Field, StringConstraints, ValidationError

from kiosk.platform.commands import command_signature  # one definition for both sides of §5.11
from kiosk.platform_sim import ops_page as ops_page_html
from kiosk.platform_sim import validation as v
from kiosk.platform_sim.core import ApiError, SimContext, invalid, ok, rfc3339
from kiosk.platform_sim.store import SimStore

log = logging.getLogger(__name__)

__all__ = ["COMMAND_NAMES", "OFFLINE_AFTER_INTERVALS", "register"]

COMMAND_NAMES = ("restart", "out_of_service", "in_service", "sync_catalog", "upload_logs", "print_test_page")
OFFLINE_AFTER_INTERVALS = 3
DEFAULT_COMMAND_TTL_S = 3600.0
_OK_DEVICE_STATES = frozenset({"ok", "ready", "idle", "online"})


class Hardware(v._Model):
    model: v.Text
    serial: v.Text
    devices: list[v.Text]


class EnrollRequest(v._Model):
    enrollment_token: v.Text
    terminal_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    hall_name: v.Text
    region_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
    hardware: Hardware
    software_version: v.Text


class Device(v._Model):
    name: v.Text
    kind: v.Text
    state: v.Text
    details: dict[str, Any]
    action: Literal["auto", "clear", "maintenance"] | None


class Outbox(v._Model):
    pending: Annotated[int, Field(ge=0)]
    oldest_age_s: Annotated[int, Field(ge=0)] | None


class HeartbeatRequest(v._Model):
    software_version: v.Text
    uptime_s: Annotated[int, Field(ge=0)]
    in_service: bool
    devices: list[Device]
    outbox: Outbox
    disk_free_mb: Annotated[int, Field(ge=0)]
    sessions_today: Annotated[int, Field(ge=0)]


class AckRequest(v._Model):
    result: Literal["done", "rejected", "failed"]
    detail: str | None = None


class CommandRequest(v._Model):
    name: Literal[COMMAND_NAMES]  # type: ignore[valid-type]
    args: dict[str, Any] = Field(default_factory=dict)
    ttl_s: Annotated[float, Field(gt=0)] = DEFAULT_COMMAND_TTL_S


def _needs_action(device: dict[str, Any]) -> bool:
    return device.get("action") in ("clear", "maintenance") or (
        device.get("state") not in _OK_DEVICE_STATES and device.get("action") != "auto"
    )


def register(app: FastAPI, ctx: SimContext, enrollment_tokens: set[str]) -> None:
    store = ctx.store
    for token in enrollment_tokens:
        store.add_enrollment_token(token, ctx.clock())
    ctx.terminals.update(store.enrolled_terminals())

    @app.post("/terminal/v1/enroll")
    async def enroll(request: Request) -> JSONResponse:
        body = await request.body()
        req, errors = v.parse(EnrollRequest, body)
        if req is None:
            raise invalid(errors)
        now = ctx.clock()
        if not store.use_enrollment_token(req.enrollment_token, req.terminal_id, now):
            raise ApiError(40302, "enrollment token unknown or already used")
        secret = secrets.token_hex(32)
        info = req.model_dump(exclude={"enrollment_token"})
        store.save_terminal(req.terminal_id, secret, info, now)
        ctx.terminals[req.terminal_id] = secret
        log.info("simulator: terminal %s enrolled", req.terminal_id)
        return ok(
            {
                "app_secret": secret,
                "heartbeat_interval_s": ctx.heartbeat_interval_s,
                "catalog_version": ctx.catalog["version"],
            }
        )

    @app.post("/terminal/v1/heartbeat")
    async def heartbeat(request: Request) -> JSONResponse:
        terminal_id, body = await ctx.authenticate(request)
        req, errors = v.parse(HeartbeatRequest, body)
        if req is None:
            raise invalid(errors)
        now = ctx.clock()
        store.save_heartbeat(terminal_id, now, req.model_dump())
        return ok({"server_time": rfc3339(now), "commands": store.pending_commands(terminal_id, now)})

    @app.post("/terminal/v1/commands/{command_id}/ack")
    async def ack(command_id: str, request: Request) -> JSONResponse:
        terminal_id, body = await ctx.authenticate(request)
        req, errors = v.parse(AckRequest, body)
        if req is None:
            raise invalid(errors)
        if not store.ack_command(command_id, terminal_id, req.result, req.detail, ctx.clock()):
            raise ApiError(40401, "not found")
        log.info("simulator: command %s acknowledged: %s", command_id, req.result)
        return ok({})

    # -- operator side (unsigned, not part of the terminal API) -------------------------------------

    @app.post("/admin/enrollment-tokens")
    async def new_enrollment_token() -> JSONResponse:
        token = secrets.token_urlsafe(18)
        store.add_enrollment_token(token, ctx.clock())
        return ok({"enrollment_token": token})

    def queue(terminal_id: str, req: CommandRequest) -> dict[str, Any] | None:
        """Queue a signed command for a known terminal; None for an unknown one. Used by the admin JSON
        endpoint and the `/ops` form."""
        secret = ctx.terminals.get(terminal_id)
        if secret is None:
            return None
        now = ctx.clock()
        expires_ts = now + req.ttl_s
        cmd: dict[str, Any] = {
            "command_id": "CMD" + uuid.uuid4().hex,
            "name": req.name,
            "args": req.args,
            "expires_at": rfc3339(expires_ts),
        }
        cmd["signature"] = command_signature(secret, cmd["command_id"], req.name, req.args, cmd["expires_at"])
        store.add_command(cmd, terminal_id, expires_ts, now)
        log.info("simulator: command %s (%s) queued for %s", cmd["command_id"], req.name, terminal_id)
        return cmd

    @app.post("/admin/terminals/{terminal_id}/commands")
    async def queue_command(terminal_id: str, request: Request) -> JSONResponse:
        if terminal_id not in ctx.terminals:
            raise ApiError(40401, "not found")
        req, errors = v.parse(CommandRequest, await request.body() or b"{}")
        if req is None:
            raise invalid(errors)
        cmd = queue(terminal_id, req)
        if cmd is None:
            raise ApiError(40401, "not found")
        return ok(cmd)

    @app.get("/admin/commands/{command_id}")
    async def command_status(command_id: str) -> JSONResponse:
        cmd = store.command(command_id)
        if cmd is None:
            raise ApiError(40401, "not found")
        cmd["args"] = json.loads(cmd["args"])
        return ok(cmd)

    def fleet_rows() -> list[dict[str, Any]]:
        now = ctx.clock()
        beats = store.heartbeats()
        out = []
        for terminal_id in sorted(set(ctx.terminals) | set(beats)):
            at, hb = beats.get(terminal_id, (None, {}))
            devices = [
                {"name": d["name"], "kind": d["kind"], "state": d["state"], "action": d["action"]}
                for d in hb.get("devices", [])
                if _needs_action(d)
            ]
            outbox = hb.get("outbox") or {}
            out.append(
                {
                    "terminal_id": terminal_id,
                    "last_heartbeat_at": None if at is None else rfc3339(at),
                    "online": at is not None
                    and now - at <= OFFLINE_AFTER_INTERVALS * ctx.heartbeat_interval_s,
                    "in_service": hb.get("in_service"),
                    "software_version": hb.get("software_version"),
                    "devices_needing_action": devices,
                    "outbox_pending": outbox.get("pending", 0),
                    "outbox_oldest_age_s": outbox.get("oldest_age_s"),
                    "disk_free_mb": hb.get("disk_free_mb"),
                    "pending_commands": len(store.pending_commands(terminal_id, now)),
                    "_last_heartbeat_ts": at,
                }
            )
        return out

    @app.get("/ops/terminals")
    async def ops_terminals() -> JSONResponse:
        rows = [{k: val for k, val in r.items() if not k.startswith("_")} for r in fleet_rows()]
        return JSONResponse({"terminals": rows, "heartbeat_interval_s": ctx.heartbeat_interval_s})

    # -- the HTML fleet page (no scripts; forms post back here) --------------------------------------

    @app.get("/ops")
    async def ops_page() -> HTMLResponse:
        halls = _hall_names(store)
        rows = [
            r | {"last_heartbeat_ts": r["_last_heartbeat_ts"], "hall_name": halls.get(r["terminal_id"])}
            for r in fleet_rows()
        ]
        return HTMLResponse(ops_page_html.render_fleet_page(rows, COMMAND_NAMES, ctx.clock()))

    @app.post("/ops/terminals/{terminal_id}/commands")
    async def ops_queue_command(terminal_id: str, request: Request) -> Response:
        if terminal_id not in ctx.terminals:
            return _html_message(404, "未找到终端", "没有这台终端，可能尚未注册。")
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        try:
            req = CommandRequest.model_validate({"name": (form.get("name") or [""])[0]})
        except ValidationError:
            return _html_message(400, "指令无效", "请从列表中选择一条指令。")
        if queue(terminal_id, req) is None:
            return _html_message(404, "未找到终端", "没有这台终端，可能尚未注册。")
        return RedirectResponse("/ops", status_code=303)


def _html_message(status: int, title: str, message: str) -> HTMLResponse:
    return HTMLResponse(ops_page_html.render_message_page(title, message), status_code=status)


def _hall_names(store: SimStore) -> dict[str, str]:
    """terminal_id → hall_name from enrollment (terminals configured by flag have none)."""
    infos = store.terminal_infos().items()
    return {tid: info["hall_name"] for tid, info in infos if isinstance(info.get("hall_name"), str)}
