"""Shapes of the `data` member of platform responses (platform-api.md §5), checked on every answer.

Strict types (no "1" → 1 coercion) and unknown members ignored, so a newer platform may add fields
but a wrong type or a missing member is a `PlatformProtocolError` rather than a crash deep in a flow.
Enumerations that may grow (modes, devices, material sources) are plain strings here; the catalog
module decides what it can offer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "CASE_STATUSES",
    "ApplicationAccepted",
    "CaseStatus",
    "CatalogData",
    "CatalogItem",
    "Envelope",
    "FaceVerifyData",
    "MaterialStored",
    "RatingStored",
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


class _Proof(_Model):
    proof_id: NonEmpty
    expires_at: NonEmpty


class FaceVerifyData(_Model):
    match: bool
    score: float
    threshold: float
    proof: _Proof | None


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
