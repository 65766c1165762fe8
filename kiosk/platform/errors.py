"""Errors of platform calls (platform-api.md §4) and the short Chinese lines a citizen sees for them.

Every failed call raises a `PlatformError`. `retryable` says whether sending the same request again
(same idempotency key, same body, new nonce) can succeed; the client never retries by itself, the
outbox does. Failures below the API (timeouts, refused connections, answers that do not follow the
contract) are subclasses with negative codes, so callers can catch one class and still tell them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.i18n import N_, _

__all__ = [
    "CODE_BAD_RESPONSE",
    "CODE_TO_HTTP",
    "CODE_TRANSPORT",
    "RETRYABLE_CODES",
    "FieldError",
    "PlatformError",
    "PlatformProtocolError",
    "PlatformTransportError",
    "citizen_message",
    "is_retryable_code",
]

# Platform codes and the HTTP status each goes with (§4).
CODE_TO_HTTP: dict[int, int] = {
    0: 200,
    40001: 400,
    40101: 401,
    40102: 401,
    40103: 401,
    40301: 403,
    40302: 403,
    40401: 404,
    40901: 409,
    41301: 413,
    42901: 429,
    50001: 500,
    50301: 503,
}

# 40102 and 40103 are marked "retry after clock resync / with a new nonce" in §4; every outbox retry
# carries a fresh nonce and the current clock, so keeping the record pending is right for both.
RETRYABLE_CODES = frozenset({40102, 40103, 42901, 50001, 50301})

CODE_TRANSPORT = -1  # no HTTP answer: timeout, refused, reset, TLS failure
CODE_BAD_RESPONSE = -2  # an answer that does not follow the contract


def is_retryable_code(code: int, http_status: int | None = None) -> bool:
    if code in RETRYABLE_CODES:
        return True
    if code in CODE_TO_HTTP:
        return False
    # Unknown code from a newer platform: trust the HTTP class.
    return http_status is not None and (http_status >= 500 or http_status == 429)


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str


class PlatformError(Exception):
    """The platform (or the path to it) refused or failed a call."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        errors: list[FieldError] | None = None,
        retry_after_s: float | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(f"{code} {message}" + (f" (request_id={request_id})" if request_id else ""))
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.retryable = is_retryable_code(code, http_status) if retryable is None else retryable
        self.errors: list[FieldError] = list(errors or [])
        self.retry_after_s = retry_after_s
        self.data = data

    @property
    def citizen_message(self) -> str:
        """The line for a citizen waiting on this call (nothing queued); see `citizen_message()`."""
        return citizen_message(self)


class PlatformTransportError(PlatformError):
    """No usable HTTP answer (timeout, connection refused/reset, TLS). Always retryable."""

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(CODE_TRANSPORT, message, retryable=True)
        self.cause = cause


class PlatformProtocolError(PlatformError):
    """The answer broke the contract (not JSON, wrong envelope, status/code mismatch, bad data, too big).

    Retryable by default: for a write we cannot tell whether it took effect, and a re-send with the
    same idempotency key is safe, whereas giving up would lose the citizen's application.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(
            CODE_BAD_RESPONSE, message, http_status=http_status, request_id=request_id, retryable=retryable
        )


_MSG_OFFLINE_QUEUED = N_("网络暂时不通，您的申请已保存，将自动提交。")
_MSG_OFFLINE = N_("网络暂时不通，请稍后再试。")
_MSG_MAINTENANCE = N_("平台正在维护，请稍后再试。")
_MSG_BUSY = N_("办理的人较多，请稍等片刻再试。")
_MSG_INVALID = N_("填写的信息有误，请按提示修改后再提交。")
_MSG_PROOF = N_("身份核验已失效，请重新核验身份。")
_MSG_NOT_FOUND = N_("没有查到相关记录，请核对后再试。")
_MSG_TOO_LARGE = N_("上传的文件太大，请重新拍摄。")
_MSG_STAFF = N_("本终端暂时无法办理，请联系大厅工作人员。")


def citizen_message(err: BaseException, *, queued: bool = False) -> str:
    """One short plain line saying what happened and what to do next, in the citizen's language
    (kiosk.i18n; Chinese first).

    `queued=True` when the request is safe in the outbox and will be sent later.
    """
    return _(_citizen_msgid(err, queued=queued))


def _citizen_msgid(err: BaseException, *, queued: bool) -> str:
    if not isinstance(err, PlatformError):
        return _MSG_STAFF
    if err.retryable:
        if queued:
            return _MSG_OFFLINE_QUEUED
        if err.code == 50301:
            return _MSG_MAINTENANCE
        if err.code == 42901:
            return _MSG_BUSY
        if err.code == 40102:  # the terminal's clock is off: staff must look, waiting will not help
            return _MSG_STAFF
        return _MSG_OFFLINE
    return {
        40001: _MSG_INVALID,
        40302: _MSG_PROOF,
        40401: _MSG_NOT_FOUND,
        41301: _MSG_TOO_LARGE,
    }.get(err.code, _MSG_STAFF)
