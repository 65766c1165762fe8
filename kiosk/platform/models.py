"""Shapes of the `data` member of platform responses (platform-api.md §5), checked on every answer.

Strict types (no "1" → 1 coercion) and unknown members ignored, so a newer platform may add fields
but a wrong type or a missing member is a `PlatformProtocolError` rather than a crash deep in a flow.
Enumerations that may grow (modes, devices, material sources) are plain strings here; the catalog
module decides what it can offer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "CASE_STATUSES",
    "COMMAND_NAMES",
    "AckData",
    "ApplicationAccepted",
    "CaseStatus",
    "CatalogData",
    "CatalogItem",
    "Command",
    "EnrollResult",
    "Envelope",
    "FaceVerifyData",
    "HeartbeatResult",
    "Identity",
    "License",
    "LicenseQueryResult",
    "MaterialStored",
    "Proof",
    "QrLoginResult",
    "RatingStored",
    "parse_rfc3339",
]

Status = Literal[
    "submitted",
    "accepted",
    "rejected",
    "correction",
    "processing",
    "special",
    "approved",
    "denied",
    "withdrawn",
    "delivered",
]
CASE_STATUSES: tuple[str, ...] = get_args(Status)
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
# Commands of §5.11 this terminal knows; the model accepts any name so that one new command does not
# make a whole heartbeat answer unreadable; the agent rejects (and acks) names it does not know.
COMMAND_NAMES = frozenset(
    {"restart", "out_of_service", "in_service", "sync_catalog", "upload_logs", "print_test_page"}
)


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp with offset (§1) as an aware datetime; ValueError otherwise."""
    if not isinstance(value, str) or "T" not in value.upper():
        raise ValueError("not an RFC 3339 date-time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("timestamp without an offset")
    return parsed


def _check_rfc3339(value: str) -> str:
    parse_rfc3339(value)
    return value


Rfc3339 = Annotated[str, AfterValidator(_check_rfc3339)]
IsoDate = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Envelope(_Model):
    code: int
    message: str
    request_id: str
    data: Any = None


class _Fee(_Model):
    charged: bool
    basis: str | None


class _Material(_Model):
    code: NonEmpty
    name: NonEmpty
    required: bool
    copies: int
    license_type: str | None
    accepts: list[str]


class _FormField(_Model):
    field: NonEmpty
    label: NonEmpty
    type: NonEmpty
    required: bool
    options: list[str] | None
    max_length: int | None


class CatalogItem(_Model):
    code: NonEmpty
    name: NonEmpty
    department: str
    dept_code: str
    theme: str
    audience: list[str]
    modes: list[str] = Field(min_length=1)
    kuasheng: bool
    legal_days: int | None
    promised_days: int | None
    fee: _Fee
    conditions: str
    process: list[str]
    materials: list[_Material]
    form: list[_FormField]
    commitment_text: str | None
    delivery: list[str]
    devices: list[str]
    certificate_kind: str | None


class CatalogData(_Model):
    version: NonEmpty
    unchanged: bool
    items: list[CatalogItem]


class Proof(_Model):
    proof_id: NonEmpty
    expires_at: NonEmpty


_Proof = Proof  # earlier name


class FaceVerifyData(_Model):
    match: bool
    score: float
    threshold: float
    proof: Proof | None


class ApplicationAccepted(_Model):
    case_no: NonEmpty
    status: Literal["submitted"]
    accepted_at: NonEmpty
    promised_days: int | None
    query_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class _TimelineEntry(_Model):
    status: Status
    at: NonEmpty
    note: str | None


class CaseStatus(_Model):
    case_no: NonEmpty
    item_code: NonEmpty
    item_name: str
    status: Status
    timeline: list[_TimelineEntry]


class RatingStored(_Model):
    rating_id: NonEmpty


class MaterialStored(_Model):
    material_id: NonEmpty
    size: int


class EnrollResult(_Model):
    """§5.1. `app_secret` is kept out of repr so it never reaches a log line by accident."""

    app_secret: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")] = Field(repr=False)
    heartbeat_interval_s: int = Field(gt=0)
    catalog_version: NonEmpty


class Identity(_Model):
    """Personal data: never log an instance (repr hides the values)."""

    name: NonEmpty = Field(repr=False)
    id_number: NonEmpty = Field(repr=False)
    phone: str | None = Field(repr=False)


class QrLoginResult(_Model):
    identity: Identity
    proof: Proof


class License(_Model):
    license_id: NonEmpty
    type: NonEmpty
    name: NonEmpty
    issuer: str
    level: Literal["A", "B"]
    number: str = Field(repr=False)
    valid_until: IsoDate | None


class LicenseQueryResult(_Model):
    licenses: list[License]


class Command(_Model):
    """§5.11. `expires_at` and `signature` are checked by `verify_command`, not here: one bad command
    must be rejected (and acked) on its own, not make the whole heartbeat answer unreadable."""

    command_id: NonEmpty
    name: NonEmpty
    args: dict[str, Any]
    expires_at: NonEmpty
    signature: str


class HeartbeatResult(_Model):
    server_time: Rfc3339
    commands: list[Command]


class AckData(_Model):
    """§5.12: `data` is `{}`; members a newer platform may add are ignored."""
