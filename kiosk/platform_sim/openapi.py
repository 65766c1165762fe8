"""The OpenAPI document of the terminal API (`GET /openapi.json`), built from the models that the two sides
already use: request bodies from the simulator's pydantic request models (what it validates), `data` of
answers from the client's response models in `kiosk.platform.models` (what the kiosk accepts), the §2
signing headers, the §3 `Idempotency-Key` and the §4 envelope with the codes each endpoint may answer.

The routes read raw `Request` bodies (the bytes are signed), so FastAPI cannot infer any of this;
`document(app)` attaches it to the routes through `openapi_extra` / `responses` from the one table
`OPERATIONS`, and hides every route outside `/terminal/v1` (admin, ops, the document itself) from the
schema. A `/terminal/v1` route missing from the table is an error at app creation, so no endpoint goes
undocumented. The schema is what `tests/kiosk/test_sim_schemathesis.py` fuzzes the simulator with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, StringConstraints

from kiosk.platform import models as m
from kiosk.platform.errors import CODE_TO_HTTP
from kiosk.platform_sim import fleet, identity
from kiosk.platform_sim import validation as v

__all__ = ["API_PREFIX", "OPERATIONS", "SIGNATURE_HEADERS", "Operation", "document", "operation_extra"]

API_PREFIX = "/terminal/v1"
SIGNATURE_HEADERS: dict[str, dict[str, Any]] = {  # §2
    "X-Terminal-Id": {"type": "string", "minLength": 1},
    "X-Timestamp": {"type": "string", "pattern": "^[0-9]{1,16}$"},
    "X-Nonce": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "X-Signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}
IDEMPOTENCY_HEADER = {"type": "string", "format": "uuid"}  # §3
_SIGNED_CODES = frozenset({40001, 40101, 40102, 40103, 40301, 41301})
_ANY_CODES = frozenset({42901, 50001, 50301})  # fault layer / maintenance, on every endpoint (§4)
_BINARY = {"type": "string", "format": "binary"}


# Query parameters, as models so that the helper treats them like bodies (one field = one parameter).
class CatalogQuery(BaseModel):
    region_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
    since_version: str = ""


class CaseQuery(BaseModel):
    query_code: str


class TerminalRefQuery(BaseModel):
    terminal_ref: Annotated[str, StringConstraints(min_length=1)]


class ProofQuery(BaseModel):
    proof_id: Annotated[str, StringConstraints(min_length=1)]


class FieldError(BaseModel):
    field: str
    reason: str


class FieldErrors(BaseModel):  # `data` of 40001
    errors: list[FieldError]


@dataclass(frozen=True)
class Operation:
    summary: str
    request: type[BaseModel] | None = None  # JSON body
    data: type[BaseModel] | None = None  # `data` of the success envelope
    query: type[BaseModel] | None = None
    codes: frozenset[int] = frozenset()  # error codes beyond the ones every (signed) endpoint may answer
    signed: bool = True
    idempotent: bool = False
    body_types: tuple[str, ...] = ()  # a raw body of these media types instead of JSON
    file_types: tuple[str, ...] = ()  # success is this document, not an envelope


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """`model_json_schema()` with its `$defs` inlined, so it can sit anywhere in the document."""
    doc = model.model_json_schema()
    defs = doc.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: val for k, val in node.items() if k != "$ref"}
                return resolve({**defs[ref.removeprefix("#/$defs/")], **rest})
            return {k: resolve(val) for k, val in node.items()}
        if isinstance(node, list):
            return [resolve(x) for x in node]
        return node

    return resolve(doc)


def _envelope(codes: list[int], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["code", "message", "request_id", "data"],
        "properties": {
            "code": {"type": "integer", "enum": codes},
            "message": {"type": "string"},
            "request_id": {"type": "string", "minLength": 1},
            "data": data,
        },
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def operation_extra(op: Operation) -> tuple[dict[str, Any], dict[int | str, dict[str, Any]]]:
    """(openapi_extra, responses) of one route."""
    params: list[dict[str, Any]] = []
    if op.signed:
        params += [
            {"name": n, "in": "header", "required": True, "schema": s} for n, s in SIGNATURE_HEADERS.items()
        ]
    if op.idempotent:
        params.append(
            {"name": "Idempotency-Key", "in": "header", "required": True, "schema": IDEMPOTENCY_HEADER}
        )
    if op.query is not None:
        q = schema_of(op.query)
        params += [
            {"name": name, "in": "query", "required": name in q.get("required", []), "schema": s}
            for name, s in q["properties"].items()
        ]
    extra: dict[str, Any] = {"parameters": params}
    if op.request is not None:
        extra["requestBody"] = {"required": True, **_json(schema_of(op.request))}
    elif op.body_types:
        extra["requestBody"] = {"required": True, "content": {t: {"schema": _BINARY} for t in op.body_types}}

    if op.file_types:
        ok: dict[str, Any] = {"content": {t: {"schema": _BINARY} for t in op.file_types}}
    else:
        ok = _json(_envelope([0], schema_of(op.data) if op.data else {}))
    responses: dict[int | str, dict[str, Any]] = {200: {"description": "ok", **ok}}
    codes = op.codes | _ANY_CODES | (_SIGNED_CODES if op.signed else {40001})
    for status in sorted({CODE_TO_HTTP[c] for c in codes}):
        these = sorted(c for c in codes if CODE_TO_HTTP[c] == status)
        data = schema_of(FieldErrors) if status == 400 else {"type": ["object", "null"]}
        resp: dict[str, Any] = {"description": " / ".join(map(str, these)), **_json(_envelope(these, data))}
        if status in (429, 503):  # §4 Retry-After: required on 429, may be present on 503
            header = {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "required": status == 429}
            resp["headers"] = {"Retry-After": header}
        responses[status] = resp
    return extra, responses


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/terminal/v1/enroll"): Operation(
        "§5.1 enroll (unsigned)", fleet.EnrollRequest, m.EnrollResult, codes=frozenset({40302}), signed=False
    ),
    ("GET", "/terminal/v1/catalog"): Operation("§5.2 catalog", data=m.CatalogData, query=CatalogQuery),
    ("POST", "/terminal/v1/identity/face-verify"): Operation(
        "§5.3 face verification", v.FaceVerifyRequest, m.FaceVerifyData
    ),
    ("POST", "/terminal/v1/identity/qr-login"): Operation(
        "§5.4 QR login", identity.QrLoginRequest, m.QrLoginResult, codes=frozenset({40401})
    ),
    ("POST", "/terminal/v1/licenses/query"): Operation(
        "§5.5 e-licences", identity.LicenseQuery, m.LicenseQueryResult, codes=frozenset({40302})
    ),
    ("GET", "/terminal/v1/licenses/{license_id}/file"): Operation(
        "§5.5 e-licence file",
        query=ProofQuery,
        codes=frozenset({40302, 40401}),
        file_types=("application/pdf", "image/jpeg"),
    ),
    ("PUT", "/terminal/v1/materials/{sha256}"): Operation(
        "§5.6 material upload",
        data=m.MaterialStored,
        body_types=("image/jpeg", "image/png", "application/pdf"),
    ),
    ("POST", "/terminal/v1/applications"): Operation(
        "§5.7 application",
        v.ApplicationRequest,
        m.ApplicationAccepted,
        codes=frozenset({40302, 40901}),
        idempotent=True,
    ),
    ("GET", "/terminal/v1/applications/{case_no}"): Operation(
        "§5.8 case status", data=m.CaseStatus, query=CaseQuery, codes=frozenset({40401})
    ),
    ("GET", "/terminal/v1/applications"): Operation(
        "§5.8 case by terminal reference", data=m.CaseStatus, query=TerminalRefQuery, codes=frozenset({40401})
    ),
    ("POST", "/terminal/v1/ratings"): Operation(
        "§5.9 rating", v.RatingRequest, m.RatingStored, codes=frozenset({40901}), idempotent=True
    ),
    ("GET", "/terminal/v1/certificates/{kind}"): Operation(
        "§5.10 certificate",
        query=ProofQuery,
        codes=frozenset({40302, 40401}),
        file_types=("application/pdf",),
    ),
    ("POST", "/terminal/v1/heartbeat"): Operation(
        "§5.11 heartbeat", fleet.HeartbeatRequest, m.HeartbeatResult
    ),
    ("POST", "/terminal/v1/commands/{command_id}/ack"): Operation(
        "§5.12 command acknowledgement", fleet.AckRequest, m.AckData, codes=frozenset({40401})
    ),
}


def document(app: FastAPI) -> None:
    """Describe every `/terminal/v1` route from `OPERATIONS`; hide all other routes from the schema."""
    documented = set()
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        if not route.path.startswith(API_PREFIX + "/"):
            route.include_in_schema = False
            continue
        (method,) = route.methods
        op = OPERATIONS.get((method, route.path))
        if op is None:
            raise RuntimeError(f"{method} {route.path} has no entry in platform_sim.openapi.OPERATIONS")
        route.openapi_extra, route.responses = operation_extra(op)
        route.summary = op.summary
        if op.file_types:
            route.response_class = Response  # the answer is the document: no default JSON 200 in the schema
        documented.add((method, route.path))
    missing = set(OPERATIONS) - documented
    if missing:
        raise RuntimeError(f"documented operations without a route: {sorted(missing)}")
    generate = app.openapi

    def openapi_without_422() -> dict[str, Any]:
        """FastAPI's document, less the 422 it assumes for routes with parameters (the simulator answers
        every validation failure with 40001 / HTTP 400, see `create_app`)."""
        if app.openapi_schema is None:
            doc = generate()
            for path in doc["paths"].values():
                for operation in path.values():
                    operation["responses"].pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                doc.get("components", {}).get("schemas", {}).pop(name, None)
            if not doc.get("components", {}).get("schemas", True):
                del doc["components"]
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi_schema = None
    app.openapi = openapi_without_422  # type: ignore[method-assign]
