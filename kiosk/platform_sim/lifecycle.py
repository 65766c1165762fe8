"""Case lifecycle: cases advance over time along `submitted → accepted → processing → approved` (each step
a fixed delay after the previous timeline entry, on the app's clock), and by operator action via the
unsigned `POST /admin/cases/{case_no}/status`. A case an operator moves off that path (e.g. to
`correction` or `rejected`) stays there until the operator moves it again."""

from __future__ import annotations

import logging
from typing import Any, Literal, get_args

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from kiosk.platform.models import Status
from kiosk.platform_sim import validation as v
from kiosk.platform_sim.core import ApiError, SimContext, invalid, ok, parse_rfc3339, rfc3339

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SCHEDULE", "STATUSES", "advance", "case_status", "register"]

STATUSES: tuple[str, ...] = get_args(Status)  # the contract's status values, defined once
# (next status, seconds after the previous timeline entry), keyed by the current status.
DEFAULT_SCHEDULE: tuple[tuple[str, float], ...] = (
    ("accepted", 60.0),
    ("processing", 120.0),
    ("approved", 300.0),
)
_AUTO_PATH = ("submitted", "accepted", "processing", "approved")
_NOTES = {"accepted": "已受理", "processing": "办理中", "approved": "办结（准予）"}


def advance(ctx: SimContext, case: dict[str, Any]) -> dict[str, Any]:
    """Apply every automatic step that is due by now; persists and returns the (updated) case."""
    schedule = ctx.case_schedule or DEFAULT_SCHEDULE
    steps = {_AUTO_PATH[i]: step for i, step in enumerate(schedule) if i < len(_AUTO_PATH) - 1}
    now = ctx.clock()
    changed = False
    while case["status"] in steps:
        nxt, delay = steps[case["status"]]
        due = parse_rfc3339(case["timeline"][-1]["at"]) + delay
        if due > now:
            break
        note = _joint_note(ctx, case, nxt) or _NOTES.get(nxt)
        case["timeline"].append({"status": nxt, "at": rfc3339(due), "note": note})
        case["status"] = nxt
        changed = True
    if changed:
        ctx.store.update_case(case["case_no"], case["status"], case["timeline"])
    return case


# 多地联办: each department's part, as "部门环节：状态" pairs joined by "；" (kiosk.query reads them back).
_JOINT_STAGES = {
    "accepted": ("办理中", "待办理"),
    "processing": ("已完成", "办理中"),
    "approved": ("已完成", "已完成"),
}


def _joint_note(ctx: SimContext, case: dict[str, Any], status: str) -> str | None:
    """For a joint case, where each department stands; the item's process names the departments'
    steps (e.g. 转出地审核, 转入地接收) between 提交申请 and 办结."""
    if case.get("application", {}).get("mode") != "joint" or status not in _JOINT_STAGES:
        return None
    process = ctx.items.get(case["item_code"], {}).get("process", [])
    parts = [p for p in process if p not in ("身份核验", "提交申请", "办结")][:2]
    if len(parts) < 2:
        return None
    first, second = _JOINT_STAGES[status]
    return f"{parts[0]}：{first}；{parts[1]}：{second}"


def case_status(case: dict[str, Any]) -> dict[str, Any]:
    return {
        "case_no": case["case_no"],
        "item_code": case["item_code"],
        "item_name": case["item_name"],
        "status": case["status"],
        "timeline": case["timeline"],
    }


class StatusChange(v._Model):
    status: Literal[STATUSES]  # type: ignore[valid-type]
    note: str | None = None


def register(app: FastAPI, ctx: SimContext) -> None:
    @app.post("/admin/cases/{case_no}/status")
    async def set_status(case_no: str, request: Request) -> JSONResponse:
        req, errors = v.parse(StatusChange, await request.body())
        if req is None:
            raise invalid(errors)
        case = ctx.store.get_case(case_no)
        if case is None:
            raise ApiError(40401, "not found")
        case = advance(ctx, case)  # what was due happened before the operator acted
        case["timeline"].append({"status": req.status, "at": rfc3339(ctx.clock()), "note": req.note})
        case["status"] = req.status
        ctx.store.update_case(case_no, req.status, case["timeline"])
        log.info("simulator: case %s set to %s by operator", case_no, req.status)
        return ok(case_status(case))
