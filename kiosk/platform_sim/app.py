"""The platform simulator: a FastAPI stand-in for the provincial platform, per platform-api.md.

Envelope, HTTP status and codes follow §4 exactly; signing, skew and nonce checks follow §2, and
idempotency §3. This module holds the request checks and catalog, applications, ratings and materials;
the other endpoints live in route modules registered by `create_app`:
`fleet` (enroll, heartbeat, command ack; admin enrollment tokens and commands; `GET /ops/terminals`),
`identity` (QR login, e-licences, certificates for the seeded demo people; admin QR codes),
`lifecycle` (cases advancing over time; admin status changes), `faults` (admin fault injection),
`face_verify` (§5.3 face verification).
`GET /ops/cases` (unsigned, not part of the API) lists stored cases for tests and the demo.

Face verification: the real face matcher for the seeded demo people when the models are available, else
the deterministic stand-in; `face_verify`'s docstring says exactly which rule applies when.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kiosk.platform_sim import face_verify, faults, fleet, identity, lifecycle, openapi
from kiosk.platform_sim import validation as v
from kiosk.platform_sim.core import CST, PROOF_TTL_S, ApiError, SimContext, envelope, invalid, ok, rfc3339
from kiosk.platform_sim.faults import Faults, SimApp
from kiosk.platform_sim.people import DEMO_IDENTITIES, load_people
from kiosk.platform_sim.store import SimStore
from kiosk.signing import MAX_SKEW_MS, NONCE_TTL_MS, canonical_query, sm3_hex, verify_signature

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CATALOG", "MAX_BODY_BYTES", "ApiError", "create_app"]

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "assets" / "catalog" / "seed_catalog.json"
MAX_BODY_BYTES = 20 * 1024 * 1024
MATERIAL_TYPES = frozenset({"image/jpeg", "image/png", "application/pdf"})
SUBMITTED_AT_RULE = "RFC 3339 time with offset, not in the future, at most 7 days ago"
_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_TIMESTAMP_RE = re.compile(r"[0-9]{1,16}")  # ASCII digits only: str.isdigit() also admits "²", "١"
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


_ok = ok
_envelope = envelope
_invalid = invalid
_rfc3339 = rfc3339


def _load_catalog(path: Path) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return {"version": str(doc["version"]), "items": list(doc["items"])}


def create_app(
    db_path: Path,
    terminals: dict[str, str],
    catalog_path: Path = DEFAULT_CATALOG,
    *,
    clock: Callable[[], float] = time.time,
    enrollment_tokens: Iterable[str] = (),
    heartbeat_interval_s: int = 60,
    case_schedule: tuple[tuple[str, float], ...] = (),
    people_path: Path = DEMO_IDENTITIES,
    fault_seed: int | None = None,
    initial_faults: Mapping[str, Any] | None = None,
) -> SimApp:
    """terminals: terminal_id → app_secret (enrolled terminals are added to it). `clock` lets tests move
    the platform's time; `case_schedule` overrides lifecycle.DEFAULT_SCHEDULE; `enrollment_tokens` are
    single-use tokens for `POST /terminal/v1/enroll` (more from `POST /admin/enrollment-tokens`);
    `initial_faults`: fault settings from the start (fields of `faults.Faults`; `/admin/faults` changes
    them)."""
    store = SimStore(db_path)
    catalog = _load_catalog(catalog_path)
    items = {item["code"]: item for item in catalog["items"]}
    app = SimApp(
        title="Provincial platform simulator — terminal API",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",  # the terminal API only (platform_sim.openapi); unsigned
    )
    app.fault_random = random.Random(fault_seed)
    app.faults = None if initial_faults is None else Faults.model_validate(dict(initial_faults))
    app.state.store = store
    app.state.terminals = terminals

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _envelope(exc.code, exc.message, exc.data, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _envelope(40401, "not found", None)
        # §4: 40001 always names what is wrong; for a wrong method the Allow header stays.
        if exc.status_code == 405:
            error = {"field": "method", "reason": f"{request.method} not allowed on this path"}
        else:
            error = {"field": "request", "reason": str(exc.detail)}
        return _envelope(40001, f"invalid request ({exc.status_code})", {"errors": [error]}, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()]
        return _envelope(40001, "invalid parameter", {"errors": errors})

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        log.exception("simulator: internal error")
        return _envelope(50001, "internal error", None)

    async def authenticate(request: Request) -> tuple[str, bytes]:
        """§2 checks; returns (terminal_id, body bytes)."""
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise ApiError(41301, "body too large")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(41301, "body too large")
        h = request.headers
        terminal_id, ts, nonce, signature = (
            h.get("x-terminal-id"),
            h.get("x-timestamp", ""),
            h.get("x-nonce", ""),
            h.get("x-signature", ""),
        )
        if not terminal_id:
            raise ApiError(40101, "missing X-Terminal-Id")
        secret = terminals.get(terminal_id)
        if secret is None:
            raise ApiError(40301, "terminal unknown or disabled")
        if not _TIMESTAMP_RE.fullmatch(ts) or not _NONCE_RE.match(nonce):
            raise ApiError(40101, "bad signature headers")
        raw_path = request.scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else request.url.path
        query = canonical_query(request.query_params.multi_items())
        if not verify_signature(secret, request.method, path, query, ts, body, signature):
            raise ApiError(40101, "bad signature")
        now_ms = int(clock() * 1000)
        if abs(now_ms - int(ts)) > MAX_SKEW_MS:
            raise ApiError(40102, "timestamp skew")
        if not store.remember_nonce(terminal_id, nonce, now_ms, NONCE_TTL_MS):
            raise ApiError(40103, "nonce replayed")
        return terminal_id, body

    ctx = SimContext(
        store, terminals, clock, catalog, items, authenticate, heartbeat_interval_s, case_schedule
    )
    app.state.ctx = ctx
    fleet.register(app, ctx, set(enrollment_tokens))
    people = load_people(people_path)
    identity.register(app, ctx, people)
    face_verify.register(app, ctx, people)
    lifecycle.register(app, ctx)
    faults.register(app)

    def idempotency_key(request: Request) -> str:
        key = request.headers.get("idempotency-key", "")
        if not _UUID_RE.match(key):
            raise _invalid([{"field": "Idempotency-Key", "reason": "required, a UUID"}])
        return key

    def replay(terminal_id: str, key: str, endpoint: str, body: bytes) -> JSONResponse | None:
        """§3: same key + same body → the original data; same key + other body → 40901."""
        prior = store.idempotent_result(terminal_id, key)
        if prior is None:
            return None
        if prior.endpoint != endpoint or prior.body_sm3 != sm3_hex(body):
            raise ApiError(40901, "idempotency key reused with a different body")
        log.info("simulator: idempotent replay on %s", endpoint)
        return _ok(prior.data)

    # -- catalog and identity ----------------------------------------------------------------------

    @app.get("/terminal/v1/catalog")
    async def get_catalog(request: Request) -> JSONResponse:
        await authenticate(request)
        region = request.query_params.get("region_code", "")
        if not re.fullmatch(r"[0-9]{6}", region):
            raise _invalid([{"field": "region_code", "reason": "6 digits required"}])
        if request.query_params.get("since_version") == catalog["version"]:
            return _ok({"version": catalog["version"], "unchanged": True, "items": []})
        return _ok({"version": catalog["version"], "unchanged": False, "items": catalog["items"]})

    # -- applications ------------------------------------------------------------------------------

    @app.post("/terminal/v1/applications")
    async def submit_application(request: Request) -> JSONResponse:
        terminal_id, body = await authenticate(request)
        key = idempotency_key(request)
        replayed = replay(terminal_id, key, "applications", body)
        if replayed is not None:
            return replayed
        req, errors = v.parse(v.ApplicationRequest, body)
        if req is None:
            raise _invalid(errors)
        item = items.get(req.item_code)
        errors = v.check_application(
            req, item, store.material_exists, store.terminal_ref_used(terminal_id, req.terminal_ref)
        )
        if errors:
            raise _invalid(errors)
        assert item is not None  # check_application reports an unknown item
        now = clock()
        # The proof is judged when the citizen submitted, not when the case arrives: a terminal on a
        # flaky link queues the case and delivers it later (up to the 7-day idempotency window).
        at = v.submission_time(req, now)
        if at is None:
            raise _invalid([{"field": "submitted_at", "reason": SUBMITTED_AT_RULE}])
        applicant = req.applicant.id_number
        if not store.proof_valid(req.proof_id, terminal_id, applicant, at, PROOF_TTL_S, v.SUBMISSION_AHEAD_S):
            raise ApiError(40302, "identity proof missing, expired or not for this person")
        case_no = _new_case_no(store, now)
        accepted_at = _rfc3339(now)
        data = {
            "case_no": case_no,
            "status": "submitted",
            "accepted_at": accepted_at,
            "promised_days": item.get("promised_days"),
            "query_code": f"{secrets.randbelow(10**6):06d}",
        }
        store.add_case(
            {
                "case_no": case_no,
                "terminal_id": terminal_id,
                "terminal_ref": req.terminal_ref,
                "query_code": data["query_code"],
                "item_code": item["code"],
                "item_name": item["name"],
                "status": "submitted",
                "accepted_at": accepted_at,
                "timeline": [{"status": "submitted", "at": accepted_at, "note": None}],
                "application": json.loads(body),
            }
        )
        store.save_idempotent(terminal_id, key, "applications", sm3_hex(body), data, now)
        log.info("simulator: case %s stored for item %s", case_no, item["code"])
        return _ok(data)

    @app.get("/terminal/v1/applications/{case_no}")
    async def get_application(case_no: str, request: Request) -> JSONResponse:
        await authenticate(request)
        case = store.get_case(case_no)
        # One answer for "no such case" and "wrong query code": the code is what guards the case.
        given = request.query_params.get("query_code", "").encode("utf-8")  # compare_digest: no str ≥ U+0080
        if case is None or not secrets.compare_digest(case["query_code"].encode("utf-8"), given):
            raise ApiError(40401, "not found")
        return _ok(lifecycle.case_status(lifecycle.advance(ctx, case)))

    @app.get("/terminal/v1/applications")
    async def find_application(request: Request) -> JSONResponse:
        terminal_id, _ = await authenticate(request)
        ref = request.query_params.get("terminal_ref", "")
        if not ref:
            raise _invalid([{"field": "terminal_ref", "reason": "required"}])
        case = store.case_by_ref(terminal_id, ref)
        if case is None:
            raise ApiError(40401, "not found")
        return _ok(lifecycle.case_status(lifecycle.advance(ctx, case)))

    # -- ratings and materials ---------------------------------------------------------------------

    @app.post("/terminal/v1/ratings")
    async def submit_rating(request: Request) -> JSONResponse:
        terminal_id, body = await authenticate(request)
        key = idempotency_key(request)
        replayed = replay(terminal_id, key, "ratings", body)
        if replayed is not None:
            return replayed
        req, errors = v.parse(v.RatingRequest, body)
        if req is None:
            raise _invalid(errors)
        errors = v.check_rating(req, store.get_case(req.case_no))
        if errors:
            raise _invalid(errors)
        data = {"rating_id": uuid.uuid4().hex}
        store.add_rating(data["rating_id"], terminal_id, req.model_dump())
        store.save_idempotent(terminal_id, key, "ratings", sm3_hex(body), data, clock())
        log.info("simulator: rating %s stored for case %s", data["rating_id"], req.case_no)
        return _ok(data)

    @app.put("/terminal/v1/materials/{sha256}")
    async def put_material(sha256: str, request: Request) -> JSONResponse:
        _, body = await authenticate(request)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        errors: v.Errors = []
        if not _SHA256_RE.match(sha256):
            errors.append({"field": "sha256", "reason": "64 lowercase hex characters"})
        elif hashlib.sha256(body).hexdigest() != sha256:
            errors.append({"field": "sha256", "reason": "does not match the body"})
        if content_type not in MATERIAL_TYPES:
            errors.append({"field": "Content-Type", "reason": "image/jpeg, image/png or application/pdf"})
        if errors:
            raise _invalid(errors)
        material_id = store.put_material(sha256, "MAT" + sha256[:32], content_type, body)
        return _ok({"material_id": material_id, "size": len(body)})

    # -- not part of the API -----------------------------------------------------------------------

    @app.get("/ops/cases")
    async def ops_cases() -> JSONResponse:
        return JSONResponse([lifecycle.advance(ctx, c) for c in store.all_cases()])

    openapi.document(app)  # last: after every route is registered
    return app


def _new_case_no(store: SimStore, now: float) -> str:
    day = dt.datetime.fromtimestamp(now, CST).strftime("%Y%m%d")
    while True:
        case_no = f"KS{day}{secrets.randbelow(10**8):08d}"
        if not store.case_exists(case_no):
            return case_no
