"""§5.4 QR login, §5.5 e-licences and §5.10 certificates for the seeded demo people, plus the unsigned
operator endpoint `POST /admin/qr-codes` that issues a fresh (optionally short-lived) QR code."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from kiosk.platform_sim import validation as v
from kiosk.platform_sim.core import ApiError, SimContext, invalid, issue_proof, ok, rfc3339
from kiosk.platform_sim.people import CERTIFICATE_KINDS, DemoPerson, certificate_pdf, license_file

log = logging.getLogger(__name__)

__all__ = ["QR_PREFIX", "register"]

QR_PREFIX = "YSB-QR:"


class QrLoginRequest(v._Model):
    qr_payload: v.Text


class LicenseQuery(v._Model):
    proof_id: v.Text
    types: list[v.Text] | None = None


class QrCodeRequest(v._Model):
    id_number: v.Text
    ttl_s: float | None = Field(default=None, gt=0)


def register(app: FastAPI, ctx: SimContext, people: dict[str, DemoPerson]) -> None:
    store = ctx.store
    for person in people.values():
        store.add_qr_code(person.qr_token, person.id_number, None)

    def subject(terminal_id: str, proof_id: str) -> str:
        id_number = store.proof_subject(proof_id, terminal_id, ctx.clock())
        if id_number is None:
            raise ApiError(40302, "identity proof missing, expired or not for this person")
        return id_number

    @app.post("/terminal/v1/identity/qr-login")
    async def qr_login(request: Request) -> JSONResponse:
        terminal_id, body = await ctx.authenticate(request)
        req, errors = v.parse(QrLoginRequest, body)
        if req is None:
            raise invalid(errors)
        now = ctx.clock()
        token = req.qr_payload[len(QR_PREFIX) :] if req.qr_payload.startswith(QR_PREFIX) else None
        id_number = store.qr_subject(token, now) if token else None
        person = people.get(id_number or "")
        if person is None:
            raise ApiError(40401, "not found")
        proof = issue_proof(store, terminal_id, person.id_number, now)
        log.info("simulator: qr-login ok")
        identity = {"name": person.name, "id_number": person.id_number, "phone": person.phone}
        return ok({"identity": identity, "proof": proof})

    @app.post("/terminal/v1/licenses/query")
    async def licenses_query(request: Request) -> JSONResponse:
        terminal_id, body = await ctx.authenticate(request)
        req, errors = v.parse(LicenseQuery, body)
        if req is None:
            raise invalid(errors)
        person = people.get(subject(terminal_id, req.proof_id))
        wanted = set(req.types) if req.types else None
        found = [
            lic.public()
            for lic in (person.licenses if person else ())
            if wanted is None or lic.type in wanted
        ]
        return ok({"licenses": found})

    @app.get("/terminal/v1/licenses/{license_id}/file")
    async def license_download(license_id: str, request: Request) -> Response:
        terminal_id, _ = await ctx.authenticate(request)
        id_number = subject(terminal_id, request.query_params.get("proof_id", ""))
        for person in people.values():
            for lic in person.licenses:
                if lic.license_id == license_id:
                    if person.id_number != id_number:
                        raise ApiError(40302, "identity proof missing, expired or not for this person")
                    return Response(license_file(lic, id_number), media_type=lic.file_type)
        raise ApiError(40401, "not found")

    @app.get("/terminal/v1/certificates/{kind}")
    async def certificate(kind: str, request: Request) -> Response:
        terminal_id, _ = await ctx.authenticate(request)
        id_number = subject(terminal_id, request.query_params.get("proof_id", ""))
        if kind not in CERTIFICATE_KINDS:
            raise ApiError(40401, "not found")
        return Response(certificate_pdf(kind, id_number, rfc3339(ctx.clock())), media_type="application/pdf")

    @app.post("/admin/qr-codes")
    async def new_qr_code(request: Request) -> JSONResponse:
        req, errors = v.parse(QrCodeRequest, await request.body())
        if req is None:
            raise invalid(errors)
        if req.id_number not in people:
            raise ApiError(40401, "not found")
        token = "SIM-" + secrets.token_hex(12)
        expires = None if req.ttl_s is None else ctx.clock() + req.ttl_s
        store.add_qr_code(token, req.id_number, expires)
        return ok(
            {"qr_payload": QR_PREFIX + token, "expires_at": None if expires is None else rfc3339(expires)}
        )
