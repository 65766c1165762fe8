"""Signing (platform-api.md §2) against values computed independently here: a pure-Python SM3
(GB/T 32905) and a hand-written RFC 2104 HMAC, plus the standard's published digests."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.signing import (
    canonical_query,
    canonical_string,
    hmac_sm3_hex,
    sign_request,
    sm3_hex,
    verify_signature,
)

# -- an independent SM3 ------------------------------------------------------------------------

_IV = (0x7380166F, 0x4914B2B9, 0x172442D7, 0xDA8A0600, 0xA96F30BC, 0x163138AA, 0xE38DEE4D, 0xB0FB0E4E)
_M = 0xFFFFFFFF


def _rotl(x: int, n: int) -> int:
    n %= 32
    return ((x << n) | (x >> (32 - n))) & _M


def _p0(x: int) -> int:
    return x ^ _rotl(x, 9) ^ _rotl(x, 17)


def _p1(x: int) -> int:
    return x ^ _rotl(x, 15) ^ _rotl(x, 23)


def pure_sm3(msg: bytes) -> bytes:
    bit_len = len(msg) * 8
    msg = msg + b"\x80" + b"\x00" * ((55 - len(msg)) % 64) + struct.pack(">Q", bit_len)
    v = list(_IV)
    for off in range(0, len(msg), 64):
        w = list(struct.unpack(">16I", msg[off : off + 64]))
        for j in range(16, 68):
            w.append(_p1(w[j - 16] ^ w[j - 9] ^ _rotl(w[j - 3], 15)) ^ _rotl(w[j - 13], 7) ^ w[j - 6])
        w1 = [w[j] ^ w[j + 4] for j in range(64)]
        a, b, c, d, e, f, g, h = v
        for j in range(64):
            t = 0x79CC4519 if j < 16 else 0x7A879D8A
            ss1 = _rotl((_rotl(a, 12) + e + _rotl(t, j)) & _M, 7)
            ss2 = ss1 ^ _rotl(a, 12)
            ff = (a ^ b ^ c) if j < 16 else ((a & b) | (a & c) | (b & c))
            gg = (e ^ f ^ g) if j < 16 else ((e & f) | (~e & g))
            tt1 = (ff + d + ss2 + w1[j]) & _M
            tt2 = (gg + h + ss1 + w[j]) & _M
            a, b, c, d, e, f, g, h = tt1, a, _rotl(b, 9), c, _p0(tt2), e, _rotl(f, 19), g
        v = [x ^ y for x, y in zip(v, (a, b, c, d, e, f, g, h), strict=True)]
    return struct.pack(">8I", *v)


def pure_hmac_sm3(key: bytes, msg: bytes) -> str:
    if len(key) > 64:
        key = pure_sm3(key)
    key = key.ljust(64, b"\x00")
    inner = pure_sm3(bytes(k ^ 0x36 for k in key) + msg)
    return pure_sm3(bytes(k ^ 0x5C for k in key) + inner).hex()


# -- SM3 and HMAC-SM3 --------------------------------------------------------------------------


def test_sm3_standard_vectors() -> None:
    # GB/T 32905-2016 appendix A examples.
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    assert pure_sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_hex(b"") == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300))
def test_sm3_matches_independent_implementation(data: bytes) -> None:
    assert sm3_hex(data) == pure_sm3(data).hex()


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=100), st.binary(max_size=200))
def test_hmac_sm3_matches_rfc2104_construction(key: bytes, msg: bytes) -> None:
    assert hmac_sm3_hex(key, msg) == pure_hmac_sm3(key, msg)


# -- canonical query and string ----------------------------------------------------------------


def test_canonical_query_sorts_and_encodes() -> None:
    assert canonical_query(None) == ""
    assert canonical_query({}) == ""
    assert canonical_query({"since_version": None, "region_code": "411502"}) == "region_code=411502"
    assert canonical_query({"b": "2", "a": "x y", "a2": "~-._"}) == "a=x%20y&a2=~-._&b=2"
    # Repeated names sort by value; reserved characters and UTF-8 are percent-encoded.
    assert canonical_query([("k", "b"), ("k", "a+/=&"), ("名", "区")]) == (
        "%E5%90%8D=%E5%8C%BA&k=a%2B%2F%3D%26&k=b"
    )
    assert canonical_query({"flag": True, "n": 5}) == "flag=true&n=5"


def test_canonical_string_has_five_lines_without_trailing_newline() -> None:
    s = canonical_string("post", "/terminal/v1/applications", "", 1763688600000, b"")
    assert s == (
        "POST\n/terminal/v1/applications\n\n1763688600000\n"
        "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
    )
    assert not s.endswith("\n")


def test_signature_fixed_vector() -> None:
    body = '{"satisfaction":5,"comment":"很好"}'.encode()
    canonical = (
        "GET\n/terminal/v1/catalog\nregion_code=411502&since_version=seed-1\n1763688600000\n"
        + pure_sm3(body).hex()
    )
    expected = pure_hmac_sm3(b"s3cret-\xe5\xaf\x86", canonical.encode())  # secret "s3cret-密" as UTF-8
    headers = sign_request(
        "s3cret-密",
        "T4115020001",
        "GET",
        "/terminal/v1/catalog",
        {"since_version": "seed-1", "region_code": "411502"},
        body,
        now_ms=1763688600000,
        nonce="0123456789abcdef0123456789abcdef",
    )
    assert headers == {
        "X-Terminal-Id": "T4115020001",
        "X-Timestamp": "1763688600000",
        "X-Nonce": "0123456789abcdef0123456789abcdef",
        "X-Signature": expected,
    }


def test_sign_then_verify_and_tamper() -> None:
    method, path, query, body = "POST", "/terminal/v1/ratings", {"a": "1"}, b'{"x":1}'
    h = sign_request("secret", "T1", method, path, query, body)
    nonce = h["X-Nonce"]
    assert len(nonce) == 32 and nonce == nonce.lower() and int(nonce, 16) >= 0
    assert nonce != sign_request("secret", "T1", method, path, query, body)["X-Nonce"]
    ts, sig = h["X-Timestamp"], h["X-Signature"]
    assert verify_signature("secret", method, path, query, ts, body, sig)
    assert verify_signature("secret", method, path, "a=1", ts, body, sig)  # canonical string form
    assert not verify_signature("other", method, path, query, ts, body, sig)
    assert not verify_signature("secret", "PUT", path, query, ts, body, sig)
    assert not verify_signature("secret", method, "/terminal/v1/x", query, ts, body, sig)
    assert not verify_signature("secret", method, path, {"a": "2"}, ts, body, sig)
    assert not verify_signature("secret", method, path, query, ts, b'{"x":2}', sig)
    assert not verify_signature("secret", method, path, query, str(int(ts) + 1), body, sig)
    assert not verify_signature("secret", method, path, query, ts, body, sig.upper())
    assert not verify_signature("secret", method, path, query, ts, body, "")
