"""Provincial platform access: the signed single-shot client, its errors and response shapes."""

from kiosk.platform.client import PlatformClient, json_body
from kiosk.platform.errors import (
    FieldError,
    PlatformError,
    PlatformProtocolError,
    PlatformTransportError,
    citizen_message,
)

__all__ = [
    "FieldError",
    "PlatformClient",
    "PlatformError",
    "PlatformProtocolError",
    "PlatformTransportError",
    "citizen_message",
    "json_body",
]
