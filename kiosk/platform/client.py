"""Single-shot HTTP client for the provincial platform (platform-api.md).

Each call signs the request, sends it once, and either returns the validated `data` member of the
envelope or raises a `PlatformError` whose `retryable` says whether the same request may be sent again.
Retries live in the outbox (writes) and the callers (reads, see `kiosk.platform.retry`), never here,
with one exception: with `resync_clock=True`, a 40102 (clock skew) answer teaches the client the
platform's clock from the `Date` header and the request is sent once more with a fresh nonce (never
more than once).

The client keeps `clock_offset_ms` (platform clock minus local clock), learnt from `server_time` in
heartbeat answers and from `Date` on 40102, and adds it to every `X-Timestamp`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
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
    AckData,
    ApplicationAccepted,
    CaseStatus,
    CatalogData,
    EnrollResult,
    Envelope,
    FaceVerifyData,
    HeartbeatResult,
    License,
    LicenseQueryResult,
    MaterialStored,
    QrLoginResult,
    RatingStored,
    parse_rfc3339,
)
from kiosk.signing import QueryParams, canonical_query, new_nonce, sign_request

log = logging.getLogger(__name__)

__all__ = [
    "ACK_RESULTS",
    "API_PREFIX",
    "CERTIFICATE_TYPES",
    "LICENSE_FILE_TYPES",
    "MATERIAL_TYPES",
    "MAX_FILE_BYTES",
    "MAX_RESPONSE_BYTES",
    "PlatformClient",
    "json_body",
]

API_PREFIX = "/terminal/v1"
MAX_RESPONSE_BYTES = 25 * 1024 * 1024  # above the platform's 20 MiB request limit; nothing legit is bigger
MAX_FILE_BYTES = 20 * 1024 * 1024  # licence files and certificates (§5.5, §5.10)
MATERIAL_TYPES = frozenset({"image/jpeg", "image/png", "application/pdf"})
LICENSE_FILE_TYPES = frozenset({"application/pdf", "image/jpeg"})
CERTIFICATE_TYPES = frozenset({"application/pdf"})
ACK_RESULTS = frozenset({"done", "rejected", "failed"})
_REGION_CODE_LEN = 6
M = TypeVar("M", bound=BaseModel)
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
        resync_clock: bool = False,
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
        # mTLS (§1): (certificate file, key file), handed to requests as is.
        if client_cert is not None:
            cert_file, key_file = client_cert
            if not cert_file or not key_file:
                raise ValueError("client_cert must be (cert_file, key_file)")
            client_cert = (os.fspath(cert_file), os.fspath(key_file))
        self._cert = client_cert
        self._session = session or requests.Session()
        self._clock = clock  # seam for a clock offset learned from the platform, and for tests
        self._nonce_factory = nonce_factory
        self._max_bytes = max_response_bytes
        self._offset_lock = threading.Lock()
        self._clock_offset_ms = 0
        # On 40102, learn the clock from `Date` and send once more. Off by default only because the
        # existing suite pins "a skewed clock gives 40102"; production wiring should turn it on.
        self._resync_clock = resync_clock

    # -- platform clock ----------------------------------------------------------------------------

    @property
    def clock_offset_ms(self) -> int:
        """Platform clock minus local clock, in ms; added to every X-Timestamp."""
        return self._clock_offset_ms

    @clock_offset_ms.setter
    def clock_offset_ms(self, value: int) -> None:
        with self._offset_lock:
            self._clock_offset_ms = int(value)

    def platform_now(self) -> float:
        """The platform's time as Unix seconds (local clock plus the learnt offset)."""
        return self._clock() + self._clock_offset_ms / 1000.0

    def _now_ms(self) -> int:
        return int(self._clock() * 1000) + self._clock_offset_ms

    def _learn_offset(self, server_ms: int, local_mid_ms: int, source: str) -> None:
        offset = server_ms - local_mid_ms
        if abs(offset - self._clock_offset_ms) >= 1000:
            log.info("platform clock offset %+d ms (from %s)", offset, source)
        self.clock_offset_ms = offset

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

    def enroll(
        self,
        enrollment_token: str,
        terminal_id: str,
        hall_name: str,
        region_code: str,
        hardware: Mapping[str, Any],
        software_version: str,
    ) -> EnrollResult:
        """§5.1, unsigned. The result holds the terminal's `app_secret`: store it, never log it."""
        if len(region_code) != _REGION_CODE_LEN or not region_code.isdigit():
            raise ValueError("region_code must be 6 digits (GB/T 2260)")
        body = json_body(
            {
                "enrollment_token": enrollment_token,
                "terminal_id": terminal_id,
                "hall_name": hall_name,
                "region_code": region_code,
                "hardware": dict(hardware),
                "software_version": software_version,
            }
        )
        return self._request("POST", "/enroll", EnrollResult, body=body, signed=False)[0]

    def qr_login(self, qr_payload: str) -> QrLoginResult:
        """§5.4: the identity behind a provincial-app code and a proof for it (40401 when unknown)."""
        body = json_body({"qr_payload": qr_payload})
        return self._request("POST", "/identity/qr-login", QrLoginResult, body=body)[0]

    def query_licenses(self, proof_id: str, types: Iterable[str] | None = None) -> list[License]:
        """§5.5: the e-licences of the person behind `proof_id`, optionally only of `types`."""
        body = json_body({"proof_id": proof_id, "types": None if types is None else list(types)})
        return list(self._request("POST", "/licenses/query", LicenseQueryResult, body=body)[0].licenses)

    def license_file(self, license_id: str, proof_id: str) -> tuple[bytes, str]:
        """§5.5: the licence document and its content type (`application/pdf` or `image/jpeg`)."""
        path = "/licenses/" + quote(license_id, safe="") + "/file"
        return self._fetch_file(path, {"proof_id": proof_id}, LICENSE_FILE_TYPES)

    def certificate(self, kind: str, proof_id: str) -> bytes:
        """§5.10: the certificate document (`application/pdf`) of a query/print item."""
        path = "/certificates/" + quote(kind, safe="")
        return self._fetch_file(path, {"proof_id": proof_id}, CERTIFICATE_TYPES)[0]

    def heartbeat(self, body: Mapping[str, Any]) -> HeartbeatResult:
        """§5.11. Also learns the clock offset from `server_time`."""
        result, local_mid_ms = self._request(
            "POST", "/heartbeat", HeartbeatResult, body=json_body(dict(body))
        )
        server_ms = int(parse_rfc3339(result.server_time).timestamp() * 1000)
        self._learn_offset(server_ms, local_mid_ms, "server_time")
        return result

    def ack_command(self, command_id: str, result: str, detail: str | None = None) -> None:
        """§5.12: report the outcome of a command (`done`, `rejected` or `failed`)."""
        if result not in ACK_RESULTS:
            raise ValueError(f"ack result must be one of {sorted(ACK_RESULTS)}")
        path = "/commands/" + quote(command_id, safe="") + "/ack"
        self._request("POST", path, AckData, body=json_body({"result": result, "detail": detail}))

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
        """One exchange; the validated `data` as a dict (the earlier endpoints' return shape)."""
        envelope = self._envelope(
            method,
            endpoint,
            params=params,
            body=body,
            content_type=content_type,
            idempotency_key=idempotency_key,
            signed=True,
        )[0]
        self._validate(envelope, model, endpoint)
        return envelope.data

    def _request(
        self,
        method: str,
        endpoint: str,
        model: type[M],
        *,
        params: QueryParams = None,
        body: bytes = b"",
        idempotency_key: str | None = None,
        signed: bool = True,
    ) -> tuple[M, int]:
        """One exchange; the validated `data` as a model, and the local mid-time of the exchange (ms)."""
        envelope, status, local_mid_ms = self._envelope(
            method,
            endpoint,
            params=params,
            body=body,
            content_type="application/json",
            idempotency_key=idempotency_key,
            signed=signed,
        )
        return self._validate(envelope, model, endpoint, status), local_mid_ms

    def _envelope(
        self,
        method: str,
        endpoint: str,
        *,
        params: QueryParams,
        body: bytes,
        content_type: str,
        idempotency_key: str | None,
        signed: bool,
    ) -> tuple[Envelope, int, int]:
        started = time.monotonic()
        status, resp_headers, raw, local_mid_ms = self._exchange(
            method,
            endpoint,
            params=params,
            body=body,
            content_type=content_type,
            idempotency_key=idempotency_key,
            signed=signed,
            accept="application/json",
            limit=self._max_bytes,
        )
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
        return envelope, status, local_mid_ms

    @staticmethod
    def _validate(envelope: Envelope, model: type[M], endpoint: str, status: int = 200) -> M:
        if not isinstance(envelope.data, dict):
            raise PlatformProtocolError(
                f"{endpoint}: data is not an object", http_status=status, request_id=envelope.request_id
            )
        try:
            return model.model_validate(envelope.data)
        except ValidationError as exc:
            raise PlatformProtocolError(
                f"{endpoint}: unexpected data shape ({_describe(exc)})",
                http_status=status,
                request_id=envelope.request_id,
            ) from None

    def _exchange(
        self,
        method: str,
        endpoint: str,
        *,
        params: QueryParams,
        body: bytes,
        content_type: str,
        idempotency_key: str | None,
        signed: bool,
        accept: str,
        limit: int,
    ) -> tuple[int, Mapping[str, str], bytes, int]:
        """Sign and send; on 40102 learn the clock from `Date` and send once more with a fresh nonce."""
        query = canonical_query(params)
        path = self._prefix + endpoint
        url = self._origin + path + (f"?{query}" if query else "")
        resynced = False
        while True:
            headers: dict[str, str] = {}
            if signed:
                headers = sign_request(
                    self._secret,
                    self.terminal_id,
                    method,
                    path,
                    query,
                    body,
                    now_ms=self._now_ms(),
                    nonce=self._nonce_factory(),
                )
            headers["Accept"] = accept
            if body or method in ("POST", "PUT"):
                headers["Content-Type"] = content_type
            if idempotency_key is not None:
                headers["Idempotency-Key"] = idempotency_key
            sent_ms = int(self._clock() * 1000)
            status, resp_headers, raw = self._send(method, url, headers, body, endpoint, limit)
            local_mid_ms = (sent_ms + int(self._clock() * 1000)) // 2
            if signed and self._resync_clock and not resynced and status == 401 and _is_skew(raw):
                server_ms = _date_ms(resp_headers)
                if server_ms is not None:
                    log.warning(
                        "%s %s: timestamp skew (40102); resyncing clock, sending once more", method, endpoint
                    )
                    self._learn_offset(server_ms, local_mid_ms, "Date header")
                    resynced = True
                    continue
            return status, resp_headers, raw, local_mid_ms

    def _fetch_file(self, endpoint: str, params: QueryParams, allowed: frozenset[str]) -> tuple[bytes, str]:
        """GET a document that is the body itself (not an envelope); errors still come as envelopes."""
        limit = min(self._max_bytes, MAX_FILE_BYTES)
        started = time.monotonic()
        status, resp_headers, raw, _ = self._exchange(
            "GET",
            endpoint,
            params=params,
            body=b"",
            content_type="application/json",
            idempotency_key=None,
            signed=True,
            accept=", ".join(sorted(allowed)) + ", application/json",
            limit=limit,
        )
        ctype = resp_headers.get("Content-Type", "").split(";")[0].strip().lower()
        log.info(
            "GET %s -> HTTP %d %s recv=%dB %.0fms",
            endpoint,
            status,
            ctype or "-",
            len(raw),
            (time.monotonic() - started) * 1000,
        )
        if status == 200 and ctype in allowed:
            if not raw:
                raise PlatformProtocolError(f"{endpoint}: empty document", http_status=status)
            return raw, ctype
        if status != 200 or ctype == "application/json":
            envelope = self._parse_envelope(status, raw, endpoint)
            if envelope.code != 0:
                raise _error_from(envelope, status, resp_headers)
        raise PlatformProtocolError(
            f"{endpoint}: expected {' or '.join(sorted(allowed))}, got {ctype or 'no content type'}",
            http_status=status,
        )

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes, endpoint: str, limit: int
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
            why = type(exc).__name__
            if isinstance(exc, requests.exceptions.SSLError):
                why = f"TLS: {_tls_reason(exc)}"  # the technician's next step differs: CA, client cert, clock
            log.warning("%s %s: platform unreachable (%s)", method, endpoint, why)
            raise PlatformTransportError(f"platform unreachable: {why}", cause=exc) from exc
        try:
            declared = resp.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise _too_big(resp.status_code, endpoint, limit)
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_content(_CHUNK):
                total += len(chunk)
                if total > limit:
                    raise _too_big(resp.status_code, endpoint, limit)
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


def _is_skew(raw: bytes) -> bool:
    """Whether a 401 body is the 40102 envelope (timestamp skew)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("code") == 40102


def _date_ms(headers: Mapping[str, str]) -> int | None:
    """The HTTP `Date` header as Unix ms (middle of its second: it is truncated), None if unusable."""
    value = headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp() * 1000) + 500


_TLS_REASONS = {  # OpenSSL's reason → what the technician checks
    "CERTIFICATE_VERIFY_FAILED": "the platform's certificate is not trusted (check [platform] ca_file)",
    "CERTIFICATE_REQUIRED": "the platform wants a client certificate ([platform] client_cert)",
    "UNKNOWN_CA": "the platform does not trust our client certificate ([platform] client_cert)",
    "BAD_CERTIFICATE": "the platform refused our client certificate ([platform] client_cert)",
}


def _tls_reason(exc: Exception) -> str:
    """Why a handshake failed, from OpenSSL's reason in the message (no personal data in it)."""
    return next((hint for reason, hint in _TLS_REASONS.items() if reason in str(exc)), "handshake failed")


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
