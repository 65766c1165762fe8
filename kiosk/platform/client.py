"""Single-shot HTTP client for the provincial platform (platform-api.md).

Each call signs the request, sends it once, and either returns the validated `data` member of the
envelope or raises a `PlatformError` whose `retryable` says whether the same request may be sent again.
Retries live in the outbox (writes) and the callers (reads), never here, so a citizen-facing call
never hangs longer than one connect + read timeout.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ValidationError

from kiosk.platform.errors import (
    CODE_TO_HTTP,
    FieldError,
    PlatformError,
    PlatformProtocolError,
    PlatformTransportError,
)
from kiosk.platform.models import (
    ApplicationAccepted,
    CaseStatus,
    CatalogData,
    Envelope,
    FaceVerifyData,
    MaterialStored,
    RatingStored,
)
from kiosk.signing import QueryParams, canonical_query, new_nonce, sign_request

log = logging.getLogger(__name__)

__all__ = ["API_PREFIX", "MATERIAL_TYPES", "MAX_RESPONSE_BYTES", "PlatformClient", "json_body"]

API_PREFIX = "/terminal/v1"
MAX_RESPONSE_BYTES = 25 * 1024 * 1024  # above the platform's 20 MiB request limit; nothing legit is bigger
MATERIAL_TYPES = frozenset({"image/jpeg", "image/png", "application/pdf"})
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_CHUNK = 64 * 1024


def json_body(obj: Any) -> bytes:
    """Compact UTF-8 JSON. Build a write's body once with this and keep the bytes: retries resend them."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class PlatformClient:
    def __init__(
        self,
        base_url: str,
        terminal_id: str,
        app_secret: str,
        *,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        ca_file: str | os.PathLike[str] | None = None,
        client_cert: tuple[str, str] | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = new_nonce,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("base_url must be an https:// URL")
        # §1: plain HTTP only on loopback (development, tests, the demo).
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError("plain http is allowed only on loopback; use https")
        prefix = parts.path.rstrip("/")
        if not prefix.endswith(API_PREFIX):
            prefix += API_PREFIX
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = prefix
        self.terminal_id = terminal_id
        self._secret = app_secret
        self._timeout = (connect_timeout_s, read_timeout_s)
        # Never False: certificates are always checked, against the system store or the given CA file.
        self._verify: str | bool = os.fspath(ca_file) if ca_file else True
        self._cert = client_cert
        self._session = session or requests.Session()
        self._clock = clock  # seam for a clock offset learned from the platform, and for tests
        self._nonce_factory = nonce_factory
        self._max_bytes = max_response_bytes

    # -- endpoints ---------------------------------------------------------------------------------

    def get_catalog(self, region_code: str, since_version: str | None = None) -> dict[str, Any]:
        params = {"region_code": region_code, "since_version": since_version}
        return self._call("GET", "/catalog", CatalogData, params=params)

    def face_verify(
        self, id_number: str, name: str, live_image_jpeg: bytes, liveness: Mapping[str, Any]
    ) -> dict[str, Any]:
        body = json_body(
            {
                "id_number": id_number,
                "name": name,
                "live_image": base64.b64encode(live_image_jpeg).decode("ascii"),
                "liveness": dict(liveness),
            }
        )
        data = self._call("POST", "/identity/face-verify", FaceVerifyData, body=body)
        if data["match"] != (data["proof"] is not None):
            raise PlatformProtocolError("face-verify: proof must be present exactly when match is true")
        return data

    def submit_application(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        return self._call(
            "POST", "/applications", ApplicationAccepted, body=body_bytes, idempotency_key=idempotency_key
        )

    def get_application(self, case_no: str, query_code: str) -> dict[str, Any]:
        path = "/applications/" + quote(case_no, safe="")
        return self._call("GET", path, CaseStatus, params={"query_code": query_code})

    def find_application(self, terminal_ref: str) -> dict[str, Any]:
        """The case this terminal submitted under its own reference (§5.8)."""
        return self._call("GET", "/applications", CaseStatus, params={"terminal_ref": terminal_ref})

    def submit_rating(self, body_bytes: bytes, idempotency_key: str) -> dict[str, Any]:
        return self._call("POST", "/ratings", RatingStored, body=body_bytes, idempotency_key=idempotency_key)

    def upload_material(self, data: bytes, content_type: str) -> dict[str, Any]:
        if content_type not in MATERIAL_TYPES:
            raise ValueError(f"unsupported material type {content_type!r}")
        digest = hashlib.sha256(data).hexdigest()
        out = self._call("PUT", f"/materials/{digest}", MaterialStored, body=data, content_type=content_type)
        if out["size"] != len(data):
            raise PlatformProtocolError(f"material stored with size {out['size']}, sent {len(data)}")
        return out

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one exchange ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        model: type[BaseModel],
        *,
        params: QueryParams = None,
        body: bytes = b"",
        content_type: str = "application/json",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        query = canonical_query(params)
        path = self._prefix + endpoint
        url = self._origin + path + (f"?{query}" if query else "")
        headers = sign_request(
            self._secret,
            self.terminal_id,
            method,
            path,
            query,
            body,
            now_ms=int(self._clock() * 1000),
            nonce=self._nonce_factory(),
        )
        headers["Accept"] = "application/json"
        if body or method in ("POST", "PUT"):
            headers["Content-Type"] = content_type
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key

        started = time.monotonic()
        status, resp_headers, raw = self._send(method, url, headers, body, endpoint)
        elapsed_ms = (time.monotonic() - started) * 1000
        envelope = self._parse_envelope(status, raw, endpoint)
        # Only non-personal facts go to the log: path (case numbers are fine), codes, ids, sizes.
        log.info(
            "%s %s -> HTTP %d code %d request_id=%s sent=%dB recv=%dB %.0fms",
            method,
            endpoint,
            status,
            envelope.code,
            envelope.request_id,
            len(body),
            len(raw),
            elapsed_ms,
        )
        if envelope.code != 0:
            raise _error_from(envelope, status, resp_headers)
        if not isinstance(envelope.data, dict):
            raise PlatformProtocolError(
                f"{endpoint}: data is not an object", http_status=status, request_id=envelope.request_id
            )
        try:
            model.model_validate(envelope.data)
        except ValidationError as exc:
            raise PlatformProtocolError(
                f"{endpoint}: unexpected data shape ({_describe(exc)})",
                http_status=status,
                request_id=envelope.request_id,
            ) from None
        return envelope.data

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes, endpoint: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        try:
            resp = self._session.request(
                method,
                url,
                data=body if body else None,
                headers=headers,
                timeout=self._timeout,
                verify=self._verify,
                cert=self._cert,
                stream=True,  # read under our own size cap
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            log.warning("%s %s: platform unreachable (%s)", method, endpoint, type(exc).__name__)
            raise PlatformTransportError(f"platform unreachable: {type(exc).__name__}", cause=exc) from exc
        try:
            declared = resp.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > self._max_bytes:
                raise _too_big(resp.status_code, endpoint, self._max_bytes)
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_content(_CHUNK):
                total += len(chunk)
                if total > self._max_bytes:
                    raise _too_big(resp.status_code, endpoint, self._max_bytes)
                chunks.append(chunk)
            return resp.status_code, resp.headers, b"".join(chunks)
        except requests.RequestException as exc:
            raise PlatformTransportError(f"response interrupted: {type(exc).__name__}", cause=exc) from exc
        finally:
            resp.close()

    @staticmethod
    def _parse_envelope(status: int, raw: bytes, endpoint: str) -> Envelope:
        try:
            doc = json.loads(raw.decode("utf-8"))
            envelope = Envelope.model_validate(doc)
        except (UnicodeDecodeError, ValueError):  # ValidationError and JSONDecodeError are ValueErrors
            raise PlatformProtocolError(
                f"{endpoint}: HTTP {status} without a valid envelope ({len(raw)} bytes)", http_status=status
            ) from None
        expected = CODE_TO_HTTP.get(envelope.code)
        agrees = status == expected if expected is not None else (envelope.code != 0 and status >= 400)
        if not agrees:
            raise PlatformProtocolError(
                f"{endpoint}: HTTP {status} disagrees with code {envelope.code}",
                http_status=status,
                request_id=envelope.request_id,
            )
        return envelope


def _too_big(status: int, endpoint: str, limit: int) -> PlatformProtocolError:
    return PlatformProtocolError(
        f"{endpoint}: response larger than {limit} bytes refused", http_status=status
    )


def _describe(exc: ValidationError) -> str:
    # Locations and error types only: the input values may be personal data.
    parts = [".".join(str(p) for p in e["loc"]) + ":" + e["type"] for e in exc.errors()[:5]]
    return ", ".join(parts) or "invalid"


def _field_errors(data: Any) -> list[FieldError]:
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [
        FieldError(str(e["field"]), str(e.get("reason", "")))
        for e in errors
        if isinstance(e, dict) and "field" in e
    ]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: not used by the platform (§4 says seconds)


def _error_from(envelope: Envelope, status: int, headers: Mapping[str, str]) -> PlatformError:
    return PlatformError(
        envelope.code,
        envelope.message,
        http_status=status,
        request_id=envelope.request_id,
        errors=_field_errors(envelope.data),
        retry_after_s=_retry_after(headers),
        data=envelope.data,
    )
