"""Builds the exact bytes of an application (platform-api §5.7) and of a rating (§5.9).

The bytes are fixed once, stored in the outbox and re-sent unchanged on every retry, so the
platform's idempotency check (same key, same body) holds.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any

from kiosk.catalog import Item
from kiosk.session import Session


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def new_terminal_ref(terminal_id: str, now: dt.datetime) -> str:
    return f"{terminal_id}-{now.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(3)}"


def application_body(
    session: Session,
    item: Item,
    *,
    submitted_at: dt.datetime,
    materials: list[dict[str, Any]] | None = None,
    signature_ref: str | None = None,
) -> bytes:
    """`signature_ref`: the material id (or outbox reference) of the signature under the commitment."""
    if not (session.identity and session.proof and session.terminal_ref and session.mode):
        raise ValueError("application needs an identified session with a proof, a mode and a terminal_ref")
    body = {
        "terminal_ref": session.terminal_ref,
        "item_code": item.code,
        "mode": session.mode,
        "applicant": {
            "name": session.identity.name,
            "id_type": session.identity.id_type,
            "id_number": session.identity.id_number,
            "phone": session.form.get("phone") or None,
        },
        "proof_id": session.proof.proof_id,
        "form": dict(session.form),
        "materials": materials or [],
        "commitment": signature_ref and {"accepted": True, "signature_material_id": signature_ref},
        "delivery": session.delivery or {"method": "online", "address": None},
        "submitted_at": submitted_at.isoformat(timespec="seconds"),
    }
    return canonical_json(body)


def rating_body(
    case_no: str, item_code: str, satisfaction: int, reasons: list[str], *, rated_at: dt.datetime
) -> bytes:
    if not 1 <= satisfaction <= 5:
        raise ValueError("satisfaction is 1..5")
    if satisfaction <= 2 and not reasons:
        raise ValueError("a 差评 (1 or 2) needs at least one reason")
    body = {
        "case_no": case_no,
        "item_code": item_code,
        "satisfaction": satisfaction,
        "reasons": reasons,
        "comment": None,
        "channel": 5,
        "rated_at": rated_at.isoformat(timespec="seconds"),
    }
    return canonical_json(body)
