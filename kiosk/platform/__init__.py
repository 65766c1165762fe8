"""Provincial platform access: the signed single-shot client, its errors, response shapes, the retry
policy for callers that wait, and the check of remote commands."""

from kiosk.platform.client import PlatformClient, json_body
from kiosk.platform.commands import verify_command
from kiosk.platform.errors import (
    FieldError,
    PlatformError,
    PlatformProtocolError,
    PlatformTransportError,
    citizen_message,
)
from kiosk.platform.retry import RetryPolicy, call_with_retry

__all__ = [
    "FieldError",
    "PlatformClient",
    "PlatformError",
    "PlatformProtocolError",
    "PlatformTransportError",
    "RetryPolicy",
    "call_with_retry",
    "citizen_message",
    "json_body",
    "verify_command",
]
