"""Request signing for the provincial platform (platform-api.md §2): SM3, HMAC-SM3, canonical string.

The same functions sign on the kiosk and verify in the platform simulator, so both sides agree by
construction; the tests pin them to vectors computed independently.
"""

from __future__ import annotations

import hmac as _stdlib_hmac
import secrets
import time
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _crypto_hmac

__all__ = [
    "MAX_SKEW_MS",
    "NONCE_TTL_MS",
    "QueryParams",
    "canonical_query",
    "canonical_string",
    "hmac_sm3_hex",
    "new_nonce",
    "sign_request",
    "signature_for",
    "sm3_hex",
    "verify_signature",
]

MAX_SKEW_MS = 300_000  # §2: |server time − X-Timestamp| above this is 40102
NONCE_TTL_MS = 600_000  # §2: a nonce seen within 10 minutes is a replay (40103)

QueryParams = Mapping[str, object] | Iterable[tuple[str, object]] | None


def sm3_hex(data: bytes) -> str:
    """Lowercase hex SM3 digest (GB/T 32905)."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def hmac_sm3_hex(key: bytes, msg: bytes) -> str:
    """Lowercase hex HMAC-SM3 (RFC 2104 construction over SM3)."""
    mac = _crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(msg)
    return mac.finalize().hex()


def _encode(value: object) -> str:
    # quote() with safe="" keeps exactly the RFC 3986 unreserved set (ALPHA DIGIT - . _ ~), UTF-8.
    return quote(str(value), safe="")


def _pairs(params: QueryParams) -> list[tuple[str, str]]:
    if params is None:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    out: list[tuple[str, str]] = []
    for name, value in items:
        if value is None:  # an absent optional parameter is not sent at all
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append((str(name), str(value)))
    return out


def canonical_query(params: QueryParams) -> str:
    """`name=value` pairs joined by `&`, percent-encoded, sorted by name then value.

    Sorting is on the encoded strings (plain byte order), which is unambiguous for any input; for
    names and values made of unreserved characters it equals sorting the raw strings. `None`
    values are dropped. The client sends this exact string as its query, so what is signed is what
    travels.
    """
    encoded = sorted((_encode(n), _encode(v)) for n, v in _pairs(params))
    return "&".join(f"{n}={v}" for n, v in encoded)


def canonical_string(method: str, path: str, query: str, timestamp_ms: int | str, body: bytes) -> str:
    """The five lines of §2 joined by newline, no trailing newline. `query` is already canonical."""
    return "\n".join([method.upper(), path, query, str(timestamp_ms), sm3_hex(body or b"")])


def signature_for(
    secret: str, method: str, path: str, query: str, timestamp_ms: int | str, body: bytes
) -> str:
    return hmac_sm3_hex(
        secret.encode("utf-8"), canonical_string(method, path, query, timestamp_ms, body).encode()
    )


def new_nonce() -> str:
    """32 lowercase hex characters from the OS CSPRNG."""
    return secrets.token_hex(16)


def sign_request(
    secret: str,
    terminal_id: str,
    method: str,
    path: str,
    query: QueryParams | str,
    body: bytes,
    *,
    now_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Headers X-Terminal-Id, X-Timestamp, X-Nonce, X-Signature for one request.

    `query` may be params (canonicalised here) or an already canonical query string.
    """
    timestamp = int(time.time() * 1000) if now_ms is None else int(now_ms)
    query_str = query if isinstance(query, str) else canonical_query(query)
    return {
        "X-Terminal-Id": terminal_id,
        "X-Timestamp": str(timestamp),
        "X-Nonce": nonce if nonce is not None else new_nonce(),
        "X-Signature": signature_for(secret, method, path, query_str, timestamp, body),
    }


def verify_signature(
    secret: str,
    method: str,
    path: str,
    query: QueryParams | str,
    timestamp_ms: int | str,
    body: bytes,
    signature: str,
) -> bool:
    """Constant-time check of an X-Signature value; False for anything malformed."""
    if not isinstance(signature, str) or len(signature) != 64:
        return False
    query_str = query if isinstance(query, str) else canonical_query(query)
    expected = signature_for(secret, method, path, query_str, timestamp_ms, body)
    return _stdlib_hmac.compare_digest(expected, signature)
