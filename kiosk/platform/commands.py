"""Remote commands (platform-api.md §5.11): the signature and expiry check done before executing one."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kiosk.platform.models import Command, parse_rfc3339
from kiosk.signing import hmac_sm3_hex

__all__ = ["canonical_args", "command_message", "command_signature", "verify_command"]


def canonical_args(args: Mapping[str, Any]) -> str:
    """Canonical JSON of §5.11: keys sorted, separators `,` and `:`, non-ASCII kept as is."""
    return json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def command_message(command_id: str, name: str, args: Mapping[str, Any], expires_at: str) -> bytes:
    return "\n".join([command_id, name, canonical_args(args), expires_at]).encode("utf-8")


def command_signature(
    app_secret: str, command_id: str, name: str, args: Mapping[str, Any], expires_at: str
) -> str:
    """Lowercase hex HMAC-SM3 over the command message (what the platform puts in `signature`)."""
    return hmac_sm3_hex(app_secret.encode("utf-8"), command_message(command_id, name, args, expires_at))


def _as_datetime(now: datetime | float) -> datetime:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now
    return datetime.fromtimestamp(float(now), tz=UTC)


def verify_command(command: Command | Mapping[str, Any], app_secret: str, now: datetime | float) -> bool:
    """True only if the signature verifies (constant-time) and `expires_at` is still in the future.

    `now` is an aware datetime or Unix seconds; pass the platform-corrected time (local clock plus the
    client's learnt offset). Anything malformed is False, never an exception.
    """
    try:
        cmd = command if isinstance(command, Command) else Command.model_validate(dict(command))
        if not isinstance(cmd.signature, str) or len(cmd.signature) != 64:
            return False
        expected = command_signature(app_secret, cmd.command_id, cmd.name, cmd.args, cmd.expires_at)
        # Compare first, always, so the time taken does not depend on the expiry.
        good = hmac.compare_digest(expected.encode("ascii"), cmd.signature.encode("utf-8"))
        expires = parse_rfc3339(cmd.expires_at)
        return good and _as_datetime(now) < expires
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return False
