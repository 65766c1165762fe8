"""A case prepared outside the UI (`kiosk submit --file F`), enqueued like the UI enqueues one.

F is JSON: `{"application": <§5.7 body>, "attachments": {"<material code>": ["page1.jpg", …]}}`.
Paths are relative to F. Each file becomes a material record; the application names it with
`material_ref` and the outbox puts in the platform's id once the upload is through (§5.6 before §5.7).
`terminal_ref` and `submitted_at` are filled in when absent.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.application import canonical_json, new_terminal_ref
from kiosk.outbox import Outbox, material_ref

# Fields of §5.7 a file must carry; terminal_ref and submitted_at are ours to fill in.
REQUIRED_FIELDS = ("item_code", "mode", "applicant", "proof_id", "form", "delivery")
MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"%PDF-": "application/pdf"}


class SubmissionError(ValueError):
    """The file cannot become a case; the message names the field or file."""


@dataclass(frozen=True)
class Attachment:
    code: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Queued:
    terminal_ref: str
    record_id: str
    materials: int


def sniff_content_type(data: bytes, name: str) -> str:
    """By content, not by file name: a mislabelled file would be refused by the platform later."""
    for magic, content_type in MAGIC.items():
        if data.startswith(magic):
            return content_type
    raise SubmissionError(f"{name}: not a JPEG, PNG or PDF file")


def load_submission(path: Path) -> tuple[dict[str, Any], list[Attachment]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SubmissionError(f"{path}: cannot read it as JSON ({err})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("application"), dict):
        raise SubmissionError(f'{path}: needs an "application" object')
    application = doc["application"]
    missing = [f for f in REQUIRED_FIELDS if f not in application]
    if missing:
        raise SubmissionError(f"{path}: application lacks {', '.join(missing)}")
    files = doc.get("attachments") or {}
    if not isinstance(files, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in files.values()
    ):
        raise SubmissionError(f'{path}: "attachments" maps a material code to a list of file paths')
    attachments = []
    for code, names in files.items():
        if not names:
            raise SubmissionError(f"{path}: material {code} lists no file")
        for name in names:
            file = path.parent / name  # an absolute name stays absolute
            try:
                data = file.read_bytes()
            except OSError as err:
                raise SubmissionError(f"{file}: {err.strerror or err}") from None
            attachments.append(Attachment(code, data, sniff_content_type(data, str(file))))
    return application, attachments


def enqueue_submission(
    outbox: Outbox,
    terminal_id: str,
    application: dict[str, Any],
    attachments: list[Attachment],
    now: dt.datetime | None = None,
) -> Queued:
    """Materials and application in one commit: a case is stored whole or not at all."""
    now = now or dt.datetime.now(dt.UTC).astimezone()
    body = dict(application)
    body.setdefault("terminal_ref", new_terminal_ref(terminal_id, now))
    body.setdefault("submitted_at", now.isoformat(timespec="seconds"))
    session_ref = uuid.uuid4().hex
    with outbox.transaction():
        refs: dict[str, list[str]] = {}
        for a in attachments:
            record = outbox.enqueue("material", a.data, session_ref=session_ref, content_type=a.content_type)
            refs.setdefault(a.code, []).append(material_ref(record.id))
        body["materials"] = _with_scans(body.get("materials") or [], refs)
        record = outbox.enqueue("application", canonical_json(body), session_ref=session_ref)
    return Queued(body["terminal_ref"], record.id, len(attachments))


def _with_scans(materials: list[dict[str, Any]], refs: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The file's material entries, with the attached pages as the scans of their codes."""
    out = [dict(m) for m in materials]
    for code, ids in refs.items():
        entry = next((m for m in out if m.get("code") == code), None)
        if entry is None:
            out.append({"code": code, "source": "scan", "license_id": None, "material_ids": ids})
        else:
            entry.update(source="scan", license_id=None, material_ids=ids)
    return out
