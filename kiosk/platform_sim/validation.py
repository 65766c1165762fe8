"""Request shapes and business checks of the simulator, producing §4 `40001` field error lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from kiosk.idnumber import is_valid_id_number

Text = Annotated[str, StringConstraints(min_length=1, max_length=512)]
M = TypeVar("M", bound=BaseModel)
Errors = list[dict[str, str]]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Liveness(_Model):
    method: Text
    passed: bool
    score: float


class FaceVerifyRequest(_Model):
    id_number: Text
    name: Text
    live_image: Annotated[str, StringConstraints(min_length=1)]
    liveness: Liveness


class Applicant(_Model):
    name: Text
    id_type: Literal["resident", "hmt_permit", "foreign_permanent"]
    id_number: Text
    phone: str | None


class MaterialRef(_Model):
    code: Text
    source: Literal["license", "scan", "commitment"]
    license_id: str | None
    material_ids: list[Text]


class Commitment(_Model):
    accepted: bool
    signature_material_id: Text


class Address(_Model):
    region_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
    detail: Text
    recipient: Text
    phone: Text


class Delivery(_Model):
    method: Literal["mail", "pickup", "online"]
    address: Address | None


class ApplicationRequest(_Model):
    terminal_ref: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    item_code: Text
    mode: Literal["online", "proxy", "joint"]
    applicant: Applicant
    proof_id: Text
    form: dict[str, Any]
    materials: list[MaterialRef]
    commitment: Commitment | None
    delivery: Delivery
    submitted_at: Text


class RatingRequest(_Model):
    case_no: Text
    item_code: Text
    satisfaction: Annotated[int, Field(ge=1, le=5)]
    reasons: list[Text]
    comment: str | None
    channel: int
    rated_at: Text


def parse(model: type[M], body: bytes) -> tuple[M | None, Errors]:
    """Validate a JSON body; on failure every problem as {"field", "reason"} (never the input value)."""
    try:
        return model.model_validate_json(body), []
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_input=False, include_url=False):
            field = ".".join(str(p) for p in e["loc"]) or "body"
            errors.append({"field": field, "reason": e["msg"]})
        return None, errors


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def check_form(item: dict[str, Any], form: dict[str, Any]) -> Errors:
    errors: Errors = []
    for spec in item.get("form", []):
        name = spec["field"]
        value = form.get(name)
        if _blank(value):
            if spec.get("required"):
                errors.append({"field": f"form.{name}", "reason": "required"})
            continue
        if spec.get("options") and value not in spec["options"]:
            errors.append({"field": f"form.{name}", "reason": "not one of the options"})
        if spec.get("max_length") and isinstance(value, str) and len(value) > spec["max_length"]:
            errors.append({"field": f"form.{name}", "reason": f"longer than {spec['max_length']}"})
        if spec.get("type") == "id_number" and not is_valid_id_number(str(value)):
            errors.append({"field": f"form.{name}", "reason": "invalid ID number"})
    return errors


def check_materials(
    item: dict[str, Any], req: ApplicationRequest, material_exists: Callable[[str], bool]
) -> Errors:
    errors: Errors = []
    specs = {m["code"]: m for m in item.get("materials", [])}
    given = {m.code for m in req.materials}
    for code, spec in specs.items():
        if spec.get("required") and code not in given:
            errors.append({"field": f"materials.{code}", "reason": "required material missing"})
    for i, ref in enumerate(req.materials):
        where = f"materials.{i}"
        spec = specs.get(ref.code)
        if spec is None:
            errors.append({"field": f"{where}.code", "reason": "unknown material for this item"})
            continue
        if ref.source not in spec.get("accepts", []):
            errors.append({"field": f"{where}.source", "reason": "source not accepted for this material"})
        elif ref.source == "license" and not ref.license_id:
            errors.append({"field": f"{where}.license_id", "reason": "required for source license"})
        elif ref.source == "scan" and not ref.material_ids:
            errors.append({"field": f"{where}.material_ids", "reason": "required for source scan"})
        elif ref.source == "commitment" and not (req.commitment and req.commitment.accepted):
            errors.append({"field": "commitment", "reason": "commitment must be accepted"})
        for j, mid in enumerate(ref.material_ids):
            if not material_exists(mid):
                errors.append({"field": f"{where}.material_ids.{j}", "reason": "material not uploaded"})
    return errors


SUBMISSION_LATE_S = 7 * 24 * 3600  # the idempotency window (§3): a case may arrive this late
SUBMISSION_AHEAD_S = 300  # the clock skew §2 tolerates


def submission_time(req: ApplicationRequest, now: float) -> float | None:
    """When the citizen submitted (epoch seconds), or None when `submitted_at` is unusable."""
    try:
        when = dt.datetime.fromisoformat(req.submitted_at)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    at = when.timestamp()
    if at > now + SUBMISSION_AHEAD_S or at < now - SUBMISSION_LATE_S:
        return None
    return min(at, now)


def check_application(
    req: ApplicationRequest,
    item: dict[str, Any] | None,
    material_exists: Callable[[str], bool],
    terminal_ref_used: bool,
) -> Errors:
    """Every business problem at once (§5.7: `40001` lists every invalid field)."""
    errors: Errors = []
    if terminal_ref_used:
        errors.append({"field": "terminal_ref", "reason": "already used by another application"})
    if req.applicant.id_type == "resident" and not is_valid_id_number(req.applicant.id_number):
        errors.append({"field": "applicant.id_number", "reason": "invalid ID number (GB 11643)"})
    if item is None:
        errors.append({"field": "item_code", "reason": "unknown item"})
        return errors
    if req.mode not in item.get("modes", []):
        errors.append({"field": "mode", "reason": "mode not offered for this item"})
    errors += check_form(item, req.form)
    errors += check_materials(item, req, material_exists)
    if req.delivery.method not in item.get("delivery", []):
        errors.append({"field": "delivery.method", "reason": "delivery method not offered for this item"})
    if req.delivery.method == "mail" and req.delivery.address is None:
        errors.append({"field": "delivery.address", "reason": "required for mail"})
    return errors


def check_rating(req: RatingRequest, case: dict[str, Any] | None) -> Errors:
    errors: Errors = []
    if case is None:
        errors.append({"field": "case_no", "reason": "unknown case"})
    elif case["item_code"] != req.item_code:
        errors.append({"field": "item_code", "reason": "does not match the case"})
    if req.satisfaction <= 2 and not req.reasons:
        errors.append({"field": "reasons", "reason": "a rating of 1 or 2 needs at least one reason"})
    if req.channel != 5:
        errors.append({"field": "channel", "reason": "terminals rate on channel 5"})
    return errors
